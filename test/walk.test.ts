/**
 * One cluster walked 0→6 on the real engine, with the real Kubernetes half: the real
 * pulumi-kubernetes provider and real Helm releases against a real API server, the AWS half
 * simulated (test/walkHarness.ts). After each phase the live objects are held to what unchain
 * computed offline.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as k8s from "@kubernetes/client-node";
import { AuditEntry, GatedChange } from "../automation/driver/audit";
import { expect } from "chai";
import { desiredState } from "../steps/desired";
import { PhaseNumber } from "../steps/phases";
import { fits } from "./scheduling";
import { freePort } from "./kubeHarness";
import { advance, advancePlain, configOf, ipamByNode, liveView, markPendingUpgrade, namespaceScopedToken, WalkWorld, walkWorld, withKubeconfig } from "./walkHarness";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe("the Kubernetes half on the real engine: pulumi-kubernetes, Helm and an API server, walked 0→6", function () {
  this.timeout(60 * 60_000);
  let world: WalkWorld;
  let core: k8s.CoreV1Api;
  let caData: Record<string, string>;
  let operatorPods: string[] = [];
  const applied: Array<{ phase: number; events: Array<Record<string, unknown>> }> = [];

  const helmRevisions = async () =>
    (await core.listNamespacedSecret({ namespace: "kube-system", labelSelector: "owner=helm,name=cilium" })).items.map((s) => ({ version: Number(s.metadata!.labels!.version), status: s.metadata!.labels!.status }));
  const events = (r: Run) =>
    r.stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  async function step(phase: number): Promise<void> {
    const r = await advance(world, phase);
    expect(r.code, `advance to ${phase}: ${r.stdout}\n${r.stderr}\ncontrollers: ${world.controllers.lastError ?? "ok"}`).to.equal(0);
    applied.push({ phase, events: events(r) });
  }

  before(async function () {
    world = await walkWorld();
    core = world.api.kubeconfig.makeApiClient(k8s.CoreV1Api);
    caData = (await core.readNamespacedSecret({ name: "cilium-ca", namespace: "kube-system" })).data!;
  });

  after(async () => {
    await world?.stop();
  });

  const holdsTo = async (phase: number) => {
    const state = desiredState(configOf(world, phase), phase as PhaseNumber);
    const v = await liveView(world.api.kubeconfig);
    // Every node that can hold pods has exactly one IPAM provider, the one the invariants computed.
    for (const n of ipamByNode(v, state)) {
      expect(n.offline, `${n.node} belongs to a pool of phase ${phase}`).to.not.equal(undefined);
      const node = v.nodes.find((x) => x.metadata!.name === n.node)!;
      const why = `labels ${JSON.stringify(node.metadata!.labels)} taints ${JSON.stringify(node.spec!.taints ?? [])}; aws-node ${JSON.stringify(v.daemonSets.find((d) => d.metadata!.name === "aws-node")?.spec!.template.spec!.affinity ?? "absent")}`;
      expect(n.live, `phase ${phase}: IPAM providers on ${n.node} (${why})`).to.deep.equal(n.offline);
      expect(n.live, `phase ${phase}: ${n.node}`).to.have.length(1);
    }
    // Every DaemonSet of the node agents, pinned to the phase's roles, its own placement kept.
    for (const a of state.nodeAgents) {
      const dss = v.daemonSets.filter((d) => d.metadata!.labels?.["app.kubernetes.io/name"] === "node-agent" && d.metadata!.labels?.["app.kubernetes.io/instance"]?.includes(a.name + "-chart"));
      expect(dss.length, `node agent ${a.name} in phase ${phase}`).to.be.greaterThan(0);
      for (const d of dss) {
        const terms = d.spec!.template.spec!.affinity!.nodeAffinity!.requiredDuringSchedulingIgnoredDuringExecution!.nodeSelectorTerms;
        for (const t of terms) {
          expect(t.matchExpressions, `${d.metadata!.name}: the chart's own expression stays`).to.deep.include({ key: "kubernetes.io/os", operator: "In", values: ["linux"] });
          expect(t.matchExpressions!.find((e) => e.key === "cni")?.values, `${d.metadata!.name} pinned`).to.have.members(a.roles.map((r) => (r === "chained" ? "both" : r)));
        }
        // Its placement admits exactly the roles' nodes; the chart's own tolerations still decide about
        // taints (phase 4's cni=cilium:NoExecute keeps an agent that does not tolerate it off until phase 5).
        const cniOf = (ns: k8s.V1Node[]) => [...new Set(ns.map((n) => n.metadata!.labels!.cni))].sort();
        const spec = d.spec!.template.spec!;
        const admitted = v.nodes.filter((n) => fits({ ...spec, tolerations: [{ operator: "Exists" }] }, d.metadata!.namespace!, n, [], { daemonSet: true }));
        expect(cniOf(admitted), `${d.metadata!.name} placed on`).to.deep.equal([...new Set(a.roles.map((r) => (r === "chained" ? "both" : r)))].sort());
        const runs = v.nodes.filter((n) => fits(spec, d.metadata!.namespace!, n, [], { daemonSet: true }));
        expect(runs.every((n) => admitted.includes(n)), `${d.metadata!.name} runs only where placed`).to.equal(true);
        const podsOn = v.pods.filter((p) => (p.metadata!.ownerReferences ?? []).some((o) => o.uid === d.metadata!.uid)).map((p) => p.spec!.nodeName).sort();
        expect(podsOn, `${d.metadata!.name}: its pods`).to.deep.equal(runs.map((n) => n.metadata!.name).sort());
      }
    }
    // The watcher setting reached the running operator: its pods carry the current config's checksum.
    if (state.cilium) {
      expect(v.ciliumConfig?.["unmanaged-pod-watcher-interval"] !== "0", `phase ${phase}: watcher`).to.equal(state.cilium.unmanagedPodWatcherRestart);
      const apps = world.api.kubeconfig.makeApiClient(k8s.AppsV1Api);
      const op = await apps.readNamespacedDeployment({ name: "cilium-operator", namespace: "kube-system" });
      const sum = op.spec!.template.metadata?.annotations?.["cilium.io/cilium-configmap-checksum"];
      const pods = v.pods.filter((p) => p.metadata!.labels?.["io.cilium/app"] === "operator" && !p.metadata!.deletionTimestamp);
      expect(pods.length, "operator pods").to.be.greaterThan(0);
      if (phase >= 1) {
        expect(sum, `phase ${phase}: the operator rolls on a config change`).to.be.a("string");
        for (const p of pods) expect(p.metadata!.annotations?.["cilium.io/cilium-configmap-checksum"], `${p.metadata!.name} rolled`).to.equal(sum);
      }
    }
    // Cilium's objects the operator made, the policies and the CA outlive the releases.
    const custom = world.api.kubeconfig.makeApiClient(k8s.CustomObjectsApi);
    const cnp = await custom.getNamespacedCustomObject({ group: "cilium.io", version: "v2", namespace: "default", plural: "ciliumnetworkpolicies", name: "dns-egress" });
    expect(cnp, "the CiliumNetworkPolicy").to.not.equal(undefined);
    const ca = await core.readNamespacedSecret({ name: "cilium-ca", namespace: "kube-system" }).catch(() => undefined);
    if (state.cilium) expect(ca?.data, `phase ${phase}: the Cilium CA is the one the team's release made`).to.deep.equal(caData);
    // The team's settings run in whatever release runs.
    if (state.cilium) {
      expect(v.ciliumConfig!["cluster-name"], "cluster name").to.equal("walk");
      expect(v.ciliumConfig!["cluster-id"], "cluster id").to.equal("7");
      expect(v.ciliumConfig!["enable-hubble"], "hubble").to.equal("true");
      expect(v.ciliumConfig!["enable-wireguard"], "encryption").to.equal("true");
    }
    return { state, v };
  };

  it("phase 0 adopts the release installed with helm through a real import: no upgrade, the stack at 0", async () => {
    const before = await helmRevisions();
    await step(0);
    expect(await helmRevisions(), "the import changed nothing in Helm").to.deep.equal(before);
    await holdsTo(0);
    const pods = (await core.listNamespacedPod({ namespace: "kube-system", labelSelector: "io.cilium/app=operator" })).items;
    operatorPods = pods.map((p) => p.metadata!.name!);
  });

  it("errors the real provider raises name the stack and phase, say what to do, change nothing; then the phase goes through", async () => {
    const before = await helmRevisions();
    const atZero = () => expect(configOf(world).phase, "the stack file still says phase 0").to.equal(0);
    const reported = (r: Run, what: RegExp) => {
      if (process.env.UNCHAIN_SHOW_ERRORS) console.log(r.stdout);
      expect(r.code, r.stdout + r.stderr).to.equal(1);
      expect(r.stdout, r.stdout).to.match(new RegExp(`walk-eu-west-1 \\(phase 1\\): [^\\n]*${what.source}`));
      expect(r.stdout, "what to do").to.match(/fix: /);
      expect(r.stdout + r.stderr, "no stack trace").to.not.match(/\n\s+at .*:\d+:\d+\)?\n|Unhandled exception/);
    };

    // The API server cannot be reached (a VPN down, a private endpoint): refused at preview.
    const closed = await freePort();
    let r = await withKubeconfig(world, (kc) => (kc.clusters[0].cluster.server = `https://127.0.0.1:${closed}`), () => advancePlain(world, 1));
    reported(r, /Kubernetes API server cannot be reached/);
    expect(r.stdout, "never the advice to forget a running cluster's resources").to.not.include("set to \"true\"");
    expect(await helmRevisions(), "unreachable: Helm untouched").to.deep.equal(before);
    atZero();

    // Credentials that may not touch kube-system.
    const token = await namespaceScopedToken(world.api.kubeconfig);
    r = await withKubeconfig(world, (kc) => (kc.users[0].user = { token }), () => advancePlain(world, 1));
    reported(r, /credentials \(user system:serviceaccount:default:deployer\) may not \w+ \S+ in namespace kube-system/);
    expect(await helmRevisions(), "forbidden: Helm untouched").to.deep.equal(before);

    // A release whose last upgrade never finished.
    const restore = await markPendingUpgrade(world.api.kubeconfig, "cilium", "kube-system");
    try {
      r = await advancePlain(world, 1);
    } finally {
      await restore();
    }
    reported(r, /Helm's record of the Cilium release cilium in namespace kube-system says [^\n]* in progress/);
    expect(r.stdout, "the user's own commands").to.include("`helm history cilium -n kube-system`");
    expect(await helmRevisions(), "pending: Helm did not upgrade").to.deep.equal(before);
  });

  it("phase 1: the watcher goes off, and the operator rolls onto it; aws pools join with one IPAM each", async () => {
    await step(1);
    await holdsTo(1);
    const pods = (await core.listNamespacedPod({ namespace: "kube-system", labelSelector: "io.cilium/app=operator" })).items.map((p) => p.metadata!.name!);
    expect(pods.some((p) => operatorPods.includes(p)), "every operator pod was replaced").to.equal(false);
  });

  const phaseTest = (phase: number) =>
    it(`phase ${phase}: one IPAM per node, agents pinned, the watcher where the phase wants it, CRDs, policies and the CA kept`, async () => {
      await step(phase);
      const { v } = await holdsTo(phase);
      if (phase === 2) expect(v.daemonSets.find((d) => d.metadata!.name === "cilium"), "the chained release is gone").to.equal(undefined);
      if (phase >= 4) expect(v.ciliumConfig?.ipam).to.equal("eni");
      if (phase === 6) expect(v.daemonSets.find((d) => d.metadata!.name === "aws-node"), "aws-node gone with the add-on").to.equal(undefined);
    });
  for (const phase of [2, 3, 4]) phaseTest(phase);

  it("the preview gate refuses a change phase 5 does not own (Hubble turned off in the release), before up", async () => {
    const before = await helmRevisions();
    const r = await advancePlain(world, 5, { UNCHAIN_SIM_RELEASE_VALUES: JSON.stringify({ "walk-eu-west-1:5": { hubble: { enabled: false } } }) });
    expect(r.code, r.stdout + r.stderr).to.equal(1);
    expect(r.stdout).to.match(/walk-eu-west-1 \(phase 5\): [^\n]*does not call for/);
    expect(r.stdout).to.match(/update walk-eu-west-1-cilium-eni-release: [^\n]*values\.hubble\.enabled/);
    expect(await helmRevisions(), "Helm untouched").to.deep.equal(before);
    expect(configOf(world).phase, "the stack file back at 4").to.equal(4);
    expect((await liveView(world.api.kubeconfig)).ciliumConfig!["enable-hubble"]).to.equal("true");
  });

  for (const phase of [5, 6]) phaseTest(phase);

  it("the preview gate classified the real provider's Kubernetes resources by what they are", () => {
    const byPhase = new Map(applied.map((a) => [a.phase, a.events]));
    for (const p of [0, 1, 2, 3, 4, 5, 6]) expect(byPhase.get(p)?.filter((e) => e.type === "phase-end" && e.status === "applied"), `phase ${p} applied`).to.have.length(1);
    const gates = fs
      .readFileSync(path.join(world.dir, ".unchain", "audit.jsonl"), "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as AuditEntry)
      .filter((e) => e.action === "gate" && e.result === "ok" && !e.dryRun);
    const changes = (phase: number) => gates.filter((g) => g.phase === phase).flatMap((g) => g.gated ?? []);
    const kube = gates.flatMap((g) => (g.gated ?? []).map((c) => ({ ...c, phase: g.phase }))).filter((c) => c.type.startsWith("kubernetes:"));
    expect(kube.length, "the real provider's resources went through the gate").to.be.greaterThan(0);
    for (const c of kube) {
      const expected = /-cilium-(chained|eni)-release$/.test(c.name) ? "ciliumRelease" : /-node-cache/.test(c.name) ? "nodeAgent" : /-cilium-ca-/.test(c.name) ? "carriedSecret" : "?";
      expect(c.kind, `phase ${c.phase}: ${c.op} ${c.type} ${c.name}`).to.equal(expected);
      expect(c.allowed, `${c.name} allowed`).to.equal(true);
    }
    const has = (phase: number, want: Partial<GatedChange>, property?: RegExp) =>
      expect(
        changes(phase).some((c) => Object.entries(want).every(([k, v]) => c[k as keyof GatedChange] === v) && (!property || c.properties.some((x) => property.test(x)))),
        `phase ${phase}: ${JSON.stringify(want)} ${property ?? ""} in ${JSON.stringify(changes(phase))}`,
      ).to.equal(true);
    has(1, { op: "update", type: "kubernetes:helm.sh/v3:Release", kind: "ciliumRelease", release: "chained" }, /^values\.operator\./);
    has(1, { op: "update", type: "kubernetes:apps/v1:DaemonSet", kind: "nodeAgent" }, /affinity/);
    has(2, { op: "delete", type: "kubernetes:helm.sh/v3:Release", release: "chained" });
    has(4, { op: "create", type: "kubernetes:helm.sh/v3:Release", release: "eni" });
    has(4, { op: "create", type: "kubernetes:core/v1:Secret", kind: "carriedSecret" });
    has(6, { op: "delete", type: "kubernetes:apps/v1:DaemonSet", kind: "nodeAgent" });
  });
});
