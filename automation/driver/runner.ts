/**
 * One stack, phase by phase, up to the target: set config, preview (saving an update plan), gate,
 * up held to that plan, verify (the applied phase is in the backend and a second preview shows no
 * changes). Where the stack stands is read from the backend at the start, so running the same
 * command again after a crash or a failure picks up exactly there.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { ConcurrentUpdateError, EngineEvent, Stack } from "@pulumi/pulumi/automation";
import type { KubeConfig } from "@kubernetes/client-node";
import { loadStack } from "../../config/load";
import { ConfigError, UserError } from "../../config/problems";
import { ClusterConfig } from "../../config/types";
import { validateStackConfig } from "../../config/validate";
import { GateStep, PHASES, PhaseNumber, PhaseSpec } from "../../steps/phases";
import { describeReverse, describeStage, GoingBack, isLastStage, reverseStages, reverseStep, ReverseStep, reverseWalk, stageSpec, stageState, stateBefore } from "../../steps/reverse";
import { PoolRole } from "../../steps/roles";
import { drainRole, uncordonRole } from "../health/drain";
import { subnetCheckFor } from "../health/subnets";
import { gateSteps, KubeAccess, kubeConfigFor, mergeGateSteps, runGateSteps } from "../health/gate";
import { AuditLog, GatedChange } from "./audit";
import { StateStore } from "./store";
import { DriverEnvironment } from "./environment";
import { EventSink, StackResult } from "./events";
import { acquireDriverLock, describeHolder, describePulumiLock, LockHolder, pulumiLocks, releaseDriverLock } from "./locks";
import { ChangeCounts, describeCounts, describeRefusal, EngineDiagnostic, engineStep, EngineStep, gate, GateVerdict, hasChanges, resourceName } from "./previewGate";
import { pendingOperations, resolvePending, ResourceIds } from "./pending";
import { ExplainContext, explainProviderError, withExplanation } from "./providerErrors";
import { desiredState, PhaseState } from "../../steps/desired";
import { PHASE_KEY, phaseConfigCopy, writePhase } from "./stackFile";
import { appliedPhaseNow, appliedPhaseOf, notInBackend, openStack, phaseInFile, PulumiProgram, sandboxInFile, selectExistingStack } from "./stacks";
import { failpoint } from "./failpoint";

export interface RunContext {
  env: DriverEnvironment;
  program: PulumiProgram;
  /** The IDs of the program's resources, where their inputs fix them: pending creates are adopted under them. */
  ids: ResourceIds;
  runId: string;
  me: LockHolder;
  audit: AuditLog;
  /** The driver's state beside the Pulumi state (locks, the pause switch, the audit trail). */
  store: StateStore;
  /** The backend's root, where Pulumi's own locks are (absent for a backend unchain cannot read: Pulumi Cloud). */
  backend?: StateStore;
  /** false: dry run — preview the next phase and gate it, change nothing. */
  apply: boolean;
  /** Go back when the target is below the applied phase (`--rollback`), through the reverse steps. */
  rollback?: boolean;
  cancelStaleLocks: boolean;
  emit: EventSink;
  /** Asked between phases: a reason to start no further phase (pause switch, wave stopping). */
  stopRequested: () => Promise<string | undefined>;
  /** Health gates around every up (absent: --skip-health-gates). */
  health?: HealthOptions;
}

export interface HealthOptions {
  access: KubeAccess;
  /** Run the phase's drains (1→2, 5→6) instead of only checking that the pools are empty. */
  drain: boolean;
  nodesAtOnce: number;
  perNodeTimeoutMs: number;
  /** Drain without counting the open pools' subnets' free IP addresses (--skip-subnet-check). */
  skipSubnetCheck?: boolean;
}

/**
 * The health gate before an up: the settled checks of where the cluster stands and the step's own,
 * in order (`gateSteps`), judged against the state it stands in; where the step drains a role, the
 * checks before the drain run first, then the drain (if asked), then the rest. Returns why it
 * failed, or undefined.
 */
