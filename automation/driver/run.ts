/**
 * The driver's commands: `advance` and `preview` over waves or stacks, and `status`. Everything the
 * user can get wrong (selection, config, passphrase, CLI) is checked before any stack is touched.
 */
import { randomBytes } from "node:crypto";
import * as os from "node:os";
import { UserError } from "../../config/problems";
import { projectWaves, Wave } from "../../config/waves";
import { PhaseNumber } from "../../steps/phases";
import { describeStage, GoingBack } from "../../steps/reverse";
import { AuditEntry, AuditLog, readAudit } from "./audit";
import { describeBackend, driverEnvironment } from "./environment";
import { StackResult } from "./events";
import { acquireDriverLock, describeHolder, describePulumiLock, lockState, pulumiLocks, readDriverLock, releaseDriverLock } from "./locks";
import { exitCodeOf, OutputMode, reporter } from "./progress";
import { advanceStack, checkedConfig, HealthOptions, previewStack, RunContext } from "./runner";
import { appliedPhases, phaseInFile, programFromModule, PulumiProgram, unchainIds, unchainProgram } from "./stacks";
import { ResourceIds } from "./pending";
import { pausedBecause, runWaves } from "./waves";
import { storesOf } from "./store";
import { failpoint } from "./failpoint";

export interface Selection {
  waves?: string[];
  all?: boolean;
  stacks?: string[];
}

export interface DriverOptions extends Selection {
  projectDir: string;
  command: "advance" | "preview";
  target: PhaseNumber;
  apply: boolean;
  /** Go back through the reverse steps where --to is below the applied phase (advance --rollback). */
  rollback?: boolean;
  concurrency?: number;
  cancelStaleLocks: boolean;
  outOfOrder: boolean;
  output: OutputMode;
  /** A module exporting `program` to run instead of unchain's (the driver's tests). */
  programModule?: string;
  /** Health gates around every up; undefined: skipped (--skip-health-gates). */
  health?: HealthOptions;
  argv: string[];
}

/** The waves (in order) and stacks the selection names; every name checked against the project. */
export function selectWaves(projectDir: string, sel: Selection): { selected: Wave[]; all: Wave[] } {
  const { known, waves } = projectWaves(projectDir);
  if ((sel.all || sel.waves) && !waves.length) throw new UserError(`${projectDir} has no waves.yaml; name stacks with --stack, or write a wave plan`);
  for (const w of sel.waves ?? []) if (!waves.some((x) => x.name === w)) throw new UserError(`no wave "${w}" in waves.yaml. Waves: ${waves.map((x) => x.name).join(", ")}`);
  for (const s of sel.stacks ?? []) if (!known.includes(s)) throw new UserError(`no stack "${s}" (no Pulumi.${s}.yaml in ${projectDir}). Stacks: ${known.join(", ")}`);
  let selected = waves.filter((w) => sel.all || sel.waves?.includes(w.name));
  if (sel.stacks) {
    const pick = new Set(sel.stacks);
    if (sel.all || sel.waves) selected = selected.map((w) => ({ ...w, stacks: w.stacks.filter((s) => pick.has(s)) })).filter((w) => w.stacks.length);
    else selected = waves.map((w) => ({ ...w, stacks: w.stacks.filter((s) => pick.has(s)) })).filter((w) => w.stacks.length);
    const placed = new Set(selected.flatMap((w) => w.stacks));
    const outside = sel.stacks.filter((s) => !placed.has(s));
    if (outside.length && (sel.all || sel.waves)) throw new UserError(`${outside.join(", ")} ${outside.length === 1 ? "is" : "are"} not in the selected wave(s)`);
    if (outside.length) selected.push({ name: "(no wave)", stacks: outside, concurrency: 1, onFailure: "stop" });
  }
  if (!selected.length) throw new UserError("nothing selected: say --wave <name>, --all or --stack <name>");
  return { selected, all: waves };
}

export function newRunId(): string {
  return `${new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "")}-${randomBytes(3).toString("hex")}`;
}

