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
import { Taint } from "./affinity";
import { desiredState, PhaseState } from "./desired";
import { checkStep, Violation } from "./invariants";
import { AllowedChange, AWS_CLOSED_TAINT, CILIUM_VALIDATION_TAINT, GateStep, PhaseNumber, PHASES, PhaseSpec, RELEASE_PLACEMENT, RELEASE_POLICY, RELEASE_ROLLOUT, RELEASE_WATCHER, TaintTemplate } from "./phases";
import { PoolRole } from "./roles";

export interface ReverseStage {
  /** What this stage's `pulumi up` does. */
  does: string;
  /** Pools drained (Eviction API, PDBs respected) and verified empty before this stage's up. */
  drainBefore?: PoolRole;
  /**
   * The state this stage's up brings the cluster to: phase `base`'s desired state with the changes
   * below. The last stage of a step brings it to the step's `to` phase (with `recreate` where the
   * phase declares again what the step's `from` phase had removed).
   */
  base: PhaseNumber;
  /** Pools of this role get this taint (closing them to new pods), in place of any taint of the same key. */
  close?: { role: PoolRole; taint: TaintTemplate };
  /** The pools of these roles, and the Cilium release, lose their protection: the next stage removes them. */
  unprotect?: { roles: PoolRole[]; release?: boolean };
  /** The vpc-cni add-on is created again (phase 6 removed it): no import of the one that ran before. */
  recreateAddon?: boolean;
  /**
   * Pools of this role, drained before the up and kept, are put back in service (uncordoned) after
   * it: their taint keeps workloads off now, and a cordon left behind would keep them off when a
   * later phase opens the pools again.
   */
  uncordonAfter?: PoolRole;
  /** What this stage's `pulumi up` may change; anything else stops the preview gate. */
  allowed: AllowedChange[];
  /** Checks (and the drain) before this stage's up, against the state the previous stage left. */
  before: GateStep[];
  /** Must hold after this stage's up. */
  after: GateStep[];
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

const check = (c: Extract<GateStep, { kind: "check" }>["check"], role?: PoolRole): GateStep => (role ? { kind: "check", check: c, role } : { kind: "check", check: c });
const SETTLED: GateStep[] = [check("nodesReady"), check("poolsLabelledAndTainted"), check("daemonSetsPlaced")];
/** A drain of `role`'s pools, as the forward phases 2 and 6 do it: PDBs first, then the drain, then verified empty. */
const drainOf = (role: PoolRole): GateStep[] => [check("blockingPdbs", role), { kind: "drain", role }, check("poolEmpty", role), check("coreDnsReady")];
const AGENTS: AllowedChange = { kind: "nodeAgent", ops: ["create", "update", "delete"], why: "node agents follow the pools of their roles" };
/** The NoSchedule form of the validation taint: it closes the cilium pools to new pods without evicting the ones there. */
const CILIUM_CLOSED_TAINT: TaintTemplate = { ...CILIUM_VALIDATION_TAINT, effect: "NoSchedule" };

export const REVERSE_STEPS: readonly ReverseStep[] = [
  {
    from: 1,
    to: 0,
    possible: true,
    stages: [
      {
        does: "close the aws pools to new pods (NoSchedule) and lift their protection",
        base: 1,
        close: { role: "aws", taint: AWS_CLOSED_TAINT },
        unprotect: { roles: ["aws"] },
        allowed: [{ kind: "nodePool", ops: ["update"], role: "aws", owns: ["taints"], why: "aws pools closed to new pods, nothing evicted" }],
        before: [check("nodesReady"), check("coreDnsReady")],
        after: [...SETTLED, check("coreDnsReady")],
      },
      {
        does: "remove the aws pools; watcher back on and policy enforced again in the chained release; the CA copy removed",
        drainBefore: "aws",
        base: 0,
        allowed: [
          { kind: "nodePool", ops: ["delete"], role: "aws", why: "aws pools were drained and verified empty" },
          { kind: "ciliumRelease", ops: ["update"], release: "chained", owns: [...RELEASE_PLACEMENT, ...RELEASE_WATCHER, ...RELEASE_POLICY, ...RELEASE_ROLLOUT], why: "the chained release as phase 0 has it: one pool role again" },
          { kind: "carriedSecret", ops: ["delete"], why: "the CA copy is not needed while the chained release runs" },
          AGENTS,
        ],
        before: [check("nodesReady"), ...drainOf("aws")],
        after: PHASES[0].after,
      },
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
    stages: [
      {
        does: "aws-node back on every node (its default affinity): nothing moves, no node changes",
        base: 2,
        allowed: [
          { kind: "vpcCniAddon", ops: ["update"], owns: ["configurationValues.affinity"], why: "aws-node affinity as phase 2 has it; the rest of its configuration stays as it runs" },
          AGENTS,
        ],
        before: [check("nodesReady")],
        after: [...SETTLED, check("coreDnsReady")],
      },
    ],
    risk: "none for workloads; while it holds, no cilium pool may be added (aws-node would run there too)",
  },
  {
    from: 4,
    to: 3,
    possible: true,
    stages: [
      {
        does: "lift the protection of the cilium pools and the ENI release (their NoExecute validation taint keeps workloads off them)",
        base: 4,
        unprotect: { roles: ["cilium"], release: true },
        allowed: [],
        before: [check("nodesReady")],
        after: SETTLED,
      },
      {
        does: "remove the cilium pools, the ENI release (CRDs and policies kept) and the restored CA; the operator's role goes with them",
        drainBefore: "cilium",
        base: 3,
        allowed: [
          { kind: "nodePool", ops: ["delete"], role: "cilium", why: "cilium pools were drained and verified empty" },
          { kind: "ciliumRelease", ops: ["delete"], release: "eni", why: "the ENI release runs nowhere once the cilium pools are gone" },
          { kind: "carriedSecret", ops: ["delete"], why: "the CA put back for the ENI release goes with it (the copy stays)" },
          { kind: "operatorRole", ops: ["delete"], why: "no cilium-operator needs EC2 permissions any more" },
          AGENTS,
        ],
        before: [check("nodesReady"), ...drainOf("cilium")],
        after: PHASES[3].after,
      },
    ],
    risk: "validation workloads on the cilium pools are evicted by the drain; the ENI IPAM's addresses are released with the nodes",
  },
  {
    from: 5,
    to: 4,
    possible: true,
    stages: [
      {
        does: "reopen the aws pools and close the cilium pools with NoSchedule (not NoExecute: nothing is evicted by a taint)",
        base: 4,
        close: { role: "cilium", taint: CILIUM_CLOSED_TAINT },
        allowed: [
          { kind: "nodePool", ops: ["update"], role: "cilium", owns: ["taints"], why: "cilium pools closed to new pods, nothing evicted" },
          { kind: "nodePool", ops: ["update"], role: "aws", owns: ["taints"], why: "aws pools open to pods again" },
        ],
        before: [check("nodesReady"), check("coreDnsReady")],
        after: [...SETTLED, check("coreDnsReady")],
      },
      {
        does: "put the validation taint cni=cilium:NoExecute back on the cilium pools, now empty, then uncordon their nodes",
        drainBefore: "cilium",
        uncordonAfter: "cilium",
        base: 4,
        allowed: [{ kind: "nodePool", ops: ["update"], role: "cilium", owns: ["taints"], why: "the validation taint back on the emptied cilium pools" }],
        before: [check("nodesReady"), ...drainOf("cilium")],
        after: PHASES[4].after,
      },
    ],
    risk: "every workload on the cilium pools moves back to the aws pools through the drain, a node at a time: the aws pools must have room (CPU, memory, subnet IPs) for them",
  },
  {
    from: 6,
    to: 5,
    possible: true,
    stages: [
      {
        does: "create the aws pools again as new node groups (closed, as phase 5 has them), reinstall the vpc-cni add-on pinned to them, watcher off and policy audited again",
        base: 5,
        recreateAddon: true,
        allowed: [
          { kind: "nodePool", ops: ["create"], role: "aws", why: "aws pools again, closed as phase 5 has them" },
          { kind: "vpcCniAddon", ops: ["create"], why: "aws-node again, pinned to the aws pools" },
          { kind: "ciliumRelease", ops: ["update"], release: "eni", owns: [...RELEASE_WATCHER, ...RELEASE_POLICY], why: "unmanaged-pod watcher off and policy audited while two pool roles exist" },
          AGENTS,
        ],
        before: [check("nodesReady")],
        after: PHASES[5].after,
      },
    ],
    risk: "new aws nodes (the old ones are gone) and a new aws-node; nothing moves until 5→4 reopens the aws pools",
  },
];

/** Where a stack is in a reverse step: going back from phase `from`, its stage `stage` (1-based) is the one run (or, as a stack output, the last one applied). */
export interface GoingBack {
  from: PhaseNumber;
  stage: number;
}

type PossibleStep = Extract<ReverseStep, { possible: true }>;

/** The reverse step from `from`, which must be possible. */
function possibleStep(from: PhaseNumber): PossibleStep {
  const s = reverseStep(from);
  if (!s.possible) throw new Error(`going back from phase ${from} cannot be done: ${s.why}`);
  return s;
}

/** "going back 5→4, step 1 of 2" */
export function describeStage(g: GoingBack): string {
  const s = possibleStep(g.from);
  return `going back ${s.from}→${s.to}, step ${g.stage} of ${s.stages.length}`;
}

/** What the preview gate and the health gates hold a stage to: the `to` phase's spec with the stage's changes, checks and title. */
export function stageSpec(g: GoingBack): PhaseSpec {
  const step = possibleStep(g.from);
  const st = step.stages[g.stage - 1];
  if (!st) throw new Error(`the reverse step ${step.from}→${step.to} has no step ${g.stage}`);
  return { ...PHASES[st.base], title: describeStage(g), summary: st.does, allowed: st.allowed, before: st.before, after: st.after };
}

function withTaint(taints: Taint[], t: TaintTemplate, awsPoolTaintKey: string): Taint[] {
  const key = t.key === AWS_CLOSED_TAINT.key ? awsPoolTaintKey : t.key;
  return [...taints.filter((x) => x.key !== key), { key, value: t.value, effect: t.effect }];
}

/** The desired state one stage of a reverse step brings the cluster to (steps/desired.ts for a forward phase). */
export function stageState(config: ClusterConfig, g: GoingBack): PhaseState {
  const step = possibleStep(g.from);
  const st = step.stages[g.stage - 1];
  const spec = stageSpec(g);
  const base = desiredState(config, st.base);
  const pools = base.pools.map((p) => {
    let q = p;
    if (st.close?.role === p.role) q = { ...q, taints: withTaint(q.taints, st.close.taint, config.awsPoolTaintKey) };
    if (st.unprotect?.roles.includes(p.role)) q = { ...q, protect: false };
    return q;
  });
  const cilium = base.cilium && st.unprotect?.release ? { ...base.cilium, protect: false } : base.cilium;
  let awsNode = base.awsNode;
  if (awsNode && st.recreateAddon) {
    const { importId: _imported, ...rest } = awsNode;
    awsNode = { ...rest, resolveConflictsOnCreate: "OVERWRITE" };
  }
  return { ...base, spec, pools, ...(awsNode ? { awsNode } : {}), ...(cilium ? { cilium } : {}) };
}

/** Whether `g` is the last stage of its step: its up completes the step, and the stack is at the step's `to` phase. */
export function isLastStage(g: GoingBack): boolean {
  return g.stage === possibleStep(g.from).stages.length;
}

/** The stages still to run to go back from `from` to `to`, after `done` (the stage of `from`'s step already applied, if any). */
export function reverseStages(from: PhaseNumber, to: PhaseNumber, done?: GoingBack): GoingBack[] {
  const out: GoingBack[] = [];
  for (const s of reverseWalk(from, to)) {
    if (!s.possible) break;
    s.stages.forEach((_, i) => out.push({ from: s.from, stage: i + 1 }));
  }
  return done ? out.filter((g) => !(g.from === done.from && g.stage <= done.stage)) : out;
}

/** The state a stage starts from: the previous stage's, or the `from` phase's. */
export function stateBefore(config: ClusterConfig, g: GoingBack): PhaseState {
  return g.stage > 1 ? stageState(config, { from: g.from, stage: g.stage - 1 }) : desiredState(config, g.from);
}

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
 * The invariants on a reverse step, as on a forward one (steps/invariants.ts checkStep): each stage
 * from the state the one before it left, with its drains and emptiness checks before it. Invariant 8
 * (a phase changes only what it owns) judges forward phases; a stage's changes are held to its own
 * `allowed` by the preview gate. Undefined: the step cannot be taken at all.
 */
export function checkReverse(config: ClusterConfig, from: PhaseNumber): Violation[] | undefined {
  const step = reverseStep(from);
  if (!step.possible) return undefined;
  const out: Violation[] = [];
  step.stages.forEach((_, i) => {
    const g = { from, stage: i + 1 };
    for (const v of checkStep(stateBefore(config, g), stageState(config, g))) if (v.invariant !== 8 && !out.some((o) => o.message === v.message)) out.push(v);
  });
  return out;
}

/** The state the program declares: the stage of a reverse step the driver asked for, else the stack's phase. */
export function programState(config: ClusterConfig): PhaseState {
  return config.goingBack ? stageState(config, config.goingBack) : desiredState(config, config.phase);
}

/**
 * The phase the stack records as applied once the program's resources are in place (its
 * `appliedPhase` output): the phase, or during a reverse step the phase it started from until its
 * last stage is applied (a half-done step is not the earlier phase: resume goes on from its stage).
 */
export function appliedPhaseFor(config: ClusterConfig): PhaseNumber {
  const g = config.goingBack;
  if (!g) return config.phase;
  return isLastStage(g) ? possibleStep(g.from).to : g.from;
}

/** The stack output that records a reverse step applied half-way (undefined: none). */
export function goingBackOutput(config: ClusterConfig): GoingBack | undefined {
  const g = config.goingBack;
  return g && !isLastStage(g) ? { from: g.from, stage: g.stage } : undefined;
}

export function isGoingBack(v: unknown): v is GoingBack {
  if (typeof v !== "object" || v === null) return false;
  const { from, stage } = v as { from?: unknown; stage?: unknown };
  if (typeof from !== "number" || typeof stage !== "number" || !Number.isInteger(stage) || stage < 1) return false;
  const s = REVERSE_STEPS.find((r) => r.from === from);
  return !!s && s.possible && stage <= s.stages.length;
}

/**
 * Whether the program may run `config` on a stack whose backend says `applied` (and `half`, a reverse
 * step applied half-way): undefined if it may, else why not. Forward (or the same phase again) is
 * always run; a phase below the applied one only as the stage of a reverse step the driver asked for,
 * from where the step stands.
 */
export function goingBackRefusal(config: ClusterConfig, applied: PhaseNumber, half?: GoingBack): string | undefined {
  const g = config.goingBack;
  if (!g) return applied <= config.phase ? undefined : `phase ${applied} is applied`;
  const step = reverseStep(g.from);
  if (!step.possible) return `going back from phase ${g.from} cannot be done`;
  const expected = isLastStage(g) ? step.to : step.from;
  if (config.phase !== expected) return `${describeStage(g)} runs with unchain:phase ${expected}, not ${config.phase}`;
  if (applied === step.to && isLastStage(g) && !half) return undefined; // the step done already: the same state again
  if (applied !== g.from) return `${describeStage(g)} needs phase ${g.from} applied, and phase ${applied} is`;
  const done = half && half.from === g.from ? half.stage : 0;
  if (g.stage > done + 1) return `${describeStage(g)} needs step ${g.stage - 1} applied first`;
  return undefined;
}
