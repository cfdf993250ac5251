/**
 * The `unchain` command. Exit codes: EXIT_CODES below, the one table (the README's and `--help`'s).
 * With --json every command's output, and a preflight error, is a JSON document with schemaVersion
 * and command (README: Machine output).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import yargs from "yargs";
import { listStacks } from "../config/load";
import { ConfigError, EnvironmentError, UserError } from "../config/problems";
import { findProjectDir } from "../config/project";
import { closest } from "../config/validate";
import { projectWaves } from "../config/waves";
import { desiredState } from "../steps/desired";
import { isPhaseNumber, PhaseNumber } from "../steps/phases";
import { planFleet } from "./plan/plan";
import { renderMarkdown, renderTable, wantsColor } from "./plan/report";
import { driverEnvironment, operatorName } from "./driver/environment";
import { checkedConfig } from "./driver/runner";
import { appliedPhases } from "./driver/stacks";
import { drainRole, uncordonRole } from "./health/drain";
import { subnetCheckFor } from "./health/subnets";
import { KubeAccess, kubeConfigFor, runHealthGate } from "./health/gate";
import { OutputMode, SCHEMA_VERSION } from "./driver/progress";
import { livePreviewer, renderStatus, runDriver, stackStatus } from "./driver/run";
import { buildReview, knownSecrets, redact, renderReview, reviewContext, reviewJson, touchedStacks } from "./review/review";
import type { AdoptRequest, AdoptResult } from "./adopt";
import { loadStack } from "../config/load";
import { parse as parseYaml } from "yaml";
import { describePause, pauseState, setPause } from "./driver/waves";
import { storesOf } from "./driver/store";
import { renderBoard } from "./board/board";
import { gatherBoard } from "./board/gather";
import { SNAPSHOT_DIR } from "../live/snapshot";

/** Output of a command: scrubbed, as a review is, of every secret the process knows (the environment's, the stack files' ciphertexts). */
function print(dir: string, text: string): void {
  process.stdout.write(redact(text, knownSecrets(process.env, dir)) + "\n");
}

class UsageError extends Error {}

/** The exit codes, in the README's table and the `--help` epilogue (a test holds the three together). */
export const EXIT_CODES: ReadonlyArray<readonly [number, string]> = [
  [0, "ok"],
  [1, "a plan, gate, invariant or health check failed, or a stack was refused"],
  [2, "usage: bad flags, arguments or selection, or a config file to fix"],
  [3, "stopped before the target: the pause switch, or a wave stopped"],
  [4, "locked: another run or a Pulumi lock holds a stack"],
  [5, "environment: passphrase, pulumi CLI, backend, kube context or AWS credentials"],
  [70, "a bug in unchain: please report it with the output"],
];
export const EXIT = { ok: 0, failed: 1, usage: 2, stopped: 3, locked: 4, environment: 5, internal: 70 } as const;

/** A command's JSON document: schemaVersion and command first, then its own fields. */
function jsonDoc(command: string, body: object): string {
  return JSON.stringify({ schemaVersion: SCHEMA_VERSION, command, ...body }, null, 2);
}

type ErrorKind = "usage" | "config" | "environment" | "internal";

/** How a thrown error ends the run: its kind and exit code; undefined for a bug (not the user's to fix). */
function classify(e: unknown): { kind: ErrorKind; exitCode: number } | undefined {
  if (e instanceof UsageError) return { kind: "usage", exitCode: EXIT.usage };
  if (e instanceof EnvironmentError) return { kind: "environment", exitCode: EXIT.environment };
  if (e instanceof ConfigError) return { kind: "config", exitCode: EXIT.usage };
  if (e instanceof UserError) return { kind: "usage", exitCode: EXIT.usage };
  return undefined;
}

const COMMANDS = ["plan", "adopt", "status", "preview", "advance", "check", "drain", "review", "pause", "unpause"];

/** What the command line asked for, read before (or without) yargs: for an error that ends the run early. */
function invocation(argv: string[]): { command: string; json: boolean } {
  const command = argv.find((a) => COMMANDS.includes(a)) ?? "unchain";
  const i = argv.findIndex((a) => a === "--format" || a.startsWith("--format="));
  const formatJson = i >= 0 && (argv[i] === "--format=json" || argv[i + 1] === "json");
  return { command, json: formatJson || argv.some((a) => a === "--json" || a === "--json=true") };
}

/** `review --json <file>`, the old form: --json is a switch now. */
function legacyJsonPath(argv: string[]): string | undefined {
  if (!argv.includes("review")) return undefined;
  const next = argv[argv.indexOf("--json") + 1];
  return argv.includes("--json") && next !== undefined && !next.startsWith("-") && next !== "true" && next !== "false" ? next : undefined;
}

