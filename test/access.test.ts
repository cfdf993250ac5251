/**
 * The checks and drains against the wrong cluster, or a cluster they cannot read, on a real API
 * server: an empty cluster fails the gate; connection refused, a failing credential command and the
 * API server's own RBAC refusal are clear messages naming context, server and fix, never an internal
 * error; the shipped ClusterRole is enough for every check.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { parseAllDocuments } from "yaml";
import { RBAC_FILE } from "../automation/health/access";
import { runDriverCli, simProject, SimProject } from "./driverHarness";
import { PROJECT } from "./helpers";
import { ApiServer, freePort, startApiServer } from "./kubeHarness";

interface KubeconfigJson {
  clusters: Array<{ cluster: { server: string } }>;
  users: Array<{ name: string; user: Record<string, unknown> }>;
}

const STACK_FRAME = /\n\s+at [^\n]*\d+:\d+\)?/;

describe("checks and drains that cannot be fooled or crash: the wrong cluster, no access", function () {
  this.timeout(10 * 60_000);
  let api: ApiServer;
  let p: SimProject;
  const kubeconfig = (edit: (k: KubeconfigJson) => void): string => {
    const k = JSON.parse(fs.readFileSync(api.kubeconfigFile, "utf8")) as KubeconfigJson;
    edit(k);
    const file = path.join(p.dir, `kubeconfig-${Math.random().toString(36).slice(2)}`);
    fs.writeFileSync(file, JSON.stringify(k));
    return file;
  };
  const check = (file: string) => runDriverCli(p, ["check", "--stack", "e1", "--kubeconfig", file]);
  const drain = (file: string) => runDriverCli(p, ["drain", "--stack", "e1", "--role", "both", "--kubeconfig", file]);

  before(async () => {
    api = await startApiServer();
    p = simProject([{ name: "w", stacks: ["e1"] }], { kubeContext: "test" });
  });
  after(async () => {
    await api?.stop();
    if (p) fs.rmSync(p.dir, { recursive: true, force: true });
  });

  it("an API server with no nodes fails the gate, naming the server it checked and the node group that has none", async () => {
    const r = await check(api.kubeconfigFile);
    expect(r.code, r.stdout + r.stderr).to.equal(1);
    expect(r.stdout).to.contain(`cluster: context test, server ${api.kubeconfig.getCurrentCluster()!.server}`);
    expect(r.stdout).to.contain("✖ nodesReady: the cluster has no nodes");
    expect(r.stdout).to.match(/node group \S+ has 0 nodes, fewer than its minimum of 2/);
    expect(r.stdout).to.not.contain("all 0 nodes Ready");
  });

  it("a context that reaches another cluster than the stack's (its endpoint as adopt read it) is refused before anything is read", async () => {
    const file = path.join(p.dir, "Pulumi.e1.yaml");
    const original = fs.readFileSync(file, "utf8");
    const withEndpoint = (endpoint: string) => fs.writeFileSync(file, original.replace(/^( {4}name: e1\n)/m, `$1    endpoint: ${endpoint}\n`));
    try {
      withEndpoint("https://0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com");
      const other = await check(api.kubeconfigFile);
      // The kubeconfig, not the command, is wrong: an environment problem, exit 5.
      expect(other.code, other.stdout + other.stderr).to.equal(5);
      expect(other.stderr).to.contain(`context test points at ${api.kubeconfig.getCurrentCluster()!.server}, but the stack's cluster e1 has the endpoint https://0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com: that is another cluster`);
      withEndpoint(`${api.kubeconfig.getCurrentCluster()!.server}/`);
      const same = await check(api.kubeconfigFile);
      expect(same.code, "its own cluster: the gate runs").to.equal(1);
      expect(same.stdout).to.contain("✖ nodesReady: the cluster has no nodes");
    } finally {
      fs.writeFileSync(file, original);
    }
  });

  it("drains cilium pools too (going back from phase 5 or 4); where the phase has none, there is nothing to drain", async () => {
    const r = await runDriverCli(p, ["drain", "--stack", "e1", "--role", "cilium", "--kubeconfig", api.kubeconfigFile]);
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    expect(r.stdout).to.contain("no nodes in cilium pools (cni=cilium): nothing to drain");
  });

  it("a stopped API server: a clear message with context, server and fix, exit 5 (environment), no stack trace", async () => {
    const port = await freePort();
    const file = kubeconfig((k) => (k.clusters[0].cluster.server = `https://127.0.0.1:${port}`));
    for (const r of [await check(file), await drain(file)]) {
      expect(r.code, r.stdout + r.stderr).to.equal(5);
      expect(r.stderr).to.contain(`cannot reach the API server at context test (https://127.0.0.1:${port})`);
      expect(r.stderr).to.contain("Fix: check that this machine reaches the cluster endpoint");
      expect(r.stdout + r.stderr).to.not.match(STACK_FRAME);
      expect(r.stderr).to.not.contain("internal error");
    }
  });

  it("inside advance, a cluster that cannot be read fails the stack's gate with the reason; nothing is applied, the stack file is put back", async () => {
    const port = await freePort();
    const file = kubeconfig((k) => (k.clusters[0].cluster.server = `https://127.0.0.1:${port}`));
    expect((await runDriverCli(p, ["advance", "-s", "e1", "--to", "0", "--yes"])).code, "phase 0 applied (gates skipped)").to.equal(0);
    const before = fs.readFileSync(path.join(p.dir, "Pulumi.e1.yaml"), "utf8");
    const r = await runDriverCli(p, ["advance", "-s", "e1", "--to", "1", "--yes"], { kubeconfig: file });
    expect(r.code, r.stdout + r.stderr).to.equal(1);
    expect(r.stdout).to.match(/e1 \(phase 1\): health gate of e1: cannot reach the API server at context test \(https:\/\/127\.0\.0\.1:\d+\)/);
    expect(r.stdout + r.stderr).to.not.match(STACK_FRAME);
    expect(fs.readFileSync(path.join(p.dir, "Pulumi.e1.yaml"), "utf8")).to.equal(before);
  });

  it("a credential command that fails (an expired SSO session behind aws eks get-token): said so, with the fix", async () => {
    const file = kubeconfig((k) => (k.users[0].user = { exec: { apiVersion: "client.authentication.k8s.io/v1beta1", command: "sh", args: ["-c", "echo 'The SSO session has expired' >&2; exit 255"], interactiveMode: "Never" } }));
    const r = await check(file);
    expect(r.code, r.stdout + r.stderr).to.equal(5); // the machine's credentials: environment
    expect(r.stderr, r.stderr).to.match(/health gate of e1: (the kubeconfig's credential command for context test .* failed|the API server at context test .* refused the credentials)/);
    expect(r.stdout + r.stderr).to.not.match(STACK_FRAME);
  });

  it("a user the API server's RBAC refuses: the missing permission and the ClusterRole to bind; bound to it, every check runs", async () => {
    const core = api.kubeconfig.makeApiClient(k8s.CoreV1Api);
    const rbac = api.kubeconfig.makeApiClient(k8s.RbacAuthorizationV1Api);
    await core.createNamespacedServiceAccount({ namespace: "default", body: { metadata: { name: "checker" } } });
    const token = (await core.createNamespacedServiceAccountToken({ name: "checker", namespace: "default", body: { spec: { audiences: [], expirationSeconds: 3600 } } })).status!.token;
    const file = kubeconfig((k) => (k.users[0].user = { token }));

    const refused = await check(file);
    expect(refused.code, refused.stdout + refused.stderr).to.equal(5); // RBAC the user lacks: environment
    expect(refused.stderr).to.match(/User "system:serviceaccount:default:checker" cannot (get|list) resource "\w+"/);
    expect(refused.stderr).to.contain(`the ClusterRole in ${RBAC_FILE}`);

    // The shipped ClusterRole, applied as a user would, and bound to the ServiceAccount.
    const objects = k8s.KubernetesObjectApi.makeApiClient(api.kubeconfig);
    for (const doc of parseAllDocuments(fs.readFileSync(path.join(PROJECT, RBAC_FILE), "utf8"))) await objects.create(doc.toJS() as k8s.KubernetesObject);
    await rbac.createClusterRoleBinding({
      body: { metadata: { name: "unchain-health" }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "unchain-health" }, subjects: [{ kind: "ServiceAccount", name: "checker", namespace: "default" }] },
    });
    const allowed = await check(file);
    expect(allowed.code, "the gate runs (and fails on the empty cluster), no access error").to.equal(1);
    expect(allowed.stdout).to.contain("✖ nodesReady: the cluster has no nodes");
    const dry = await drain(file);
    expect(dry.code, "no chained node where the stack has chained pools: not 'nothing to drain'").to.equal(1);
    expect(dry.stdout).to.match(/no nodes in chained pools .*: nothing to drain\nbut phase 0 of e1 has chained pools of 2 node\(s\): is this its cluster\?/);
  });
});