async function healthBefore(ctx: RunContext, name: string, config: ClusterConfig, kc: KubeConfig, t: StepTarget): Promise<string | undefined> {
  const h = ctx.health!;
  const { steps, state } = t.healthBefore(config);
  const d = steps.findIndex((s) => s.kind === "drain");
  const first = d < 0 ? steps : steps.slice(0, d);
  const a = await runGateSteps(kc, config, state, first);
  if (!a.passed) return `health gate before ${t.label} failed:\n${a.text}`;
  if (d < 0) return undefined;
  const drain = steps[d] as { kind: "drain"; role: PoolRole };
  if (h.drain) {
    ctx.emit({ type: "step", stack: name, phase: t.phase, ...(t.goingBack ? { label: t.label } : {}), step: "drain", message: `${drain.role} pools` });
    const r = await drainRole(kc, { role: drain.role, apply: true, subnets: subnetCheckFor(config, h.skipSubnetCheck ?? false), nodesAtOnce: h.nodesAtOnce, perNodeTimeoutMs: h.perNodeTimeoutMs, say: (line) => ctx.emit({ type: "note", stack: name, level: "info", message: line }) });
    ctx.audit.append({ action: "drain", stack: name, phase: t.phase, result: r.ok ? "ok" : "failed", message: r.message });
    if (!r.ok) return r.message;
  }
  const b = await runGateSteps(kc, config, state, steps.slice(d));
  if (!b.passed) return `health gate before ${t.label} failed${h.drain ? "" : ` (the ${drain.role} pools must be drained first: unchain drain --stack ${name} --role ${drain.role} --yes, or run with --drain)`}:\n${b.text}`;
  return undefined;
}

/**
 * One `pulumi up` the driver runs: a forward phase, or one stage of a reverse step. What the gates
 * hold it to, what the stack file names meanwhile and what the backend records after it.
 */
export interface StepTarget {
  /** The phase the step reaches (a reverse step's `to`): events and the audit log are about it. */
  phase: PhaseNumber;
  /** `phase 4`, or `going back 5→4, step 1 of 2`. */
  label: string;
  /** What the preview gate allows. */
  spec: PhaseSpec;
  /** `unchain:phase` in the stack file while the step runs (and after it). */
  filePhase: PhaseNumber;
  /** The stage of a reverse step the program runs. */
  goingBack?: GoingBack;
  /** The stack's appliedPhase once the up is done. */
  applies: PhaseNumber;
  /** Pools drained before the up and kept: uncordoned after it (steps/reverse.ts). */
  uncordonAfter?: PoolRole;
  healthBefore(config: ClusterConfig): { steps: GateStep[]; state: PhaseState };
  healthAfter(config: ClusterConfig): { steps: GateStep[]; state: PhaseState };
}

export function forwardTarget(phase: PhaseNumber): StepTarget {
  return {
    phase,
    label: `phase ${phase}`,
    spec: PHASES[phase],
    filePhase: phase,
    applies: phase,
    healthBefore: (config) => {
      const { steps, statePhase } = gateSteps(phase, "before");
      return { steps, state: desiredState(config, statePhase) };
    },
    healthAfter: (config) => ({ steps: PHASES[phase].after, state: desiredState(config, phase) }),
  };
}

/** One stage of a reverse step: held to the stage's own allowed changes and gates (steps/reverse.ts). */
export function reverseTarget(g: GoingBack): StepTarget {
  const step = reverseStep(g.from) as Extract<ReverseStep, { possible: true }>;
  const last = isLastStage(g);
  const spec = stageSpec(g);
  const prevAfter = g.stage > 1 ? step.stages[g.stage - 2].after : PHASES[g.from].after;
  return {
    phase: step.to,
    label: describeStage(g),
    spec,
    filePhase: last ? step.to : step.from,
    goingBack: g,
    applies: last ? step.to : step.from,
    ...(step.stages[g.stage - 1].uncordonAfter ? { uncordonAfter: step.stages[g.stage - 1].uncordonAfter } : {}),
    healthBefore: (config) => ({ steps: mergeGateSteps(prevAfter, spec.before), state: stateBefore(config, g) }),
    healthAfter: (config) => ({ steps: spec.after, state: stageState(config, g) }),
  };
}

/** The engine's own summary lines and the program's echo of a provider failure: noise beside the cause. */
const ENGINE_NOISE = /^(update failed|preview failed|an unhandled error occurred:.*)$|resource monitor shut down|Unhandled exception|expected resource operations for .* but none were seen/i;

/** The error an operation reported, from its diagnostics; the CLI's full output never reaches the user. */
function errorText(diagnostics: string[], e: unknown, ctx: ExplainContext = {}): string {
  const lines = diagnostics.length ? diagnostics.map((d) => d.trim()) : engineErrorLines(e);
  const cause = lines.filter((l) => !ENGINE_NOISE.test(l.replace(/^error:\s*/, "")));
  return withExplanation((cause.length ? cause : lines).join("\n"), ctx);
}

