/**
 * `unchain board`: one self-contained HTML page of the fleet — clusters by wave against phases 0–6,
 * where each stands, what ran last and how it ended, gate failures with their reason, locks, the
 * pause switch and the audit timeline per cluster. `renderBoard` is pure (data in, HTML out): every
 * string is redacted of known secrets and then escaped (stack names, messages and reasons come from
 * users). No external assets, no script: inline CSS and native <details>; a Content-Security-Policy
 * keeps it so even if something slipped through.
 */
import { PHASES } from "../../steps/phases";
import { describeStage } from "../../steps/reverse";
import type { AuditEntry } from "../driver/audit";
import type { StackStatusRow } from "../driver/run";
import { redact } from "../review/review";

export interface BoardWave {
  name: string;
  stacks: string[];
}

export interface BoardData {
  /** When the board was made (ISO); shown, never read from the clock here. */
  generatedAt: string;
  /** Where the state was read from (status's backend line). */
  backend: string;
  /** The pause switch, described (describePause), or undefined when not paused. */
  paused?: string;
  /** The waves of waves.yaml in order; rows of stacks in none go under "(no wave)". */
  waves: BoardWave[];
  stacks: StackStatusRow[];
  /** The audit trail, oldest first. */
  audit: AuditEntry[];
  /** Strings never to appear on the page (knownSecrets). */
  secrets?: string[];
  /** Timeline entries shown per cluster, newest kept (default 200). */
  timelineLimit?: number;
}

const PHASE_COUNT = 7;
/** Actions that say how a stack stands (run-start/run-end are the run's, not the stack's). */
const STACK_ACTIONS = new Set<AuditEntry["action"]>(["up", "gate", "preview", "verify", "health", "drain", "going-back", "lock-refused", "lock-taken-over", "pulumi-lock-cancelled", "resolve-pending", "set-config", "restore-config"]);

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** The gate failure a stack still has: its latest gate failed and nothing applied since. */
export function openGateFailure(entries: AuditEntry[], stack: string): AuditEntry | undefined {
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i];
    if (e.stack !== stack) continue;
    if (e.action === "gate") return e.result === "ok" ? undefined : e;
    if (e.action === "up" && e.result === "ok" && !e.dryRun) return undefined;
  }
  return undefined;
}

function lastOf(entries: AuditEntry[], stack: string): AuditEntry | undefined {
  for (let i = entries.length - 1; i >= 0; i--) if (entries[i].stack === stack && STACK_ACTIONS.has(entries[i].action)) return entries[i];
  return undefined;
}

function when(iso: string): string {
  return iso.length >= 16 ? iso.slice(0, 16).replace("T", " ") : iso;
}

