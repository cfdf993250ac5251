/**
 * How a plan reads: a summary line per stack and step first, then what each step creates, updates,
 * deletes or replaces, property by property, in the words of the domain (taints, affinity, values).
 */
import { show } from "../../live/readback";
import { ENGINE_SIDE_PROPERTIES } from "../../steps/classify";
import { describeViolation } from "../../steps/invariants";
import { ResourceChange } from "./diff";
import { fitToLimit, GITHUB_COMMENT_LIMIT } from "./fit";
import { FleetPlan, StackPlan } from "./plan";

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

interface Requirement {
  key: string;
  operator: string;
  values?: string[];
}

function fmtRequirement(r: Requirement): string {
  return r.values ? `${r.key} ${r.operator} [${r.values.join(", ")}]` : `${r.key} ${r.operator}`;
}

/** Values rendered for people: taints as key=value:EFFECT, node affinity as its requirements. */
export function fmtValue(v: unknown): string {
  if (isObj(v) && typeof v.key === "string" && typeof v.effect === "string") return `${v.key}${v.value ? `=${String(v.value)}` : ""}:${v.effect}`;
  if (isObj(v) && isObj(v.nodeAffinity)) {
    const terms = ((v.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution as Obj | undefined)?.nodeSelectorTerms ?? []) as Array<{ matchExpressions?: Requirement[] }>;
    return terms.map((t) => (t.matchExpressions ?? []).map(fmtRequirement).join(" ∧ ")).join(" ∨ ") || "(any node)";
  }
  if (isObj(v) && v.nodeSelectorTerms) return fmtValue({ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: v } });
  if (Array.isArray(v) && v.every((x) => typeof x !== "object")) return v.join(", ");
  const s = JSON.stringify(v);
  return s === undefined ? "∅" : s.length > 140 ? `${s.slice(0, 137)}...` : s;
}

const SYMBOL: Record<string, string> = { create: "+", import: "=", update: "~", delete: "-", replace: "+-" };

/** What a created resource will be, in a line. */
function describeCreate(c: ResourceChange, inputs: Obj | undefined): string {
  if (!inputs) return "";
  switch (c.kind) {
    case "nodePool": {
      const taints = ((inputs.taints ?? []) as unknown[]).map(fmtValue).join(", ") || "none";
      const labels = Object.entries((inputs.labels ?? {}) as Obj).map(([k, v]) => `${k}=${String(v)}`).join(", ");
      const sc = (inputs.scalingConfig ?? {}) as Obj;
      return `labels ${labels}; taints ${taints}; ${((inputs.instanceTypes ?? []) as string[]).join("/")} × ${String(sc.desiredSize)} (${String(sc.minSize)}-${String(sc.maxSize)})`;
    }
    case "ciliumRelease": {
      const values = (inputs.values ?? {}) as Obj;
      const watcher = ((values.operator as Obj | undefined)?.unmanagedPodWatcher as Obj | undefined)?.restart;
      return `chart cilium ${String(inputs.version)}, ${c.release === "eni" ? "ipam eni" : "chained on aws-cni"}; agent on ${fmtValue(values.affinity)}; envoy on ${fmtValue((values.envoy as Obj | undefined)?.affinity)}; unmanaged-pod watcher ${watcher ? "on" : "off"}`;
    }
    case "vpcCniAddon": {
      let cv: Obj = {};
      try {
        cv = JSON.parse(String(inputs.configurationValues ?? "{}")) as Obj;
      } catch {
        /* shown raw below */
      }
      return `vpc-cni ${String(inputs.addonVersion)}; aws-node on ${cv.affinity ? fmtValue(cv.affinity) : "every node (default affinity)"}`;
    }
    default:
      return "";
  }
}

