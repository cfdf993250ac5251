/**
 * `unchain review`: what a change to stack files or the wave plan will do, per cluster, for a pull
 * request. For each touched stack: the phase it moves to, the offline plan's resource and property
 * diff, the invariant verdicts and — where credentials and a backend are at hand — the real preview
 * of that phase through the driver, with the preview gate's verdict.
 *
 * The Markdown is built for a GitHub comment: a hidden marker so a bot edits the same comment, a
 * summary table first, one section per stack (each with its own marker) with the detail folded, and
 * trimmed to fit 65,536 characters while keeping every stack's summary line. Nothing secret is
 * printed: the text is scrubbed of every secret the process can know of.
 */
import { fitToLimit, GITHUB_COMMENT_LIMIT } from "../plan/fit";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { listStacks, loadStack } from "../../config/load";
import { UserError } from "../../config/problems";
import { loadWaves } from "../../config/waves";
import { describeViolation } from "../../steps/invariants";
import { describeReverse } from "../../steps/reverse";
import { drainedBefore, isPhaseNumber, LAST_PHASE, PhaseNumber, PHASES } from "../../steps/phases";
import { StackResult } from "../driver/events";
import { changeLines } from "../plan/report";
import { planStack, StackPlan, StepPlan } from "../plan/plan";

export const COMMENT_MARKER = "<!-- unchain-review -->";
export { GITHUB_COMMENT_LIMIT } from "../plan/fit";

export interface StackReview {
  stack: string;
  wave?: string;
  /** The phase the stack stands at before the change (the base ref's file, else its file now). */
  from: PhaseNumber;
  /** The phase it moves to. */
  to: PhaseNumber;
  why: string;
  plan: StackPlan;
  counts: { create: number; update: number; delete: number; replace: number };
  gate: "pass" | "fail";
  invariants: "ok" | "broken" | "config error";
  live?: { status: StackResult["status"]; summary: string };
  /** A lowered phase: what going back means (steps/reverse.ts). Never a pass. */
  rollback?: string;
}

export interface Review {
  stacks: StackReview[];
  ok: boolean;
}