/** The cluster, region and credentials a stack file names, to read its cluster again. */
function requestFromStack(dir: string, stack: string): AdoptRequest {
  const src = loadStack(dir, stack);
  const cluster = src.raw.cluster as { name?: unknown; region?: unknown; kubeContext?: unknown } | undefined;
  if (typeof cluster?.name !== "string" || typeof cluster.region !== "string") throw new UserError(`stack ${stack}: Pulumi.${stack}.yaml names no cluster (unchain:cluster.name and .region); adopt it with --cluster and --region`);
  const roles = Array.isArray(src.aws.assumeRoles) ? (src.aws.assumeRoles as Array<{ roleArn?: unknown }>) : [];
  const role = roles[roles.length - 1]?.roleArn;
  return {
    stack,
    cluster: cluster.name,
    region: cluster.region,
    ...(typeof src.aws.profile === "string" ? { profile: src.aws.profile } : {}),
    ...(typeof role === "string" ? { roleArn: role } : {}),
    ...(typeof cluster.kubeContext === "string" ? { context: cluster.kubeContext } : {}),
  };
}

function adoptableStack(dir: string, stack: string): boolean {
  const raw = loadStack(dir, stack).raw;
  return raw.sandbox !== true && typeof (raw.cluster as { name?: unknown } | undefined)?.name === "string";
}

/** `--clusters <file>`: [{ cluster, region, stack?, profile?, roleArn?, context? }]. */
function clusterList(file: string): AdoptRequest[] {
  let list: unknown;
  try {
    list = parseYaml(fs.readFileSync(file, "utf8"), { maxAliasCount: 100 });
  } catch (e) {
    throw new UserError(`--clusters ${file}: ${(e as Error).message.split("\n")[0]}`);
  }
  if (!Array.isArray(list)) throw new UserError(`--clusters ${file}: must be a YAML list of { cluster, region, stack?, profile?, roleArn?, context? }`);
  return list.map((x, i) => {
    const o = (x ?? {}) as Record<string, unknown>;
    for (const key of Object.keys(o)) if (!["cluster", "region", "stack", "profile", "roleArn", "context"].includes(key)) throw new UserError(`--clusters ${file}: item ${i}: unknown key ${key} (known: cluster, region, stack, profile, roleArn, context)`);
    if (typeof o.cluster !== "string" || typeof o.region !== "string") throw new UserError(`--clusters ${file}: item ${i} needs cluster and region`);
    return {
      stack: typeof o.stack === "string" ? o.stack : o.cluster,
      cluster: o.cluster,
      region: o.region,
      ...(typeof o.profile === "string" ? { profile: o.profile } : {}),
      ...(typeof o.roleArn === "string" ? { roleArn: o.roleArn } : {}),
      ...(typeof o.context === "string" ? { context: o.context } : {}),
    };
  });
}

/** Adopts each request, `concurrency` at a time; a failure of one (unreachable, refused) is its result, not the run's end. */
async function runAdopts(dir: string, requests: AdoptRequest[], opts: { write: boolean; dryRun: boolean; concurrency: number }): Promise<AdoptResult[]> {
  // Loaded on use: the AWS SDK's clients take a third of a second to load, which no other command needs.
  const { adoptStack } = require("./adopt") as typeof import("./adopt");
  const out: AdoptResult[] = new Array<AdoptResult>(requests.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(opts.concurrency, requests.length) }, async () => {
      for (let i = next++; i < requests.length; i = next++) {
        const req = requests[i];
        try {
          out[i] = await adoptStack(dir, req, opts);
        } catch (e) {
          if (!(e instanceof UserError)) throw e;
          out[i] = { stack: req.stack, ok: false, lines: [`${req.stack}: ${e.message}`, "  nothing was written"], written: [], drift: [] };
        }
      }
    }),
  );
  return out;
}

/** The version in package.json (dist/automation/cli.js → ../../package.json). */
function packageVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

/** Every option name the CLI knows, for "did you mean" on an unknown one. */
const KNOWN_OPTIONS = ["stack", "all", "from", "to", "format", "details", "wave", "concurrency", "json", "yes", "phase", "before", "kubeconfig", "context", "role", "force", "delete-emptydir-data", "skip-subnet-check", "undo", "nodes-at-once", "timeout", "drain", "drain-timeout", "skip-health-gates", "rollback", "cancel-stale-locks", "out-of-order", "reason", "cluster", "region", "profile", "role-arn", "clusters", "operator-role-arn", "write", "dry-run", "changed-since", "live", "json-out", "help", "version", "cwd"];

/** yargs' "Unknown argument: stak" with the nearest known option. */
function withSuggestion(msg: string): string {
  const m = /^Unknown arguments?: (.+)$/.exec(msg);
  if (!m) return msg;
  const hints = m[1].split(", ").flatMap((u) => {
    const near = closest(u, KNOWN_OPTIONS);
    return near ? [`--${u}: did you mean --${near}?`] : [];
  });
  return hints.length ? `${msg} (${hints.join("; ")})` : msg;
}

/** -s a,b as two stacks; -s with no name is a mistake, not "no stacks". */
function stackList(v: string[] | string | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  const out = (Array.isArray(v) ? v : [v]).flatMap((x) => String(x).split(",")).map((x) => x.trim());
  if (!out.length || out.some((x) => x === "")) throw new UsageError("--stack needs a stack name (several: -s a -s b, or -s a,b)");
  return out;
}

/** No such stack, with the nearest one's name. */
function unknownStack(s: string, dir: string, known: string[]): string {
  const near = closest(s, known);
  return `no stack "${s}" in ${dir} (no Pulumi.${s}.yaml).${near ? ` Did you mean ${near}?` : ""} Stacks: ${known.join(", ")}`;
}