export function changeLines(c: ResourceChange, inputs: Obj | undefined, indent: string): string[] {
  const label = `${c.kind}${c.role ? ` ${c.role}` : ""}${c.release ? ` ${c.release}` : ""}`;
  const lines = [`${indent}${SYMBOL[c.op] ?? "?"} ${c.op.padEnd(7)} ${c.name}  (${label}, ${c.type})${c.allowed ? "" : "  ✗ NOT ALLOWED"}`];
  if (!c.allowed && c.reason) lines.push(`${indent}    ✗ ${c.reason}`);
  if (c.op === "create" || c.op === "import") {
    const d = describeCreate(c, inputs);
    if (d) lines.push(`${indent}    ${d}`);
  }
  if (c.replacedBy.length) lines.push(`${indent}    replaced because ${c.replacedBy.join(", ")} cannot change in place`);
  // Settings that exist only on Pulumi's side (how the provider upgrades) change nothing that runs: one line.
  const engineSide = ENGINE_SIDE_PROPERTIES[c.kind] ?? [];
  const isEngineSide = (path: string) => engineSide.includes(path.split(/[.[]/)[0]);
  for (const p of c.properties.filter((x) => !isEngineSide(x.path))) {
    const text = p.kind === "add" ? `+ ${fmtValue(p.after)}` : p.kind === "delete" ? `- ${fmtValue(p.before)}` : `${fmtValue(p.before)} → ${fmtValue(p.after)}`;
    lines.push(`${indent}    ${p.path}: ${text}`);
  }
  const pulumiSide = c.properties.filter((x) => isEngineSide(x.path));
  if (pulumiSide.length) lines.push(`${indent}    (Pulumi's own settings, nothing that runs: ${pulumiSide.map((p) => `${p.path} ${p.kind === "delete" ? "unset" : fmtValue(p.after)}`).join(", ")})`);
  return lines;
}

function importCount(s: StackPlan): number {
  return s.imports ? s.imports.mismatches.length + s.imports.problems.length : 0;
}

function stackStatus(s: StackPlan): string {
  if (s.problems.length) return `config: ${s.problems.length} problem(s)`;
  if (s.reverse?.blocked) return `going back ${s.reverse.from}→${s.reverse.to}: ${s.reverse.blocked} cannot be undone`;
  if (s.violations.length) return `REFUSED: ${s.violations.length} invariant(s) broken`;
  if (importCount(s)) return `IMPORT MISMATCH: ${importCount(s)} difference(s) from what runs`;
  return "ok";
}

/** What the import check found, line by line: resource, property, declared, live, and the fix. */
export function importLines(s: StackPlan, indent: string): string[] {
  const out: string[] = [];
  for (const n of s.notes) out.push(`${indent}note: ${n}`);
  if (s.reverse)
    out.push(
      ...s.reverse.text.split("\n").map((l) => `${indent}${l}`),
      s.reverse.blocked
        ? `${indent}No run takes this walk: ${s.reverse.blocked} cannot be undone (see "Going back" in the README).`
        : `${indent}${s.reverse.stages} pulumi up${s.reverse.stages === 1 ? "" : "s"}, each gated: unchain advance -s ${s.stack} --to ${s.reverse.to} --rollback --drain --yes takes them (see "Going back" in the README).`,
    );
  if (!s.imports) return out;
  for (const m of s.imports.mismatches) {
    out.push(`${indent}✗ import ${m.resource} (${m.importId}): ${m.message}`);
    out.push(`${indent}    fix: make the stack file say what runs${m.live !== undefined ? ` (${m.property}: ${show(m.live)})` : ""}, or run unchain adopt -s ${s.stack} --write`);
  }
  for (const p of s.imports.problems) out.push(`${indent}✗ ${p}`);
  return out;
}

function importsColumn(s: StackPlan): string {
  if (s.sandbox) return "–";
  if (!s.imports) return "unchecked";
  return importCount(s) ? `MISMATCH (${importCount(s)})` : `ok (${s.imports.checked})`;
}

interface Row {
  stack: string;
  wave: string;
  at: string;
  step: string;
  create: string;
  update: string;
  delete: string;
  replace: string;
  gate: string;
  invariants: string;
  imports: string;
}

function rows(plan: FleetPlan): Row[] {
  const out: Row[] = [];
  for (const s of plan.stacks) {
    const base = { stack: s.stack, wave: s.wave ?? "", at: s.currentPhase === undefined ? "?" : String(s.currentPhase), imports: s.problems.length ? "not checked" : importsColumn(s) };
    const inv = s.problems.length ? "not checked" : s.violations.length ? `BROKEN (${s.violations.map((v) => v.invariant).join(",")})` : "ok";
    if (s.problems.length || (s.violations.length && !s.reverse)) {
      out.push({ ...base, step: "-", create: "", update: "", delete: "", replace: "", gate: s.problems.length ? "CONFIG ERROR" : "refused", invariants: inv });
      continue;
    }
    if (s.reverse) {
      out.push({ ...base, step: `${s.reverse.from}→${s.reverse.to}`, create: "", update: "", delete: "", replace: "", gate: "GOING BACK", invariants: inv });
      continue;
    }
    if (s.steps.length === 0) out.push({ ...base, step: "done", create: "", update: "", delete: "", replace: "", gate: "", invariants: inv });
    for (const st of s.steps)
      out.push({ ...base, step: `${st.from}→${st.to}`, create: String(st.counts.create), update: String(st.counts.update), delete: String(st.counts.delete), replace: String(st.counts.replace), gate: st.gate === "pass" ? "pass" : "FAIL", invariants: inv });
  }
  return out;
}

const HEADERS: Record<keyof Row, string> = { stack: "STACK", wave: "WAVE", at: "AT", step: "STEP", create: "CREATE", update: "UPDATE", delete: "DELETE", replace: "REPLACE", gate: "GATE", invariants: "INVARIANTS", imports: "IMPORTS" };

/**
 * The fleet in a few lines, before any table: where the stacks stand, how many steps the plan has
 * and how many pass, and which fail.
 */
export function rollup(plan: FleetPlan): string[] {
  const n = plan.stacks.length;
  const at = new Map<string, number>();
  for (const s of plan.stacks) {
    const k = s.currentPhase === undefined ? "unknown" : String(s.currentPhase);
    at.set(k, (at.get(k) ?? 0) + 1);
  }
  const where = [...at].sort(([a], [b]) => a.localeCompare(b)).map(([k, c]) => (k === "unknown" ? `${c} unreadable` : `${c} at phase ${k}`));
  const steps = plan.stacks.flatMap((s) => s.steps.map((st) => ({ stack: s.stack, st })));
  const failing = steps.filter((x) => x.st.gate !== "pass");
  const config = plan.stacks.filter((s) => s.problems.length).map((s) => s.stack);
  const broken = plan.stacks.filter((s) => !s.problems.length && s.violations.length).map((s) => s.stack);
  const imports = plan.stacks.filter((s) => importCount(s)).map((s) => s.stack);
  const back = plan.stacks.filter((s) => s.reverse).length;
  const list = (xs: string[]) => `${xs.slice(0, 5).join(", ")}${xs.length > 5 ? `, … (${xs.length})` : ""}`;
  const lines = [`${n} stack${n === 1 ? "" : "s"}: ${where.join(", ")}; ${steps.length} step${steps.length === 1 ? "" : "s"}, ${failing.length ? `${steps.length - failing.length} pass, ${failing.length} FAIL (${list(failing.map((x) => `${x.stack} ${x.st.from}→${x.st.to}`))})` : "all pass"}${back ? `; ${back} going back` : ""}.`];
  if (config.length) lines.push(`Config problems: ${list(config)}.`);
  if (broken.length) lines.push(`Invariants broken: ${list(broken)}.`);
  if (imports.length) lines.push(`Imports that would fail: ${list(imports)}.`);
  return lines;
}

const ANSI = { green: "\x1b[32m", red: "\x1b[31m", yellow: "\x1b[33m", cyan: "\x1b[36m", bold: "\x1b[1m", reset: "\x1b[0m" };

/** `+` green, `-` red, `~` yellow, `+-` and failures red: for a terminal that wants colour. */
export function colorize(text: string): string {
  const opColor: Record<string, string> = { "+": ANSI.green, "=": ANSI.cyan, "~": ANSI.yellow, "-": ANSI.red, "+-": ANSI.red };
  return text
    .split("\n")
    .map((l) => {
      const m = /^(\s*)(\+-|\+|=|~|-) (create |import |update |delete |replace)(.*)$/.exec(l);
      if (m) return `${m[1]}${opColor[m[2]]}${m[2]} ${m[3]}${ANSI.reset}${m[4].replace("✗ NOT ALLOWED", `${ANSI.red}${ANSI.bold}✗ NOT ALLOWED${ANSI.reset}`)}`;
      return l.replace(/\b(FAIL|REFUSED|BROKEN|MISMATCH|CONFIG ERROR)\b/g, `${ANSI.red}${ANSI.bold}$1${ANSI.reset}`).replace(/^(\s*)(✗ .*)$/, `$1${ANSI.red}$2${ANSI.reset}`);
    })
    .join("\n");
}

/** Whether to colour output for this stream: a terminal, and NO_COLOR unset (no-color.org); FORCE_COLOR forces it. */
export function wantsColor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "0") return true;
  return stream.isTTY === true && env.TERM !== "dumb";
}