/** The Helm release phase `phase` works on (its own, else the one it removes), for error messages. */
function explainContext(projectDir: string, stack: string, phase: PhaseNumber): ExplainContext {
  try {
    const config = checkedConfig(projectDir, stack);
    const release = desiredState(config, phase).cilium ?? (phase > 0 ? desiredState(config, (phase - 1) as PhaseNumber).cilium : undefined);
    return release ? { helmRelease: `${release.namespace}/${release.name}` } : {};
  } catch {
    return {};
  }
}

function engineErrorLines(e: unknown): string[] {
  const msg = e instanceof Error ? e.message : String(e);
  const errLines = msg.split("\n").filter((l) => /^\s*error:/.test(l));
  return (errLines.length ? errLines : msg.split("\n").slice(0, 3)).map((l) => l.trim());
}

function gatedChanges(v: GateVerdict): GatedChange[] {
  return v.steps.map((s) => ({ op: s.op, type: s.type, name: s.name, kind: s.kind, ...(s.role ? { role: s.role } : {}), ...(s.release ? { release: s.release } : {}), properties: s.properties, allowed: s.allowed }));
}

function collectErrors(into: string[]) {
  return (ev: EngineEvent) => {
    const d = ev.diagnosticEvent;
    if (!d || d.severity !== "error") return;
    const message = d.message.replace(/\x1b\[[0-9;]*m/g, "").trim();
    // Name the resource the engine reports on: `<type> <name>: <message>` (the URN's last two parts).
    const parts = d.urn?.split("::") ?? [];
    const type = parts.length >= 4 ? parts[parts.length - 2].split("$").pop() : undefined;
    into.push(type ? `${type} ${parts[parts.length - 1]}: ${message}` : message);
  };
}

export function checkedConfig(projectDir: string, stack: string): ClusterConfig {
  const { config, problems } = validateStackConfig(stack, loadStack(projectDir, stack).raw);
  if (!config) throw new ConfigError(stack, `Pulumi.${stack}.yaml`, problems);
  return config;
}

export function planFile(env: DriverEnvironment, stack: string, phase: number, runId: string): string {
  return path.join(env.stateDir, "plans", stack, `phase-${phase}.${runId}.json`);
}

interface PhaseResult {
  status: "applied" | "previewed" | "refused" | "failed" | "locked";
  changes?: ChangeCounts;
  error?: string;
}

async function runStep(ctx: RunContext, stack: Stack, name: string, t: StepTarget, wave: string | undefined, sandbox: boolean): Promise<PhaseResult> {
  const { audit, emit, env } = ctx;
  const { phase, spec } = t;
  // The program of this step: the stage of a reverse step, or the stack's phase.
  const program = () => ctx.program(t.goingBack ? { goingBack: t.goingBack } : {});
  const stage = t.goingBack ? `${t.label}: ` : "";
  const lbl = t.goingBack ? { label: t.label } : {};
  const before = phaseInFile(env.projectDir, name);
  // A dry run previews with a copy of the stack file outside the project (--config-file): the file itself is not written.
  const copy = !ctx.apply && before !== t.filePhase ? phaseConfigCopy(env.projectDir, name, t.filePhase) : undefined;
  const restore = () => {
    if (copy || before === undefined || before === t.filePhase) return;
    writePhase(env.projectDir, name, before);
    audit.append({ action: "restore-config", stack: name, wave, phase: before, result: "ok", message: `nothing of ${t.label} was applied` });
  };
  if (t.goingBack) audit.append({ action: "going-back", stack: name, wave, phase, result: "ok", message: `${t.label}: ${spec.summary}` });
  if (before !== t.filePhase && !copy) {
    emit({ type: "step", stack: name, phase, ...lbl, step: "set-config" });
    writePhase(env.projectDir, name, t.filePhase);
    audit.append({ action: "set-config", stack: name, wave, phase: t.filePhase, result: "ok", message: `${PHASE_KEY}: ${before ?? "(unset)"} → ${t.filePhase}` });
  }

  // Preview, saving the update plan that up will be held to.
  emit({ type: "step", stack: name, phase, ...lbl, step: "preview" });
  const plan = planFile(env, name, phase, ctx.runId);
  fs.mkdirSync(path.dirname(plan), { recursive: true });
  const steps: EngineStep[] = [];
  const previewErrors: string[] = [];
  const diagnostics: EngineDiagnostic[] = [];
  const t0 = Date.now();
  try {
    await stack.preview({
      plan,
      program,
      ...(copy ? { configFile: copy.file } : {}),
      onEvent: (ev) => {
        if (ev.resourcePreEvent) {
          steps.push(engineStep(ev.resourcePreEvent.metadata));
          if (ctx.apply) failpoint("preview");
        }
        if (ev.diagnosticEvent) diagnostics.push({ severity: ev.diagnosticEvent.severity, message: ev.diagnosticEvent.message, ...(ev.diagnosticEvent.urn ? { urn: ev.diagnosticEvent.urn } : {}) });
        collectErrors(previewErrors)(ev);
      },
    });
  } catch (e) {
    const error = `${stage}preview of phase ${phase} failed: ${errorText(previewErrors, e, explainContext(env.projectDir, name, phase))}`;
    audit.append({ action: "preview", stack: name, wave, phase, result: "failed", durationMs: Date.now() - t0, message: error });
    restore();
    return { status: "failed", error };
  } finally {
    copy?.remove();
  }
  // A provider that could not read the cluster previews without it (pulumi-kubernetes warns and shows
  // unknowns): that preview does not say what up would do, so it is no preview to apply.
  const unread = diagnostics.filter((d) => d.severity === "warning" && explainProviderError(d.message));
  if (unread.length) {
    const error = `${stage}preview of phase ${phase} could not read the cluster: ${errorText(unread.map((d) => d.message.replace(/\x1b\[[0-9;]*m/g, "").trim()), undefined, explainContext(env.projectDir, name, phase))}`;
    audit.append({ action: "preview", stack: name, wave, phase, result: "failed", durationMs: Date.now() - t0, message: error });
    restore();
    return { status: "failed", error };
  }
  const digest = createHash("sha256").update(fs.readFileSync(plan)).digest("hex");
  const verdict = gate(spec, steps, sandbox, diagnostics);
  audit.append({ action: "preview", stack: name, wave, phase, result: "ok", changes: verdict.counts, planDigest: digest, durationMs: Date.now() - t0, dryRun: !ctx.apply });

  emit({ type: "step", stack: name, phase, ...lbl, step: "gate", message: describeCounts(verdict.counts) });
  if (!verdict.passed) {
    const error = describeRefusal(name, spec, verdict);
    audit.append({ action: "gate", stack: name, wave, phase, result: "refused", changes: verdict.counts, gated: gatedChanges(verdict), planDigest: digest, message: error, dryRun: !ctx.apply });
    restore();
    return { status: "refused", changes: verdict.counts, error };
  }
  audit.append({ action: "gate", stack: name, wave, phase, result: "ok", changes: verdict.counts, gated: gatedChanges(verdict), planDigest: digest, dryRun: !ctx.apply });
  if (!ctx.apply) {
    restore();
    return { status: "previewed", changes: verdict.counts };
  }
  await sharePlan(ctx, name, plan);

  let kube: { kc: KubeConfig; config: ClusterConfig } | undefined;
  if (ctx.health) {
    emit({ type: "step", stack: name, phase, ...lbl, step: "health" });
    const config = checkedConfig(env.projectDir, name);
    kube = { kc: kubeConfigFor(name, config, ctx.health.access), config };
    // A cluster that cannot be read (VPN down, expired credentials, missing RBAC) fails the gate with the reason.
    const why = await healthBefore(ctx, name, config, kube.kc, t).catch((e: Error) => {
      if (e instanceof UserError) return e.message;
      throw e;
    });
    audit.append({ action: "health", stack: name, wave, phase, result: why ? "failed" : "ok", message: why ?? `before ${t.label}: passed` });
    if (why) {
      restore();
      return { status: "failed", changes: verdict.counts, error: why };
    }
  }

  // Up, held to the plan: a change the preview did not show fails the update instead of happening.
  emit({ type: "step", stack: name, phase, ...lbl, step: "up", message: describeCounts(verdict.counts) });
  const total = verdict.steps.length;
  let done = 0;
  const upErrors: string[] = [];
  const t1 = Date.now();
  let outputs: Record<string, { value: unknown }>;
  try {
    const up = await stack.up({
      plan,
      program,
      onEvent: (ev) => {
        collectErrors(upErrors)(ev);
        const pre = ev.resourcePreEvent?.metadata;
        if (pre?.op === "create" && pre.new?.custom && !pre.type.startsWith("pulumi:providers:")) failpoint("create");
        const o = ev.resOutputsEvent?.metadata;
        if (o && o.op !== "same" && o.type !== "pulumi:pulumi:Stack") {
          emit({ type: "progress", stack: name, phase, ...lbl, done: Math.min(++done, total), total });
          failpoint("up");
        }
      },
    });
    outputs = up.outputs;
    failpoint("after-up");
  } catch (e) {
    if (e instanceof ConcurrentUpdateError) {
      const error = `another update holds the stack: ${errorText([], e)}`;
      audit.append({ action: "up", stack: name, wave, phase, result: "refused", planDigest: digest, message: error });
      return { status: "locked", error };
    }
    const error = `${stage}up of phase ${phase} failed: ${errorText(upErrors, e, explainContext(env.projectDir, name, phase))}`;
    audit.append({ action: "up", stack: name, wave, phase, result: "failed", changes: verdict.counts, planDigest: digest, durationMs: Date.now() - t1, message: error });
    return { status: "failed", changes: verdict.counts, error };
  }
  audit.append({ action: "up", stack: name, wave, phase, result: "ok", changes: verdict.counts, planDigest: digest, durationMs: Date.now() - t1, ...(t.goingBack ? { message: t.label } : {}) });

  // Verify: the backend says this phase is applied, and nothing is left to change.
  emit({ type: "step", stack: name, phase, ...lbl, step: "verify" });
  const applied = appliedPhaseOf(outputs);
  let error: string | undefined;
  // The engine only warns about pending operations an update leaves (a create it never heard back from): not done.
  const stillPending = await pendingOperations(stack).catch(() => []);
  if (applied !== t.applies) error = `${t.label} was applied, but the stack output appliedPhase is ${String(applied)}, not ${t.applies}`;
  else if (stillPending.length)
    error = `${t.label} was applied, but the state still lists ${stillPending.length} pending operation(s) the update did not finish: ${stillPending.map((p) => `${p.type} ${resourceName(p.urn)}`).join(", ")}. Run the same command again: it resolves them first (pulumi refresh).`;
  else {
    const again: EngineStep[] = [];
    const verifyErrors: string[] = [];
    try {
      await stack.preview({ program, onEvent: (ev) => (ev.resourcePreEvent ? again.push(engineStep(ev.resourcePreEvent.metadata)) : collectErrors(verifyErrors)(ev)) });
      const left = gate(spec, again, sandbox);
      if (hasChanges(left.counts)) error = `${t.label} was applied, but a second preview still shows ${describeCounts(left.counts)}: ${left.steps.map((s) => `${s.op} ${s.name}`).join(", ")}`;
    } catch (e) {
      error = `${t.label} was applied, but the verifying preview failed: ${errorText(verifyErrors, e)}`;
    }
  }
  audit.append({ action: "verify", stack: name, wave, phase, result: error ? "failed" : "ok", ...(error ? { message: error } : {}) });
  if (error) return { status: "failed", changes: verdict.counts, error };
  if (t.uncordonAfter && !kube)
    emit({ type: "note", stack: name, level: "warning", message: `the ${t.uncordonAfter} pools' nodes stay cordoned from their drain (health gates skipped: no cluster access): unchain drain --stack ${name} --role ${t.uncordonAfter} --undo puts them back in service` });
  if (t.uncordonAfter && kube) {
    const role = t.uncordonAfter;
    const back = await uncordonRole(kube.kc, role, (line) => emit({ type: "note", stack: name, level: "info", message: line })).catch((e: Error) => {
      if (e instanceof UserError) return e;
      throw e;
    });
    const failedWhy = back instanceof Error ? `${t.label} was applied, but the ${role} pools' nodes could not be uncordoned: ${back.message}` : undefined;
    audit.append({ action: "drain", stack: name, wave, phase, result: failedWhy ? "failed" : "ok", message: failedWhy ?? `uncordoned the ${role} pools after ${t.label}: ${(back as string[]).join(", ") || "none was cordoned"}` });
    if (failedWhy) return { status: "failed", changes: verdict.counts, error: failedWhy };
  }
  if (kube) {
    emit({ type: "step", stack: name, phase, ...lbl, step: "health" });
    const a = t.healthAfter(kube.config);
    const after = await runGateSteps(kube.kc, kube.config, a.state, a.steps).catch((e: Error) => {
      if (e instanceof UserError) return { passed: false, results: [], text: e.message };
      throw e;
    });
    const why = after.passed ? undefined : `${t.label} was applied, but its health gate failed; the run stops here (fix the cluster, then run again: the gate is checked again before the next step):\n${after.text}`;
    audit.append({ action: "health", stack: name, wave, phase, result: why ? "failed" : "ok", message: why ?? `after ${t.label}: passed` });
    if (why) return { status: "failed", changes: verdict.counts, error: why };
  }
  return { status: "applied", changes: verdict.counts };
}

/** The phases still to apply: from the backend's applied phase (or, for a stack never applied, the phase its file names) to the target. */
export function phasesToApply(applied: PhaseNumber | undefined, inFile: PhaseNumber, target: PhaseNumber): PhaseNumber[] {
  const first = applied === undefined ? inFile : applied + 1;
  const out: PhaseNumber[] = [];
  for (let p = first; p <= target; p++) out.push(p as PhaseNumber);
  return out;
}

type ResultInit = Omit<StackResult, "stack" | "target" | "durationMs" | "phasesApplied"> & { phasesApplied?: number[] };

interface Opened {
  stack: Stack;
  inFile: PhaseNumber;
  sandbox: boolean;
  from?: PhaseNumber;
  /** A reverse step the backend records as applied half-way. */
  half?: GoingBack;
  result: (r: ResultInit) => StackResult;
}

/** Takes the driver lock, opens the stack and reads where it stands; always releases the lock. */
async function withStack(ctx: RunContext, name: string, target: number, wave: string | undefined, body: (o: Opened) => Promise<StackResult>): Promise<StackResult> {
  const start = Date.now();
  const result = (r: ResultInit): StackResult => ({ stack: name, ...(wave ? { wave } : {}), target, phasesApplied: [], durationMs: Date.now() - start, ...r });
  const { env, audit, emit } = ctx;
  const lock = await acquireDriverLock(ctx.store, name, ctx.me, ctx.cancelStaleLocks);
  if (!lock.ok) {
    const error = `held by another driver ${describeHolder(lock.holder)}${lock.state === "unknown" ? "; if that run is dead, run again with --cancel-stale-locks" : ""}`;
    audit.append({ action: "lock-refused", stack: name, wave, result: "refused", message: error });
    return result({ status: "locked", error });
  }
  if (lock.tookOverFrom) {
    const message = `took over the driver lock of ${describeHolder(lock.tookOverFrom)}: that process is gone`;
    emit({ type: "note", stack: name, level: "warning", message });
    audit.append({ action: "lock-taken-over", stack: name, wave, result: "ok", message });
  }
  try {
    const inFile = phaseInFile(env.projectDir, name);
    if (inFile === undefined) return result({ status: "failed", error: `Pulumi.${name}.yaml has no unchain:phase (0-6)` });
    const sandbox = sandboxInFile(env.projectDir, name);
    // A dry run creates nothing: a stack the backend does not have yet is only said to be so.
    const stack = ctx.apply ? await openStack(env, name, ctx.program) : await selectExistingStack(env, name, ctx.program);
    if (!stack) return result({ status: "skipped", error: notInBackend(env, name, inFile) });
    const { applied: from, goingBack: half } = await appliedPhaseNow(env, stack, name);
    return await body({ stack, inFile, sandbox, ...(from !== undefined ? { from } : {}), ...(half ? { half } : {}), result });
  } catch (e) {
    // The CLI could not run at all (backend unreachable, passphrase wrong, …).
    return result({ status: "failed", error: errorText([], e) });
  } finally {
    await releaseDriverLock(ctx.store, name, ctx.runId);
    await audit.flush();
  }
}

/**
 * Refuses (as a result) when Pulumi holds the stack. A lock whose holder is provably gone (this
 * host, its pid not running: an update this machine's driver started and that was killed) is
 * cleared with `pulumi cancel` and an audit line; one from another host only with --cancel-stale-locks.
 */
async function checkPulumiLocks(ctx: RunContext, o: Opened, name: string, wave: string | undefined): Promise<string | undefined> {
  for (const l of ctx.backend ? await pulumiLocks(ctx.backend, ctx.env.projectName, name) : []) {
    if (l.state === "stale" || (l.state === "unknown" && ctx.cancelStaleLocks)) {
      await o.stack.cancel();
      const message = `cleared ${describePulumiLock(l)}${l.state === "stale" ? " (its process is gone from this host)" : " (--cancel-stale-locks)"}`;
      ctx.audit.append({ action: "pulumi-lock-cancelled", stack: name, wave, result: "ok", message });
      ctx.emit({ type: "note", stack: name, level: "warning", message });
      return undefined;
    }
    const fix = l.state === "alive" ? "wait for it to finish" : "check on that machine that no update is still running, then run again with --cancel-stale-locks (it runs pulumi cancel)";
    const error = `${describePulumiLock(l)}; ${fix}`;
    ctx.audit.append({ action: "lock-refused", stack: name, wave, result: "refused", message: error });
    return error;
  }
  return undefined;
}

/**
 * The saved plan `up` is about to be held to, copied beside the Pulumi state (`plans/<stack>/` in the
 * driver's store), so that whoever shares the backend can read the plan an audit line's planDigest
 * names. The CLI itself reads the plan from the local file. Nothing to copy where the store is the
 * checkout's own `.unchain/` (a file backend in the project).
 */
async function sharePlan(ctx: RunContext, stack: string, plan: string): Promise<void> {
  if (ctx.store.where === `file://${ctx.env.stateDir}`) return;
  await ctx.store.put(`plans/${stack}/${path.basename(plan)}`, fs.readFileSync(plan, "utf8"));
}

/** What a killed update left half-done is read back from the providers before anything goes on; undefined: resolved (or nothing was pending). */
async function beforeApplying(ctx: RunContext, o: Opened, name: string, wave: string | undefined): Promise<{ status: "locked" | "failed"; error: string } | undefined> {
  const locked = await checkPulumiLocks(ctx, o, name, wave);
  if (locked) return { status: "locked", error: locked };
  const r = await resolvePending(ctx.env, o.stack, name, ctx.ids);
  if (r.unresolved) {
    ctx.audit.append({ action: "resolve-pending", stack: name, wave, result: "refused", message: r.unresolved });
    return { status: "failed", error: r.unresolved };
  }
  if (r.resolved.length) {
    const made = [
      r.adopted?.length ? `adopted ${r.adopted.length} the cloud had made under their IDs (${r.adopted.map(resourceName).join(", ")})` : "",
      r.absent?.length ? `${r.absent.length} it had not made are left to this update (${r.absent.map(resourceName).join(", ")})` : "",
    ].filter(Boolean);
    const message = `resolved ${r.resolved.length} operation(s) a killed update left pending (${r.resolved.map((p) => `${p.type} ${resourceName(p.urn)}`).join(", ")}): refreshed from the providers${made.length ? `; of the pending creates, ${made.join("; ")}` : ""}`;
    ctx.audit.append({ action: "resolve-pending", stack: name, wave, result: "ok", message });
    ctx.emit({ type: "note", stack: name, level: "warning", message });
  }
  return undefined;
}

/**
 * Runs the steps in order (each a phase, or a stage of a reverse step): a dry run previews only the
 * first; a run stops at the first that does not apply, or between steps when asked to.
 */
async function runSteps(ctx: RunContext, o: Opened, name: string, wave: string | undefined, targets: StepTarget[], base: { from?: number; reached?: number }): Promise<StackResult> {
  const applied: number[] = [];
  let reached = base.reached;
  let stepsDone = 0;
  for (const t of targets) {
    if (!ctx.apply && t !== targets[0]) break;
    const at = () => ({ ...base, ...(reached !== undefined ? { reached } : {}), phasesApplied: [...applied] });
    const stop = await ctx.stopRequested();
    if (stop) return o.result({ ...at(), status: stepsDone ? "stopped" : "not-started", error: stop });
    const r = await runStep(ctx, o.stack, name, t, wave, o.sandbox);
    ctx.emit({ type: "phase-end", stack: name, phase: t.phase, status: r.status === "locked" ? "failed" : r.status, ...(r.changes ? { changes: r.changes } : {}), ...(r.error ? { message: r.error } : {}), ...(t.goingBack ? { label: t.label } : {}) });
    if (r.status === "previewed") return o.result({ ...at(), status: "previewed", phase: t.phase, ...(r.changes ? { changes: r.changes } : {}) });
    if (r.status !== "applied") return o.result({ ...at(), status: r.status, phase: t.phase, ...(r.error ? { error: r.error } : {}), ...(r.changes ? { changes: r.changes } : {}) });
    stepsDone++;
    if (!t.goingBack || isLastStage(t.goingBack)) {
      applied.push(t.applies);
      reached = t.applies;
    }
  }
  return o.result({ ...base, reached: reached!, status: "succeeded", phasesApplied: applied });
}

export async function advanceStack(ctx: RunContext, name: string, target: PhaseNumber, wave?: string): Promise<StackResult> {
  return withStack(ctx, name, target, wave, async (o) => {
    const { emit } = ctx;
    const { from, inFile, half } = o;
    const base = { ...(from !== undefined ? { from, reached: from } : {}) };
    // A target below the applied phase is going back: only through the reverse steps, and only when asked for.
    if (from !== undefined && from > target) {
      const walk = reverseWalk(from, target);
      const refuse = (error: string) => {
        ctx.audit.append({ action: "gate", stack: name, wave, phase: target, result: "refused", message: error });
        emit({ type: "stack-start", stack: name, ...(wave ? { wave } : {}), from, target, phases: [] });
        return o.result({ ...base, status: "refused", phase: target, error });
      };
      if (!ctx.rollback)
        return refuse(`${name} is at phase ${from}; --to ${target} would go back. No phase is undone by running an earlier one: going back takes the reverse steps below, with their drains and gates, and only with --rollback.\n${describeReverse(from, target)}\nTo take them: unchain advance -s ${name} --to ${target} --rollback${ctx.apply ? " --yes" : ""}. See "Going back" in the README.`);
      const impossible = walk.find((s) => !s.possible);
      if (impossible && !impossible.possible) return refuse(`${name} is at phase ${from}; going back to ${target} passes ${impossible.from}→${impossible.to}, which cannot be undone: ${impossible.why}. Nothing was changed.\n${describeReverse(from, target)}`);
      const stages = reverseStages(from, target, half);
      emit({ type: "stack-start", stack: name, ...(wave ? { wave } : {}), from, target, phases: [...new Set(stages.map((g) => reverseStep(g.from).to))] });
      if (half) emit({ type: "note", stack: name, level: "info", message: `an earlier run applied ${describeStage(half)} and did not finish the step; going on from there` });
      if (ctx.apply) {
        const blocked = await beforeApplying(ctx, o, name, wave);
        if (blocked) return o.result({ ...base, ...blocked });
      }
      return runSteps(ctx, o, name, wave, stages.map(reverseTarget), base);
    }
    if (ctx.rollback && (from === undefined || from <= target)) {
      const error = `--rollback goes back, and ${name} is ${from === undefined ? "not applied yet" : `at phase ${from}`}: --to must be below the applied phase. To go forward, run without --rollback.`;
      ctx.audit.append({ action: "gate", stack: name, wave, phase: target, result: "refused", message: error });
      return o.result({ ...base, status: "refused", phase: target, error });
    }
    // A reverse step applied half-way (its first stage) is undone by applying the phase it started from again.
    const phases = half && from !== undefined ? [from, ...phasesToApply(from, inFile, target)] : phasesToApply(from, inFile, target);
    if (half) emit({ type: "note", stack: name, level: "warning", message: `${describeStage(half)} was applied and the step not finished: phase ${from} is applied again first, which undoes it (--rollback --to ${reverseStep(half.from).to} would finish the step instead)` });
    else if (from !== undefined && inFile === from + 1 && phases[0] === inFile)
      emit({ type: "note", stack: name, level: "info", message: `an earlier run set phase ${inFile} and did not finish applying it; completing it` });
    emit({ type: "stack-start", stack: name, ...(wave ? { wave } : {}), ...(from !== undefined ? { from } : {}), target, phases });
    if (phases.length === 0) return o.result({ ...base, status: "skipped" });
    if (ctx.apply) {
      const blocked = await beforeApplying(ctx, o, name, wave);
      if (blocked) return o.result({ ...base, ...blocked });
    }
    return runSteps(ctx, o, name, wave, phases.map(forwardTarget), base);
  });
}

/**
 * Previews one phase and gates it, changing nothing. Only the next phase (or the applied one, to see
 * drift) can be previewed for real: later phases depend on resources the next one creates —
 * `unchain plan` shows those offline.
 */
export async function previewStack(ctx: RunContext, name: string, phase: PhaseNumber, wave?: string): Promise<StackResult> {
  return withStack(ctx, name, phase, wave, async (o) => {
    const next = o.from === undefined ? o.inFile : Math.min(o.from + 1, 6);
    const base = { ...(o.from !== undefined ? { from: o.from, reached: o.from } : {}) };
    if (phase !== next && phase !== o.from) {
      const at = o.from === undefined ? `has no phase applied yet (its file names phase ${o.inFile})` : `is at phase ${o.from}`;
      return o.result({ ...base, status: "skipped", error: `${name} ${at}; the next phase to preview is ${next}. unchain plan -s ${name} shows phase ${phase} offline.` });
    }
    ctx.emit({ type: "stack-start", stack: name, ...(wave ? { wave } : {}), ...(o.from !== undefined ? { from: o.from } : {}), target: phase, phases: [phase] });
    const r = await runStep({ ...ctx, apply: false }, o.stack, name, forwardTarget(phase), wave, o.sandbox);
    ctx.emit({ type: "phase-end", stack: name, phase, status: r.status === "locked" ? "failed" : r.status, ...(r.changes ? { changes: r.changes } : {}), ...(r.error ? { message: r.error } : {}) });
    if (r.status === "previewed" || r.status === "applied") return o.result({ ...base, status: "previewed", phase, ...(r.changes ? { changes: r.changes } : {}) });
    return o.result({ ...base, status: r.status, phase, ...(r.error ? { error: r.error } : {}), ...(r.changes ? { changes: r.changes } : {}) });
  });
}
