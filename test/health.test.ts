/**
 * Health gates and the drain against a real kube-apiserver with etcd (scripts/ensure-k8s.sh):
 * field selectors, the Eviction API's PDB checks and CRDs are the API server's own behaviour.
 */
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { CheckResult, describeResults, gatePassed, runChecks } from "../automation/health/checks";
import { readCluster } from "../automation/health/cluster";
import { drainRole, uncordonRole } from "../automation/health/drain";
import { ClusterConfig } from "../config/types";
import { projectDefaults } from "../config/load";
import { validateStackConfig } from "../config/validate";
import { PROJECT } from "./helpers";
import { desiredState, PhaseState } from "../steps/desired";
import { CheckName, GateStep, PHASES, PhaseNumber } from "../steps/phases";
import { checkedConfig } from "../automation/driver/runner";
import * as fs from "node:fs";
import * as path from "node:path";

import { appliedSequence, auditEntries, ensurePulumi, ledger, runDriverCli, simProject, summaryOf } from "./driverHarness";
import { ApiServer, startApiServer } from "./kubeHarness";
import { settledAt, Stage } from "./kubeStage";
import { FakeAws } from "./fakeAws";
import { SubnetCheck } from "../automation/health/subnets";

function clusterConfig(): ClusterConfig {
  // The project's defaults (Pulumi.yaml), as the CLI merges them.
  const defaults = Object.fromEntries(
    Object.entries(projectDefaults(PROJECT))
      .filter(([k]) => k.startsWith("unchain:"))
      .map(([k, v]) => [k.slice("unchain:".length), v]),
  );
  const { config, problems } = validateStackConfig("health", {
    ...defaults,
    phase: 0,
    sandbox: true,
    minSchedulableNodesPerAz: 1,
    cluster: { name: "health", region: "eu-west-1", availabilityZones: [{ name: "eu-west-1a" }, { name: "eu-west-1b" }] },
    chainedPools: [{ name: "general", instanceTypes: ["t3.large"], size: { min: 2, desired: 2, max: 3 } }],
    awsPools: [{ name: "general", instanceTypes: ["t3.large"], sizePerAz: { min: 1, desired: 1, max: 2 } }],
    ciliumPools: [{ name: "general", instanceTypes: ["t3.large"], sizePerAz: { min: 1, desired: 1, max: 2 } }],
  });
  if (!config) throw new Error(problems.map((p) => p.message).join("\n"));
  return config;
}

const CONFIG = clusterConfig();
const stateAt = (phase: number): PhaseState => desiredState(CONFIG, phase as PhaseNumber);

/** Stages a cluster settled in `phase` (test/kubeStage.ts settledAt): two nodes per node group, CoreDNS and the operator on the last open pools. */
function settled(stage: Stage, phase: number, config: ClusterConfig = CONFIG): Promise<{ nodes: Array<{ name: string; role: string }> }> {
  return settledAt(stage, desiredState(config, phase as PhaseNumber));
}