function git(dir: string, args: string[]): string {
  try {
    return execFileSync("git", args, { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    const err = (e as { stderr?: string }).stderr?.trim().split("\n")[0] ?? (e as Error).message;
    throw new UserError(`git ${args.join(" ")}: ${err}`);
  }
}

function phaseAt(dir: string, ref: string, stack: string): PhaseNumber | undefined {
  let text: string;
  try {
    text = execFileSync("git", ["show", `${ref}:./Pulumi.${stack}.yaml`], { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return undefined; // a new stack
  }
  const v = ((parse(text) as { config?: Record<string, unknown> } | null)?.config ?? {})["unchain:phase"];
  const n = typeof v === "string" ? Number(v) : v;
  return isPhaseNumber(n) ? n : undefined;
}

/** Stacks a change touches: its stack file; a change to the wave plan, the project file or the program touches them all. */
export function touchedStacks(dir: string, ref: string): { stacks: string[]; why: Map<string, string> } {
  const files = git(dir, ["diff", "--name-only", ref, "--", "."]).split("\n").filter(Boolean);
  const known = listStacks(dir);
  const why = new Map<string, string>();
  const prefix = git(dir, ["rev-parse", "--show-prefix"]).trim();
  for (const f of files.map((x) => (prefix && x.startsWith(prefix) ? x.slice(prefix.length) : x))) {
    const m = /^Pulumi\.(.+)\.ya?ml$/.exec(f);
    if (m && known.includes(m[1])) why.set(m[1], `${f} changed`);
    // The program and what it is built from: its code, the libraries it loads (a provider upgrade in
    // package.json or the lockfile changes what every stack's resources read back), its compiler settings.
    else if (["waves.yaml", "Pulumi.yaml", "index.ts", "package.json", "package-lock.json", "tsconfig.json"].includes(f) || /^(components|steps|config|live)\//.test(f))
      for (const s of known) if (!why.has(s)) why.set(s, `${f} changed`);
  }
  return { stacks: known.filter((s) => why.has(s)), why };
}

export interface ReviewOptions {
  stacks: string[];
  why?: Map<string, string>;
  /** Base ref: the phase each stack moves from. */
  base?: string;
  /** A real preview per stack (needs credentials and a backend). */
  live?: (stack: string, phase: PhaseNumber) => Promise<StackResult>;
}

export async function buildReview(dir: string, opts: ReviewOptions): Promise<Review> {
  const known = listStacks(dir);
  const waves = loadWaves(dir, known, known) ?? [];
  const out: StackReview[] = [];
  for (const stack of opts.stacks) {
    const src = loadStack(dir, stack);
    const now = isPhaseNumber(src.raw.phase) ? src.raw.phase : 0;
    const before = opts.base ? phaseAt(dir, opts.base, stack) : undefined;
    if (before !== undefined && before > now) {
      // Going back: unchain runs no phase backwards, and the program refuses an earlier phase than the applied one.
      const plan = await planStack(dir, stack, { from: now, to: now });
      out.push({
        stack,
        ...(waves.find((w) => w.stacks.includes(stack)) ? { wave: waves.find((w) => w.stacks.includes(stack))!.name } : {}),
        from: before as PhaseNumber,
        to: now,
        why: opts.why?.get(stack) ?? `phase ${before} → ${now}: going back`,
        plan,
        counts: { create: 0, update: 0, delete: 0, replace: 0 },
        gate: "fail",
        invariants: plan.problems.length ? "config error" : plan.violations.length ? "broken" : "ok",
        rollback: describeReverse(before as PhaseNumber, now),
      });
      continue;
    }
    const moved = before !== undefined && before !== now;
    const from: PhaseNumber = moved ? (Math.min(before, now) as PhaseNumber) : now;
    const to: PhaseNumber = moved ? now : (Math.min(now + 1, LAST_PHASE) as PhaseNumber);
    const plan = await planStack(dir, stack, { from, to });
    const counts = { create: 0, update: 0, delete: 0, replace: 0 };
    for (const st of plan.steps) for (const k of Object.keys(counts) as Array<keyof typeof counts>) counts[k] += st.counts[k];
    const review: StackReview = {
      stack,
      ...(waves.find((w) => w.stacks.includes(stack)) ? { wave: waves.find((w) => w.stacks.includes(stack))!.name } : {}),
      from,
      to,
      why: opts.why?.get(stack) ?? (moved ? `phase ${before} → ${now}` : "selected"),
      plan,
      counts,
      gate: plan.steps.every((s) => s.gate === "pass") && plan.ok ? "pass" : "fail",
      invariants: plan.problems.length ? "config error" : plan.violations.length ? "broken" : "ok",
    };
    if (opts.live && plan.ok) {
      const r = await opts.live(stack, to);
      review.live = { status: r.status, summary: r.error ?? (r.changes ? `${r.changes.create} to create, ${r.changes.update} to update, ${r.changes.replace} to replace, ${r.changes.delete} to delete; gate passed` : r.status) };
    }
    out.push(review);
  }
  return { stacks: out, ok: out.every((s) => s.gate === "pass" && (!s.live || s.live.status === "previewed" || s.live.status === "skipped")) };
}

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

function summaryRow(s: StackReview): string {
  const phase = s.from === s.to ? `${s.to}` : `${s.from} → ${s.to}`;
  const gate = s.rollback ? "⛔ going back" : s.invariants === "config error" ? "⛔ config error" : s.invariants === "broken" ? "⛔ refused (invariant)" : s.gate === "pass" ? "✅ pass" : "⛔ fail";
  const live = s.live ? (s.live.status === "previewed" ? "✅ previewed" : s.live.status === "skipped" ? "➖ skipped" : `⛔ ${s.live.status}`) : "–";
  return `| ${cell(s.stack)} | ${cell(s.wave ?? "")} | ${phase} | ${s.counts.create} | ${s.counts.update} | ${s.counts.delete} | ${s.counts.replace} | ${gate} | ${live} |`;
}

function detail(s: StackReview): string[] {
  const lines: string[] = [];
  lines.push(`Why reviewed: ${s.why}. ${s.plan.file}${s.plan.cluster ? `, cluster ${s.plan.cluster} (${s.plan.region})` : ""}.`, "");
  if (s.plan.problems.length) {
    lines.push("**Config problems** — nothing can run until they are fixed:", "");
    for (const p of s.plan.problems) lines.push(`- \`${p.key}\`: ${p.message}. Fix: ${p.fix}`);
    lines.push("");
  }
  if (s.plan.violations.length) {
    lines.push("**Refused: the plan breaks the safety invariants** — `pulumi up` would stop before changing anything:", "");
    for (const v of s.plan.violations) lines.push(`- ${describeViolation(v)}`);
    lines.push("");
  }
  if (s.rollback)
    lines.push(
      `**Going back: phase ${s.from} → ${s.to}.** Merging this does not take the cluster back: the program refuses to run phase ${s.to} on a stack at ${s.from} (a \`pulumi up\` by hand too), because running phase ${s.to} would not undo phase ${s.from}. Going back is its own walk, each step gated and drained: \`unchain advance -s ${s.stack} --to ${s.to} --rollback --drain --yes\` takes it and moves \`unchain:phase\` itself, so this change should be reverted. The steps, and their risks:`,
      "",
      "```",
      s.rollback,
      "```",
      "",
    );
  if (s.live) lines.push(`**Live preview** (pulumi preview through the driver): ${s.live.status} — ${s.live.summary}`, "");
  for (const st of s.plan.steps) {
    lines.push(`**Step ${st.from} → ${st.to} (${st.title})**: ${st.summary} — gate ${st.gate === "pass" ? "pass" : "**FAIL**"}`, "");
    for (const w of stepWarnings(st)) lines.push(`- ${w}`);
    if (stepWarnings(st).length) lines.push("");
    lines.push("```diff");
    if (st.error) lines.push(`! program refused: ${st.error}`);
    if (!st.changes.length && !st.error) lines.push("  no changes");
    for (const c of st.changes) lines.push(...changeLines(c, c.inputs, ""));
    lines.push("```", "");
  }
  if (!s.rollback && s.gate === "pass" && s.to > s.from) lines.push(`Next, once merged: \`unchain advance -s ${s.stack} --to ${s.to} --yes\`${s.plan.steps.some((st) => drainedBefore(PHASES[st.to]).length) ? " (add `--drain`, or drain first with `unchain drain`)" : ""}.`, "");
  return lines;
}

/** What a step does that cannot be taken back lightly: node groups it removes, pools it drains, nodes it adds. */
export function stepWarnings(st: StepPlan): string[] {
  const out: string[] = [];
  const pools = st.changes.filter((c) => c.kind === "nodePool");
  const removed = pools.filter((c) => c.op === "delete" || c.op === "replace");
  const created = pools.filter((c) => c.op === "create");
  const nodes = (cs: typeof pools) => cs.reduce((n, c) => n + (c.desiredNodes ?? 0), 0);
  for (const role of drainedBefore(PHASES[st.to])) out.push(`⚠️ **drains** the ${role} pools first (Eviction API, PDBs respected): every workload pod there moves`);
  const n = (k: number) => `${k} node${k === 1 ? "" : "s"}`;
  if (removed.length) out.push(`⚠️ **removes ${removed.length} node group${removed.length === 1 ? "" : "s"}, ${n(nodes(removed))}** (${removed.map((c) => c.name).join(", ")}, desired sizes)`);
  if (created.length) out.push(`adds ${created.length} node group${created.length === 1 ? "" : "s"}, ${n(nodes(created))} (desired sizes)`);
  if (st.changes.some((c) => c.kind === "ciliumRelease" && c.op === "delete")) out.push("⚠️ **uninstalls** a Cilium release (its CRDs stay)");
  return out;
}

function section(s: StackReview, body: string[] | undefined): string {
  const state = s.rollback ? "going back" : s.invariants !== "ok" ? s.invariants : s.gate === "pass" ? "ok" : "gate fails";
  return [
    `<!-- unchain-review:stack=${s.stack} -->`,
    `<details${s.gate === "pass" ? "" : " open"}><summary><b>${s.stack}</b> — phase ${s.from === s.to ? s.to : `${s.from} → ${s.to}`} — ${state}</summary>`,
    "",
    ...(body ?? [`_Detail trimmed to fit a GitHub comment. Run \`unchain plan -s ${s.stack} --from ${s.from} --to ${s.to}\`, or see the review artifact of this workflow run._`, ""]),
    "</details>",
    `<!-- /unchain-review:stack=${s.stack} -->`,
    "",
  ].join("\n");
}

/** Every secret this process could know of, never to be printed. */
export function knownSecrets(env: NodeJS.ProcessEnv = process.env, dir?: string): string[] {
  const out: string[] = [];
  for (const k of ["PULUMI_CONFIG_PASSPHRASE", "PULUMI_ACCESS_TOKEN", "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]) if (env[k]) out.push(env[k]!);
  if (env.PULUMI_CONFIG_PASSPHRASE_FILE) {
    try {
      out.push(fs.readFileSync(env.PULUMI_CONFIG_PASSPHRASE_FILE, "utf8").trim());
    } catch {
      /* unreadable: the driver reports it */
    }
  }
  for (const file of (env.KUBECONFIG ?? "").split(path.delimiter).filter(Boolean)) {
    try {
      const kc = parse(fs.readFileSync(file, "utf8")) as { users?: Array<{ user?: { token?: string; password?: string } }> };
      for (const u of kc.users ?? []) for (const v of [u.user?.token, u.user?.password]) if (v) out.push(v);
    } catch {
      /* not ours to judge */
    }
  }
  // Pulumi secrets in stack files: their ciphertexts (what they decrypt to never reaches this process).
  if (dir)
    for (const s of listStacks(dir)) {
      const text = fs.readFileSync(path.join(dir, `Pulumi.${s}.yaml`), "utf8");
      for (const m of text.matchAll(/secure:\s*([A-Za-z0-9+/=:]+)/g)) out.push(m[1]);
    }
  return out.filter((x) => x.length >= 4);
}

export function redact(text: string, secrets: string[]): string {
  let out = text;
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) out = out.split(s).join("[secret]");
  return out;
}

/** Where a review was computed: the commit and the CI run (GitHub Actions' environment), when known. */
export interface ReviewContext {
  commit?: string;
  runUrl?: string;
}

export function reviewContext(env: NodeJS.ProcessEnv = process.env): ReviewContext {
  const run = env.GITHUB_SERVER_URL && env.GITHUB_REPOSITORY && env.GITHUB_RUN_ID ? `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}` : undefined;
  return { ...(env.GITHUB_SHA ? { commit: env.GITHUB_SHA } : {}), ...(run ? { runUrl: run } : {}) };
}

/** The summary table: stacks that need a look first, one row each; passing stacks one row per step. */
function summaryRows(stacks: StackReview[]): string[] {
  const attention = stacks.filter((s) => s.gate !== "pass" || (s.live && s.live.status !== "previewed" && s.live.status !== "skipped"));
  const passing = stacks.filter((s) => !attention.includes(s));
  const groups = new Map<string, StackReview[]>();
  for (const s of passing) groups.set(`${s.from}→${s.to}`, [...(groups.get(`${s.from}→${s.to}`) ?? []), s]);
  const rows = attention.map(summaryRow);
  for (const [, g] of groups) {
    if (g.length === 1) {
      rows.push(summaryRow(g[0]));
      continue;
    }
    const sum = (k: keyof StackReview["counts"]) => g.reduce((n, s) => n + s.counts[k], 0);
    const names = g.map((s) => s.stack);
    const waves = [...new Set(g.map((s) => s.wave).filter(Boolean))].join(", ");
    const phase = g[0].from === g[0].to ? `${g[0].to}` : `${g[0].from} → ${g[0].to}`;
    const live = g.every((s) => s.live) ? "✅ previewed" : "–";
    rows.push(`| ${g.length} stacks: ${cell(names.join(", "))} | ${cell(waves)} | ${phase} | ${sum("create")} | ${sum("update")} | ${sum("delete")} | ${sum("replace")} | ✅ pass | ${live} |`);
  }
  return rows;
}

export function renderReview(review: Review, opts: { limit?: number; secrets?: string[]; context?: ReviewContext } = {}): string {
  const limit = opts.limit ?? GITHUB_COMMENT_LIMIT;
  const bad = review.stacks.filter((s) => s.gate !== "pass").length;
  const ctx = opts.context ?? {};
  const where = [ctx.commit ? `commit ${ctx.commit.slice(0, 12)}` : "", ctx.runUrl ? `[the run](${ctx.runUrl}) (its artifact \`unchain-review\` holds the full review)` : ""].filter(Boolean).join(", ");
  const liveOff = review.stacks.length && !review.stacks.some((s) => s.live) ? " Live previews are off: `unchain review --live` runs them, with cloud credentials and the backend (the workflow does when `AWS_ROLE_ARN` is set)." : "";
  const head = [
    COMMENT_MARKER,
    "## unchain review",
    "",
    review.stacks.length === 0
      ? "This change touches no stack."
      : `${review.stacks.length} stack${review.stacks.length === 1 ? "" : "s"} touched; ${bad ? `**${bad} would be stopped**` : "every plan passes its gates and the invariants"}. Plans are evaluated offline with Pulumi mocks${review.stacks.some((s) => s.live) ? "; live previews ran through the driver" : ""}.${liveOff}${where ? ` Computed for ${where}.` : ""}`,
    "",
    "| stack | wave | phase | create | update | delete | replace | gate | live preview |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...summaryRows(review.stacks),
    "",
  ].join("\n");
  const bodies = new Map(review.stacks.map((s) => [s.stack, detail(s)]));
  // Too long for a comment: fold away the longest details first; every summary line stays.
  const build = (folded: ReadonlySet<string>) => {
    const note = folded.size ? `> The detail of ${folded.size} stack${folded.size === 1 ? "" : "s"} was trimmed to fit a GitHub comment; the full review is in the workflow's artifact.\n` : "";
    return redact([head, note, ...review.stacks.map((s) => section(s, folded.has(s.stack) ? undefined : bodies.get(s.stack)))].join("\n"), opts.secrets ?? []);
  };
  return fitToLimit(build, [...bodies].map(([k, b]) => [k, b.join("\n").length] as const), limit);
}

export function reviewJson(review: Review, markdown: string, secrets: string[]): string {
  const data = {
    ok: review.ok,
    stacks: review.stacks.map((s) => ({ stack: s.stack, wave: s.wave, from: s.from, to: s.to, why: s.why, counts: s.counts, gate: s.gate, invariants: s.invariants, live: s.live, plan: s.plan })),
    markdown,
  };
  return redact(JSON.stringify(data, null, 2), secrets);
}