export function renderTable(plan: FleetPlan, opts: { details: boolean; color?: boolean }): string {
  const text = renderTablePlain(plan, opts);
  return opts.color ? colorize(text) : text;
}

function renderTablePlain(plan: FleetPlan, opts: { details: boolean }): string {
  const r = rows(plan);
  const cols = Object.keys(HEADERS) as Array<keyof Row>;
  const width = Object.fromEntries(cols.map((c) => [c, Math.max(HEADERS[c].length, ...r.map((x) => x[c].length))])) as Record<keyof Row, number>;
  const line = (x: Record<keyof Row, string>) => cols.map((c) => x[c].padEnd(width[c])).join("  ").trimEnd();
  const out: string[] = [...rollup(plan), "", line(HEADERS), ...r.map(line), ""];
  for (const s of plan.stacks) {
    const failing = !s.ok;
    if (!opts.details && !failing) continue;
    out.push(`── ${s.stack}${s.cluster ? ` (cluster ${s.cluster}, ${s.region}${s.sandbox ? ", sandbox" : ""})` : ""} ${s.file} — at phase ${s.currentPhase ?? "?"} — ${stackStatus(s)}`);
    for (const p of s.problems) out.push(`  - ${p.file && p.file !== s.file ? `${p.file}: ` : ""}${p.key}: ${p.message}`, `    fix: ${p.fix}`);
    for (const v of s.violations) out.push(`  - ${describeViolation(v)}`);
    out.push(...importLines(s, "  "));
    for (const st of s.steps) {
      if (!opts.details && st.gate === "pass") continue;
      out.push(`  step ${st.from}→${st.to} (${st.title}): ${st.summary}`);
      if (st.error) out.push(`    program refused: ${st.error}`);
      if (st.changes.length === 0 && !st.error) out.push("    no changes");
      for (const c of st.changes) out.push(...changeLines(c, c.inputs, "    "));
      if (st.unprotected.length) out.push(`    protection lifted (the next phase removes them): ${st.unprotected.join(", ")}`);
    }
    out.push("");
  }
  const ok = plan.stacks.filter((s) => s.ok).length;
  out.push(`${plan.stacks.length} stack(s): ${ok} ok, ${plan.stacks.length - ok} with problems. Evaluated offline with Pulumi mocks in ${(plan.durationMs / 1000).toFixed(1)} s; no cloud was called.`);
  return out.join("\n");
}

