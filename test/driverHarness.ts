/**
 * A throwaway unchain project for the driver's integration tests: the real Pulumi.yaml, stack files
 * of small sandbox clusters, a wave plan, and a local file backend inside it. The driver runs as a
 * user runs it — `bin/unchain.js` in a child process — with the simulated-cloud test program.
 */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import type { AuditEntry } from "../automation/driver/audit";
import * as os from "node:os";
import * as path from "node:path";
import { stringify } from "yaml";
import { PROJECT } from "./helpers";
import type { LedgerLine } from "./fixtures/simProgram";

export const BIN = path.join(PROJECT, "bin", "unchain.js");
export const SIM_PROGRAM = path.join(PROJECT, "dist", "test", "fixtures", "simProgram.js");
export const PASSPHRASE = "correct horse battery staple";

let pulumiBinary: string | undefined;
/** The pulumi CLI, from scripts/ensure-pulumi.sh: on PATH, or built once into the cache. */
export function ensurePulumi(): string {
  if (!pulumiBinary) {
    pulumiBinary = execFileSync(path.join(PROJECT, "scripts", "ensure-pulumi.sh"), { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], timeout: 40 * 60_000 }).trim();
  }
  return pulumiBinary;
}

export interface WaveSpec {
  name: string;
  stacks: string[];
  concurrency?: number;
  onFailure?: "stop" | "finish-running";
}

export interface SimProject {
  dir: string;
  ledger: string;
  stacks: string[];
}

function stackFile(stack: string, phase: number, kubeContext?: string): string {
  const config = {
    "unchain:sandbox": true,
    "unchain:phase": phase,
    "unchain:minSchedulableNodesPerAz": 1,
    "unchain:cluster": { name: stack, region: "eu-west-1", availabilityZones: [{ name: "eu-west-1a" }, { name: "eu-west-1b" }], ...(kubeContext ? { kubeContext } : {}) },
    "unchain:chainedPools": [{ name: "general", instanceTypes: ["t3.large"], size: { min: 2, desired: 2, max: 3 } }],
    "unchain:awsPools": [{ name: "general", instanceTypes: ["t3.large"], sizePerAz: { min: 1, desired: 1, max: 2 } }],
    "unchain:ciliumPools": [{ name: "general", instanceTypes: ["t3.large"], sizePerAz: { min: 1, desired: 1, max: 2 } }],
  };
  return `# ${stack}: a simulated cluster for the driver's tests\n${stringify({ config })}`;
}

