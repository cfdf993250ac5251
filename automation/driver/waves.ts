/**
 * Waves, one after another: a wave starts only when the previous one is done and healthy (every
 * stack at the target), and only when every stack of the earlier waves of waves.yaml already
 * stands at the target — the canary leads. Inside a wave, `concurrency` stacks move at once. On a
 * failure the wave's policy decides: `stop` lets the running stacks finish the phase they are in
 * and starts nothing more; `finish-running` lets them go on to the target. Either way no new stack
 * starts. The pause switch acts like `stop`, for every wave.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Wave } from "../../config/waves";
import { PhaseNumber } from "../../steps/phases";
import { StackResult } from "./events";
import { RunContext } from "./runner";

/** What the run does to one stack of a wave: advance it, or preview a phase. */
export type StackAction = (ctx: RunContext, stack: string, wave: string) => Promise<StackResult>;
import { appliedPhases, BackendPhase } from "./stacks";

export const PAUSE_FILE = "pause";

export interface PauseState {
  since: string;
  operator: string;
  reason?: string;
}

export function pauseState(stateDir: string): PauseState | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(stateDir, PAUSE_FILE), "utf8")) as PauseState;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    return { since: "?", operator: "?" }; // present but unreadable: still paused
  }
}

export function setPause(stateDir: string, p: PauseState | undefined): void {
  const file = path.join(stateDir, PAUSE_FILE);
  if (!p) return fs.rmSync(file, { force: true });
  fs.mkdirSync(stateDir, { recursive: true });
  fs.writeFileSync(file, JSON.stringify(p, null, 2) + "\n");
}

export function describePause(p: PauseState): string {
  return `paused by ${p.operator} since ${p.since}${p.reason ? ` (${p.reason})` : ""}; unchain unpause to go on`;
}

/** Why nothing new may start because of the pause switch, or undefined. */
export function pausedBecause(stateDir: string): string | undefined {
  const p = pauseState(stateDir);
  return p ? describePause(p) : undefined;
}

function notStartedResult(stack: string, wave: string, target: number, why: string): StackResult {
  return { stack, wave, status: "not-started", target, phasesApplied: [], durationMs: 0, error: why };
}

export interface WaveRunOptions {
  /** The waves to run, in order, each with the stacks selected from it. */
  waves: Wave[];
  /** Every wave of waves.yaml, to check that earlier waves lead. */
  allWaves: Wave[];
  target: PhaseNumber;
  /** Run even though an earlier wave has not reached the target. */
  outOfOrder: boolean;
}

export async function runWaves(ctx: RunContext, opts: WaveRunOptions, action: StackAction): Promise<StackResult[]> {
  const results: StackResult[] = [];
  const notStarted = (stacks: string[], wave: string, why: string) => {
    for (const s of stacks) {
      const r = notStartedResult(s, wave, opts.target, why);
      results.push(r);
      ctx.emit({ type: "stack-end", result: r });
    }
  };
  let blocked: string | undefined;
  for (const [i, wave] of opts.waves.entries()) {
    if (blocked) {
      notStarted(wave.stacks, wave.name, blocked);
      continue;
    }
    const paused = pausedBecause(ctx.env.stateDir);
    if (paused) {
      notStarted(wave.stacks, wave.name, paused);
      blocked = paused;
      continue;
    }
    // A dry run changes nothing, so it previews every wave whatever the earlier ones did.
    const lag = opts.outOfOrder || !ctx.apply ? [] : await laggards(ctx, opts, wave.name);
    if (lag.length) {
      blocked = `earlier waves have not reached phase ${opts.target}: ${lag.join(", ")} (advance them first, or --out-of-order)`;
      ctx.emit({ type: "note", level: "warning", message: `wave ${wave.name} not started: ${blocked}` });
      notStarted(wave.stacks, wave.name, blocked);
      continue;
    }
    ctx.emit({ type: "wave-start", wave: wave.name, stacks: wave.stacks, concurrency: wave.concurrency, index: i + 1, of: opts.waves.length });
    const waveResults = await runWave(ctx, wave, opts.target, action);
    results.push(...waveResults);
    const healthy = waveResults.every((r) => r.status === "succeeded" || r.status === "skipped" || r.status === "previewed");
    ctx.emit({ type: "wave-end", wave: wave.name, healthy });
    if (!healthy && ctx.apply) blocked = `wave ${wave.name} did not finish healthy`;
  }
  return results;
}

/** Stacks of waves before `wave` (in waves.yaml) that are not yet at the target. */
async function laggards(ctx: RunContext, opts: WaveRunOptions, wave: string): Promise<string[]> {
  const idx = opts.allWaves.findIndex((w) => w.name === wave);
  const earlier = opts.allWaves.slice(0, Math.max(idx, 0)).flatMap((w) => w.stacks);
  if (!earlier.length) return [];
  const phases: Map<string, BackendPhase> = await appliedPhases(ctx.env, earlier);
  return earlier.filter((s) => {
    const p = phases.get(s);
    return !p?.exists || p.applied === undefined || p.applied < opts.target;
  }).map((s) => {
    const p = phases.get(s);
    return `${s} (${p?.exists && p.applied !== undefined ? `at ${p.applied}` : "never applied"})`;
  });
}

async function runWave(ctx: RunContext, wave: Wave, target: PhaseNumber, action: StackAction): Promise<StackResult[]> {
  const queue = [...wave.stacks];
  const results: StackResult[] = [];
  let failure: string | undefined;
  const stopRequested = () => pausedBecause(ctx.env.stateDir) ?? (failure && wave.onFailure === "stop" ? `wave ${wave.name} stopped: ${failure}` : undefined);
  const stackCtx: RunContext = { ...ctx, stopRequested };
  const worker = async () => {
    for (let s = queue.shift(); s !== undefined; s = queue.shift()) {
      const why = failure ? `wave ${wave.name} stopped after ${failure}` : pausedBecause(ctx.env.stateDir);
      const r = why ? notStartedResult(s, wave.name, target, why) : await action(stackCtx, s, wave.name);
      results.push(r);
      ctx.emit({ type: "stack-end", result: r });
      if (!failure && ctx.apply && (r.status === "failed" || r.status === "refused" || r.status === "locked")) failure = `${s} ${r.status}${r.phase !== undefined ? ` at phase ${r.phase}` : ""}`;
    }
  };
  await Promise.all(Array.from({ length: Math.min(wave.concurrency, wave.stacks.length) }, worker));
  return wave.stacks.map((s) => results.find((r) => r.stack === s)!);
}
