/**
 * Going back (steps/reverse.ts): the reverse steps as data, the invariants on them for every stack of
 * the example fleet, and the plan showing a reverse walk.
 */
import { spawnSync } from "node:child_process";
import { expect } from "chai";
import { listStacks } from "../config/load";
import { isClosingTaint } from "../steps/desired";
import { PHASES, PhaseNumber } from "../steps/phases";
import { checkStep } from "../steps/invariants";
import { appliedPhaseFor, checkReverse, goingBackRefusal, POINT_OF_NO_RETURN, REVERSE_STEPS, reverseStages, reverseWalk, stageState, stateBefore } from "../steps/reverse";
import { BIN } from "./driverHarness";
import { fleetConfig, PROJECT } from "./helpers";

describe("going back: the reverse steps", () => {
  it("has one reverse step for every forward step, and phase 2 as the point of no return", () => {
    expect(REVERSE_STEPS.map((s) => `${s.from}→${s.to}`).sort()).to.deep.equal(["1→0", "2→1", "3→2", "4→3", "5→4", "6→5"]);
    const impossible = REVERSE_STEPS.filter((s) => !s.possible);
    expect(impossible.map((s) => s.from)).to.deep.equal([POINT_OF_NO_RETURN]);
    expect(reverseWalk(6, 0).map((s) => s.from), "a walk stops at the step that cannot be taken").to.deep.equal([6, 5, 4, 3, 2]);
  });

  it("drains a role before any stage that removes its pools or puts a NoExecute taint back on them", () => {
    for (const s of REVERSE_STEPS) {
      if (!s.possible) continue;
      const drained = s.stages.flatMap((st) => (st.drainBefore ? [st.drainBefore] : []));
      const [from, to] = [PHASES[s.from], PHASES[s.to]];
      for (const role of Object.keys(from.pools) as Array<keyof typeof from.pools>) {
        const removed = !to.pools[role];
        const evicting = (to.pools[role]?.taints ?? []).some((t) => t.effect === "NoExecute") && !(from.pools[role]?.taints ?? []).some((t) => t.effect === "NoExecute");
        if (removed || evicting) expect(drained, `${s.from}→${s.to}: the ${role} pools`).to.include(role);
      }
    }
  });

  it("keeps every invariant on every reverse step of every stack of the example fleet, from the phases it can be at", () => {
    for (const stack of listStacks(PROJECT)) {
      const config = fleetConfig(stack);
      for (let from = config.adoptedPhase + 1; from <= 6; from++) {
        const v = checkReverse(config, from as PhaseNumber);
        if (v) expect(v.map((x) => x.message), `${stack} ${from}→${from - 1}`).to.deep.equal([]);
      }
    }
  });

  it("catches a reverse step that leaves an AZ without room: 5→4 drains the cilium pools onto aws pools too small for the floor", () => {
    const config = fleetConfig("prod-eu-west-1");
    const small = { ...config, pools: config.pools.map((p) => (p.role === "aws" ? { ...p, groups: p.groups.map((g) => ({ ...g, size: { min: 0, desired: 0, max: 1 } })) } : p)) };
    const v = checkReverse(small, 5) ?? [];
    expect(v.some((x) => x.invariant === 4 && x.az === "eu-west-1a" && /once the cilium pools are drained/.test(x.message)), JSON.stringify(v)).to.equal(true);
  });

  it("unchain plan --from 5 --to 3 shows the reverse walk, its stages and risks, and the command that takes it; a walk past the point of no return exits 1", () => {
    const r = spawnSync(process.execPath, [BIN, "plan", "-s", "prod-eu-west-1", "--from", "5", "--to", "3", "-C", PROJECT], { encoding: "utf8" });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/prod-eu-west-1 +prod-eu +0 +5→3 +GOING BACK +ok/);
    expect(r.stdout).to.contain("5→4, in 2 steps:");
    expect(r.stdout).to.contain("4→3, in 2 steps:");
    expect(r.stdout).to.contain("risk: every workload on the cilium pools moves back to the aws pools");
    expect(r.stdout).to.contain("4 pulumi ups, each gated: unchain advance -s prod-eu-west-1 --to 3 --rollback --drain --yes takes them");
    const past = spawnSync(process.execPath, [BIN, "plan", "-s", "prod-eu-west-1", "--from", "5", "--to", "1", "-C", PROJECT], { encoding: "utf8" });
    expect(past.status, past.stdout).to.equal(1);
    expect(past.stdout).to.contain("No run takes this walk: 2→1 cannot be undone");
  });

  it("closing taints: the first stage of 5→4 closes the cilium pools without evicting (NoSchedule), which the model counts as closed", () => {
    expect(isClosingTaint({ key: "cni", value: "cilium", effect: "NoSchedule" })).to.equal(true);
  });

  it("each stage's state: 5→4 closes the cilium pools with NoSchedule first, then NoExecute; 4→3 lifts protection before removing; 6→5 creates the add-on again", () => {
    const config = fleetConfig("prod-eu-west-1");
    const taints = (st: ReturnType<typeof stageState>, role: string) => st.pools.filter((x) => x.role === role).map((x) => x.taints.filter((t) => t.key === "cni").map((t) => t.effect));
    expect(taints(stageState(config, { from: 5, stage: 1 }), "cilium").flat()).to.satisfy((e: string[]) => e.length > 0 && e.every((x) => x === "NoSchedule"));
    expect(stageState(config, { from: 5, stage: 1 }).pools.filter((x) => x.role === "aws").every((x) => !x.taints.some(isClosingTaint)), "aws pools open again").to.equal(true);
    expect(taints(stageState(config, { from: 5, stage: 2 }), "cilium").flat().every((x) => x === "NoExecute")).to.equal(true);
    const lifted = stageState(config, { from: 4, stage: 1 });
    expect(lifted.pools.filter((x) => x.role === "cilium").every((x) => !x.protect) && lifted.cilium?.protect === false, "protection lifted before 4→3 removes them").to.equal(true);
    expect(stageState(config, { from: 6, stage: 1 }).awsNode?.importId, "an add-on phase 6 deleted is created, not imported").to.equal(undefined);
    expect(reverseStages(5, 3).map((g) => `${g.from}:${g.stage}`)).to.deep.equal(["5:1", "5:2", "4:1", "4:2"]);
    expect(reverseStages(5, 3, { from: 5, stage: 1 }).map((g) => `${g.from}:${g.stage}`), "resumed after step 1").to.deep.equal(["5:2", "4:1", "4:2"]);
    expect(appliedPhaseFor({ ...config, phase: 5, goingBack: { from: 5, stage: 1 } }), "half-way, the stack is still at 5").to.equal(5);
    expect(appliedPhaseFor({ ...config, phase: 4, goingBack: { from: 5, stage: 2 } })).to.equal(4);
  });

  it("the invariants catch a reverse stage without its drain: 5→4's NoExecute on populated cilium pools, 4→3's removal of them", () => {
    const config = fleetConfig("prod-eu-west-1");
    for (const g of [{ from: 5 as PhaseNumber, stage: 2 }, { from: 4 as PhaseNumber, stage: 2 }]) {
      const to = stageState(config, g);
      const undrained = { ...to, spec: { ...to.spec, before: to.spec.before.filter((b) => !(b.kind === "drain" || (b.kind === "check" && b.check === "poolEmpty"))) } };
      expect(checkStep(stateBefore(config, g), undrained).filter((v) => v.invariant !== 8), `${g.from}→${g.from - 1} step ${g.stage} without its drain`).to.not.deep.equal([]);
      expect(checkStep(stateBefore(config, g), to).filter((v) => v.invariant !== 8), `with it`).to.deep.equal([]);
    }
  });

  it("the program runs a reverse stage only from where the step stands", () => {
    const config = fleetConfig("prod-eu-west-1");
    expect(goingBackRefusal({ ...config, phase: 4 }, 5), "a lowered phase, no reverse step asked for").to.equal("phase 5 is applied");
    expect(goingBackRefusal({ ...config, phase: 5, goingBack: { from: 5, stage: 1 } }, 5)).to.equal(undefined);
    expect(goingBackRefusal({ ...config, phase: 4, goingBack: { from: 5, stage: 2 } }, 5), "step 2 before step 1").to.match(/needs step 1 applied first/);
    expect(goingBackRefusal({ ...config, phase: 4, goingBack: { from: 5, stage: 2 } }, 5, { from: 5, stage: 1 })).to.equal(undefined);
    expect(goingBackRefusal({ ...config, phase: 3, goingBack: { from: 4, stage: 1 } }, 5), "a step from another phase").to.match(/runs with unchain:phase 4/);
    expect(goingBackRefusal({ ...config, phase: 4, goingBack: { from: 4, stage: 1 } }, 5)).to.match(/needs phase 4 applied, and phase 5 is/);
    expect(goingBackRefusal({ ...config, phase: 5 }, 5, { from: 5, stage: 1 }), "phase 5 again undoes a half step").to.equal(undefined);
  });
});
