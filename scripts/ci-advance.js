#!/usr/bin/env node
// The two parts of .github/workflows/advance.yml that are more than a command line, kept here so the
// workflow test can run them:
//
//   node scripts/ci-advance.js check-backend
//       Prints the backend the run will use (PULUMI_BACKEND_URL, else Pulumi.yaml's backend.url) and
//       exits 1 when it is a file:// backend or none: on a CI runner a file backend is thrown away with
//       the runner, and with it the record of which phase each cluster is at.
//
//   node scripts/ci-advance.js summary --json advance.jsonl --log advance.log --code <exit code>
//                                      [--outcome <step outcome> --wave W --to N --rollback true|false --drain true|false]
//       Prints the run's summary as Markdown (for $GITHUB_STEP_SUMMARY and the artifact): what the exit
//       code means, then per stack its result and the phase it reached, from the driver's --json lines.
//       A run that ended before its summary line (a usage error, a bad config, a cancel) gets the end of
//       its stderr instead.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const EXIT_CODES = {
  0: ["ok", "no stack failed: each is at the target phase, or skipped for the reason given below."],
  1: ["failed", "a stack failed or was refused by the preview gate or a health gate. No new stack and no later wave started; the failed phase is put back or resumable. Fix the cause, then run the workflow again with the same inputs."],
  2: ["usage or config", "the command or a stack file is wrong (an unknown wave or stack, a configuration problem). Nothing was changed."],
  3: ["stopped (paused)", "the pause switch in the backend stopped the run before the target: running stacks finished their phase, nothing new started. `npx unchain unpause`, then run the workflow again with the same inputs to go on."],
  4: ["locked", "another run (an operator, another workflow) or a Pulumi lock holds a stack of this run, so no stack was touched. See the holder below; wait for that run, or clear a stale lock by hand (`--cancel-stale-locks`) once you know it is dead."],
  5: ["environment", "the runner's environment is wrong (a missing or empty passphrase, no pulumi CLI, no backend declared or reachable, no kube context or access, no AWS credentials). Nothing was changed."],
  70: ["bug", "a bug in unchain: please report it with the job log."],
};

const ICONS = { succeeded: "✅", previewed: "✅", skipped: "⏭️", refused: "⛔", failed: "❌", locked: "🔒", stopped: "⏸️", "not-started": "⏸️" };

/** What an exit code means, for the summary's first lines. */
function exitMeaning(code) {
  if (code in EXIT_CODES) return EXIT_CODES[code];
  if (code === 130 || code === 143 || code === 137)
    return ["interrupted", "the run was cancelled or timed out (signal). Running `pulumi up`s were interrupted; run the workflow again with the same inputs to resume where each stack stands."];
  return ["unexpected", "the driver ended with an exit code it does not document: see the job log."];
}

function cell(text) {
  return String(text ?? "").replace(/\r?\n/g, " ").replace(/\|/g, "\\|");
}

function phase(n) {
  return n === undefined || n === null ? "–" : String(n);
}