export async function runDriver(o: DriverOptions): Promise<number> {
  const { selected, all } = selectWaves(o.projectDir, o);
  const stacks = selected.flatMap((w) => w.stacks);
  for (const s of stacks) checkedConfig(o.projectDir, s);
  const env = driverEnvironment(o.projectDir, process.env, { passphrase: true, cli: true, stacks });
  const waves = o.concurrency ? selected.map((w) => ({ ...w, concurrency: o.concurrency! })) : selected;
  const { program, ids }: { program: PulumiProgram; ids: ResourceIds } = o.programModule ? programFromModule(o.programModule, o.projectDir) : { program: unchainProgram(o.projectDir), ids: unchainIds() };
  const runId = newRunId();
  const command = `unchain ${o.argv.join(" ")}`;
  const stores = storesOf(env);
  const audit = new AuditLog(stores.store, runId, env.operator);
  const rep = reporter(o.output, process.stdout, o.command);
  const ctx: RunContext = {
    env,
    program,
    ids,
    runId,
    me: { runId, pid: process.pid, host: os.hostname(), operator: env.operator, command, since: new Date().toISOString() },
    audit,
    ...stores,
    apply: o.apply,
    ...(o.rollback ? { rollback: true } : {}),
    cancelStaleLocks: o.cancelStaleLocks,
    emit: rep.sink,
    stopRequested: async () => undefined,
    ...(o.health ? { health: o.health } : {}),
  };
  const startedAt = Date.now();
  // A run that changes stacks takes all of them before it starts, or none: two runs started a
  // moment apart never split a wave between them and leave stacks that neither takes.
  const refused = o.apply ? await takeAll(ctx, stacks, o.cancelStaleLocks) : [];
  if (refused.length) {
    const why = `this run takes all of its ${stacks.length} stacks or none, and another run holds ${refused.length} of them: nothing was started. Wait for that run (unchain status shows it), then run again.\n  ${refused.map((r) => r.why).join("\n  ")}`;
    audit.append({ action: "lock-refused", target: o.target, stacks, result: "refused", message: why });
    rep.sink({ type: "run-start", command: o.command, target: o.target, dryRun: false, stacks: stacks.length });
    rep.sink({ type: "note", level: "warning", message: why });
    const results: StackResult[] = stacks.map((s) => ({ stack: s, status: "locked", target: o.target, phasesApplied: [], durationMs: 0, error: refused.find((r) => r.stack === s)?.why ?? "not started: another run holds some of this run's stacks" }));
    rep.finish(results, { command: o.command, target: o.target, dryRun: false, startedAt });
    await audit.flush();
    return exitCodeOf(results);
  }
  if (o.apply) failpoint("lock");
  try {
    const paused = await pausedBecause(ctx.store);
    if (paused) rep.sink({ type: "note", level: "warning", message: `${paused}: no stack will start` });
    audit.append({ action: "run-start", target: o.target, dryRun: !o.apply, stacks, result: "ok", message: command });
    rep.sink({ type: "run-start", command: o.command, target: o.target, dryRun: !o.apply, stacks: stacks.length });
    rep.sink({ type: "note", level: "info", message: `backend ${describeBackend(env)}; driver state (locks, pause, audit) in ${ctx.store.where}` });
    if (o.apply && !o.health) rep.sink({ type: "note", level: "warning", message: "health gates skipped (--skip-health-gates): nothing checks the clusters between phases" });
    // Going back does not wait for earlier waves: they are ahead of the target, not behind it.
    const results: StackResult[] = await runWaves(ctx, { waves, allWaves: all, target: o.target, outOfOrder: o.outOfOrder || !!o.rollback }, (c, s, w) =>
      o.command === "advance" ? advanceStack(c, s, o.target, w) : previewStack(c, s, o.target, w),
    );
    const code = exitCodeOf(results);
    audit.append({ action: "run-end", target: o.target, dryRun: !o.apply, result: code === 0 ? "ok" : "failed", durationMs: Date.now() - startedAt, message: `exit ${code}` });
    await audit.flush();
    rep.finish(results, { command: o.command, target: o.target, dryRun: !o.apply, startedAt });
    return code;
  } finally {
    // Each stack's lock goes when the run is done with it; those it never reached (a stopped wave) here.
    for (const s of stacks) await releaseDriverLock(ctx.store, s, runId);
  }
}

/** Takes the driver lock of every stack (in name order); if any is held, gives back those taken and says who holds the others. */
async function takeAll(ctx: RunContext, stacks: string[], breakUnknown: boolean): Promise<Array<{ stack: string; why: string }>> {
  const taken: string[] = [];
  const refused: Array<{ stack: string; why: string }> = [];
  for (const s of [...stacks].sort()) {
    const r = await acquireDriverLock(ctx.store, s, ctx.me, breakUnknown);
    if (r.ok && r.tookOverFrom) {
      const message = `took over the driver lock of ${describeHolder(r.tookOverFrom)}: that process is gone`;
      ctx.emit({ type: "note", stack: s, level: "warning", message });
      ctx.audit.append({ action: "lock-taken-over", stack: s, result: "ok", message });
    }
    if (r.ok) taken.push(s);
    else refused.push({ stack: s, why: `${s}: held by another driver ${describeHolder(r.holder)}${r.state === "unknown" ? "; if that run is dead, run again with --cancel-stale-locks" : ""}` });
  }
  if (refused.length) for (const s of taken) await releaseDriverLock(ctx.store, s, ctx.runId);
  return refused;
}

export interface StackStatusRow {
  stack: string;
  wave?: string;
  /** From the backend: the stack's appliedPhase output. */
  applied?: number;
  /** From the backend: a reverse step applied half-way (its last stage applied). */
  goingBack?: GoingBack;
  exists: boolean;
  /** `unchain:phase` in the stack file. */
  inFile?: number;
  /** Where the latest run that applied changes was taking the stack (else the file's phase). */
  target?: number;
  lastResult?: string;
  lock?: string;
}

