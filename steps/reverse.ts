/**
 * Going back, as data: for each step N→N+1 of the migration, what undoing it means. A reverse step
 * is not the forward step run backwards: applying phase N's state straight onto phase N+1's cluster
 * can evict every pod of a pool at once (a NoExecute taint put back on populated pools) or remove a
 * pool that still holds workloads. So each reverse step says, in order, what must happen (stages,
 * drains), what each `pulumi up` may change, and what it risks; or why it cannot be done.
 *
 * The point of no return is phase 2: it removes the chained node groups and the chained release.
 * A node group that is gone cannot come back as the same group, and unchain never creates chained
 * pools outside a sandbox (a new pool never changes CNI, and going back to chaining is not a way out
 * of anything the later phases do): from phase 2 on, the way back is forward.
 */
import { ClusterConfig } from "../config/types";
import { desiredState } from "./desired";
import { checkStep, Violation } from "./invariants";
import { GateStep, PhaseNumber, PHASES } from "./phases";
import { PoolRole } from "./roles";

export interface ReverseStage {
  /** What this stage's `pulumi up` does. */
  does: string;
  /** Pools drained (Eviction API, PDBs respected) and verified empty before this stage's up. */
  drainBefore?: PoolRole;
}

export type ReverseStep =
  | {
      from: PhaseNumber;
      to: PhaseNumber;
      possible: true;
      /** In order: each is one `pulumi up`, after its drain. */
      stages: ReverseStage[];
      /** What the step risks, said plainly. */
      risk: string;
    }
  | { from: PhaseNumber; to: PhaseNumber; possible: false; why: string };

/** The phase whose up cannot be undone. */
export const POINT_OF_NO_RETURN: PhaseNumber = 2;

export const REVERSE_STEPS: readonly ReverseStep[] = [
  {
    from: 1,
    to: 0,
    possible: true,
    stages: [
      { does: "close the aws pools to new pods (NoSchedule) and lift their protection" },
      { does: "remove the aws pools; watcher back on and policy enforced again in the chained release; the CA copy removed", drainBefore: "aws" },
    ],
    risk: "workloads that moved to aws pools move back to the chained pools, which must have room for them",
  },
  {
    from: 2,
    to: 1,
    possible: false,
    why: "phase 2 removed the chained node groups and the chained Cilium release: a node group that is gone cannot come back as the same group, and unchain never creates chained pools outside a sandbox. Phase 2 is the point of no return: from here the way back is forward (or a rebuild of the cluster)",
  },
  {
    from: 3,
    to: 2,
    possible: true,
    stages: [{ does: "aws-node back on every node (its default affinity): nothing moves, no node changes" }],
    risk: "none for workloads; while it holds, no cilium pool may be added (aws-node would run there too)",
  },
  {
    from: 4,
    to: 3,
    possible: true,
    stages: [
      { does: "lift the protection of the cilium pools and the ENI release (their NoExecute validation taint keeps workloads off them)" },
      { does: "remove the cilium pools, the ENI release (CRDs and policies kept) and the restored CA; the operator's role goes with them", drainBefore: "cilium" },
    ],
    risk: "validation workloads on the cilium pools are evicted by the drain; the ENI IPAM's addresses are released with the nodes",
  },
  {
    from: 5,
    to: 4,
    possible: true,
    stages: [
      { does: "reopen the aws pools and close the cilium pools with NoSchedule (not NoExecute: nothing is evicted by a taint)" },
      { does: "put the validation taint cni=cilium:NoExecute back on the cilium pools, now empty", drainBefore: "cilium" },
    ],
    risk: "every workload on the cilium pools moves back to the aws pools through the drain, a node at a time: the aws pools must have room (CPU, memory, subnet IPs) for them",
  },
  {
    from: 6,
    to: 5,
    possible: true,
    stages: [{ does: "create the aws pools again as new node groups (closed, as phase 5 has them), reinstall the vpc-cni add-on pinned to them, watcher off and policy audited again" }],
    risk: "new aws nodes (the old ones are gone) and a new aws-node; nothing moves until 5→4 reopens the aws pools",
  },
];

export function reverseStep(from: PhaseNumber): ReverseStep {
  const s = REVERSE_STEPS.find((r) => r.from === from);
  if (!s) throw new Error(`no reverse step from phase ${from}`);
  return s;
}

/** The reverse steps from `from` down to `to`, nearest first; the walk stops at the first that is impossible. */
export function reverseWalk(from: PhaseNumber, to: PhaseNumber): ReverseStep[] {
  const out: ReverseStep[] = [];
  for (let p = from; p > to; p--) {
    const s = reverseStep(p as PhaseNumber);
    out.push(s);
    if (!s.possible) break;
  }
  return out;
}

/** One paragraph a person can act on: what going from `from` back to `to` means. */
export function describeReverse(from: PhaseNumber, to: PhaseNumber): string {
  const lines = [`Going back from phase ${from} (${PHASES[from].title}) to ${to} (${PHASES[to].title}):`];
  for (const s of reverseWalk(from, to)) {
    if (!s.possible) {
      lines.push(`  ${s.from}→${s.to}: cannot be undone: ${s.why}.`);
      break;
    }
    lines.push(`  ${s.from}→${s.to}, in ${s.stages.length} step${s.stages.length === 1 ? "" : "s"}:`);
    s.stages.forEach((st, i) => lines.push(`    ${i + 1}. ${st.drainBefore ? `drain the ${st.drainBefore} pools, then ` : ""}${st.does}`));
    lines.push(`    risk: ${s.risk}`);
  }
  return lines.join("\n");
}

/**
 * The invariants on a reverse step, as on a forward one (steps/invariants.ts checkStep): the phase it
 * goes back to, reached with the reverse step's drains and emptiness checks before it, from the
 * cluster as its first stage leaves it (the pools already tainted as the earlier phase has them, a
 * NoSchedule standing in for a NoExecute: both close a pool). Invariant 8 (a phase changes only
 * what it owns) judges forward phases; a reverse step's changes are its stages. Undefined: the step
 * cannot be taken at all.
 */
export function checkReverse(config: ClusterConfig, from: PhaseNumber): Violation[] | undefined {
  const step = reverseStep(from);
  if (!step.possible) return undefined;
  const drains = step.stages.flatMap((s) => (s.drainBefore ? [s.drainBefore] : []));
  const before: GateStep[] = drains.flatMap((role): GateStep[] => [{ kind: "drain", role }, { kind: "check", check: "poolEmpty", role }]);
  const to = desiredState(config, step.to);
  const at = desiredState(config, from);
  const staged = { ...at, pools: at.pools.map((p) => ({ ...p, taints: to.pools.find((x) => x.id === p.id)?.taints ?? p.taints })) };
  return checkStep(staged, { ...to, spec: { ...to.spec, before: [...to.spec.before, ...before] } }).filter((v) => v.invariant !== 8);
}
