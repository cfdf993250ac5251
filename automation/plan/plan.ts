/**
 * `unchain plan`: every stack's remaining walk evaluated offline (the real program under Pulumi
 * mocks: no cloud, no Pulumi CLI), diffed phase to phase, checked against the invariants and against
 * what each phase may change.
 */
import { loadStack, projectDefaults, StackSource } from "../../config/load";
import { Problem } from "../../config/problems";
import { validateStackConfig } from "../../config/validate";
import { checkReverse, describeReverse, reverseWalk } from "../../steps/reverse";
import { desiredWalk } from "../../steps/desired";
import { checkWalk, Violation, walkNotes } from "../../steps/invariants";
import { LAST_PHASE, PHASES, PhaseNumber } from "../../steps/phases";
import { ImportMismatch, importMismatches } from "../../live/readback";
import { readSnapshot, Snapshot, SNAPSHOT_DIR } from "../../live/snapshot";
import { CNI_LABEL } from "../../steps/roles";
import { importedResources } from "../../components/imports";
import { ClusterConfig } from "../../config/types";
import { countOps, diffEvaluations, ResourceChange } from "./diff";
import { evaluateProgram, Evaluation } from "./evaluate";

export interface StepPlan {
  from: PhaseNumber;
  to: PhaseNumber;
  title: string;
  summary: string;
  changes: ResourceChange[];
  counts: ReturnType<typeof countOps>;
  /** Resources whose protection this step lifts: the next phase removes them. */
  unprotected: string[];
  /** Every change is one the phase calls for. */
  gate: "pass" | "fail";
  /** The program refused to evaluate a phase of the step. */
  error?: string;
}

function importCountOf(imports: StackPlan["imports"]): number {
  return imports ? imports.mismatches.length + imports.problems.length : 0;
}

export interface StackPlan {
  stack: string;
  file: string;
  wave?: string;
  cluster?: string;
  region?: string;
  currentPhase?: PhaseNumber;
  sandbox?: boolean;
  problems: Problem[];
  violations: Violation[];
  /**
   * Imports held against what runs (the snapshot adopt wrote): every difference would fail `up`.
   * Undefined: not checked (a sandbox, which adopts nothing, or a stack without a snapshot).
   */
  imports?: { checked: number; mismatches: ImportMismatch[]; problems: string[] };
  /** Why something was not checked, and the like. */
  notes: string[];
  steps: StepPlan[];
  /** A walk back (steps/reverse.ts): `blocked` names the step that cannot be undone, if it passes one. */
  reverse?: { from: PhaseNumber; to: PhaseNumber; text: string; stages: number; blocked?: string };
  ok: boolean;
}

export interface PlanOptions {
  /** First phase of the steps shown; defaults to the stack's current phase. */
  from?: PhaseNumber;
  /** Last phase; defaults to 6. */
  to?: PhaseNumber;
}

type Program = () => Promise<object>;

let program: Program | undefined;
function clusterProgram(): Program {
  // Loaded on first use: importing the providers' SDKs is the slow part of start-up.
  program ??= (require("../../components/program") as typeof import("../../components/program")).clusterProgram;
  return program;
}

/** A stack as it would be (adopt's dry run): its file's text and snapshot, instead of the files. */
export interface StackOverride {
  source: StackSource;
  snapshot?: Snapshot;
}

/**
 * The import check of the step that adopts the cluster, the engine's rule applied offline: each
 * imported resource against the live object it names; every group unchain creates against the names
 * that run; every group that runs with a role label is declared.
 */
export function checkImports(config: ClusterConfig, snap: Snapshot): NonNullable<StackPlan["imports"]> {
  const imported = importedResources(config);
  const mismatches = imported.flatMap((r) => importMismatches(r, snap, { chartRepository: config.cilium.repository }));
  const problems: string[] = [];
  const adopted = new Set(imported.filter((r) => r.type === "aws:eks/nodeGroup:NodeGroup").map((r) => String(r.inputs.nodeGroupName)));
  // Every group the walk creates, in any phase, against the names that run.
  const created = new Set(desiredWalk(config).flatMap((s) => s.pools.filter((p) => !p.importId).map((p) => p.nodeGroupName)));
  for (const name of created)
    if (snap.nodeGroups.some((l) => l.nodegroupName === name))
      problems.push(`node group ${name} would be created, but a node group of that name runs already; EKS would refuse it (list it under the pool's nodeGroups, or rename the pool)`);
  for (const l of snap.nodeGroups)
    if (l.labels[CNI_LABEL] !== undefined && !adopted.has(l.nodegroupName))
      problems.push(`node group ${l.nodegroupName} (cni=${l.labels[CNI_LABEL]}) runs, but the stack file does not declare it; run unchain adopt -s ${snap.stack} --write`);
  if (snap.inferred.phase !== undefined && snap.inferred.phase !== config.adoptedPhase)
    problems.push(`the snapshot says the cluster was at phase ${snap.inferred.phase} when adopted, the stack file says ${config.adoptedPhase} (unchain:adoptedPhase); run unchain adopt -s ${snap.stack} --write`);
  return { checked: imported.length, mismatches, problems };
}

