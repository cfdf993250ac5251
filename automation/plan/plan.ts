/**
 * `unchain plan`: every stack's remaining walk evaluated offline (the real program under Pulumi
 * mocks: no cloud, no Pulumi CLI), diffed phase to phase, checked against the invariants and against
 * what each phase may change.
 */
import { loadStack, projectDefaults } from "../../config/load";
import { Problem, UserError } from "../../config/problems";
import { validateStackConfig } from "../../config/validate";
import { desiredWalk } from "../../steps/desired";
import { checkWalk, Violation } from "../../steps/invariants";
import { LAST_PHASE, PHASES, PhaseNumber } from "../../steps/phases";
import { countOps, diffEvaluations, ResourceChange } from "./diff";
import { evaluateProgram, Evaluation } from "./evaluate";

export interface StepPlan {
  from: PhaseNumber;
  to: PhaseNumber;
  title: string;
  summary: string;
  changes: ResourceChange[];
  counts: ReturnType<typeof countOps>;
  /** Every change is one the phase calls for. */
  gate: "pass" | "fail";
  /** The program refused to evaluate a phase of the step. */
  error?: string;
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
  steps: StepPlan[];
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

export async function planStack(dir: string, stack: string, opts: PlanOptions = {}, defaults = projectDefaults(dir)): Promise<StackPlan> {
  const src = loadStack(dir, stack, defaults);
  const base = { stack, file: src.file, problems: [] as Problem[], violations: [] as Violation[], steps: [] as StepPlan[] };
  const { config, problems } = validateStackConfig(stack, src.raw, (k) => src.origin[k]);
  if (!config) return { ...base, problems, ok: false };
  const info = { cluster: config.clusterName, region: config.region, currentPhase: config.phase, sandbox: config.sandbox };
  const violations = checkWalk(desiredWalk(config));
  if (violations.length) return { ...base, ...info, violations, ok: false };

  const from = opts.from ?? config.phase;
  const to = opts.to ?? LAST_PHASE;
  if (from > to) throw new UserError(`--from ${from} is after --to ${to}`);
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
    steps.push({
      from: p as PhaseNumber,
      to: (p + 1) as PhaseNumber,
      title: spec.title,
      summary: spec.summary.replace("<awsPoolTaintKey>", config.awsPoolTaintKey),
      changes,
      counts: countOps(changes),
      gate: error || changes.some((c) => !c.allowed) ? "fail" : "pass",
      ...(error ? { error } : {}),
    });
  }
  return { ...base, ...info, steps, ok: steps.every((s) => s.gate === "pass") };
}

export interface FleetPlan {
  stacks: StackPlan[];
  ok: boolean;
  durationMs: number;
}

export async function planFleet(dir: string, stacks: string[], opts: PlanOptions = {}, waveOf: (s: string) => string | undefined = () => undefined): Promise<FleetPlan> {
  const started = Date.now();
  const defaults = projectDefaults(dir);
  const out: StackPlan[] = [];
  for (const s of stacks) {
    const plan = await planStack(dir, s, opts, defaults);
    const wave = waveOf(s);
    out.push(wave ? { ...plan, wave } : plan);
  }
  return { stacks: out, ok: out.every((s) => s.ok), durationMs: Date.now() - started };
}
