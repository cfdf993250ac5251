/**
 * The wave plan (`waves.yaml`): the order in which stacks move, canary first. Validated like the
 * stack config: every problem at once, each with its key and fix.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { listStacks, loadStack, parseYaml } from "./load";
import { ConfigError, Problem } from "./problems";

export type FailurePolicy = "stop" | "finish-running";

export interface Wave {
  name: string;
  stacks: string[];
  /** Clusters of this wave moved at the same time. */
  concurrency: number;
  /** stop: start nothing more after a failure; finish-running: let running clusters finish. */
  onFailure: FailurePolicy;
}

export const WAVES_FILE = "waves.yaml";

export function validateWaves(raw: unknown, knownStacks: string[]): { waves?: Wave[]; problems: Problem[] } {
  const problems: Problem[] = [];
  const add = (key: string, message: string, fix: string) => problems.push({ key, message, fix, file: WAVES_FILE });
  const list = (raw as { waves?: unknown } | null)?.waves;
  if (!Array.isArray(list) || list.length === 0) {
    add("waves", "is missing or empty", "list the waves in order, a canary wave first: waves: [{ name: canary, stacks: [staging-eu-1] }]");
    return { problems };
  }
  const seen = new Map<string, string>();
  const waves: Wave[] = [];
  list.forEach((w, i) => {
    const p = `waves[${i}]`;
    const o = (w ?? {}) as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!["name", "stacks", "concurrency", "onFailure"].includes(k)) add(`${p}.${k}`, "is not a wave setting", "use name, stacks, concurrency, onFailure");
    const name = typeof o.name === "string" && o.name ? o.name : undefined;
    if (!name) add(`${p}.name`, "is missing", "name the wave, e.g. canary");
    const concurrency = o.concurrency === undefined ? 1 : o.concurrency;
    if (typeof concurrency !== "number" || !Number.isInteger(concurrency) || concurrency < 1) add(`${p}.concurrency`, `must be an integer >= 1, is ${JSON.stringify(concurrency)}`, "set how many clusters of the wave move at once, e.g. 4");
    const onFailure = o.onFailure === undefined ? "stop" : o.onFailure;
    if (onFailure !== "stop" && onFailure !== "finish-running") add(`${p}.onFailure`, `must be stop or finish-running, is ${JSON.stringify(onFailure)}`, "stop starts nothing more after a failure; finish-running lets running clusters finish");
    const stacks = Array.isArray(o.stacks) ? o.stacks : undefined;
    if (!stacks || stacks.length === 0) add(`${p}.stacks`, "is missing or empty", "list the stacks of this wave");
    stacks?.forEach((s, j) => {
      if (typeof s !== "string" || !knownStacks.includes(s)) add(`${p}.stacks[${j}]`, `${JSON.stringify(s)} is not a stack here (no Pulumi.${String(s)}.yaml)`, "use a stack name from a Pulumi.<stack>.yaml file");
      else if (seen.has(s)) add(`${p}.stacks[${j}]`, `${s} is already in ${seen.get(s)}`, "put every stack in exactly one wave");
      else seen.set(s, name ?? p);
    });
    if (name && stacks) waves.push({ name, stacks: stacks as string[], concurrency: concurrency as number, onFailure: onFailure as FailurePolicy });
  });
  if (waves.length && waves[0].stacks.length > 2 && waves.length > 1)
    add("waves[0].stacks", `the first wave moves ${waves[0].stacks.length} clusters`, "start with a canary wave of one or two clusters");
  return problems.length ? { problems } : { waves, problems };
}

/** The project's stacks and its wave plan ([] without waves.yaml); sandbox stacks need no wave. */
export function projectWaves(dir: string): { known: string[]; waves: Wave[] } {
  const known = listStacks(dir);
  const sandboxes = known.filter((s) => loadStack(dir, s).raw.sandbox === true);
  return { known, waves: loadWaves(dir, known, sandboxes) ?? [] };
}

/** Reads and validates waves.yaml; undefined when the project has none. */
export function loadWaves(dir: string, knownStacks: string[], excludeFromCheck: string[] = []): Wave[] | undefined {
  const file = path.join(dir, WAVES_FILE);
  if (!fs.existsSync(file)) return undefined;
  const raw = parseYaml(fs.readFileSync(file, "utf8"), WAVES_FILE, "(waves)");
  const { waves, problems } = validateWaves(raw, knownStacks);
  if (!waves) throw new ConfigError("(waves)", WAVES_FILE, problems);
  const unplaced = knownStacks.filter((s) => !excludeFromCheck.includes(s) && !waves.some((w) => w.stacks.includes(s)));
  if (unplaced.length) throw new ConfigError("(waves)", WAVES_FILE, [{ key: "waves", message: `stacks in no wave: ${unplaced.join(", ")}`, fix: "add each to a wave (sandbox stacks such as dev are left out)", file: WAVES_FILE }]);
  return waves;
}