export async function planStack(dir: string, stack: string, opts: PlanOptions = {}, defaults = projectDefaults(dir), override?: StackOverride): Promise<StackPlan> {
  const src = override?.source ?? loadStack(dir, stack, defaults);
  const base = { stack, file: src.file, problems: [] as Problem[], violations: [] as Violation[], steps: [] as StepPlan[], notes: [] as string[] };
  const { config, problems } = validateStackConfig(stack, src.raw, (k) => src.origin[k], src.aws);
  if (!config) return { ...base, problems, ok: false };
  const info = { cluster: config.clusterName, region: config.region, currentPhase: config.phase, sandbox: config.sandbox };

  let imports: StackPlan["imports"];
  if (!config.sandbox) {
    let snap: Snapshot | undefined;
    try {
      snap = override ? override.snapshot : readSnapshot(dir, stack);
    } catch (e) {
      base.notes.push((e as Error).message);
    }
    if (snap) {
      imports = checkImports(config, snap);
      const sgps = snap.securityGroupPolicies ?? [];
      if (sgps.length && config.phase <= 5)
        base.notes.push(`${sgps.length} SecurityGroupPolicy object(s) (${sgps.slice(0, 3).join(", ")}${sgps.length > 3 ? ", …" : ""}): Security Groups for Pods do not work on cilium pools; the pods they select lose their security groups when they move there in phase 5`);
    }
    else if (!base.notes.length) base.notes.push(`no snapshot (${SNAPSHOT_DIR}/${stack}.yaml): imports are not checked against what runs; run unchain adopt -s ${stack} --write`);
  }
  const importsOk = !imports || (imports.mismatches.length === 0 && imports.problems.length === 0);

  const walk = desiredWalk(config);
  const violations = checkWalk(walk);
  base.notes.push(...walkNotes(walk));
  if (violations.length) return { ...base, ...info, violations, ...(imports ? { imports } : {}), ok: false };

  // A cluster adopted part-way has no phases before the one it was adopted at: its walk starts there.
  const from = Math.max(opts.from ?? config.phase, config.adoptedPhase);
  if (opts.from !== undefined && opts.from < config.adoptedPhase) base.notes.push(`adopted at phase ${config.adoptedPhase}: its walk starts there, not at ${opts.from}`);
  const to = opts.to ?? LAST_PHASE;
  if (from > to) {
    // Going back: the reverse steps as data (steps/reverse.ts), which advance --rollback takes.
    const notes = to < config.adoptedPhase ? [...base.notes, `adopted at phase ${config.adoptedPhase}: unchain never ran the phases below it on this cluster`] : base.notes;
    // The invariants on each reverse step that can be taken, from a phase this cluster has been at.
    const walkBack = reverseWalk(from as PhaseNumber, to);
    const reverseViolations = walkBack.flatMap((st) => (st.from > config.adoptedPhase ? (checkReverse(config, st.from) ?? []) : []));
    const impossible = walkBack.find((st) => !st.possible);
    const stages = walkBack.reduce((n, st) => n + (st.possible ? st.stages.length : 0), 0);
    const reverse = { from: from as PhaseNumber, to, text: describeReverse(from as PhaseNumber, to), stages, ...(impossible ? { blocked: `${impossible.from}→${impossible.to}` } : {}) };
    const ok = !impossible && !reverseViolations.length && !importCountOf(imports);
    return { ...base, ...info, notes, violations: reverseViolations, ...(imports ? { imports } : {}), reverse, ok };
  }
  const evaluations = new Map<number, Evaluation>();
  const evaluate = async (phase: number) => {
    if (!evaluations.has(phase)) evaluations.set(phase, await evaluateProgram(stack, { ...src.pulumiConfig, "unchain:phase": String(phase) }, clusterProgram()));
    return evaluations.get(phase)!;
  };

  const steps: StepPlan[] = [];
  for (let p = from; p < to; p++) {
    const spec = PHASES[p + 1];
    const [a, b] = [await evaluate(p), await evaluate(p + 1)];
    const error = a.error ?? b.error;
    const changes = error ? [] : diffEvaluations(a, b, spec, config.sandbox);
    const unprotected = error ? [] : b.resources.filter((r) => !r.protect && a.resources.some((x) => x.urn === r.urn && x.protect)).map((r) => r.name);
    steps.push({
      from: p as PhaseNumber,
      to: (p + 1) as PhaseNumber,
      title: spec.title,
      summary: spec.summary.replace("<awsPoolTaintKey>", config.awsPoolTaintKey),
      changes,
      unprotected,
      counts: countOps(changes),
      gate: error || changes.some((c) => !c.allowed) ? "fail" : "pass",
      ...(error ? { error } : {}),
    });
  }
  return { ...base, ...info, ...(imports ? { imports } : {}), steps, ok: importsOk && steps.every((s) => s.gate === "pass") };
}

export interface FleetPlan {
  stacks: StackPlan[];
  ok: boolean;
  durationMs: number;
}

export async function planFleet(
  dir: string,
  stacks: string[],
  opts: PlanOptions = {},
  waveOf: (s: string) => string | undefined = () => undefined,
  onProgress?: (done: number, total: number, stack: string) => void,
): Promise<FleetPlan> {
  const started = Date.now();
  const defaults = projectDefaults(dir);
  const out: StackPlan[] = [];
  for (const s of stacks) {
    onProgress?.(out.length, stacks.length, s);
    const plan = await planStack(dir, s, opts, defaults);
    const wave = waveOf(s);
    out.push(wave ? { ...plan, wave } : plan);
  }
  return { stacks: out, ok: out.every((s) => s.ok), durationMs: Date.now() - started };
}
