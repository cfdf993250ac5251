/**
 * Going back (steps/reverse.ts): the reverse steps as data, the invariants on them for every stack of
 * the example fleet, and the plan showing a reverse walk.
 */
import { spawnSync } from "node:child_process";
import { expect } from "chai";
import { listStacks } from "../config/load";
import { isClosingTaint } from "../steps/desired";
import { PHASES, PhaseNumber } from "../steps/phases";
import { checkReverse, POINT_OF_NO_RETURN, REVERSE_STEPS, reverseWalk } from "../steps/reverse";
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

  it("unchain plan --from 5 --to 3 shows the reverse walk, its stages and risks, and exits 1: nothing of it runs", () => {
    const r = spawnSync(process.execPath, [BIN, "plan", "-s", "prod-eu-west-1", "--from", "5", "--to", "3", "-C", PROJECT], { encoding: "utf8" });
    expect(r.status, r.stderr).to.equal(1);
    expect(r.stdout).to.match(/prod-eu-west-1 +prod-eu +0 +5→3 +GOING BACK +ok/);
    expect(r.stdout).to.contain("5→4, in 2 steps:");
    expect(r.stdout).to.contain("4→3, in 2 steps:");
    expect(r.stdout).to.contain("risk: every workload on the cilium pools moves back to the aws pools");
  });

  it("closing taints: the first stage of 5→4 closes the cilium pools without evicting (NoSchedule), which the model counts as closed", () => {
    expect(isClosingTaint({ key: "cni", value: "cilium", effect: "NoSchedule" })).to.equal(true);
  });
});