describe("health gates against a real API server", function () {
  this.timeout(120_000);
  let api: ApiServer;
  let stage: Stage;

  before(async function () {
    // Builds kube-apiserver and etcd from the Go module proxy on a machine that has none (once).
    this.timeout(60 * 60_000);
    api = await startApiServer();
    stage = new Stage(api.kubeconfig);
  });
  after(async () => api?.stop());
  afterEach(async () => stage.reset());

  const gate = async (phase: number, steps: GateStep[]) => runChecks(await readCluster(api.kubeconfig), stateAt(phase), steps, CONFIG.awsPoolTaintKey);
  const only = (check: CheckName): GateStep[] => [{ kind: "check", check }];
  const result = (rs: CheckResult[], check: CheckName) => rs.find((r) => r.check === check)!;

  it("a cluster settled in phase 4 passes every check phase 4 runs after its up", async () => {
    await settled(stage, 4);
    const rs = await gate(4, PHASES[4].after);
    expect(gatePassed(rs), describeResults(rs)).to.equal(true);
    expect(rs.map((r) => r.check)).to.deep.equal(PHASES[4].after.map((s) => (s.kind === "check" ? s.check : "")));
    expect(result(rs, "daemonSetsPlaced").summary).to.match(/aws-node 4\/4, cilium 4\/4, cilium-envoy 4\/4/);
  });

  it("reads every page of every list: the same verdicts with two objects per page", async () => {
    await settled(stage, 4);
    const rs = runChecks(await readCluster(api.kubeconfig, 2), stateAt(4), PHASES[4].after, CONFIG.awsPoolTaintKey);
    expect(gatePassed(rs), describeResults(rs)).to.equal(true);
    expect(result(rs, "noUnmanagedPods").summary).to.equal("all 4 pods on Cilium nodes have a CiliumEndpoint");
  });

  it("nodesReady names the node that is not Ready", async () => {
    await settled(stage, 1);
    await stage.setNodeReady(`${stateAt(1).pools[0].nodeGroupName}-1`, false);
    const r = result(await gate(1, only("nodesReady")), "nodesReady");
    expect(r.ok).to.equal(false);
    expect(r.summary).to.equal("1 of 6 nodes not Ready");
    expect(r.findings).to.deep.equal([`${stateAt(1).pools[0].nodeGroupName}-1: KubeletNotReady`]);
  });

  it("poolsLabelledAndTainted names a node missing the taint its phase sets, and one whose taint should be gone", async () => {
    await settled(stage, 5);
    const aws = stateAt(5).pools.find((p) => p.role === "aws")!;
    await stage.taint(`${aws.nodeGroupName}-0`, []);
    const cilium = stateAt(5).pools.find((p) => p.role === "cilium")!;
    await stage.taint(`${cilium.nodeGroupName}-0`, [{ key: "cni", value: "cilium", effect: "NoExecute" }]);
    const r = result(await gate(5, only("poolsLabelledAndTainted")), "poolsLabelledAndTainted");
    expect(r.ok).to.equal(false);
    expect(r.findings).to.include(`${aws.nodeGroupName}-0 (${aws.nodeGroupName}): taint ${CONFIG.awsPoolTaintKey}=aws:NoSchedule missing`);
    expect(r.findings).to.include(`${cilium.nodeGroupName}-0 (${cilium.nodeGroupName}): taint cni=cilium:NoExecute should be gone in phase 5`);
  });

  it("daemonSetsPlaced names nodes a DaemonSet is missing from and nodes it should not run on", async () => {
    const { nodes } = await settled(stage, 3);
    const awsNode = nodes.find((n) => n.role === "aws")!;
    await stage.core.deleteNamespacedPod({ name: `aws-node-${awsNode.name}`, namespace: "kube-system", gracePeriodSeconds: 0 });
    await stage.pod({ name: "cilium-stray", node: awsNode.name, daemonSet: "cilium", hostNetwork: true });
    await stage.daemonSet("cilium", 1, 1);
    const r = result(await gate(3, only("daemonSetsPlaced")), "daemonSetsPlaced");
    expect(r.ok).to.equal(false);
    expect(r.findings).to.include(`aws-node not available on 1 of 4 nodes it should cover: ${awsNode.name} (no pod)`);
    expect(r.findings).to.include(`cilium runs on 1 node it should not: ${awsNode.name} (aws)`);
  });

  it("agentNotReadyCleared names Cilium nodes that still carry node.cilium.io/agent-not-ready", async () => {
    await settled(stage, 4);
    const c = stateAt(4).pools.find((p) => p.role === "cilium")!;
    await stage.taint(`${c.nodeGroupName}-1`, [{ key: "node.cilium.io/agent-not-ready", value: "true", effect: "NoExecute" }]);
    const r = result(await gate(4, only("agentNotReadyCleared")), "agentNotReadyCleared");
    expect(r.ok).to.equal(false);
    expect(r.summary).to.equal("1 of 4 Cilium nodes still carry node.cilium.io/agent-not-ready");
    expect(r.findings).to.deep.equal([`${c.nodeGroupName}-1: the Cilium agent is not ready there`]);
  });

  it("noUnmanagedPods names a pod on a Cilium node without a CiliumEndpoint; hostNetwork pods need none", async () => {
    const { nodes } = await settled(stage, 6);
    const n = nodes[0].name;
    await stage.pod({ name: "legacy", node: n, labels: { app: "legacy" } });
    const r = result(await gate(6, only("noUnmanagedPods")), "noUnmanagedPods");
    expect(r.ok).to.equal(false);
    expect(r.findings).to.deep.equal([`default/legacy on ${n}`]);
  });

  it("poolEmpty names workload pods left on a pool about to go; DaemonSet pods do not count", async () => {
    const { nodes } = await settled(stage, 1);
    const chained = nodes.filter((n) => n.role === "chained").map((n) => n.name);
    const rs = await gate(1, [{ kind: "check", check: "poolEmpty", role: "chained" }]);
    expect(rs[0].ok).to.equal(false);
    expect(rs[0].findings).to.have.members(chained.map((n) => `default/web-${n} on ${n}`));
    for (const n of chained) await stage.core.deleteNamespacedPod({ name: `web-${n}`, namespace: "default", gracePeriodSeconds: 0 });
    const after = await gate(1, [{ kind: "check", check: "poolEmpty", role: "chained" }]);
    expect(after[0].ok, describeResults(after)).to.equal(true);
  });

  it("coreDnsReady fails when every ready CoreDNS pod runs on the pools the next step removes", async () => {
    const { nodes } = await settled(stage, 1);
    await stage.core.deleteCollectionNamespacedPod({ namespace: "kube-system", labelSelector: "k8s-app=kube-dns", gracePeriodSeconds: 0 });
    const chained = nodes.filter((n) => n.role === "chained");
    await stage.pod({ namespace: "kube-system", name: "coredns-a", node: chained[0].name, labels: { "k8s-app": "kube-dns" } });
    const rs = await gate(2, PHASES[2].before);
    const r = result(rs, "coreDnsReady");
    expect(r.ok).to.equal(false);
    expect(r.findings[0]).to.equal(`all 1 ready CoreDNS pods run on chained pools (cni=both), which go next: coredns-a on ${chained[0].name}`);
  });

  it("blockingPdbs names each budget that allows no disruption and the pods it covers, before any drain", async () => {
    const { nodes } = await settled(stage, 1);
    await stage.pdb("default", "web", { app: "web" }, 1);
    const allows = result(await gate(2, PHASES[2].before), "blockingPdbs");
    expect(allows.ok, allows.summary).to.equal(true);
    expect(allows.summary).to.equal("no PodDisruptionBudget blocks draining chained pools (cni=both) (2 workload pods)");
    await stage.policy.deleteNamespacedPodDisruptionBudget({ name: "web", namespace: "default" });
    await stage.pdb("default", "web", { app: "web" }, 0);
    const rs = await gate(2, PHASES[2].before);
    const r = result(rs, "blockingPdbs");
    expect(r.ok).to.equal(false);
    const chained = nodes.filter((n) => n.role === "chained").map((n) => `default/web-${n.name}`);
    expect(r.findings).to.deep.equal([`PDB default/web allows no disruption; it covers 2 pods there: ${chained.join(", ")}`]);
  });

  it("policyEnforcementGap reports policies that select pods on aws pools, as a note that does not stop the gate", async () => {
    await settled(stage, 3);
    await stage.networkPolicy("default", "web-only", { app: "web" });
    const rs = await gate(3, PHASES[3].after);
    const r = result(rs, "policyEnforcementGap");
    expect(r).to.include({ ok: false, severity: "note" });
    expect(r.findings[0]).to.match(/^NetworkPolicy default\/web-only selects 4 pods on aws pools, where nothing enforces it/);
    expect(gatePassed(rs), describeResults(rs)).to.equal(true);
  });

  it("policyEnforcementGap, the other way: Cilium enforcing policy on its pods while another role shares the cluster fails the gate, naming each policy", async () => {
    await settled(stage, 4);
    await stage.networkPolicy("default", "web-only", { app: "web" });
    const audited = result(await gate(4, only("policyEnforcementGap")), "policyEnforcementGap");
    expect(audited.severity, "in audit mode: a note").to.equal("note");
    expect(audited.findings.some((f) => /selects 4 pods Cilium runs: audited, not enforced, while pods of aws pools are world to Cilium/.test(f)), audited.findings.join("\n")).to.equal(true);
    await stage.core.patchNamespacedConfigMap({ name: "cilium-config", namespace: "kube-system", body: { data: { "policy-audit-mode": "false" } } }, k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch));
    const enforcing = result(await gate(4, only("policyEnforcementGap")), "policyEnforcementGap");
    expect(enforcing).to.include({ ok: false, severity: "failure" });
    expect(enforcing.summary).to.match(/Cilium enforces 1 network policy while pool roles aws, cilium share the cluster/);
    expect(enforcing.findings[0]).to.match(/^NetworkPolicy default\/web-only is enforced on 4 pods Cilium runs/);
  });

  it("operatorWatcherApplied: the running operator must have the phase's watcher setting, rolled onto every pod", async () => {
    await settled(stage, 1);
    expect(result(await gate(1, only("operatorWatcherApplied")), "operatorWatcherApplied").summary).to.equal("the running cilium-operator (1 pod) started with the unmanaged-pod watcher off");
    // A pod that started before the ConfigMap changed.
    await stage.apps.patchNamespacedDeployment({ name: "cilium-operator", namespace: "kube-system", body: { spec: { template: { metadata: { annotations: { "cilium.io/cilium-configmap-checksum": "c2" } } } } } }, k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch));
    const stale = result(await gate(1, only("operatorWatcherApplied")), "operatorWatcherApplied");
    expect(stale).to.include({ ok: false, severity: "failure" });
    expect(stale.findings).to.deep.equal(["cilium-operator-0: started before the ConfigMap changed"]);
    // The ConfigMap itself still says on.
    await stage.core.patchNamespacedConfigMap({ name: "cilium-config", namespace: "kube-system", body: { data: { "unmanaged-pod-watcher-interval": "15" } } }, k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch));
    expect(result(await gate(1, only("operatorWatcherApplied")), "operatorWatcherApplied").summary).to.equal("cilium-config has the unmanaged-pod watcher on; phase 1 wants it off");
  });

  it("operatorWatcherApplied: an operator that does not roll on a ConfigMap change fails, saying why", async () => {
    await settled(stage, 0);
    await stage.apps.deleteNamespacedDeployment({ name: "cilium-operator", namespace: "kube-system" });
    await stage.core.deleteNamespacedPod({ name: "cilium-operator-0", namespace: "kube-system", gracePeriodSeconds: 0 });
    await stage.core.patchNamespacedConfigMap({ name: "cilium-config", namespace: "kube-system", body: { data: { "unmanaged-pod-watcher-interval": "0" } } }, k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch));
    await stage.ciliumOperator(undefined, [{ name: "cilium-operator-0", node: (await stage.core.listNode()).items[0].metadata!.name! }]);
    const r = result(await gate(1, only("operatorWatcherApplied")), "operatorWatcherApplied");
    expect(r.ok).to.equal(false);
    expect(r.summary).to.equal("the cilium-operator does not roll when cilium-config changes, so it may still run with the old watcher setting");
  });

  it("stops the driver when a phase's health gate fails after its up: the next phase does not start", async function () {
    this.timeout(10 * 60_000);
    ensurePulumi();
    const p = simProject([{ name: "w", stacks: ["hg1"] }], { kubeContext: "test" });
    const { nodes } = await settled(stage, 0, checkedConfig(p.dir, "hg1"));
    await stage.setNodeReady(nodes[1].name, false);
    const r = await runDriverCli(p, ["advance", "--all", "--to", "1", "--yes", "--json"], { kubeconfig: api.kubeconfigFile });
    expect(r.code, r.stdout).to.equal(1);
    const hg1 = summaryOf(r).results.find((x) => x.stack === "hg1")!;
    expect(hg1).to.deep.include({ status: "failed", phase: 0, phasesApplied: [] });
    expect(hg1.error).to.contain("phase 0 was applied, but its health gate failed");
    expect(hg1.error).to.contain(`${nodes[1].name}: KubeletNotReady`);
    expect(appliedSequence(p, "hg1"), "phase 1 never started").to.deep.equal([0]);

    // Still not Ready: the next run checks phase 0 again before phase 1, and stops before its up.
    const again = await runDriverCli(p, ["advance", "--all", "--to", "1", "--yes", "--json"], { kubeconfig: api.kubeconfigFile });
    expect(summaryOf(again).results[0]).to.deep.include({ status: "failed", phase: 1 });
    expect(summaryOf(again).results[0].error).to.match(/^health gate before phase 1 failed/);
    expect(appliedSequence(p, "hg1")).to.deep.equal([0]);

    await stage.setNodeReady(nodes[1].name, true);
    const check = await runDriverCli(p, ["check", "--stack", "hg1", "--kubeconfig", api.kubeconfigFile]);
    expect(check.code, check.stdout).to.equal(0);
    const server = api.kubeconfig.getCurrentCluster()!.server;
    expect(check.stdout.startsWith(`hg1: health gate after phase 0: passed\ncluster: context test, server ${server}\n✔ nodesReady: all ${nodes.length} nodes Ready\n`), check.stdout).to.equal(true);

    // The same gate as JSON: one document, every check with what it found.
    const json = await runDriverCli(p, ["check", "--stack", "hg1", "--kubeconfig", api.kubeconfigFile, "--json"]);
    expect(json.code, json.stdout).to.equal(0);
    const doc = JSON.parse(json.stdout) as { schemaVersion: number; command: string; stack: string; gate: string; passed: boolean; results: Array<{ check: string; ok: boolean; summary: string }> };
    expect(doc).to.include({ schemaVersion: 1, command: "check", stack: "hg1", gate: "health gate after phase 0", passed: true });
    expect(doc.results.find((r) => r.check === "nodesReady")).to.include({ ok: true, summary: `all ${nodes.length} nodes Ready` });
    expect(doc.results.every((r) => r.ok)).to.equal(true);
  });

  it("with --drain, the driver drains the chained pools between phases 1 and 2, then goes on", async function () {
    this.timeout(10 * 60_000);
    const p = simProject([{ name: "w", stacks: ["dr1"] }], { kubeContext: "test" });
    expect((await runDriverCli(p, ["advance", "--all", "--to", "1", "--yes"])).code).to.equal(0);
    const config = checkedConfig(p.dir, "dr1");
    const { nodes } = await settled(stage, 1, config);
    const chained = nodes.filter((n) => n.role === "chained").map((n) => n.name);
    // Playing the cloud and the kubelets: evicted pods go; when the up deletes the chained node
    // groups, their nodes (and the DaemonSet pods on them) go too.
    let on = true;
    const world = (async () => {
      while (on) {
        await stage.finishTerminating().catch(() => 0);
        if (ledger(p).some((l) => l.op === "delete" && l.kind === "nodeGroup" && l.name.startsWith("chained")))
          for (const n of chained) {
            await stage.core.deleteCollectionNamespacedPod({ namespace: "kube-system", fieldSelector: `spec.nodeName=${n}`, gracePeriodSeconds: 0 }).catch(() => undefined);
            await stage.core.deleteNode({ name: n }).catch(() => undefined);
          }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      const r = await runDriverCli(p, ["advance", "--all", "--to", "2", "--yes", "--json", "--drain", "--drain-timeout", "30"], { kubeconfig: api.kubeconfigFile });
      expect(r.code, r.stdout).to.equal(0);
      expect(r.stdout).to.contain('"step":"drain"');
      for (const n of chained) expect(r.stdout).to.contain(`${n}: drained`);
      expect(appliedSequence(p, "dr1")).to.deep.equal([0, 1, 2]);
      expect(auditEntries(path.join(p.dir, ".unchain")).filter((e) => e.action === "drain").map((e) => e.result)).to.deep.equal(["ok"]);
    } finally {
      on = false;
      await world;
    }
  });

  describe("drain", () => {
    /** Plays the kubelets: pods evicted (marked for deletion) are gone shortly after. */
    function kubelet(): () => void {
      let on = true;
      void (async () => {
        while (on) {
          await stage.finishTerminating().catch(() => 0);
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      return () => (on = false);
    }
    const lines: string[] = [];
    const opts = { nodesAtOnce: 1, perNodeTimeoutMs: 3000, pollMs: 100, say: (l: string) => lines.push(l) };

    it("is a dry run unless applied: names nodes, pods and blocking budgets, changes nothing", async () => {
      await settled(stage, 1);
      await stage.pdb("default", "web", { app: "web" }, 0);
      const r = await drainRole(api.kubeconfig, { ...opts, role: "chained", apply: false });
      expect(r.ok).to.equal(true);
      expect(r.message).to.match(/^dry run: nothing was changed; 1 PDB\(s\) would block now/);
      const snap = await readCluster(api.kubeconfig);
      expect(snap.nodes.filter((n) => n.unschedulable)).to.deep.equal([]);
    });

    it("cordons and empties every node of the role through the Eviction API", async () => {
      const { nodes } = await settled(stage, 1);
      const stop = kubelet();
      try {
        const r = await drainRole(api.kubeconfig, { ...opts, role: "chained", apply: true });
        expect(r.ok, r.message).to.equal(true);
        const chained = nodes.filter((n) => n.role === "chained").map((n) => n.name);
        expect(r.drained).to.deep.equal(chained);
        const snap = await readCluster(api.kubeconfig);
        expect(snap.nodes.filter((n) => n.unschedulable).map((n) => n.name)).to.deep.equal(chained);
        expect(snap.pods.filter((p) => chained.includes(p.node ?? "") && p.owner?.kind !== "DaemonSet")).to.deep.equal([]);
        expect(snap.pods.filter((p) => chained.includes(p.node ?? "") && p.owner?.kind === "DaemonSet").length, "DaemonSet pods stay").to.be.greaterThan(0);
      } finally {
        stop();
      }
    });

    it("refuses, before any cordon, pods kubectl drain refuses and pods bound to their node, naming each with the flag that allows it; uncordon puts the nodes back", async () => {
      const { nodes } = await settled(stage, 1);
      const chained = nodes.filter((n) => n.role === "chained").map((n) => n.name);
      await stage.pod({ name: "by-hand", node: chained[0], bare: true });
      await stage.pod({ name: "cache", node: chained[0], emptyDir: "scratch" });
      await stage.localVolume("default", "db-data", chained[1]);
      await stage.pod({ name: "db-0", node: chained[1], claim: "db-data" });
      lines.length = 0;
      for (const apply of [false, true]) {
        const r = await drainRole(api.kubeconfig, { ...opts, role: "chained", apply });
        expect(r.ok).to.equal(false);
        expect(r.message).to.match(/refused before any eviction: 3 pod\(s\)/);
      }
      expect(lines).to.include("  refused: default/by-hand has no controller: evicted, nothing recreates it. Pass --force to evict it anyway (it is gone for good)");
      expect(lines).to.include("  refused: default/cache has emptyDir volume(s) scratch: their data is deleted with the pod. Pass --delete-emptydir-data to evict it anyway");
      expect(lines.some((l) => l.startsWith(`  refused: default/db-0 uses PersistentVolume local-db-data (claim db-data), bound to node ${chained[1]}`))).to.equal(true);
      expect((await readCluster(api.kubeconfig)).nodes.filter((n) => n.unschedulable), "nothing cordoned").to.deep.equal([]);

      const stop = kubelet();
      try {
        const r = await drainRole(api.kubeconfig, { ...opts, role: "chained", apply: true, force: true, deleteEmptyDirData: true });
        expect(r.ok, r.message).to.equal(true);
        expect(r.drained).to.deep.equal(chained);
      } finally {
        stop();
      }
      const back = await uncordonRole(api.kubeconfig, "chained", () => undefined);
      expect(back.sort()).to.deep.equal([...chained].sort());
      expect((await readCluster(api.kubeconfig)).nodes.filter((n) => n.unschedulable)).to.deep.equal([]);
    });

    it("waits for the evicted pods' replacements to be Ready elsewhere before the next node, and stops naming the controller when they are not", async () => {
      const { nodes } = await settled(stage, 1);
      const chained = nodes.filter((n) => n.role === "chained").map((n) => n.name);
      const rs = { metadata: { name: "api-rs", namespace: "default" }, spec: { replicas: 1, selector: { matchLabels: { app: "api" } }, template: { metadata: { labels: { app: "api" } }, spec: { containers: [{ name: "c", image: "app:test" }] } } } };
      await stage.apps.createNamespacedReplicaSet({ namespace: "default", body: rs });
      await stage.pod({ name: "api", node: chained[0], labels: { app: "api" } });
      const setReady = (n: number) => stage.apps.patchNamespacedReplicaSetStatus({ name: "api-rs", namespace: "default", body: { status: { replicas: 1, readyReplicas: n } } }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch));
      await setReady(0);
      const stop = kubelet();
      try {
        const first = await drainRole(api.kubeconfig, { ...opts, role: "chained", apply: true });
        expect(first.ok).to.equal(false);
        expect(first.drained, "the next node was not touched").to.deep.equal([]);
        expect(first.message).to.contain(`stopped at ${chained[0]}: the replacements of its pods are not Ready elsewhere within 3 s: ReplicaSet default/api-rs has 0 of 1 replicas ready (it replaces default/api)`);
        await setReady(1);
        const again = await drainRole(api.kubeconfig, { ...opts, role: "chained", apply: true });
        expect(again.ok, again.message).to.equal(true);
        expect(again.drained).to.deep.equal(chained);
      } finally {
        stop();
      }
    });

    it("refuses a drain the open nodes cannot hold, before any eviction: by requests against allocatable, overall and per AZ for pods bound there by their volumes", async () => {
      const { nodes } = await settled(stage, 1);
      const chained = nodes.filter((n) => n.role === "chained").map((n) => n.name);
      const open = nodes.filter((n) => n.role === "aws").map((n) => n.name);
      for (const n of nodes) await stage.allocatable(n.name, "2", "4Gi");
      for (const n of open) await stage.core.patchNode({ name: n, body: { metadata: { labels: { "topology.kubernetes.io/zone": "eu-west-1b" } } } }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch));
      await stage.pod({ name: "batch", node: chained[0], requests: { cpu: "20", memory: "1Gi" } });
      await stage.zonalVolume("default", "pg-data", "eu-west-1a");
      await stage.pod({ name: "pg-0", node: chained[1], claim: "pg-data", requests: { cpu: "500m", memory: "1Gi" } });
      lines.length = 0;
      const r = await drainRole(api.kubeconfig, { ...opts, role: "chained", apply: true });
      expect(r.ok).to.equal(false);
      expect(r.message).to.contain("the open nodes cannot hold the pods that would move");
      expect(lines).to.include(`  no room: AZ eu-west-1a: 1 pod(s) bound there by their volumes (default/pg-0) need 0.5 CPU, 1.0 GiB; the open nodes there have 0 CPU, 0.0 GiB free (short by 0.5 CPU, 1.0 GiB)`);
      expect(lines.some((l) => /^ {2}no room: all AZs: the \d+ pod\(s\) to move need 20\.5 CPU, 2\.0 GiB; the open nodes there have \d+ CPU/.test(l)), lines.join("\n")).to.equal(true);
      expect((await readCluster(api.kubeconfig)).nodes.filter((n) => n.unschedulable), "nothing cordoned").to.deep.equal([]);
    });

    it("counts the free IP addresses of the open node groups' subnets (EC2 through the AWS SDK) before any cordon: a shortfall or no access to EC2 stops it, --skip-subnet-check goes on and says so", async () => {
      const { nodes } = await settled(stage, 1);
      const state = stateAt(1);
      const chained = nodes.filter((n) => n.role === "chained").map((n) => n.name);
      // The chained nodes both in eu-west-1a; each aws node in its group's AZ (EKS labels the zone).
      const zone = (n: string, z: string) => stage.core.patchNode({ name: n, body: { metadata: { labels: { "topology.kubernetes.io/zone": z } } } }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch));
      for (const n of chained) await zone(n, "eu-west-1a");
      for (const p of state.pools.filter((x) => x.role === "aws")) for (const n of nodes.filter((x) => x.name.startsWith(`${p.nodeGroupName}-`))) await zone(n.name, p.availabilityZones[0]);
      const subnetOf = (az: string) => `subnet-0000000000000${az.slice(-2)}`;
      const aws = new FakeAws({
        keys: { AKIADRAINER000000001: { account: "111111111111", secret: "s1" }, AKIADRAINER000000002: { account: "111111111111", secret: "s2" } },
        denied: { AKIADRAINER000000002: ["DescribeSubnets"] },
        clusters: [{ account: "111111111111", region: "eu-west-1", name: "health", nodeGroups: [], subnets: [{ subnetId: subnetOf("eu-west-1a"), availabilityZone: "eu-west-1a", availableIpAddressCount: 1 }, { subnetId: subnetOf("eu-west-1b"), availabilityZone: "eu-west-1b", availableIpAddressCount: 100 }] }],
      });
      await aws.start();
      const saved = { ...process.env };
      const check: SubnetCheck = { stack: "health", phase: 1, groups: state.pools.map((p) => ({ nodeGroupName: p.nodeGroupName, role: p.role, subnetIds: p.availabilityZones.map(subnetOf) })), aws: { cluster: "health", region: "eu-west-1" } };
      const as = (key: keyof typeof aws.world.keys) => Object.assign(process.env, aws.env(key), { AWS_PROFILE: "", AWS_CONFIG_FILE: "/nonexistent", AWS_SHARED_CREDENTIALS_FILE: "/nonexistent" });
      try {
        as("AKIADRAINER000000001");
        lines.length = 0;
        const short = await drainRole(api.kubeconfig, { ...opts, role: "chained", apply: true, subnets: check });
        expect(short.ok).to.equal(false);
        expect(short.message).to.match(/refused before any eviction: the subnets of the node groups that stay open have too few free IP addresses .* --skip-subnet-check drains without this check$/);
        expect(lines).to.include(`  no free IPs: AZ eu-west-1a: 2 pod(s) would move, the subnets of the node groups that stay open there (${state.pools.find((p) => p.role === "aws" && p.availabilityZones[0] === "eu-west-1a")!.nodeGroupName}) have 1 free IP address(es) (${subnetOf("eu-west-1a")}: 1): short by 1`);
        expect(aws.requests.some((q) => q.action === "DescribeSubnets")).to.equal(true);
        expect((await readCluster(api.kubeconfig)).nodes.filter((n) => n.unschedulable), "nothing cordoned").to.deep.equal([]);

        aws.world.clusters[0].subnets[0].availableIpAddressCount = 2;
        const enough = await drainRole(api.kubeconfig, { ...opts, role: "chained", apply: false, subnets: check });
        expect(enough.ok, enough.message).to.equal(true);

        as("AKIADRAINER000000002");
        lines.length = 0;
        const denied = await drainRole(api.kubeconfig, { ...opts, role: "chained", apply: true, subnets: check });
        expect(denied.ok).to.equal(false);
        expect(denied.message).to.match(/^drain of chained pools \(cni=both\) stopped before any eviction: the subnets' free IP addresses could not be read: DescribeSubnets for cluster health in eu-west-1 with the default credential chain .*: access denied/);
        expect(denied.message).to.contain("drain needs ec2:DescribeSubnets. Fix: grant ec2:DescribeSubnets to the identity unchain drains with, or pass --skip-subnet-check");
        expect((await readCluster(api.kubeconfig)).nodes.filter((n) => n.unschedulable), "nothing cordoned").to.deep.equal([]);

        const skipped = await drainRole(api.kubeconfig, { ...opts, role: "chained", apply: false, subnets: { ...check, skip: true } });
        expect(skipped.ok, skipped.message).to.equal(true);
        expect(lines).to.include("  subnet IPs: not checked (--skip-subnet-check): 2 pod(s) move without counting the subnets' free addresses");
      } finally {
        process.env = saved;
        await aws.stop();
      }
    });

    it("unchain drain hands the stack's node groups to the subnet check: a sandbox stack has no subnets to count, and says so; --skip-subnet-check is said too", async function () {
      this.timeout(5 * 60_000);
      const p = simProject([{ name: "w", stacks: ["sn1"] }], { kubeContext: "test" });
      try {
        await settled(stage, 1, checkedConfig(p.dir, "sn1"));
        const dry = await runDriverCli(p, ["drain", "--stack", "sn1", "--role", "both", "--kubeconfig", api.kubeconfigFile]);
        expect(dry.code, dry.stdout + dry.stderr).to.equal(0);
        expect(dry.stdout).to.match(/subnet IPs: node group \S+ lists no subnetIds in Pulumi\.sn1\.yaml: its subnets are not counted/);
        expect(dry.stdout).to.contain("subnet IPs: not checked: none of the open node groups has subnets the stack file names");
        const skip = await runDriverCli(p, ["drain", "--stack", "sn1", "--role", "both", "--skip-subnet-check", "--kubeconfig", api.kubeconfigFile]);
        expect(skip.code, skip.stdout + skip.stderr).to.equal(0);
        expect(skip.stdout).to.contain("subnet IPs: not checked (--skip-subnet-check)");

        // As JSON: one document with what the dry run would do and the lines it said, nothing printed besides.
        const json = await runDriverCli(p, ["drain", "--stack", "sn1", "--role", "both", "--kubeconfig", api.kubeconfigFile, "--json"]);
        expect(json.code, json.stdout + json.stderr).to.equal(0);
        const doc = JSON.parse(json.stdout) as { schemaVersion: number; command: string; stack: string; role: string; dryRun: boolean; undo: boolean; ok: boolean; nodes: unknown[]; drained: unknown[]; lines: string[] };
        expect(doc).to.include({ schemaVersion: 1, command: "drain", stack: "sn1", role: "chained", dryRun: true, undo: false, ok: true });
        expect(doc.nodes).to.have.length.greaterThan(0);
        expect(doc.drained, "a dry run drains nothing").to.deep.equal([]);
        expect(doc.lines.join("\n")).to.contain("subnet IPs: not checked: none of the open node groups has subnets the stack file names");
      } finally {
        fs.rmSync(p.dir, { recursive: true, force: true });
      }
    });

    it("stops at a pod a PodDisruptionBudget protects, naming both; run again once the budget allows, it finishes", async () => {
      const { nodes } = await settled(stage, 1);
      const chained = nodes.filter((n) => n.role === "chained").map((n) => n.name);
      // Only the second node's pod is protected: the first node drains, then the drain stops.
      await stage.core.patchNamespacedPod({ name: `web-${chained[1]}`, namespace: "default", body: { metadata: { labels: { app: "web", protected: "yes" } } } }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch));
      await stage.pdb("default", "critical", { protected: "yes" }, 0);
      const stop = kubelet();
      try {
        const first = await drainRole(api.kubeconfig, { ...opts, role: "chained", apply: true });
        expect(first.ok).to.equal(false);
        expect(first.drained).to.deep.equal([chained[0]]);
        expect(first.stoppedAt).to.deep.include({ node: chained[1], pod: `default/web-${chained[1]}`, pdbs: ["default/critical"] });
        expect(first.message).to.contain(`pod default/web-${chained[1]} cannot be evicted: PodDisruptionBudget default/critical allows no disruption`);

        // The budget's owner scales up; the disruption controller (played here) allows one.
        await stage.policy.deleteNamespacedPodDisruptionBudget({ name: "critical", namespace: "default" });
        await stage.pdb("default", "critical", { protected: "yes" }, 1);
        const again = await drainRole(api.kubeconfig, { ...opts, role: "chained", apply: true });
        expect(again.ok, again.message).to.equal(true);
        expect(again.drained).to.deep.equal(chained);
      } finally {
        stop();
      }
    });
  });
});