/** The project directory: Pulumi.yaml in --cwd (else the current directory) or the nearest parent, as pulumi finds it; else a UserError suggesting -C. */
function projectDir(cwd: string | undefined): string {
  return cwd !== undefined ? findProjectDir(cwd, true) : findProjectDir(process.cwd());
}

function outputMode(json: boolean | undefined): OutputMode {
  if (json) return "json";
  // A terminal of no known height (some CI pseudo-terminals) cannot hold a redrawn block.
  return process.stdout.isTTY && (process.stdout.rows ?? 0) > 0 && !process.env.CI && process.env.TERM !== "dumb" ? "live" : "plain";
}

function requiredPhase(name: string, v: unknown): PhaseNumber {
  const p = phaseArg(name, v);
  if (p === undefined) throw new UsageError(`--${name} is required (a phase from 0 to 6)`);
  return p;
}

function phaseArg(name: string, v: unknown): PhaseNumber | undefined {
  if (v === undefined) return undefined;
  if (!isPhaseNumber(v)) throw new UsageError(`--${name} must be a phase from 0 to 6, got ${typeof v === "number" && Number.isNaN(v) ? `"${rawValueOf(name) ?? "?"}" (not a number)` : String(v)}`);
  return v;
}

/** What the command line said for --name (yargs turns a non-number into NaN). */
let rawArgv: string[] = [];
function rawValueOf(name: string): string | undefined {
  const i = rawArgv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return undefined;
  return rawArgv[i].includes("=") ? rawArgv[i].slice(rawArgv[i].indexOf("=") + 1) : rawArgv[i + 1];
}

/** --wave / --all / --stack, shared by preview and advance. */
function selection<T>(y: yargs.Argv<T>) {
  return y
    .option("wave", { alias: "w", type: "string", array: true, describe: "Wave(s) from waves.yaml, run in the file's order" })
    .option("all", { type: "boolean", describe: "Every wave, in order" })
    .option("stack", { alias: "s", type: "string", array: true, describe: "Only these stacks (alone: the odd cluster, in its wave's order); -s a,b works too", coerce: stackList })
    .option("concurrency", { type: "number", describe: "Stacks at once, instead of each wave's own" })
    .option("json", { type: "boolean", describe: "JSON lines (events, then a summary) instead of the progress display (README: Machine output)" })
    .option("program", { type: "string", hidden: true, describe: "A module exporting `program`, run instead of unchain's (tests)" })
    .check((a) => {
      if (!a.wave && !a.all && !a.stack) throw new UsageError("say which stacks: --wave <name>, --all or --stack <name>");
      if (a.wave && a.all) throw new UsageError("--wave and --all exclude each other");
      if (a.concurrency !== undefined && (!Number.isInteger(a.concurrency) || a.concurrency < 1)) throw new UsageError("--concurrency must be an integer >= 1");
      return true;
    });
}

/** --kubeconfig and --context, for check and drain. */
function kubeAccess(a: { kubeconfig?: string | undefined; context?: string | undefined }): KubeAccess {
  return { ...(a.kubeconfig ? { kubeconfig: a.kubeconfig } : {}), ...(a.context ? { context: a.context } : {}) };
}

/** What preview and advance share: the selection, the output mode, the program. */
function runArgs(a: { wave?: string[]; all?: boolean; stack?: string[]; concurrency?: number; json?: boolean; program?: string; cwd?: string }) {
  return {
    projectDir: projectDir(a.cwd),
    ...(a.wave ? { waves: a.wave } : {}),
    ...(a.all ? { all: true } : {}),
    ...(a.stack ? { stacks: a.stack } : {}),
    ...(a.concurrency ? { concurrency: a.concurrency } : {}),
    output: outputMode(a.json),
    ...(a.program ? { programModule: a.program } : {}),
  };
}