export function simProject(waves: WaveSpec[], opts: { phase?: number; kubeContext?: string } = {}): SimProject {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-driver-"));
  fs.copyFileSync(path.join(PROJECT, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
  const stacks = waves.flatMap((w) => w.stacks);
  for (const s of stacks) fs.writeFileSync(path.join(dir, `Pulumi.${s}.yaml`), stackFile(s, opts.phase ?? 0, opts.kubeContext));
  fs.writeFileSync(path.join(dir, "waves.yaml"), stringify({ waves: waves.map((w) => ({ concurrency: 1, onFailure: "stop", ...w })) }));
  return { dir, ledger: path.join(dir, "ledger.jsonl"), stacks };
}

export interface SimEnv {
  latencyMs?: number;
  fail?: string[];
  replace?: string[];
  drop?: string[];
  drift?: string[];
  resize?: string[];
  /** Run the health gates against this kubeconfig (otherwise --skip-health-gates). */
  kubeconfig?: string;
  extra?: Record<string, string>;
}

export function driverEnv(p: SimProject, sim: SimEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    UNCHAIN_PULUMI: ensurePulumi(),
    PULUMI_CONFIG_PASSPHRASE: PASSPHRASE,
    PULUMI_HOME: path.join(p.dir, ".pulumi-home"),
    PULUMI_SKIP_UPDATE_CHECK: "true",
    UNCHAIN_OPERATOR: "test-operator",
    UNCHAIN_SIM_LEDGER: p.ledger,
    UNCHAIN_SIM_LATENCY_MS: String(sim.latencyMs ?? 0),
    UNCHAIN_SIM_FAIL: (sim.fail ?? []).join(","),
    UNCHAIN_SIM_REPLACE: (sim.replace ?? []).join(","),
    UNCHAIN_SIM_DROP: (sim.drop ?? []).join(","),
    UNCHAIN_SIM_DRIFT: (sim.drift ?? []).join(","),
    UNCHAIN_SIM_RESIZE: (sim.resize ?? []).join(","),
    CI: "1",
    ...sim.extra,
  };
  delete env.PULUMI_BACKEND_URL;
  return env;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** `unchain <args>` in the project, with the test program for commands that run stacks. */
export function startDriver(p: SimProject, args: string[], sim: SimEnv = {}): { child: ChildProcess; done: Promise<RunResult> } {
  const needsProgram = ["advance", "preview"].includes(args[0]);
  const health = args[0] !== "advance" ? [] : sim.kubeconfig ? ["--kubeconfig", sim.kubeconfig] : ["--skip-health-gates"];
  const child = spawn(process.execPath, [BIN, ...args, ...health, "-C", p.dir, ...(needsProgram ? ["--program", SIM_PROGRAM] : [])], { env: driverEnv(p, sim), stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<RunResult>((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

export function runDriverCli(p: SimProject, args: string[], sim: SimEnv = {}): Promise<RunResult> {
  return startDriver(p, args, sim).done;
}

export function ledger(p: SimProject): LedgerLine[] {
  if (!fs.existsSync(p.ledger)) return [];
  return fs
    .readFileSync(p.ledger, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as LedgerLine);
}

/** The phases the provider applied to a stack, in order (from the phase marker's creates and updates). */
export function appliedSequence(p: SimProject, stack: string): number[] {
  return ledger(p)
    .filter((l) => l.stack === stack && l.kind === "marker" && l.op !== "delete")
    .map((l) => l.phase!);
}

/** The JSON-lines summary that `--json` ends with. */
export interface JsonSummary {
  type: "summary";
  exitCode: number;
  results: Array<{ stack: string; status: string; reached?: number; phase?: number; error?: string; phasesApplied: number[] }>;
}

export function summaryOf(r: RunResult): JsonSummary {
  const line = r.stdout
    .trim()
    .split("\n")
    .reverse()
    .find((l) => l.startsWith("{") && l.includes('"type":"summary"'));
  if (!line) throw new Error(`no summary in the driver's output (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(line) as JsonSummary;
}

export function appliedPhaseInBackend(p: SimProject, stack: string): number | undefined {
  const file = path.join(p.dir, ".pulumi", "stacks", "unchain", `${stack}.json`);
  if (!fs.existsSync(file)) return undefined;
  const cp = JSON.parse(fs.readFileSync(file, "utf8")) as { checkpoint: { latest?: { resources?: Array<{ type: string; outputs?: { appliedPhase?: number } }> } } };
  return cp.checkpoint.latest?.resources?.find((r) => r.type === "pulumi:pulumi:Stack")?.outputs?.appliedPhase;
}

/** Every process below pid (the driver's pulumi CLIs and the provider plugins they start). */
export function descendants(pid: number): Array<{ pid: number; command: string }> {
  let out = "";
  try {
    out = execFileSync("ps", ["-e", "-o", "pid=,ppid=,args="], { encoding: "utf8" });
  } catch {
    return [];
  }
  const children = new Map<number, Array<{ pid: number; command: string }>>();
  for (const line of out.trim().split("\n")) {
    const m = /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const parent = Number(m[2]);
    children.set(parent, [...(children.get(parent) ?? []), { pid: Number(m[1]), command: m[3] }]);
  }
  const found: Array<{ pid: number; command: string }> = [];
  const walk = (x: number) => (children.get(x) ?? []).forEach((c) => (found.push(c), walk(c.pid)));
  walk(pid);
  return found;
}

/** Is this one of the pulumi CLI processes (not a plugin)? */
export const isPulumiCli = (p: { command: string }) => /(^|\/)pulumi (up|preview|refresh|stack|config|cancel|version)\b/.test(p.command);

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function waitUntil(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The audit trail of a file backend's driver folder (`<dir>/audit.jsonl`), as `unchain status` reads it. */
export function auditEntries(dir: string): AuditEntry[] {
  let text = "";
  try {
    text = fs.readFileSync(path.join(dir, "audit.jsonl"), "utf8");
  } catch {
    return [];
  }
  return text.split("\n").flatMap((l) => {
    try {
      return l.trim() ? [JSON.parse(l) as AuditEntry] : [];
    } catch {
      return [];
    }
  });
}

/**
 * After the driver was killed: the CLIs it started fail on their own once their program is gone
 * (leaving Pulumi's lock behind); their dynamic-provider plugins linger, idle: clean them up.
 */
export async function reap(children: Array<{ pid: number; command: string }>): Promise<void> {
  await waitUntil(() => children.filter(isPulumiCli).every((c) => !alive(c.pid)), 120_000, "the killed driver's pulumi processes to exit");
  for (const c of children) if (alive(c.pid)) process.kill(c.pid, "SIGKILL");
}

/**
 * `unchain <args>` with UNCHAIN_FAILPOINT=<failpoint>: the driver kills itself with SIGKILL there
 * (automation/driver/failpoint.ts). Watches the processes it starts while it runs, and cleans up
 * after it as after any kill. The result's signal is SIGKILL when the failpoint was reached.
 */
export async function runToFailpoint(p: SimProject, args: string[], failpoint: string, sim: SimEnv = {}): Promise<RunResult> {
  const run = startDriver(p, args, { ...sim, extra: { ...sim.extra, UNCHAIN_FAILPOINT: failpoint } });
  const seen = new Map<number, { pid: number; command: string }>();
  const watch = setInterval(() => descendants(run.child.pid!).forEach((c) => seen.set(c.pid, c)), 100);
  const r = await run.done.finally(() => clearInterval(watch));
  await reap([...seen.values()]);
  return r;
}

export interface ChaosResult {
  /** The last run, which went to the end (unless every round was killed or failed). */
  last?: RunResult;
  /** When each killed run was killed, in ms after it started. */
  kills: number[];
  /** How to replay it: the seed of the kill times. */
  context: string;
}

/**
 * Runs `unchain <args>` again and again, killing the first `killRounds` runs (driver and all) with
 * SIGKILL at random times between `minDelayMs` and `minDelayMs + spreadMs`, as a crash or an
 * impatient operator would, then lets the runs go to the end; stops at the first run that exits 0.
 * UNCHAIN_TEST_SEED replays the kill times.
 */
export async function killAndResume(p: SimProject, args: string[], opts: { sim?: SimEnv; killRounds: number; maxRounds: number; minDelayMs: number; spreadMs: number }): Promise<ChaosResult> {
  const firstSeed = Number(process.env.UNCHAIN_TEST_SEED ?? Date.now() % 100000);
  let seed = firstSeed;
  const random = () => ((seed = (seed * 48271) % 2147483647) / 2147483647);
  const kills: number[] = [];
  let last: RunResult | undefined;
  for (let round = 0; round < opts.maxRounds; round++) {
    // After a kill, the killed update's Pulumi lock is this machine's and its process is gone: the next run clears it unasked.
    const run = startDriver(p, args, opts.sim);
    if (round < opts.killRounds) {
      const delay = opts.minDelayMs + Math.floor(random() * opts.spreadMs);
      const early = await Promise.race([run.done, new Promise<undefined>((r) => setTimeout(() => r(undefined), delay))]);
      if (early) {
        last = early;
        if (early.code === 0) break;
        continue;
      }
      const children = descendants(run.child.pid!);
      run.child.kill("SIGKILL");
      kills.push(delay);
      await run.done;
      await reap(children);
      continue;
    }
    last = await run.done;
    if (last.code === 0) break;
  }
  return { ...(last ? { last } : {}), kills, context: `UNCHAIN_TEST_SEED=${firstSeed} replays the kill times (${kills.join(", ")} ms; what they hit depends on timing too)` };
}
