/**
 * Waves, one after another: a wave starts only when the previous one is done and healthy (every
 * stack at the target), and only when every stack of the earlier waves of waves.yaml already
 * stands at the target — the canary leads. Inside a wave, `concurrency` stacks move at once. On a
 * failure the wave's policy decides: `stop` lets the running stacks finish the phase they are in
 * and starts nothing more; `finish-running` lets them go on to the target. Either way no new stack
 * starts. The pause switch acts like `stop`, for every wave.
 */
import { Wave } from "../../config/waves";
import { PhaseNumber } from "../../steps/phases";
import { StackResult } from "./events";
import { RunContext } from "./runner";

/** What the run does to one stack of a wave: advance it, or preview a phase. */
export type StackAction = (ctx: RunContext, stack: string, wave: string) => Promise<StackResult>;
import { appliedPhases, BackendPhase } from "./stacks";
import { StateStore } from "./store";

export const PAUSE_FILE = "pause";

export interface PauseState {
  since: string;
  operator: string;
  reason?: string;
}

/** The pause switch, in the driver's store (beside the Pulumi state: every run sharing the backend sees it). */
export async function pauseState(store: StateStore): Promise<PauseState | undefined> {
  const o = await store.get(PAUSE_FILE);
  if (!o) return undefined;
  try {
    return JSON.parse(o.body) as PauseState;
  } catch {
    return { since: "?", operator: "?" }; // present but unreadable: still paused
  }
}

export async function setPause(store: StateStore, p: PauseState | undefined): Promise<void> {
  if (!p) return store.delete(PAUSE_FILE);
  await store.put(PAUSE_FILE, JSON.stringify(p, null, 2) + "\n");
}

export function describePause(p: PauseState): string {
  return `paused by ${p.operator} since ${p.since}${p.reason ? ` (${p.reason})` : ""}; unchain unpause to go on`;
}

/** Why nothing new may start because of the pause switch, or undefined. */
export async function pausedBecause(store: StateStore): Promise<string | undefined> {
  const p = await pauseState(store);
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
    const paused = await pausedBecause(ctx.store);
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
  const stopRequested = async () => (await pausedBecause(ctx.store)) ?? (failure && wave.onFailure === "stop" ? `wave ${wave.name} stopped: ${failure}` : undefined);
  const stackCtx: RunContext = { ...ctx, stopRequested };
  const worker = async () => {
    for (let s = queue.shift(); s !== undefined; s = queue.shift()) {
      const why = failure ? `wave ${wave.name} stopped after ${failure}` : await pausedBecause(ctx.store);
      const r = why ? notStartedResult(s, wave.name, target, why) : await action(stackCtx, s, wave.name);
      results.push(r);
      ctx.emit({ type: "stack-end", result: r });
      if (!failure && ctx.apply && (r.status === "failed" || r.status === "refused" || r.status === "locked")) failure = `${s} ${r.status}${r.phase !== undefined ? ` at phase ${r.phase}` : ""}`;
    }
  };
  await Promise.all(Array.from({ length: Math.min(wave.concurrency, wave.stacks.length) }, worker));
  return wave.stacks.map((s) => results.find((r) => r.stack === s)!);
}