export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  rawArgv = argv;
  const parser = yargs(argv)
    .scriptName("unchain")
    .usage("$0 <command> [options]\n\nMoves EKS clusters from chained Cilium to Cilium ENI mode, node pool by node pool.")
    .option("cwd", { alias: "C", type: "string", describe: "Project directory (holds Pulumi.yaml and the stack files)" })
    .command(
      "plan",
      "Evaluate every phase offline (no cloud, no Pulumi CLI), diff phase to phase, check the invariants",
      (y) =>
        y
          .option("stack", { alias: "s", type: "string", array: true, describe: "Stack(s) to plan (several: -s a -s b, or -s a,b)", coerce: stackList })
          .option("all", { type: "boolean", describe: "Every stack of the project" })
          .option("from", { type: "number", describe: "First phase (default: each stack's current phase)" })
          .option("to", { type: "number", describe: "Last phase (default: 6)" })
          .option("format", { choices: ["table", "markdown", "json"] as const, default: "table" as const, describe: "table or markdown (json: deprecated, use --json)" })
          .option("json", { type: "boolean", describe: "The plan as JSON (README: Machine output)" })
          .option("details", { type: "boolean", describe: "Show every change (default: with --stack, or where a stack has problems)" })
          .check((a) => {
            if (!a.all && !a.stack) throw new UsageError("say which stacks: --stack <name> or --all");
            if (a.all && a.stack) throw new UsageError("--stack and --all exclude each other");
            if (a.json && a.format === "markdown") throw new UsageError("--json and --format markdown exclude each other");
            return true;
          })
          .example("$0 plan --all", "the whole fleet from where each stack is now")
          .example("$0 plan -s prod-eu-central-1 --from 0", "one cluster's whole walk, every change")
          .example("$0 plan --all --format markdown > plan.md", "for a pull request")
          .example("$0 plan --all --json", "machine-readable"),
      async (a) => {
        const dir = projectDir(a.cwd);
        const known = listStacks(dir);
        const from = phaseArg("from", a.from);
        const to = phaseArg("to", a.to);
        const stacks = a.all ? known : (a.stack as string[]);
        for (const s of stacks) if (!known.includes(s)) throw new UserError(unknownStack(s, dir, known));
        const { waves } = projectWaves(dir);
        const waveOf = (s: string) => waves?.find((w) => w.stacks.includes(s))?.name;
        const order = (s: string) => (waves ? waves.findIndex((w) => w.stacks.includes(s)) : 0);
        const sorted = [...stacks].sort((x, y) => order(x) - order(y) || x.localeCompare(y));
        // On a terminal, say where it is: a fleet takes seconds to evaluate.
        const progress = process.stderr.isTTY ? (done: number, total: number, stack: string) => process.stderr.write(`\r\x1b[2Kplanning ${done + 1}/${total}: ${stack}`) : undefined;
        const plan = await planFleet(dir, sorted, { ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) }, waveOf, progress);
        if (progress) process.stderr.write("\r\x1b[2K");
        // Scrubbed as a review is: a secret that reached a value (a token pasted into config) is never printed.
        if (a.format === "json") process.stderr.write("unchain: plan --format json is deprecated; use plan --json (the same document)\n");
        const text = a.json || a.format === "json" ? jsonDoc("plan", plan) : a.format === "markdown" ? renderMarkdown(plan) : renderTable(plan, { details: a.details ?? !a.all, color: wantsColor(process.stdout) });
        print(dir, text);
        exitCode = plan.ok ? 0 : 1;
      },
    )
    .command(
      "adopt",
      "Read a live cluster (AWS and Kubernetes APIs), infer its phase, and write its stack file and snapshot so that every import matches what runs; on an adopted stack, show what drifted",
      (y) =>
        y
          .option("cluster", { type: "string", describe: "EKS cluster name (a new stack)" })
          .option("region", { type: "string", describe: "Its region" })
          .option("profile", { type: "string", describe: "AWS profile for this cluster's account (written to the stack as aws:profile)" })
          .option("role-arn", { type: "string", describe: "IAM role to assume for this cluster's account (written as aws:assumeRoles)" })
          .option("stack", { alias: "s", type: "string", array: true, describe: "Stack name (default: the cluster name); alone, stacks already adopted, read again" })
          .option("all", { type: "boolean", describe: "Every stack of the project that names a cluster, read again" })
          .option("clusters", { type: "string", describe: "A YAML file listing clusters to adopt: [{ cluster, region, stack?, profile?, roleArn?, context? }]" })
          .option("kubeconfig", { type: "string", describe: "Kubeconfig file (default: KUBECONFIG, else ~/.kube/config)" })
          .option("context", { type: "string", describe: "Context (default: one named after the cluster, else the cluster's endpoint with aws eks get-token)" })
          .option("operator-role-arn", { type: "string", describe: "IAM role the cilium-operator of the ENI release uses (default: unchain creates one, trusted by the cluster's OIDC provider)" })
          .option("write", { type: "boolean", default: false, describe: "Rewrite stacks adopted before (their adopt keys and snapshot); new stacks are always written" })
          .option("dry-run", { type: "boolean", default: false, describe: "Write nothing; print what would be written" })
          .option("concurrency", { type: "number", default: 4, describe: "Clusters read at once" })
          .option("json", { type: "boolean", describe: "JSON instead of text: each cluster's result, phase, drift and files written (README: Machine output)" })
          .check((a) => {
            const forms = [a.cluster !== undefined, a.all === true, a.clusters !== undefined].filter(Boolean).length;
            if (forms > 1) throw new UsageError("use one of --cluster, --all and --clusters");
            if (forms === 0 && !a.stack) throw new UsageError("say which cluster: --cluster <name> --region <region>, -s <stack> (adopted before), --all, or --clusters <file>");
            if (a.cluster !== undefined && !a.region) throw new UsageError("--cluster needs --region");
            if (a.cluster !== undefined && a.stack && a.stack.length > 1) throw new UsageError("--cluster adopts one cluster: give at most one -s");
            if (a.write && a["dry-run"]) throw new UsageError("--write and --dry-run exclude each other");
            if (!Number.isInteger(a.concurrency) || a.concurrency < 1) throw new UsageError("--concurrency must be an integer >= 1");
            return true;
          })
          .example("$0 adopt --cluster prod-eu-west-1 --region eu-west-1 --profile prod", "write Pulumi.prod-eu-west-1.yaml and adopted/prod-eu-west-1.yaml from the live cluster")
          .example("$0 adopt -s prod-eu-west-1", "what drifted since it was adopted (changes nothing)")
          .example("$0 adopt --all --write", "read every cluster again and take each as it runs now"),
      async (a) => {
        const dir = projectDir(a.cwd);
        const common = { ...(a.kubeconfig ? { kubeconfig: a.kubeconfig } : {}), ...(a["operator-role-arn"] ? { operatorRoleArn: a["operator-role-arn"] } : {}) };
        let requests: AdoptRequest[];
        if (a.cluster !== undefined)
          requests = [
            {
              stack: a.stack?.[0] ?? a.cluster,
              cluster: a.cluster,
              region: a.region!,
              ...(a.profile ? { profile: a.profile } : {}),
              ...(a["role-arn"] ? { roleArn: a["role-arn"] } : {}),
              ...(a.context ? { context: a.context } : {}),
              ...common,
            },
          ];
        else if (a.clusters !== undefined) requests = clusterList(a.clusters).map((r) => ({ ...common, ...r }));
        else {
          const stacks = a.all ? listStacks(dir).filter((s) => adoptableStack(dir, s)) : (a.stack as string[]);
          requests = stacks.map((s) => ({ ...requestFromStack(dir, s), ...(a.profile ? { profile: a.profile } : {}), ...(a["role-arn"] ? { roleArn: a["role-arn"] } : {}), ...(a.context ? { context: a.context } : {}), ...common }));
        }
        const results = await runAdopts(dir, requests, { write: a.write, dryRun: a["dry-run"], concurrency: a.concurrency });
        exitCode = results.every((r) => r.ok) ? 0 : 1;
        if (a.json) {
          const rows = results.map((r) => ({
            stack: r.stack,
            ok: r.ok,
            ...(r.phase !== undefined ? { phase: r.phase } : {}),
            written: r.written,
            drift: r.drift,
            messages: r.lines,
            ...(r.rendered && a["dry-run"] ? { wouldWrite: { [`Pulumi.${r.stack}.yaml`]: r.rendered.stackFile, [`${SNAPSHOT_DIR}/${r.stack}.yaml`]: r.rendered.snapshot } } : {}),
          }));
          print(dir, jsonDoc("adopt", { dryRun: a["dry-run"], ok: results.filter((r) => r.ok).length, toLookAt: results.filter((r) => !r.ok).length, results: rows }));
          return;
        }
        for (const r of results) {
          process.stdout.write(r.lines.join("\n") + "\n");
          if (r.rendered && a["dry-run"]) process.stdout.write(`  --- Pulumi.${r.stack}.yaml (not written)\n${r.rendered.stackFile.replace(/^/gm, "  ")}\n`);
        }
        if (results.length > 1) process.stdout.write(`\n${results.length} cluster(s): ${results.filter((r) => r.ok).length} ok, ${results.filter((r) => !r.ok).length} to look at.\n`);
      },
    )
    .command(
      "status",
      "Every stack's applied phase (from the backend), the phase its file names, the target, the last result and any lock",
      (y) =>
        y
          .option("stack", { alias: "s", type: "string", array: true, describe: "Only these stacks" })
          .option("wave", { alias: "w", type: "string", array: true, describe: "Only the stacks of these waves" })
          .option("json", { type: "boolean", describe: "JSON instead of a table (README: Machine output)" }),
      async (a) => {
        const dir = projectDir(a.cwd);
        const { backend, stacks: rows } = await stackStatus(dir, { ...(a.stack ? { stacks: a.stack as string[] } : {}), ...(a.wave ? { waves: a.wave as string[] } : {}) });
        const pause = await pauseState(storesOf(driverEnvironment(dir, process.env, { passphrase: false, cli: false })).store);
        print(dir, a.json ? jsonDoc("status", { backend, paused: pause ?? null, stacks: rows }) : renderStatus(rows, pause ? describePause(pause) : undefined, backend));
      },
    )
    .command(
      "board",
      "Write the fleet board: one self-contained HTML page of every stack by wave against phases 0-6, the last run and its result, gate failures, locks, the pause switch and each cluster's audit timeline",
      (y) =>
        y
          .option("stack", { alias: "s", type: "string", array: true, describe: "Only these stacks", coerce: stackList })
          .option("wave", { alias: "w", type: "string", array: true, describe: "Only the stacks of these waves" })
          .option("out", { alias: "o", type: "string", describe: "The HTML file to write (default: board.html in the project)" })
          .example("$0 board", "board.html for the whole fleet")
          .example("$0 board --wave canary --out /tmp/canary.html", "one wave"),
      async (a) => {
        const dir = projectDir(a.cwd);
        const data = await gatherBoard(dir, { ...(a.stack ? { stacks: a.stack as string[] } : {}), ...(a.wave ? { waves: a.wave as string[] } : {}) });
        const out = path.resolve(a.out ?? path.join(dir, "board.html"));
        fs.writeFileSync(out, renderBoard(data));
        process.stdout.write(`wrote ${out}: ${data.stacks.length} stack(s), ${data.audit.length} audit entries${data.paused ? "; paused" : ""}\n`);
      },
    )
    .command(
      "preview",
      "Preview one phase for real (pulumi preview) on the selected stacks and hold every step against what the phase allows. Changes nothing",
      (y) =>
        selection(y)
          .option("phase", { alias: "p", type: "number", describe: "The phase to preview: each stack's next one (or its applied one, to see drift)" })
          .example("$0 preview --wave canary --phase 3", "what phase 3 would do to the canary")
          .example("$0 preview -s prod-eu-west-1 --phase 2 --json", "one stack, machine-readable"),
      async (a) => {
        exitCode = await runDriver({ ...runArgs(a), command: "preview", target: requiredPhase("phase", a.phase), apply: false, cancelStaleLocks: false, outOfOrder: true, argv });
      },
    )
    .command(
      "advance",
      "Walk the selected stacks phase by phase to --to: set config, preview, gate, up held to the previewed plan, verify. A dry run unless --yes",
      (y) =>
        selection(y)
          .option("to", { type: "number", describe: "The phase to reach" })
          .option("yes", { alias: "y", type: "boolean", default: false, describe: "Apply. Without it, each stack's next phase is only previewed and gated" })
          .option("cancel-stale-locks", { type: "boolean", default: false, describe: "Clear locks left by a killed run (Pulumi's, via pulumi cancel; the driver's from another host)" })
          .option("out-of-order", { type: "boolean", default: false, describe: "Start a wave although an earlier wave has not reached --to" })
          .option("skip-health-gates", { type: "boolean", default: false, describe: "Do not check the clusters through their API servers before and after each up" })
          .option("rollback", { type: "boolean", default: false, describe: "Go back to --to, below the applied phase, through the reverse steps (each with its drains and gates; see Going back in the README)" })
          .option("drain", { type: "boolean", default: false, describe: "Drain the pools a step empties (phases 2 and 6; the cilium or aws pools going back) through the Eviction API, instead of only checking they are empty" })
          .option("kubeconfig", { type: "string", describe: "Kubeconfig file (default: KUBECONFIG, else ~/.kube/config); each stack uses its unchain:cluster.kubeContext, else a context named after its cluster" })
          .option("nodes-at-once", { type: "number", default: 1, describe: "With --drain: nodes drained at the same time" })
          .option("skip-subnet-check", { type: "boolean", default: false, describe: "With --drain: do not count the free IP addresses of the open pools' subnets (EC2 DescribeSubnets) before evicting" })
          .option("drain-timeout", { type: "number", default: 600, describe: "With --drain: seconds a node may take to empty" })
          .example("$0 advance --wave canary --to 1", "dry run: preview and gate the canary's next phase")
          .example("$0 advance --wave canary --to 3 --yes", "take the canary to phase 3")
          .example("$0 advance --all --to 6 --yes", "every wave in order, each only after the one before is healthy")
          .example("$0 advance -s prod-eu-west-1 --to 4 --rollback --drain --yes", "take a stack at phase 5 back to 4: cilium pools closed, drained, tainted again"),
      async (a) => {
        const target = requiredPhase("to", a.to);
        const health = a["skip-health-gates"]
          ? undefined
          : { access: a.kubeconfig ? { kubeconfig: a.kubeconfig } : {}, drain: a.drain, nodesAtOnce: a["nodes-at-once"], perNodeTimeoutMs: a["drain-timeout"] * 1000, ...(a["skip-subnet-check"] ? { skipSubnetCheck: true } : {}) };
        exitCode = await runDriver({ ...runArgs(a), command: "advance", target, apply: a.yes, rollback: a.rollback, cancelStaleLocks: a["cancel-stale-locks"], outOfOrder: a["out-of-order"], ...(health ? { health } : {}), argv });
      },
    )
    .command(
      "check",
      "Run a phase's health gate against the cluster, on its own: every check, what it found, in words to act on",
      (y) =>
        y
          .option("stack", { alias: "s", type: "string", demandOption: true, describe: "The stack (cluster)" })
          .option("phase", { alias: "p", type: "number", describe: "The phase the cluster should be settled in (default: the applied one, else the one its file names)" })
          .option("before", { type: "number", describe: "Instead: the gate before this phase's up (the previous phase settled, plus its own checks)" })
          .option("kubeconfig", { type: "string", describe: "Kubeconfig file (default: KUBECONFIG, else ~/.kube/config)" })
          .option("context", { type: "string", describe: "Context (default: unchain:cluster.kubeContext, else one named after the cluster)" })
          .option("json", { type: "boolean", describe: "The gate's results as JSON (README: Machine output)" })
          .example("$0 check -s prod-eu-west-1", "is the cluster settled in its applied phase?")
          .example("$0 check -s prod-eu-west-1 --before 2", "may phase 2 start? (includes PDBs that would block the drain)"),
      async (a) => {
        const dir = projectDir(a.cwd);
        const stack = a.stack;
        const config = checkedConfig(dir, stack);
        const before = phaseArg("before", a.before);
        let phase = phaseArg("phase", a.phase);
        if (phase === undefined && before === undefined) {
          const env = driverEnvironment(dir, process.env, { passphrase: false, cli: false });
          const p = env.backendPath ? (await appliedPhases(env, [stack])).get(stack) : undefined;
          phase = p?.exists && p.applied !== undefined ? p.applied : config.phase;
        }
        const kc = kubeConfigFor(stack, config, kubeAccess(a));
        const run = before !== undefined ? await runHealthGate(kc, config, before, "before") : await runHealthGate(kc, config, phase!, "after");
        const title = before !== undefined ? `health gate before phase ${before}` : `health gate after phase ${phase}`;
        print(dir, a.json ? jsonDoc("check", { stack, gate: title, passed: run.passed, results: run.results }) : `${stack}: ${title}: ${run.passed ? "passed" : "FAILED"}\n${run.text}`);
        exitCode = run.passed ? 0 : 1;
      },
    )
    .command(
      "drain",
      "Move workloads off the pools of a role: cordon, evict through the Eviction API (PDBs respected), a node at a time. A dry run unless --yes",
      (y) =>
        y
          .option("stack", { alias: "s", type: "string", demandOption: true, describe: "The stack (cluster)" })
          .option("role", { choices: ["both", "chained", "aws", "cilium"] as const, demandOption: true, describe: "The pools to drain: both (= chained, before phase 2), aws (before phase 6), or cilium (going back from phase 5 or 4)" })
          .option("yes", { alias: "y", type: "boolean", default: false, describe: "Drain. Without it, say what would happen" })
          .option("nodes-at-once", { type: "number", default: 1, describe: "Nodes drained at the same time" })
          .option("timeout", { type: "number", default: 600, describe: "Seconds a node may take to empty" })
          .option("force", { type: "boolean", default: false, describe: "Also evict pods no controller recreates, and pods whose volume is bound to their node (as kubectl drain --force: they are lost)" })
          .option("delete-emptydir-data", { type: "boolean", default: false, describe: "Also evict pods with emptyDir volumes, whose data is deleted (as kubectl drain)" })
          .option("skip-subnet-check", { type: "boolean", default: false, describe: "Do not count the free IP addresses of the open pools' subnets (EC2 DescribeSubnets, needs ec2:DescribeSubnets) before evicting" })
          .option("undo", { type: "boolean", default: false, describe: "Uncordon the nodes of the role instead (the way back from a drain)" })
          .option("kubeconfig", { type: "string", describe: "Kubeconfig file (default: KUBECONFIG, else ~/.kube/config)" })
          .option("context", { type: "string", describe: "Context (default: unchain:cluster.kubeContext, else one named after the cluster)" })
          .option("json", { type: "boolean", describe: "What was (or would be) done, as JSON (README: Machine output)" })
          .example("$0 drain -s prod-eu-west-1 --role both", "what draining the chained pools would do")
          .example("$0 drain -s prod-eu-west-1 --role both --yes", "drain them")
          .example("$0 drain -s prod-eu-west-1 --role both --undo", "put them back in service"),
      async (a) => {
        const dir = projectDir(a.cwd);
        const config = checkedConfig(dir, a.stack);
        const kc = kubeConfigFor(a.stack, config, kubeAccess(a));
        const role = a.role === "aws" ? "aws" : a.role === "cilium" ? "cilium" : "chained";
        if (!Number.isInteger(a["nodes-at-once"]) || a["nodes-at-once"] < 1) throw new UsageError("--nodes-at-once must be an integer >= 1");
        // With --json the lines are gathered into the document instead of printed as they come.
        const lines: string[] = [];
        const say = (l: string) => (a.json ? lines.push(l) : print(dir, l));
        const base = { stack: a.stack, role, dryRun: !a.yes && !a.undo, undo: a.undo };
        if (a.undo) {
          const back = await uncordonRole(kc, role, say);
          const message = back.length ? `uncordoned ${back.length} node(s) of the ${role} pools` : `no cordoned node in the ${role} pools`;
          if (a.json) print(dir, jsonDoc("drain", { ...base, ok: true, uncordoned: back, message, lines }));
          else print(dir, message);
          return;
        }
        const r = await drainRole(kc, { role, apply: a.yes, force: a.force, deleteEmptyDirData: a["delete-emptydir-data"], subnets: subnetCheckFor(config, a["skip-subnet-check"]), nodesAtOnce: a["nodes-at-once"], perNodeTimeoutMs: a.timeout * 1000, say });
        // No node of the role where the stack's phase has pools of it: the wrong cluster, or nodes that never joined.
        const expected = desiredState(config, config.phase).pools.filter((p) => p.role === role).reduce((n, p) => n + p.size.desired, 0);
        const wrongCluster = r.ok && r.nodes.length === 0 && expected > 0 ? `but phase ${config.phase} of ${a.stack} has ${role} pools of ${expected} node(s): is this its cluster? Nothing was drained.` : undefined;
        exitCode = r.ok && !wrongCluster ? 0 : 1;
        if (a.json) {
          print(dir, jsonDoc("drain", { ...base, ok: exitCode === 0, nodes: r.nodes, drained: r.drained, ...(r.stoppedAt ? { stoppedAt: r.stoppedAt } : {}), message: wrongCluster ? `${r.message}; ${wrongCluster}` : r.message, lines }));
          return;
        }
        print(dir, r.message);
        if (wrongCluster) print(dir, wrongCluster);
      },
    )
    .command(
      "review",
      "For a pull request: per touched stack, the phase it moves to, the offline plan's diff, the invariants and (with --live) the real preview; Markdown for a comment, and JSON",
      (y) =>
        y
          .option("changed-since", { type: "string", describe: "Git ref the change is against (e.g. origin/main): review the stacks it touches" })
          .option("stacks", { alias: ["s", "stack"], type: "string", array: true, describe: "Review these stacks (default: every stack, or those --changed-since touches)" })
          .option("out", { type: "string", describe: "Write the Markdown here (default: standard output, unless --json)" })
          .option("json", { type: "boolean", describe: "The JSON form on standard output instead of the Markdown (README: Machine output)" })
          .option("json-out", { type: "string", describe: "Also write the JSON form to this file" })
          .option("live", { type: "boolean", default: false, describe: "Also preview each stack's phase for real through the driver (needs credentials, a backend, the passphrase)" })
          .option("limit", { type: "number", default: 65536, describe: "Largest Markdown, in characters (a GitHub comment holds 65,536)" })
          .option("program", { type: "string", hidden: true })
          .example("$0 review --changed-since origin/main --out review.md --json-out review.json", "what a pull request does, per cluster")
          .example("$0 review -s prod-eu-west-1 --json", "machine-readable, on standard output"),
      async (a) => {
        const dir = projectDir(a.cwd);
        const known = listStacks(dir);
        let stacks = (a.stacks as string[] | undefined) ?? known;
        let why: Map<string, string> | undefined;
        if (a["changed-since"]) {
          const t = touchedStacks(dir, a["changed-since"]);
          why = t.why;
          stacks = a.stacks ? stacks.filter((s) => t.stacks.includes(s)) : t.stacks;
        }
        for (const s of stacks) if (!known.includes(s)) throw new UsageError(`no stack "${s}" (no Pulumi.${s}.yaml in ${dir})`);
        const review = await buildReview(dir, {
          stacks,
          ...(why ? { why } : {}),
          ...(a["changed-since"] ? { base: a["changed-since"] } : {}),
          ...(a.live ? { live: livePreviewer(dir, a.program) } : {}),
        });
        const secrets = knownSecrets(process.env, dir);
        const md = renderReview(review, { limit: a.limit, secrets, context: reviewContext() });
        const json = () => jsonDoc("review", JSON.parse(reviewJson(review, md, secrets)) as object);
        if (a.out) fs.writeFileSync(a.out, md + "\n");
        else if (!a.json) process.stdout.write(md + "\n");
        if (a["json-out"]) fs.writeFileSync(a["json-out"], json() + "\n");
        if (a.json) process.stdout.write(json() + "\n");
        exitCode = review.ok ? 0 : 1;
      },
    )
    .command(
      "pause",
      "Flip the pause switch: running stacks finish the phase they are in, nothing new starts (also for runs already going)",
      (y) => y.option("reason", { type: "string", describe: "Why, for the others" }),
      async (a) => {
        const project = projectDir(a.cwd);
        const { store } = storesOf(driverEnvironment(project, process.env, { passphrase: false, cli: false }));
        // The reason is read by everyone: a token pasted into it is kept out of the switch file.
        const reason = a.reason ? redact(a.reason, knownSecrets(process.env, project)) : undefined;
        await setPause(store, { since: new Date().toISOString(), operator: operatorName(), ...(reason ? { reason } : {}) });
        process.stdout.write(`paused (${store.where}). Running stacks finish their current phase; nothing new starts until unchain unpause.\n`);
      },
    )
    .command(
      "unpause",
      "Flip the pause switch back; run advance again to go on",
      (y) => y,
      async (a) => {
        const project = projectDir(a.cwd);
        const { store } = storesOf(driverEnvironment(project, process.env, { passphrase: false, cli: false }));
        const was = await pauseState(store);
        await setPause(store, undefined);
        print(project, was ? `unpaused (${describePause(was).split(";")[0]}). Run the same advance again to go on.` : "was not paused.");
      },
    )
    .epilogue(`Exit codes:\n${EXIT_CODES.map(([c, m]) => `  ${String(c).padEnd(3)} ${m}`).join("\n")}\nWith --json, output and errors are JSON documents (README: Machine output).`)
    .demandCommand(1, "say what to do, e.g. unchain plan --all")
    .recommendCommands()
    .strict()
    .help()
    .alias("h", "help")
    .version(packageVersion())
    .wrap(Math.min(110, process.stdout.columns || 100))
    .exitProcess(false)
    .fail((msg, err) => {
      // Validation messages and our own errors are the user's to fix; anything else is a bug.
      // yargs wraps what an option's coerce throws in its own YError.
      if (err && err.name !== "YError") throw err;
      const legacy = legacyJsonPath(argv);
      if (legacy) throw new UsageError(`review --json is a switch now (the JSON on standard output); to write it to a file: --json-out ${legacy}`);
      throw new UsageError(withSuggestion(err?.message ?? msg));
    });
  try {
    await parser.parseAsync();
  } catch (e) {
    const how = classify(e);
    const asked = invocation(argv);
    // With --json, the error is a JSON document on standard output too; the words stay on standard error.
    // Scrubbed like every other output: an error may quote what a user pasted (a token in a flag).
    const message = redact(e instanceof Error ? e.message : String(e), knownSecrets(process.env));
    if (asked.json) process.stdout.write(jsonDoc(asked.command, { error: { kind: how?.kind ?? "internal", message, exitCode: how?.exitCode ?? EXIT.internal } }) + "\n");
    if (!how) throw e;
    process.stderr.write(`unchain: ${message}\n${how.kind === "usage" && e instanceof UsageError ? "Run unchain --help for usage.\n" : ""}`);
    return how.exitCode;
  }
  return exitCode;
}