function lastResultOf(entries: AuditEntry[], stack: string): string | undefined {
  const e = [...entries].reverse().find((x) => x.stack === stack && ["up", "gate", "preview", "verify", "lock-refused"].includes(x.action) && !(x.action === "preview" && x.result === "ok"));
  if (!e) return undefined;
  const what = e.action === "lock-refused" ? "locked" : `phase ${e.phase} ${e.action} ${e.result}${e.dryRun ? " (dry run)" : ""}`;
  return `${what}, ${e.time.slice(0, 16).replace("T", " ")} by ${e.operator}`;
}

export async function stackStatus(projectDir: string, sel: Selection): Promise<{ backend: string; stacks: StackStatusRow[] }> {
  const { known, waves } = projectWaves(projectDir);
  const stacks = sel.all || (!sel.stacks && !sel.waves) ? known : selectWaves(projectDir, sel).selected.flatMap((w) => w.stacks);
  const env = driverEnvironment(projectDir, process.env, { passphrase: false, cli: false });
  const phases = await appliedPhases(env, stacks);
  const { store, backend } = storesOf(env);
  const entries = await readAudit(store);
  const backendLine = `${describeBackend(env)}; driver state in ${store.where}`;
  const holders = new Map(await Promise.all(stacks.map(async (s) => [s, await readDriverLock(store, s)] as const)));
  const pulumiHeld = new Map(await Promise.all(stacks.map(async (s) => [s, backend ? await pulumiLocks(backend, env.projectName, s) : []] as const)));
  const rows = stacks.map((s) => {
    const p = phases.get(s);
    const inFile = phaseInFile(projectDir, s);
    const run = [...entries].reverse().find((e) => e.action === "run-start" && !e.dryRun && e.stacks?.includes(s));
    const target = run?.target ?? inFile;
    const locks: string[] = [];
    const holder = holders.get(s);
    if (holder) locks.push(`${lockState(holder.pid, holder.host) === "stale" ? "stale driver lock of" : "driver"} ${describeHolder(holder)}`);
    for (const l of pulumiHeld.get(s) ?? []) locks.push(describePulumiLock(l));
    const wave = waves.find((w) => w.stacks.includes(s))?.name;
    const last = lastResultOf(entries, s);
    return {
      stack: s,
      ...(wave ? { wave } : {}),
      exists: p?.exists ?? false,
      ...(p?.exists && p.applied !== undefined ? { applied: p.applied } : {}),
      ...(p?.exists && p.goingBack ? { goingBack: p.goingBack } : {}),
      ...(inFile !== undefined ? { inFile } : {}),
      ...(target !== undefined ? { target } : {}),
      ...(last ? { lastResult: last } : {}),
      ...(locks.length ? { lock: locks.join("; ") } : {}),
    };
  });
  return { backend: backendLine, stacks: rows };
}

export function renderStatus(rows: StackStatusRow[], pausedBy?: string, backend?: string): string {
  const table = [
    ["STACK", "WAVE", "APPLIED", "CONFIG", "TARGET", "LAST RESULT", "LOCK"],
    ...rows.map((r) => [
      r.stack,
      r.wave ?? "",
      r.applied !== undefined ? String(r.applied) + (r.goingBack ? "†" : "") : r.exists ? "none" : "no stack",
      r.inFile !== undefined ? String(r.inFile) + (r.applied !== undefined && r.inFile !== r.applied ? "*" : "") : "",
      r.target !== undefined ? String(r.target) : "",
      r.lastResult ?? "",
      r.lock ?? "",
    ]),
  ];
  const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
  const lines = table.map((row) => row.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd());
  if (rows.some((r) => r.applied !== undefined && r.inFile !== undefined && r.inFile !== r.applied))
    lines.push("", "* the stack file names another phase than the backend has applied: a run stopped between setting it and applying it (advance completes it), or the file was edited.");
  for (const r of rows.filter((x) => x.goingBack)) {
    const to = r.goingBack!.from - 1;
    lines.push("", `† ${r.stack} is half-way back: ${describeStage(r.goingBack!)} applied, the step not finished. unchain advance -s ${r.stack} --to ${to} --rollback --yes finishes it; unchain advance -s ${r.stack} --to ${r.goingBack!.from} --yes undoes it.`);
  }
  if (pausedBy) lines.push("", `Paused: ${pausedBy}`);
  if (backend) lines.push("", `Backend: ${backend}`);
  return lines.join("\n");
}

/** Real previews for `unchain review --live`: the driver's preview and gate, one stack at a time, quietly. */
export function livePreviewer(projectDir: string, programModule?: string): (stack: string, phase: PhaseNumber) => Promise<StackResult> {
  const env = driverEnvironment(projectDir);
  const runId = newRunId();
  const stores = storesOf(env);
  const ctx: RunContext = {
    env,
    ...(programModule ? programFromModule(programModule, projectDir) : { program: unchainProgram(projectDir), ids: unchainIds() }),
    runId,
    me: { runId, pid: process.pid, host: os.hostname(), operator: env.operator, command: "unchain review --live", since: new Date().toISOString() },
    audit: new AuditLog(stores.store, runId, env.operator),
    ...stores,
    apply: false,
    cancelStaleLocks: false,
    emit: () => undefined,
    stopRequested: async () => undefined,
  };
  return (stack, phase) => previewStack(ctx, stack, phase);
}