function duration(ms) {
  if (typeof ms !== "number") return "";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m ${s % 60}s` : `${Math.floor(m / 60)}h ${m % 60}m`;
}

function readLines(file) {
  if (!file || !fs.existsSync(file)) return [];
  return fs.readFileSync(file, "utf8").split(/\r?\n/).filter((l) => l.trim() !== "");
}

/** The driver's --json lines (other lines, if any, are skipped). */
function parseEvents(lines) {
  const events = [];
  for (const l of lines) {
    try {
      const e = JSON.parse(l);
      if (e && typeof e === "object" && typeof e.type === "string") events.push(e);
    } catch {
      /* not a JSON line */
    }
  }
  return events;
}

/**
 * The Markdown summary of one advance run. `events`: the parsed --json lines; `stderr`: the lines the
 * driver wrote to stderr; `code`: its exit code (undefined when it never ran or was killed); `outcome`:
 * the workflow step's outcome (success, failure, cancelled, skipped).
 */
function renderSummary({ events, stderr = [], code, outcome, wave, to, rollback, drain }) {
  const out = [];
  const flags = [rollback ? "--rollback" : "", drain ? "--drain" : ""].filter(Boolean).join(" ");
  out.push(`## unchain advance: wave \`${wave ?? "?"}\` to phase ${to ?? "?"}${flags ? ` (${flags})` : ""}`, "");
  if (code === undefined && outcome !== "cancelled" && events.length === 0) {
    out.push("**The driver did not run**: a step before it failed (see the job log). Nothing was changed.", "");
    return out.join("\n");
  }
  const [word, meaning] = code === undefined ? exitMeaning(143) : exitMeaning(code);
  out.push(`**${code === undefined ? "No exit code" : `Exit ${code}`}: ${word}**: ${meaning}`, "");
  for (const n of events.filter((e) => e.type === "note" && /^backend /.test(e.message ?? ""))) out.push(`Backend: ${cell(n.message.replace(/^backend /, ""))}`, "");

  const summary = [...events].reverse().find((e) => e.type === "summary");
  const results = summary ? summary.results : events.filter((e) => e.type === "stack-end").map((e) => e.result);
  if (results.length > 0) {
    const counts = {};
    for (const r of results) counts[r.status] = (counts[r.status] ?? 0) + 1;
    out.push(
      `${results.length} stack${results.length === 1 ? "" : "s"}: ${Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(", ")}${summary ? `, in ${duration(summary.durationMs)}` : " (the run ended before its summary)"}.`,
      "",
      "| stack | wave | result | applied before → after | reached target | took |",
      "| --- | --- | --- | --- | --- | --- |",
    );
    for (const r of results) {
      const reached = r.reached ?? r.from;
      const atTarget = reached !== undefined && reached === r.target;
      out.push(`| ${cell(r.stack)} | ${cell(r.wave ?? "–")} | ${ICONS[r.status] ?? ""} ${cell(r.status)} | ${phase(r.from)} → ${phase(reached)} | ${atTarget ? "yes" : `no (target ${r.target})`} | ${duration(r.durationMs)} |`);
    }
    const why = results.filter((r) => r.error);
    if (why.length > 0) {
      out.push("", "Why:");
      for (const r of why) out.push(`- **${cell(r.stack)}**${r.phase !== undefined ? ` (phase ${r.phase})` : ""}: ${cell(r.error).slice(0, 2000)}`);
    }
  } else {
    out.push("No stack results: the driver stopped before it started a stack.");
  }
  const warnings = events.filter((e) => e.type === "note" && e.level === "warning");
  if (warnings.length > 0) {
    out.push("", "Warnings:");
    for (const w of warnings.slice(0, 20)) out.push(`- ${w.stack ? `**${cell(w.stack)}**: ` : ""}${cell(w.message).slice(0, 1000)}`);
    if (warnings.length > 20) out.push(`- … ${warnings.length - 20} more in advance.jsonl`);
  }
  if (!summary || code !== 0) {
    const tail = stderr.slice(-40);
    if (tail.length > 0) out.push("", "The driver's stderr (last lines):", "", "```", ...tail.map((l) => l.replace(/```/g, "ʼʼʼ")), "```");
  }
  out.push("");
  return out.join("\n");
}

/** PULUMI_BACKEND_URL, else Pulumi.yaml's backend.url, as the driver reads it. */
function backendUrl(projectDir, env = process.env) {
  if (env.PULUMI_BACKEND_URL) return { url: env.PULUMI_BACKEND_URL, from: "PULUMI_BACKEND_URL" };
  const { parse } = require("yaml");
  const file = path.join(projectDir, "Pulumi.yaml");
  const doc = parse(fs.readFileSync(file, "utf8")) ?? {};
  const url = doc.backend && typeof doc.backend.url === "string" ? doc.backend.url : "";
  return { url, from: "Pulumi.yaml backend.url" };
}

function checkBackend(projectDir, env = process.env) {
  const { url, from } = backendUrl(projectDir, env);
  if (!url) return { ok: false, message: `${from} names no backend: declare the team's bucket in Pulumi.yaml (backend: {url: s3://<bucket>/<prefix>?region=<region>}).` };
  if (/^file:/i.test(url))
    return { ok: false, message: `${from} is ${url}, a file backend: on a CI runner it is thrown away with the runner, and with it the record of which phase each cluster is at. Declare the team's shared bucket in Pulumi.yaml (backend: {url: s3://<bucket>/<prefix>?region=<region>}); see "Running waves from CI" in the README.` };
  return { ok: true, message: `${url} (${from})` };
}

function args(argv) {
  const a = {};
  for (let i = 0; i < argv.length; i++) if (argv[i].startsWith("--")) a[argv[i].slice(2)] = argv[i + 1] !== undefined && !argv[i + 1].startsWith("--") ? argv[++i] : "true";
  return a;
}

function main(argv) {
  const [cmd, ...rest] = argv;
  if (cmd === "check-backend") {
    const r = checkBackend(process.cwd());
    (r.ok ? process.stdout : process.stderr).write(`${r.ok ? "backend " : "unchain: "}${r.message}\n`);
    return r.ok ? 0 : 1;
  }
  if (cmd === "summary") {
    const a = args(rest);
    const code = a.code === undefined || a.code === "" ? undefined : Number(a.code);
    process.stdout.write(
      renderSummary({ events: parseEvents(readLines(a.json)), stderr: readLines(a.log), code, outcome: a.outcome, wave: a.wave, to: a.to, rollback: a.rollback === "true", drain: a.drain === "true" }),
    );
    return 0;
  }
  process.stderr.write("usage: ci-advance.js check-backend | summary --json FILE --log FILE --code N [--outcome O --wave W --to N --rollback B --drain B]\n");
  return 2;
}

module.exports = { renderSummary, parseEvents, checkBackend, exitMeaning };
if (require.main === module) process.exitCode = main(process.argv.slice(2));
