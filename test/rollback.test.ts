/**
 * Going back with the health gates and drains on: `unchain advance --rollback` on the real engine
 * (the simulated program, its EKS half acting on the API server) against a real kube-apiserver.
 */
import * as path from "node:path";
import { expect } from "chai";

import { checkedConfig } from "../automation/driver/runner";
import { desiredState } from "../steps/desired";
import { appliedPhaseInBackend, appliedSequence, auditEntries, ensurePulumi, runDriverCli, simProject, summaryOf } from "./driverHarness";
import { ApiServer, startApiServer } from "./kubeHarness";
import { settledAt, Stage } from "./kubeStage";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("going back with health gates and drains, against a real API server", function () {
  this.timeout(15 * 60_000);
  let api: ApiServer;
  let stage: Stage;

  before(async function () {
    this.timeout(60 * 60_000);
    ensurePulumi();
    api = await startApiServer();
    stage = new Stage(api.kubeconfig);
  });
  after(async () => api?.stop());

  it("5→4: cilium pools closed without an eviction, the gate stops step 2 until they are drained, --drain drains them a node at a time, the validation taint goes back on and the nodes are uncordoned", async () => {
    const p = simProject([{ name: "w", stacks: ["rb1"] }], { kubeContext: "test" });
    expect((await runDriverCli(p, ["advance", "--all", "--to", "5", "--yes"])).code).to.equal(0);
    const config = checkedConfig(p.dir, "rb1");
    // The cluster as phase 5 left it: workloads on every node; CoreDNS and the operator on the aws pools.
    const { nodes } = await settledAt(stage, desiredState(config, 5), { nodesPerGroup: (pool) => pool.size.desired, home: "aws" });
    const cilium = nodes.filter((n) => n.role === "cilium").map((n) => n.name);
    const aws = nodes.filter((n) => n.role === "aws").map((n) => n.name);
    expect(cilium).to.have.length(2);
    const sim = { kubeconfig: api.kubeconfigFile, extra: { UNCHAIN_SIM_EKS_KUBECONFIG: api.kubeconfigFile } };
    const taintsOf = async (node: string) => ((await stage.core.readNode({ name: node })).spec?.taints ?? []).map((t) => `${t.key}=${t.value ?? ""}:${t.effect}`).sort();
    const webPods = async (on: string[]) => (await stage.core.listNamespacedPod({ namespace: "default" })).items.filter((x) => on.includes(x.spec!.nodeName!)).map((x) => x.metadata!.name);

    // Without --drain: step 1 applies (nothing evicted), the gate before step 2 finds workloads on the cilium pools and stops.
    const first = await runDriverCli(p, ["advance", "-s", "rb1", "--to", "4", "--rollback", "--yes", "--json"], sim);
    expect(first.code, first.stdout).to.equal(1);
    const r1 = summaryOf(first).results[0];
    expect(r1.error).to.match(/^health gate before going back 5→4, step 2 of 2 failed \(the cilium pools must be drained first: unchain drain --stack rb1 --role cilium --yes, or run with --drain\)/);
    for (const n of cilium) expect(await taintsOf(n), `${n} closed, not evicting`).to.include("cni=cilium:NoSchedule").and.not.include("cni=cilium:NoExecute");
    for (const n of aws) expect(await taintsOf(n), `${n} open again`).to.not.include(`${config.awsPoolTaintKey}=aws:NoSchedule`);
    expect(await webPods(cilium), "nothing was evicted by a taint").to.have.length(2);
    expect(appliedPhaseInBackend(p, "rb1")).to.equal(5);

    // The same command with --drain goes on from step 2: drains the cilium pools (the test plays the kubelets), then puts the taint back.
    let on = true;
    const kubelets = (async () => {
      while (on) {
        await stage.finishTerminating().catch(() => 0);
        await sleep(100);
      }
    })();
    try {
      const r = await runDriverCli(p, ["advance", "-s", "rb1", "--to", "4", "--rollback", "--yes", "--json", "--drain", "--drain-timeout", "30"], sim);
      expect(r.code, r.stdout).to.equal(0);
      expect(summaryOf(r).results[0]).to.deep.include({ status: "succeeded", reached: 4, phasesApplied: [4] });
      for (const n of cilium) expect(r.stdout).to.contain(`${n}: drained`);
    } finally {
      on = false;
      await kubelets;
    }
    expect(await webPods(cilium), "the cilium pools are empty").to.deep.equal([]);
    for (const n of cilium) {
      expect(await taintsOf(n), `${n}: the validation taint back`).to.include("cni=cilium:NoExecute").and.not.include("cni=cilium:NoSchedule");
      expect((await stage.core.readNode({ name: n })).spec?.unschedulable ?? false, `${n} uncordoned: a later phase 5 can open it`).to.equal(false);
    }
    expect(appliedPhaseInBackend(p, "rb1")).to.equal(4);
    expect(appliedSequence(p, "rb1")).to.deep.equal([0, 1, 2, 3, 4, 5, 4]);

    // The audit trail: every gate of both steps, the drain and the uncordon, in order.
    const entries = auditEntries(path.join(p.dir, ".unchain"));
    const trail = entries
      .slice(entries.findIndex((e) => e.action === "going-back"))
      .filter((e) => ["health", "drain", "up"].includes(e.action) && e.result === "ok")
      .map((e) => `${e.action}: ${e.action === "up" ? e.message : (e.message ?? "").split("\n")[0]}`);
    expect(trail).to.deep.equal([
      "health: before going back 5→4, step 1 of 2: passed",
      "up: going back 5→4, step 1 of 2",
      "health: after going back 5→4, step 1 of 2: passed",
      trail.find((l) => l.startsWith("drain: ") && !l.includes("uncordoned")),
      "health: before going back 5→4, step 2 of 2: passed",
      "up: going back 5→4, step 2 of 2",
      `drain: uncordoned the cilium pools after going back 5→4, step 2 of 2: ${cilium.slice().sort().join(", ")}`,
      "health: after going back 5→4, step 2 of 2: passed",
    ]);
    expect(trail[3], "the drain").to.match(/^drain: /);
  });
});
