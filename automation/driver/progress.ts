/**
 * How a run looks: a live per-cluster display on a terminal, plain timestamped lines elsewhere (CI
 * logs), or JSON lines with --json; then a closing summary in the manner of Terragrunt's run
 * summary. Exit codes follow from the summary.
 */
import { createLogUpdate } from "log-update";
import { DriverEvent, EventSink, StackResult, StackStatus } from "./events";
import { describeCounts } from "./previewGate";

export type OutputMode = "live" | "plain" | "json";

export interface RunMeta {
  command: string;
  target: number;
  dryRun: boolean;
  startedAt: number;
}

export interface Reporter {
  sink: EventSink;
  finish(results: StackResult[], meta: RunMeta): void;
}

/**
 * 0 every stack at the target (or previewed clean); 1 a failure or a refusal; 4 held by a lock; 3
 * stopped before the target (pause). The whole table, with 2, 5 and 70: EXIT_CODES in automation/cli.ts.
 */
export function exitCodeOf(results: StackResult[]): number {
  const has = (...s: StackStatus[]) => results.some((r) => s.includes(r.status));
  if (has("failed", "refused")) return 1;
  if (has("locked")) return 4;
  if (has("not-started", "stopped")) return 3;
  return 0;
}

export function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${String(s % 60).padStart(2, "0")}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

const SYMBOL: Record<StackStatus, string> = {
  succeeded: "✔",
  previewed: "✔",
  skipped: "↷",
  refused: "✖",
  failed: "✖",
  locked: "⊘",
  "not-started": "○",
  stopped: "◐",
};

function phasesCell(r: StackResult): string {
  const from = r.from === undefined ? "–" : String(r.from);
  if (r.status === "previewed") return `${from}→${r.phase} (preview)`;
  if (r.reached !== undefined && r.reached !== r.from) return `${from}→${r.reached}`;
  return r.from === undefined ? "–" : `${from}`;
}

export function renderSummary(results: StackResult[], meta: RunMeta): string {
  const count = (...s: StackStatus[]) => results.filter((r) => s.includes(r.status)).length;
  const lines: string[] = [];
  lines.push(`Run summary: ${meta.command} to phase ${meta.target}${meta.dryRun ? " (dry run: nothing was changed)" : ""} — ${results.length} stack${results.length === 1 ? "" : "s"}, ${duration(Date.now() - meta.startedAt)}`);
  const rows: Array<[string, number]> = [
    [meta.dryRun ? "Previewed" : "Succeeded", count("succeeded", "previewed")],
    ["Failed", count("failed", "refused")],
    ["Locked", count("locked")],
    ["Skipped", count("skipped")],
    ["Stopped", count("stopped")],
    ["Not started", count("not-started")],
  ];
  for (const [k, n] of rows) if (n > 0 || k === "Succeeded" || k === "Previewed" || k === "Failed") lines.push(`  ${k.padEnd(12)} ${n}`);
  if (results.length) {
    lines.push("");
    const table = [["STACK", "WAVE", "PHASES", "RESULT", "DURATION"], ...results.map((r) => [`${SYMBOL[r.status]} ${r.stack}`, r.wave ?? "", phasesCell(r), r.status, r.durationMs ? duration(r.durationMs) : ""])];
    const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
    for (const row of table) lines.push("  " + row.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd());
  }
  const errors = results.filter((r) => r.error && r.status !== "skipped");
  if (errors.length) {
    lines.push("", "Why:");
    for (const r of errors) {
      const [first, ...rest] = r.error!.split("\n");
      lines.push(`  ${r.stack}${r.phase !== undefined ? ` (phase ${r.phase})` : ""}: ${first}`, ...rest.map((l) => `    ${l}`));
    }
  }
  // Why a stack was not previewed (not in the backend yet, another phase is next): the user's next step.
  const skippedWhy = results.filter((r) => r.error && r.status === "skipped");
  if (skippedWhy.length) lines.push("", "Skipped:", ...skippedWhy.map((r) => `  ${r.stack}: ${r.error!.split("\n").join("\n    ")}`));
  if (meta.dryRun && results.some((r) => r.status === "previewed")) lines.push("", "Dry run: each stack's next phase was previewed and gated. Run again with --yes to apply.");
  const code = exitCodeOf(results);
  if (code === 4) lines.push("", "Locked stacks were not touched; see Why.");
  if (code === 3) lines.push("", "Stopped before the target; run the same command again to go on from where each stack stands.");
  if (code === 1 && !meta.dryRun) lines.push("", "Fix the cause, then run the same command again: it resumes from where each stack stands.");
  return lines.join("\n");
}

function time(): string {
  return new Date().toISOString().slice(11, 19);
}