function duration(ms: number | undefined): string {
  if (ms === undefined) return "";
  return ms < 1000 ? `${ms} ms` : ms < 120_000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 60_000).toFixed(1)} min`;
}

function resultClass(r: AuditEntry["result"]): string {
  return r === "ok" ? "ok" : r === "failed" ? "bad" : "warn";
}

function describeEntry(e: AuditEntry): string {
  return `${e.action}${e.phase !== undefined ? ` phase ${e.phase}` : ""}${e.target !== undefined && e.target !== e.phase ? ` (to ${e.target})` : ""} ${e.result}${e.dryRun ? " (dry run)" : ""}`;
}

const CSS = `
*{box-sizing:border-box}
body{margin:0;padding:16px 20px;font:14px/1.4 sans-serif;color:#1b1f24;background:#fff}
h1{font-size:20px;margin:0 0 4px}
h2{font-size:16px;margin:24px 0 8px}
.meta{color:#57606a;font-size:12px;overflow-wrap:anywhere}
.banner{padding:8px 12px;border-radius:6px;margin:12px 0;overflow-wrap:anywhere}
.banner.paused{background:#fff1c2;border:1px solid #d4a72c}
.banner.running{background:#e6f4ea;border:1px solid #7cc48c}
.summary{display:flex;flex-wrap:wrap;gap:6px;margin:8px 0}
.chip{border:1px solid #d0d7de;border-radius:10px;padding:1px 8px;font-size:12px;background:#f6f8fa}
table{border-collapse:collapse;width:100%;table-layout:fixed}
th,td{border:1px solid #d0d7de;padding:3px 6px;vertical-align:top;overflow-wrap:anywhere;word-break:break-word}
th{background:#f6f8fa;font-weight:600;font-size:12px;text-align:left}
table.grid col.stack{width:17%}
table.grid col.phase{width:5.5%}
table.grid col.last{width:28%}
table.grid col.lock{width:16.5%}
table.grid th.phase{text-align:center}
table.grid th.phase small{display:block;font-weight:400;color:#57606a}
tr.wave th{background:#eaeef2;font-size:13px}
td.cell{text-align:center;padding:3px 0}
td.cell.done{background:#dbeafe}
td.cell.applied{background:#2563eb;color:#fff;font-weight:700}
td.cell.target{outline:2px dashed #2563eb;outline-offset:-3px}
td.cell.back{background:#fde68a;color:#713f12;font-weight:700}
td.cell.gatefail{background:#fecaca;color:#7f1d1d;font-weight:700}
td.stackname{font-family:monospace;font-size:13px}
td.stackname .where{display:block;font-family:sans-serif;font-size:11px;color:#57606a}
.ok{color:#116329}.bad{color:#b42318;font-weight:600}.warn{color:#9a6700}
.reason{display:block;color:#b42318;font-size:12px}
.none{color:#8c959f}
ul.changes{margin:2px 0 0 16px;padding:0;font-size:12px}
details{border:1px solid #d0d7de;border-radius:6px;margin:6px 0;padding:4px 8px}
details summary{cursor:pointer;font-family:monospace}
details table{margin-top:6px;font-size:12px}
table.timeline col.t{width:14%}
table.timeline col.run{width:16%}
table.timeline col.op{width:10%}
table.timeline col.what{width:20%}
table.timeline col.msg{width:40%}
.legend{font-size:12px;color:#57606a;margin:6px 0}
.legend span{display:inline-block;width:14px;height:12px;vertical-align:middle;margin:0 3px 0 10px;border:1px solid #d0d7de}
*,*::before,*::after{animation:none!important;transition:none!important}
`;

/** The board as one HTML page. */
export function renderBoard(d: BoardData): string {
  const secrets = d.secrets ?? [];
  const t = (s: string): string => escapeHtml(redact(s, secrets));
  const limit = d.timelineLimit ?? 200;
  const rows = new Map(d.stacks.map((r) => [r.stack, r]));

  const groups: Array<{ name: string; rows: StackStatusRow[] }> = [];
  const placed = new Set<string>();
  for (const w of d.waves) {
    const inWave = w.stacks.filter((s) => rows.has(s)).map((s) => rows.get(s)!);
    inWave.forEach((r) => placed.add(r.stack));
    if (inWave.length) groups.push({ name: w.name, rows: inWave });
  }
  const loose = d.stacks.filter((r) => !placed.has(r.stack));
  if (loose.length) groups.push({ name: "(no wave)", rows: loose });

  // The roll-up: how many stand at each phase.
  const counts = new Map<string, number>();
  for (const r of d.stacks) {
    const k = r.applied !== undefined ? `phase ${r.applied}` : r.exists ? "no phase" : "no stack";
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const gateFailures = d.stacks.map((r) => ({ r, e: openGateFailure(d.audit, r.stack) })).filter((x): x is { r: StackStatusRow; e: AuditEntry } => x.e !== undefined);
  const locked = d.stacks.filter((r) => r.lock);
  const order = [...[0, 1, 2, 3, 4, 5, 6].map((p) => `phase ${p}`), "no phase", "no stack"];
  const chips = order.filter((k) => counts.has(k)).map((k) => `<span class="chip">${counts.get(k)} at ${t(k)}</span>`);
  if (gateFailures.length) chips.push(`<span class="chip bad">${gateFailures.length} gate failure(s)</span>`);
  if (locked.length) chips.push(`<span class="chip warn">${locked.length} locked</span>`);

  const phaseHeads = PHASES.slice(0, PHASE_COUNT)
    .map((p) => `<th class="phase" scope="col">${p.phase}<small>${t(p.title)}</small></th>`)
    .join("");

  const gridRows = groups
    .map((g) => {
      const head = `<tr class="wave"><th colspan="${PHASE_COUNT + 3}" scope="rowgroup">wave ${t(g.name)} <span class="meta">(${g.rows.length} stack${g.rows.length === 1 ? "" : "s"})</span></th></tr>`;
      return head + g.rows.map((r) => gridRow(r, d.audit, t)).join("");
    })
    .join("\n");

  const gateSection = gateFailures.length
    ? `<ul>${gateFailures.map(({ r, e }) => `<li><b class="stack">${t(r.stack)}</b>: phase ${e.phase ?? "?"} gate ${t(e.result)}, ${t(when(e.time))} by ${t(e.operator)}<span class="reason">${t(e.message ?? "no reason recorded")}</span>${refusedChanges(e, t)}</li>`).join("")}</ul>`
    : `<p class="none">No open gate failure.</p>`;
  const lockSection = locked.length ? `<ul>${locked.map((r) => `<li><b class="stack">${t(r.stack)}</b>: ${t(r.lock!)}</li>`).join("")}</ul>` : `<p class="none">No lock held.</p>`;

  const timelines = groups
    .flatMap((g) => g.rows)
    .map((r) => {
      const mine = d.audit.filter((e) => e.stack === r.stack || (e.action === "run-start" && e.stacks?.includes(r.stack)));
      const shown = mine.slice(-limit).reverse();
      const last = lastOf(d.audit, r.stack);
      const body = shown.length
        ? `<table class="timeline"><colgroup><col class="t"><col class="run"><col class="op"><col class="what"><col class="msg"></colgroup><thead><tr><th>time</th><th>run</th><th>operator</th><th>what</th><th>message</th></tr></thead><tbody>${shown
            .map((e) => `<tr><td>${t(when(e.time))}</td><td>${t(e.runId)}</td><td>${t(e.operator)}</td><td class="${resultClass(e.result)}">${t(describeEntry(e))}${e.durationMs !== undefined ? ` <span class="meta">${t(duration(e.durationMs))}</span>` : ""}</td><td>${t(e.message ?? "")}</td></tr>`)
            .join("")}</tbody></table>${mine.length > shown.length ? `<p class="meta">${mine.length - shown.length} older entr${mine.length - shown.length === 1 ? "y" : "ies"} not shown.</p>` : ""}`
        : `<p class="none">No audit entries.</p>`;
      return `<details id="timeline-${t(r.stack)}"><summary>${t(r.stack)} — ${mine.length} entr${mine.length === 1 ? "y" : "ies"}${last ? `, last: <span class="${resultClass(last.result)}">${t(describeEntry(last))}</span>` : ""}</summary>${body}</details>`;
    })
    .join("\n");

  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>unchain fleet board</title>
<style>${CSS}</style>
</head>
<body>
<h1>unchain fleet board</h1>
<div class="meta">Generated ${t(d.generatedAt)} · ${d.stacks.length} stack${d.stacks.length === 1 ? "" : "s"} · ${t(d.backend)}</div>
${d.paused ? `<div class="banner paused" id="pause"><b>Paused</b>: ${t(d.paused)}</div>` : `<div class="banner running" id="pause">Not paused: advance may start new stacks.</div>`}
<div class="summary">${chips.join("")}</div>
<h2>Clusters by wave</h2>
<div class="legend">Legend:<span style="background:#2563eb"></span>applied<span style="background:#dbeafe"></span>passed<span style="outline:2px dashed #2563eb;outline-offset:-3px"></span>target<span style="background:#fde68a"></span>half-way back<span style="background:#fecaca"></span>gate failed</div>
<table class="grid" id="grid">
<colgroup><col class="stack">${'<col class="phase">'.repeat(PHASE_COUNT)}<col class="last"><col class="lock"></colgroup>
<thead><tr><th scope="col">stack</th>${phaseHeads}<th scope="col">last run</th><th scope="col">lock</th></tr></thead>
<tbody>
${gridRows}
</tbody>
</table>
<h2>Gate failures</h2>
${gateSection}
<h2>Locks</h2>
${lockSection}
<h2>Audit timeline</h2>
${timelines || `<p class="none">No stacks selected.</p>`}
</body>
</html>
`;
}

function refusedChanges(e: AuditEntry, t: (s: string) => string): string {
  const refused = (e.gated ?? []).filter((c) => !c.allowed);
  if (!refused.length) return "";
  const shown = refused.slice(0, 10);
  return `<ul class="changes">${shown.map((c) => `<li>${t(c.op)} ${t(c.type)} ${t(c.name)}${c.properties.length ? `: ${t(c.properties.join(", "))}` : ""}</li>`).join("")}${refused.length > shown.length ? `<li>… ${refused.length - shown.length} more</li>` : ""}</ul>`;
}

function gridRow(r: StackStatusRow, audit: AuditEntry[], t: (s: string) => string): string {
  const gate = openGateFailure(audit, r.stack);
  const cells: string[] = [];
  for (let p = 0; p < PHASE_COUNT; p++) {
    const cls = ["cell"];
    let mark = "";
    let title = "";
    if (r.applied !== undefined && p < r.applied) cls.push("done");
    if (r.applied === p) {
      cls.push("applied");
      mark = "●";
      title = "applied";
    }
    if (r.goingBack && p === r.goingBack.from - 1) {
      cls.push("back");
      mark = `↩${r.goingBack.stage}`;
      title = describeSafely(r);
    }
    if (gate && gate.phase === p) {
      cls.push("gatefail");
      mark = "✕";
      title = "gate failed";
    }
    if (r.target !== undefined && r.target === p && r.applied !== p) cls.push("target");
    cells.push(`<td class="${cls.join(" ")}" data-phase="${p}"${title ? ` title="${t(title)}"` : ""}>${mark}</td>`);
  }
  const where =
    r.applied !== undefined ? `applied ${r.applied}${r.goingBack ? ` (${describeSafely(r)})` : ""}` : r.exists ? "stack exists, no phase applied" : "no stack";
  const fileNote = r.inFile !== undefined && r.inFile !== r.applied ? `; file says ${r.inFile}` : "";
  const targetNote = r.target !== undefined && r.target !== r.applied ? `; target ${r.target}` : "";
  const last = lastOf(audit, r.stack);
  const lastCell = last
    ? `<span class="${resultClass(last.result)}">${t(describeEntry(last))}</span> <span class="meta">${t(when(last.time))} by ${t(last.operator)}${last.durationMs !== undefined ? `, ${t(duration(last.durationMs))}` : ""}</span>${gate ? `<span class="reason">gate: ${t(gate.message ?? "no reason recorded")}</span>` : last.result !== "ok" && last.message ? `<span class="reason">${t(last.message)}</span>` : ""}`
    : `<span class="none">nothing ran yet</span>`;
  return `<tr class="stack" data-stack="${t(r.stack)}"><td class="stackname"><a href="#timeline-${t(r.stack)}">${t(r.stack)}</a><span class="where">${t(where + fileNote + targetNote)}</span></td>${cells.join("")}<td>${lastCell}</td><td>${r.lock ? `<span class="warn">${t(r.lock)}</span>` : ""}</td></tr>`;
}

function describeSafely(r: StackStatusRow): string {
  if (!r.goingBack) return "";
  try {
    return describeStage(r.goingBack);
  } catch {
    return `going back from ${r.goingBack.from}, step ${r.goingBack.stage}`;
  }
}