/**
 * The plan for a pull request: the roll-up and the table, then each stack's detail in a folded
 * section; trimmed to fit a GitHub comment (the largest passing details folded away first, then the
 * largest of any), with a note and the command that shows the rest.
 */
export function renderMarkdown(plan: FleetPlan, limit = GITHUB_COMMENT_LIMIT): string {
  const r = rows(plan);
  const cols = Object.keys(HEADERS) as Array<keyof Row>;
  const head = [
    "## unchain plan",
    "",
    ...rollup(plan),
    "",
    `| ${cols.map((c) => HEADERS[c]).join(" | ")} |`,
    `| ${cols.map(() => "---").join(" | ")} |`,
    ...r.map((x) => `| ${cols.map((c) => x[c].replace(/\|/g, "\\|")).join(" | ")} |`),
    "",
  ];
  const detail = (s: StackPlan): string[] => {
    const out: string[] = [];
    for (const p of s.problems) out.push(`${p.key}: ${p.message}`, `  fix: ${p.fix}`);
    for (const v of s.violations) out.push(describeViolation(v));
    out.push(...importLines(s, ""));
    for (const st of s.steps) {
      out.push(`step ${st.from}→${st.to} (${st.title}): ${st.summary}`);
      if (st.error) out.push(`  program refused: ${st.error}`);
      for (const c of st.changes) out.push(...changeLines(c, c.inputs, "  "));
      if (st.unprotected.length) out.push(`  protection lifted (the next phase removes them): ${st.unprotected.join(", ")}`);
    }
    return out;
  };
  const bodies = new Map(plan.stacks.map((s) => [s.stack, detail(s)]));
  const section = (s: StackPlan, folded: boolean): string[] => [
    `<details${s.ok ? "" : " open"}><summary><b>${s.stack}</b> — phase ${s.currentPhase ?? "?"} — ${stackStatus(s)}</summary>`,
    "",
    ...(folded ? [`_Detail trimmed to fit a GitHub comment: \`unchain plan -s ${s.stack}${s.steps[0] ? ` --from ${s.steps[0].from}` : ""}\` shows it._`] : ["```", ...bodies.get(s.stack)!, "```"]),
    "",
    "</details>",
    "",
  ];
  const build = (folded: ReadonlySet<string>) =>
    [...head, ...(folded.size ? [`> The detail of ${folded.size} stack${folded.size === 1 ? "" : "s"} was trimmed to fit a GitHub comment (${limit.toLocaleString("en")} characters).`, ""] : []), ...plan.stacks.flatMap((s) => section(s, folded.has(s.stack)))].join("\n");
  // Passing stacks fold first, the largest first; failing ones only if that is not enough.
  const sizes = plan.stacks.map((s) => [s.stack, bodies.get(s.stack)!.join("\n").length * (s.ok ? 1000 : 1)] as const);
  return fitToLimit(build, sizes, limit);
}