function eventLine(e: DriverEvent): string | undefined {
  switch (e.type) {
    case "run-start":
      return `${e.command} to phase ${e.target}${e.dryRun ? " (dry run)" : ""}: ${e.stacks} stack${e.stacks === 1 ? "" : "s"}`;
    case "wave-start":
      return `wave ${e.wave} (${e.index}/${e.of}): ${e.stacks.join(", ")}; ${e.concurrency} at once`;
    case "wave-end":
      return `wave ${e.wave} ${e.healthy ? "done" : "did not finish healthy"}`;
    case "stack-start":
      return `${e.stack}: at ${e.from ?? "nothing applied"}; ${e.phases.length ? `phases ${e.phases.join(", ")}` : "nothing to do"}`;
    case "step":
      return `${e.stack}: ${e.label ?? `phase ${e.phase}`} ${e.step}${e.message ? `: ${e.message}` : ""}`;
    case "progress":
      return undefined;
    case "phase-end":
      return `${e.stack}: ${e.label ?? `phase ${e.phase}`} ${e.status}${e.changes ? ` (${describeCounts(e.changes)})` : ""}${e.message && e.status !== "applied" ? `\n  ${e.message.split("\n").join("\n  ")}` : ""}`;
    case "stack-end":
      return `${e.result.stack}: ${e.result.status}${e.result.error ? ` — ${e.result.error.split("\n")[0]}` : ""}`;
    case "note":
      return `${e.stack ? `${e.stack}: ` : ""}${e.level === "warning" ? "warning: " : ""}${e.message}`;
  }
}

export function plainReporter(out: NodeJS.WritableStream): Reporter {
  return {
    sink: (e) => {
      const line = eventLine(e);
      if (line) out.write(`${time()} ${line}\n`);
    },
    finish: (results, meta) => out.write("\n" + renderSummary(results, meta) + "\n"),
  };
}

/** The version of every JSON document and JSON line unchain prints; it changes only when a change is incompatible (README: Machine output). */
export const SCHEMA_VERSION = 1;

/** JSON lines: each a document with schemaVersion and the command (preview or advance), then the event. */
export function jsonReporter(out: NodeJS.WritableStream, command?: string): Reporter {
  return {
    sink: (e) => out.write(JSON.stringify({ schemaVersion: SCHEMA_VERSION, ...(command ? { command } : {}), time: new Date().toISOString(), ...e }) + "\n"),
    finish: (results, meta) =>
      out.write(JSON.stringify({ schemaVersion: SCHEMA_VERSION, type: "summary", command: meta.command, target: meta.target, dryRun: meta.dryRun, durationMs: Date.now() - meta.startedAt, exitCode: exitCodeOf(results), results }) + "\n"),
  };
}

interface Row {
  stack: string;
  text: string;
  since: number;
  done: boolean;
}

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/** A block of one line per stack of the running wave, redrawn in place; finished lines stay. */
export function liveReporter(out: NodeJS.WriteStream): Reporter {
  const update = createLogUpdate(out);
  const rows = new Map<string, Row>();
  let header = "";
  let frame = 0;
  const render = () => {
    const spin = SPINNER[frame++ % SPINNER.length];
    const body = [...rows.values()].map((r) => `${r.done ? " " : spin} ${r.stack.padEnd(28)} ${r.text}${r.done || r.text === "waiting" ? "" : `  ${duration(Date.now() - r.since)}`}`);
    update([header, ...body].join("\n"));
  };
  const timer = setInterval(render, 120);
  timer.unref();
  const permanent = (line: string) => {
    update.clear();
    out.write(line + "\n");
    render();
  };
  const set = (stack: string, text: string, done = false) => {
    const r = rows.get(stack) ?? { stack, text, since: Date.now(), done };
    r.text = text;
    r.done = done;
    rows.set(stack, r);
    render();
  };
  return {
    sink: (e) => {
      switch (e.type) {
        case "run-start":
        case "note":
        case "wave-end":
          permanent(eventLine(e)!);
          return;
        case "wave-start":
          update.done();
          rows.clear();
          header = `wave ${e.wave} (${e.index}/${e.of}) · ${e.concurrency} at once`;
          for (const s of e.stacks) set(s, "waiting");
          return;
        case "stack-start":
          set(e.stack, e.phases.length ? `at ${e.from ?? "–"} → phases ${e.phases.join(", ")}` : "nothing to do");
          rows.get(e.stack)!.since = Date.now();
          return;
        case "step":
          set(e.stack, `${e.label ?? `phase ${e.phase}`}: ${e.step}${e.message ? ` (${e.message})` : ""}`);
          return;
        case "progress":
          set(e.stack, `${e.label ?? `phase ${e.phase}`}: up ${e.done}/${e.total}`);
          return;
        case "phase-end":
          if (e.status !== "applied" && e.status !== "previewed") permanent(eventLine(e)!);
          return;
        case "stack-end":
          set(e.result.stack, `${SYMBOL[e.result.status]} ${e.result.status}${e.result.reached !== undefined ? ` at phase ${e.result.reached}` : ""}${e.result.durationMs ? ` in ${duration(e.result.durationMs)}` : ""}`, true);
          return;
      }
    },
    finish: (results, meta) => {
      clearInterval(timer);
      render();
      update.done();
      out.write("\n" + renderSummary(results, meta) + "\n");
    },
  };
}

export function reporter(mode: OutputMode, out: NodeJS.WriteStream = process.stdout, command?: string): Reporter {
  if (mode === "json") return jsonReporter(out, command);
  if (mode === "live") return liveReporter(out);
  return plainReporter(out);
}
