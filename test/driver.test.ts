/**
 * The driver against the real Pulumi engine: `unchain` in a child process, the pulumi CLI (built
 * from the Go module proxy when none is installed), a local file backend, and a test program whose
 * dynamic resources stand in for node groups, the add-on and the Cilium release.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { expect } from "chai";

import { driverEnvironment } from "../automation/driver/environment";
import { writePhase } from "../automation/driver/stackFile";
import { appliedPhases, openStack, phaseInFile } from "../automation/driver/stacks";
import { program as simProgram } from "./fixtures/simProgram";
import {
  alive,
  auditEntries,
  BIN,
  appliedPhaseInBackend,
  appliedSequence,
  descendants,
  killAndResume,
  driverEnv,
  ensurePulumi,
  ledger,
  PASSPHRASE,
  runDriverCli,
  RunResult,
  simProject,
  SimProject,
  startDriver,
  summaryOf,
  waitUntil,
} from "./driverHarness";

interface TimedEvent {
  time: string;
  type: string;
  stack?: string;
  wave?: string;
  result?: { stack: string; status: string };
}

function events(r: RunResult): TimedEvent[] {
  return r.stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as TimedEvent);
}

function statusOf(r: RunResult, stack: string) {
  const s = summaryOf(r).results.find((x) => x.stack === stack);
  if (!s) throw new Error(`${stack} is not in the summary`);
  return s;
}

const auditDir = (p: SimProject) => path.join(p.dir, ".unchain");
const upsOk = (p: SimProject, stack: string) =>
  auditEntries(auditDir(p))
    .filter((e) => e.stack === stack && e.action === "up" && e.result === "ok")
    .map((e) => e.phase);

describe("the driver, against the real Pulumi engine", function () {
  this.timeout(5 * 60_000);

  before(function () {
    // Builds the CLI from the Go module proxy on a machine that has none (once; minutes).
    this.timeout(45 * 60_000);
    ensurePulumi();
  });

  it("runs waves in order, the canary first, and moves a wave's stacks concurrently; each phase applied once", async () => {
    const p = simProject([
      { name: "canary", stacks: ["c1"] },
      { name: "batch", stacks: ["b1", "b2"], concurrency: 2 },
    ]);
    const r = await runDriverCli(p, ["advance", "--all", "--to", "2", "--yes", "--json"], { latencyMs: 100 });
    expect(r.code, r.stderr).to.equal(0);
    for (const s of p.stacks) {
      expect(statusOf(r, s).status).to.equal("succeeded");
      expect(appliedPhaseInBackend(p, s), s).to.equal(2);
      expect(appliedSequence(p, s), s).to.deep.equal([0, 1, 2]);
    }
    const ev = events(r);
    const at = (pred: (e: TimedEvent) => boolean) => Date.parse(ev.find(pred)!.time);
    expect(at((e) => e.type === "wave-end" && e.wave === "canary")).to.be.at.most(at((e) => e.type === "wave-start" && e.wave === "batch"));
    const span = (s: string) => [at((e) => e.type === "stack-start" && e.stack === s), at((e) => e.type === "stack-end" && e.result?.stack === s)];
    const [b1s, b1e] = span("b1");
    const [b2s, b2e] = span("b2");
    expect(b1s < b2e && b2s < b1e, "b1 and b2 ran at the same time").to.equal(true);
  });

  it("stops a replace or a delete the phase does not call for before up, and changes nothing", async () => {
    const p = simProject([{ name: "w", stacks: ["r1", "r2"], concurrency: 2, onFailure: "finish-running" }]);
    expect((await runDriverCli(p, ["advance", "--all", "--to", "0", "--yes", "--json"])).code).to.equal(0);
    const before = ledger(p).length;
    const files = p.stacks.map((s) => fs.readFileSync(path.join(p.dir, `Pulumi.${s}.yaml`), "utf8"));

    const r = await runDriverCli(p, ["advance", "--all", "--to", "1", "--yes", "--json"], { replace: ["r1:1"], drop: ["r2:1"] });
    expect(r.code).to.equal(1);
    const r1 = statusOf(r, "r1");
    expect(r1.status).to.equal("refused");
    expect(r1.phase).to.equal(1);
    expect(r1.error).to.match(/replace chained-general: phase 1 \(aws pools\) does not call for a replace of nodePool \(chained\)/);
    const r2 = statusOf(r, "r2");
    expect(r2.status).to.equal("refused");
    expect(r2.error).to.match(/delete chained-general: .*does not call for a delete of nodePool \(chained\)/);
    expect(ledger(p).length, "the provider was not called").to.equal(before);
    expect(p.stacks.map((s) => appliedPhaseInBackend(p, s))).to.deep.equal([0, 0]);
    expect(p.stacks.map((s) => fs.readFileSync(path.join(p.dir, `Pulumi.${s}.yaml`), "utf8")), "stack files put back").to.deep.equal(files);
    const gates = auditEntries(auditDir(p)).filter((e) => e.action === "gate" && e.result === "refused");
    expect(gates.map((g) => g.stack).sort()).to.deep.equal(["r1", "r2"]);
  });

  it("stops an update that touches a live setting the phase does not own, naming the resource and the property", async () => {
    const p = simProject([{ name: "w", stacks: ["o1"] }]);
    expect((await runDriverCli(p, ["advance", "--all", "--to", "4", "--yes", "--json"])).code).to.equal(0);
    const before = ledger(p).length;
    // Phase 5 owns the aws pools' taints; here their instance types change too.
    const r = await runDriverCli(p, ["advance", "--all", "--to", "5", "--yes", "--json"], { resize: ["o1:5"] });
    expect(r.code).to.equal(1);
    const o1 = statusOf(r, "o1");
    expect(o1.status).to.equal("refused");
    expect(o1.error).to.match(/update aws-general-a: phase 5 \(cilium pools open\) owns taints of this nodePool \(aws\), not instanceTypes: a live setting no phase asked to change/);
    expect(ledger(p).length, "the provider was not called").to.equal(before);
    expect(appliedPhaseInBackend(p, "o1")).to.equal(4);
    // Without the foreign change, phase 5 goes through: its taints are its own.
    const ok = await runDriverCli(p, ["advance", "--all", "--to", "5", "--yes", "--json"]);
    expect(ok.code, ok.stdout).to.equal(0);
  });

  it("holds up to the previewed plan: a change that appears only during up fails the update", async () => {
    const p = simProject([{ name: "w", stacks: ["d1"] }]);
    expect((await runDriverCli(p, ["advance", "--all", "--to", "0", "--yes"])).code).to.equal(0);
    const r = await runDriverCli(p, ["advance", "--all", "--to", "1", "--yes", "--json"], { drift: ["d1:1"] });
    expect(r.code).to.equal(1);
    const d1 = statusOf(r, "d1");
    expect(d1.status).to.equal("failed");
    expect(d1.phase).to.equal(1);
    expect(d1.error).to.match(/plan/i);
    expect(ledger(p).some((l) => l.name === "d1-surprise"), "the unplanned node group was never created").to.equal(false);
    expect(appliedPhaseInBackend(p, "d1")).to.equal(0);

    // The cause gone, the same command resumes at phase 1.
    const again = await runDriverCli(p, ["advance", "--all", "--to", "1", "--yes", "--json"]);
    expect(again.code, again.stdout).to.equal(0);
    expect(appliedSequence(p, "d1")).to.deep.equal([0, 1]);
  });

  it("stops a wave at its first failing cluster (onFailure: stop) and starts no later wave", async () => {
    const p = simProject([
      { name: "w", stacks: ["f1", "f2"], concurrency: 1, onFailure: "stop" },
      { name: "later", stacks: ["l1"] },
    ]);
    const r = await runDriverCli(p, ["advance", "--all", "--to", "1", "--yes", "--json"], { fail: ["f1:0"] });
    expect(r.code).to.equal(1);
    expect(statusOf(r, "f1")).to.include({ status: "failed", phase: 0 });
    expect(statusOf(r, "f1").error).to.contain("simulated cloud failure applying phase 0 of f1");
    for (const s of ["f2", "l1"]) expect(statusOf(r, s).status, s).to.equal("not-started");
    expect(ledger(p).filter((l) => l.stack !== "f1")).to.deep.equal([]);
    expect(appliedPhaseInBackend(p, "f1")).to.equal(undefined);
  });

  it("lets running clusters finish after a failure (onFailure: finish-running), and starts no new one", async () => {
    const p = simProject([{ name: "w", stacks: ["g1", "g2", "g3"], concurrency: 2, onFailure: "finish-running" }]);
    const r = await runDriverCli(p, ["advance", "--all", "--to", "2", "--yes", "--json"], { fail: ["g1:1"], latencyMs: 100 });
    expect(r.code).to.equal(1);
    expect(statusOf(r, "g1")).to.include({ status: "failed", phase: 1 });
    expect(statusOf(r, "g2")).to.include({ status: "succeeded", reached: 2 });
    expect(statusOf(r, "g3").status).to.equal("not-started");
    expect(appliedSequence(p, "g2")).to.deep.equal([0, 1, 2]);
  });

  it("a second run takes all of its stacks or none: refused whole while another run holds one, naming the holder, touching none", async () => {
    const p = simProject([{ name: "w", stacks: ["h1", "h2"] }]);
    const first = startDriver(p, ["advance", "-s", "h1", "--to", "1", "--yes", "--json"], { latencyMs: 1500 });
    await waitUntil(() => fs.existsSync(path.join(auditDir(p), "locks", "h1.json")), 30_000, "the first run's lock");
    const holder = JSON.parse(fs.readFileSync(path.join(auditDir(p), "locks", "h1.json"), "utf8")) as { runId: string; pid: number };
    const second = await runDriverCli(p, ["advance", "--all", "--to", "1", "--yes", "--json"]);
    expect(second.code).to.equal(4);
    const h1 = statusOf(second, "h1");
    expect(h1.status).to.equal("locked");
    expect(h1.error).to.contain(`run ${holder.runId} by test-operator (pid ${holder.pid}`);
    expect(statusOf(second, "h2")).to.deep.include({ status: "locked", error: "not started: another run holds some of this run's stacks" });
    expect(second.stdout).to.contain("this run takes all of its 2 stacks or none");
    expect(fs.existsSync(path.join(auditDir(p), "locks", "h2.json")), "h2's lock given back").to.equal(false);
    const done = await first.done;
    expect(done.code, done.stdout).to.equal(0);
    expect(appliedSequence(p, "h1")).to.deep.equal([0, 1]);
    expect(appliedSequence(p, "h2"), "the refused run touched no stack").to.deep.equal([]);
    const again = await runDriverCli(p, ["advance", "--all", "--to", "1", "--yes", "--json"]);
    expect(again.code, again.stdout).to.equal(0);
    expect(appliedSequence(p, "h2")).to.deep.equal([0, 1]);
  });

  it("a stale Pulumi lock of this machine is cleared with an audit line; one from another machine is reported and cleared only with --cancel-stale-locks", async () => {
    const p = simProject([{ name: "w", stacks: ["k1"] }]);
    const run = startDriver(p, ["advance", "--all", "--to", "0", "--yes", "--json"], { latencyMs: 4000 });
    const lockDir = path.join(p.dir, ".pulumi", "locks", "organization", "unchain", "k1");
    await waitUntil(() => fs.existsSync(lockDir) && fs.readdirSync(lockDir).some((f) => f.endsWith(".json")), 60_000, "pulumi up to take its lock");
    // A crash of the whole machine's worth: the driver, the CLI and its plugins all at once.
    const all = [run.child.pid!, ...descendants(run.child.pid!).map((c) => c.pid)];
    for (const pid of all) process.kill(pid, "SIGKILL");
    await run.done;
    await waitUntil(() => all.every((pid) => !alive(pid)), 30_000, "the killed processes to go");

    // The lock as a colleague's killed run on another machine would have left it: nothing here can tell whether it still runs.
    const [lockName] = fs.readdirSync(lockDir).filter((f) => f.endsWith(".json"));
    const lockPath = path.join(lockDir, lockName);
    const ours = fs.readFileSync(lockPath, "utf8");
    fs.writeFileSync(lockPath, JSON.stringify({ ...(JSON.parse(ours) as Record<string, unknown>), hostname: "ci-runner-7" }));
    const refused = await runDriverCli(p, ["advance", "--all", "--to", "0", "--yes", "--json"]);
    expect(refused.code).to.equal(4);
    const k1 = statusOf(refused, "k1");
    expect(k1.status).to.equal("locked");
    expect(k1.error).to.match(/a Pulumi lock from another machine \(pulumi pid \d+, .*@ci-runner-7, since /);
    expect(k1.error).to.contain("--cancel-stale-locks");
    expect(fs.readdirSync(lockDir).filter((f) => f.endsWith(".json"))).to.have.length(1);
    expect(refused.stdout, "the killed run's driver lock was reported as taken over").to.contain("took over the driver lock");

    // This machine's own: its pid is gone, so it is cleared without being asked, and said so.
    fs.writeFileSync(lockPath, ours);
    const resumed = await runDriverCli(p, ["advance", "--all", "--to", "0", "--yes", "--json"]);
    expect(resumed.code, resumed.stdout).to.equal(0);
    expect(resumed.stdout).to.match(/cleared a stale Pulumi lock: its process is gone, an update was killed .*\(its process is gone from this host\)/);
    expect(auditEntries(auditDir(p)).filter((e) => e.action === "pulumi-lock-cancelled" && e.stack === "k1")).to.have.length(1);

    const cleared = await runDriverCli(p, ["advance", "--all", "--to", "1", "--yes", "--json"]);
    expect(cleared.code, cleared.stdout).to.equal(0);
    expect(appliedPhaseInBackend(p, "k1")).to.equal(1);
    expect(appliedSequence(p, "k1")).to.deep.equal([0, 1]);
  });

  it("resumes after being killed with SIGKILL at random points: every stack at the target, each phase applied exactly once", async function () {
    this.timeout(15 * 60_000);
    const p = simProject([
      { name: "canary", stacks: ["x1"] },
      { name: "rest", stacks: ["x2", "x3"], concurrency: 2, onFailure: "finish-running" },
    ]);
    const { last, kills, context } = await killAndResume(p, ["advance", "--all", "--to", "3", "--yes", "--json"], { sim: { latencyMs: 150 }, killRounds: 6, maxRounds: 12, minDelayMs: 1000, spreadMs: 7000 });
    expect(last?.code, `${context}\n${last?.stdout}`).to.equal(0);
    expect(kills.length, context).to.be.greaterThan(0);
    for (const s of p.stacks) {
      expect(appliedPhaseInBackend(p, s), `${s}: ${context}`).to.equal(3);
      expect(appliedSequence(p, s), `${s} phases applied by the provider: ${context}`).to.deep.equal([0, 1, 2, 3]);
      const ups = upsOk(p, s);
      expect(new Set(ups).size, `${s} up recorded once per phase: ${context}`).to.equal(ups.length);
    }
  });

  it("pause: running clusters finish their current phase, nothing new starts; unpause and the same command goes on", async () => {
    const p = simProject([{ name: "w", stacks: ["p1", "p2", "p3"], concurrency: 1 }]);
    const run = startDriver(p, ["advance", "--all", "--to", "1", "--yes", "--json"], { latencyMs: 300 });
    await waitUntil(() => ledger(p).some((l) => l.stack === "p1"), 60_000, "p1 to start changing");
    const pause = await runDriverCli(p, ["pause", "--reason", "lunch"]);
    expect(pause.code).to.equal(0);
    const r = await run.done;
    expect(r.code, r.stdout).to.equal(3);
    const p1 = statusOf(r, "p1");
    expect(["stopped", "succeeded"]).to.include(p1.status);
    expect(appliedPhaseInBackend(p, "p1"), "p1 finished the phase it was in").to.be.a("number");
    for (const s of ["p2", "p3"]) {
      expect(statusOf(r, s).status).to.equal("not-started");
      expect(statusOf(r, s).error).to.match(/paused by test-operator .*\(lunch\)/);
    }
    const status = await runDriverCli(p, ["status"]);
    expect(status.stdout).to.match(/Paused: paused by test-operator/);

    expect((await runDriverCli(p, ["unpause"])).code).to.equal(0);
    const again = await runDriverCli(p, ["advance", "--all", "--to", "1", "--yes", "--json"]);
    expect(again.code, again.stdout).to.equal(0);
    for (const s of p.stacks) expect(appliedSequence(p, s), s).to.deep.equal([0, 1]);
  });

  it("is a dry run unless told --yes: previews and gates the next phase, changes no stack, file or resource", async () => {
    const p = simProject([{ name: "w", stacks: ["y1", "y2"], concurrency: 2 }]);
    expect((await runDriverCli(p, ["advance", "--all", "--to", "0", "--yes"])).code).to.equal(0);
    const files = p.stacks.map((s) => fs.readFileSync(path.join(p.dir, `Pulumi.${s}.yaml`), "utf8"));
    const before = ledger(p).length;

    const dry = await runDriverCli(p, ["advance", "--all", "--to", "3"]);
    expect(dry.code, dry.stdout).to.equal(0);
    expect(dry.stdout).to.contain("dry run: nothing was changed");
    expect(dry.stdout).to.contain("Run again with --yes to apply");
    expect(dry.stdout).to.match(/y1: phase 1 previewed \(3 to create, 3 to update\)/);
    expect(ledger(p).length).to.equal(before);
    expect(p.stacks.map((s) => appliedPhaseInBackend(p, s))).to.deep.equal([0, 0]);
    expect(p.stacks.map((s) => fs.readFileSync(path.join(p.dir, `Pulumi.${s}.yaml`), "utf8"))).to.deep.equal(files);

    // The same dry run as JSON lines: each line one document of the advance command, the summary last.
    const lines = (await runDriverCli(p, ["advance", "--all", "--to", "1", "--json"])).stdout.trim().split("\n").map((l) => JSON.parse(l) as { schemaVersion: number; command: string; type: string; time?: string; stack?: string; step?: string });
    expect(lines.every((l) => l.schemaVersion === 1 && l.command === "advance"), JSON.stringify(lines)).to.equal(true);
    expect(new Set(lines.map((l) => l.type))).to.include.members(["run-start", "wave-start", "stack-start", "step", "phase-end", "stack-end", "wave-end", "summary"]);
    expect(lines.filter((l) => l.type !== "summary").every((l) => typeof l.time === "string")).to.equal(true);
    expect(lines[lines.length - 1]).to.include({ type: "summary", exitCode: 0, dryRun: true, target: 1 });
    expect(lines.filter((l) => l.type === "step" && l.stack === "y1").map((l) => l.step)).to.include.members(["preview", "gate"]);

    const preview = await runDriverCli(p, ["preview", "--stack", "y1", "--phase", "2", "--json"]);
    expect(preview.stdout.trim().split("\n").every((l) => (JSON.parse(l) as { command: string }).command === "preview")).to.equal(true);
    expect(statusOf(preview, "y1").error).to.contain("the next phase to preview is 1");
    const status = await runDriverCli(p, ["status", "--json"]);
    const rows = (JSON.parse(status.stdout) as { stacks: Array<{ stack: string; applied: number; inFile: number; target: number; lastResult: string }> }).stacks;
    expect(rows.find((x) => x.stack === "y1")).to.include({ applied: 0, inFile: 0, target: 0 });
    expect(rows.find((x) => x.stack === "y1")!.lastResult).to.match(/^phase 1 gate ok \(dry run\)/);
  });

  it("going back is refused: advance below the applied phase, and a by-hand up of a lowered phase, change nothing and say what going back means", async () => {
    const p = simProject([{ name: "w", stacks: ["b1"] }]);
    expect((await runDriverCli(p, ["advance", "--all", "--to", "3", "--yes"])).code).to.equal(0);
    const before = ledger(p).length;
    const file = fs.readFileSync(path.join(p.dir, "Pulumi.b1.yaml"), "utf8");

    const r = await runDriverCli(p, ["advance", "-s", "b1", "--to", "1", "--yes"]);
    expect(r.code, r.stdout + r.stderr).to.equal(1);
    expect(r.stdout).to.contain("b1 is at phase 3; --to 1 would go back");
    expect(r.stdout, "the reverse steps, from the data").to.contain("3→2, in 1 step");
    expect(r.stdout, "and where it stops").to.match(/2→1: cannot be undone: phase 2 removed the chained node groups/);
    expect(fs.readFileSync(path.join(p.dir, "Pulumi.b1.yaml"), "utf8")).to.equal(file);

    // A merged pull request lowered unchain:phase, and someone runs the program through the engine by hand.
    writePhase(p.dir, "b1", 2);
    const cli = driverEnv(p);
    const env = driverEnvironment(p.dir, cli);
    const forCli = Object.fromEntries(Object.entries(cli).filter(([k, v]) => v !== undefined && /^(PULUMI_|UNCHAIN_)/.test(k))) as Record<string, string>;
    const stack = await openStack({ ...env, envVars: { ...env.envVars, ...forCli } }, "b1", () => simProgram({ projectDir: p.dir }));
    let error = "";
    await stack.up().catch((e: Error) => (error = e.message));
    expect(error, error).to.contain("Pulumi.b1.yaml says unchain:phase 2, but phase 3 is applied");
    expect(error).to.contain("Going back from phase 3 (aws-node pinned) to 2 (chained pools gone)");
    expect(error).to.contain("UNCHAIN_ROLLED_BACK=b1:2");
    expect(ledger(p).length, "nothing was changed").to.equal(before);
    expect(appliedPhaseInBackend(p, "b1")).to.equal(3);

    // The cluster was taken back by hand (3→2: aws-node on every node again): the stack records it when told so.
    process.env.UNCHAIN_ROLLED_BACK = "b1:2";
    try {
      await stack.up();
    } finally {
      delete process.env.UNCHAIN_ROLLED_BACK;
    }
    expect(appliedPhaseInBackend(p, "b1")).to.equal(2);
    expect(ledger(p).slice(before).map((l) => `${l.kind} ${l.op}`), "phase 2's state: the add-on's affinity back to its default").to.include("addon update");
  });

  it("goes back with --rollback: forward to 5, back to 3, each phase applied once each way, each reverse step in its stages, file and backend following", async function () {
    this.timeout(10 * 60_000);
    const p = simProject([{ name: "w", stacks: ["r1"] }]);
    expect((await runDriverCli(p, ["advance", "--all", "--to", "5", "--yes"])).code).to.equal(0);
    const before = ledger(p).length;

    // Without --rollback it is refused, saying how; a walk through the point of no return is refused whole.
    const refused = await runDriverCli(p, ["advance", "-s", "r1", "--to", "3", "--yes"]);
    expect(refused.code).to.equal(1);
    expect(refused.stdout).to.contain("unchain advance -s r1 --to 3 --rollback --yes");
    const past = await runDriverCli(p, ["advance", "-s", "r1", "--to", "1", "--rollback", "--yes"]);
    expect(past.code).to.equal(1);
    expect(past.stdout).to.contain("passes 2→1, which cannot be undone");
    const forward = await runDriverCli(p, ["advance", "-s", "r1", "--to", "6", "--rollback", "--yes"]);
    expect(forward.code).to.equal(1);
    expect(forward.stdout).to.contain("--to must be below the applied phase");
    expect(ledger(p).length, "nothing changed").to.equal(before);

    // A dry run previews the first stage only.
    const dry = await runDriverCli(p, ["advance", "-s", "r1", "--to", "3", "--rollback"]);
    expect(dry.code, dry.stdout).to.equal(0);
    expect(dry.stdout).to.match(/r1: going back 5→4, step 1 of 2 previewed \(4 to update\)/);
    expect(ledger(p).length, "a dry run changes nothing").to.equal(before);
    expect(phaseInFile(p.dir, "r1")).to.equal(5);

    const r = await runDriverCli(p, ["advance", "-s", "r1", "--to", "3", "--rollback", "--yes", "--json"]);
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    expect(statusOf(r, "r1")).to.include({ status: "succeeded", reached: 3 });
    expect(summaryOf(r).results[0].phasesApplied).to.deep.equal([4, 3]);
    expect(appliedPhaseInBackend(p, "r1")).to.equal(3);
    expect(phaseInFile(p.dir, "r1"), "the stack file says where the stack is").to.equal(3);
    expect(appliedSequence(p, "r1"), "each phase applied once going forward and once coming back").to.deep.equal([0, 1, 2, 3, 4, 5, 4, 3]);

    // Each stage its own up, gated by its own rules, in order.
    const stages = auditEntries(auditDir(p)).filter((e) => e.stack === "r1" && e.action === "up" && e.result === "ok" && /going back/.test(e.message ?? "")).map((e) => e.message);
    expect(stages).to.deep.equal(["going back 5→4, step 1 of 2", "going back 5→4, step 2 of 2", "going back 4→3, step 1 of 2", "going back 4→3, step 2 of 2"]);
    const back = ledger(p).slice(before).map((l) => `${l.op} ${l.kind} ${l.name}`);
    // 5→4: the cilium pools closed (NoSchedule), then the validation taint back (NoExecute): two updates of each cilium group; the aws groups reopened once.
    expect(back.filter((l) => /^update nodeGroup cilium-/.test(l)).length).to.equal(2 * 2);
    expect(back.filter((l) => /^update nodeGroup aws-/.test(l)).length).to.equal(2);
    // 4→3: the cilium pools, the ENI release and the operator role removed.
    expect(back.filter((l) => /^delete nodeGroup cilium-/.test(l)).length).to.equal(2);
    expect(back).to.include.members(["delete release r1-cilium-eni-release", "delete role r1-cilium-operator-role"]);
    // Nothing is ever closed on both sides at once: the aws pools reopen before the cilium pools close.
    expect(back.findIndex((l) => /^update nodeGroup aws-/.test(l))).to.be.lessThan(back.findIndex((l) => /^update nodeGroup cilium-/.test(l)));
    expect(back.filter((l) => /^(create|delete) nodeGroup aws-/.test(l)), "the aws pools stay as they were").to.deep.equal([]);

    // Forward again from 3: the way back was a real walk, not a special state.
    const again = await runDriverCli(p, ["advance", "-s", "r1", "--to", "4", "--yes"]);
    expect(again.code, again.stdout).to.equal(0);
    expect(appliedSequence(p, "r1").slice(-1)).to.deep.equal([4]);
  });

  it("a reverse step that fails half-way is recorded as such, and the same command goes on from its stage", async function () {
    this.timeout(10 * 60_000);
    const p = simProject([{ name: "w", stacks: ["h1"] }]);
    expect((await runDriverCli(p, ["advance", "--all", "--to", "5", "--yes"])).code).to.equal(0);
    // The second stage of 5→4 (its phase marker at 4) fails in the cloud.
    const failed = await runDriverCli(p, ["advance", "-s", "h1", "--to", "4", "--rollback", "--yes"], { fail: ["h1:4"] });
    expect(failed.code, failed.stdout).to.equal(1);
    expect(failed.stdout).to.contain("going back 5→4, step 2 of 2: up of phase 4 failed");
    const env = driverEnvironment(p.dir, driverEnv(p));
    const where = (await appliedPhases(env, ["h1"])).get("h1");
    expect(where, "the backend: still phase 5, with the step half done").to.deep.equal({ exists: true, applied: 5, goingBack: { from: 5, stage: 1 } });

    const status = await runDriverCli(p, ["status"]);
    expect(status.stdout).to.match(/h1 .*going back 5→4, step 1 of 2 applied/);

    const again = await runDriverCli(p, ["advance", "-s", "h1", "--to", "4", "--rollback", "--yes"]);
    expect(again.code, again.stdout).to.equal(0);
    expect(again.stdout).to.contain("an earlier run applied going back 5→4, step 1 of 2 and did not finish the step; going on from there");
    const ups = auditEntries(auditDir(p)).filter((e) => e.stack === "h1" && e.action === "up" && e.result === "ok" && /going back/.test(e.message ?? "")).map((e) => e.message);
    expect(ups, "step 1 applied once, step 2 once").to.deep.equal(["going back 5→4, step 1 of 2", "going back 5→4, step 2 of 2"]);
    expect((await appliedPhases(env, ["h1"])).get("h1")).to.deep.equal({ exists: true, applied: 4 });
  });

  it("resumes a reverse step killed with SIGKILL: the stage it was in is completed, none is applied twice", async function () {
    this.timeout(15 * 60_000);
    const p = simProject([{ name: "w", stacks: ["k5"] }]);
    expect((await runDriverCli(p, ["advance", "--all", "--to", "5", "--yes"])).code).to.equal(0);
    const { last, kills, context } = await killAndResume(p, ["advance", "-s", "k5", "--to", "3", "--rollback", "--yes", "--json"], { sim: { latencyMs: 200 }, killRounds: 3, maxRounds: 10, minDelayMs: 1500, spreadMs: 6000 });
    expect(last?.code, `${context}\n${last?.stdout}`).to.equal(0);
    expect(kills.length, context).to.be.greaterThan(0);
    expect(appliedPhaseInBackend(p, "k5"), context).to.equal(3);
    expect(phaseInFile(p.dir, "k5"), context).to.equal(3);
    expect(appliedSequence(p, "k5"), `phases applied by the provider: ${context}`).to.deep.equal([0, 1, 2, 3, 4, 5, 4, 3]);
    const stages = auditEntries(auditDir(p)).filter((e) => e.stack === "k5" && e.action === "up" && e.result === "ok" && /going back/.test(e.message ?? "")).map((e) => e.message);
    expect(new Set(stages).size, `each stage's up recorded once: ${context}`).to.equal(stages.length);
    // A delete the provider carried out just before the kill may be sent again (the engine had not recorded it): harmless, as for EKS's DeleteNodegroup of a group already gone. What counts is where the cloud ends.
    const cloud = fs.readdirSync(`${p.ledger}.cloud`).filter((f) => f.startsWith("k5_"));
    expect(cloud.filter((f) => /cilium/.test(f)), `no cilium pool, ENI release or operator role left: ${context}`).to.deep.equal([]);
    expect(cloud.filter((f) => /aws-general/.test(f)).length, `the aws pools as they were: ${context}`).to.equal(2);
  });

  it("never prints a secret: not the passphrase, not a secret config value", async () => {
    const p = simProject([{ name: "w", stacks: ["s1"] }]);
    expect((await runDriverCli(p, ["advance", "--all", "--to", "0", "--yes"])).code).to.equal(0);
    const secret = "hunter2-do-not-print";
    const set = spawnSync(ensurePulumi(), ["config", "set", "--secret", "sim:token", secret, "--stack", "s1", "--non-interactive"], { cwd: p.dir, env: { ...driverEnv(p), PULUMI_BACKEND_URL: `file://${p.dir}` }, encoding: "utf8" });
    expect(set.status, set.stderr).to.equal(0);
    const outputs: string[] = [];
    for (const args of [["advance", "--all", "--to", "1", "--yes", "--json"], ["advance", "--all", "--to", "2"], ["status"]]) {
      const r = await runDriverCli(p, args, { fail: ["s1:2"] });
      outputs.push(r.stdout, r.stderr);
    }
    const r = await runDriverCli(p, ["advance", "--all", "--to", "2", "--yes"], { fail: ["s1:2"] });
    expect(r.code).to.equal(1);
    outputs.push(r.stdout, r.stderr, fs.readFileSync(path.join(auditDir(p), "audit.jsonl"), "utf8"));
    for (const dir of fs.readdirSync(path.join(auditDir(p), "plans", "s1"))) outputs.push(fs.readFileSync(path.join(auditDir(p), "plans", "s1", dir), "utf8"));
    const all = outputs.join("\n");
    expect(all).to.contain("simulated cloud failure applying phase 2 of s1");
    expect(all).not.to.contain(secret);
    expect(all).not.to.contain(PASSPHRASE);
  });

  it("refuses bad input before touching any stack: unknown wave, missing passphrase", async () => {
    const p = simProject([{ name: "w", stacks: ["e1"] }]);
    const wave = await runDriverCli(p, ["advance", "--wave", "nope", "--to", "1", "--yes"]);
    expect(wave.code).to.equal(2);
    expect(wave.stderr).to.contain('no wave "nope" in waves.yaml. Waves: w');
    const env = { ...driverEnv(p) };
    delete env.PULUMI_CONFIG_PASSPHRASE;
    delete env.PULUMI_CONFIG_PASSPHRASE_FILE;
    const absent = spawnSync(process.execPath, [BIN, "advance", "--all", "--to", "1", "--yes", "-C", p.dir], { env, encoding: "utf8" });
    expect(absent.status).to.equal(5); // no passphrase: an environment problem (exit 5), not a usage error
    expect(absent.stderr).to.contain("set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE");
    expect(absent.stderr).not.to.match(/\n\s+at /);
    expect(fs.existsSync(path.join(p.dir, ".pulumi")), "no stack was created").to.equal(false);
  });
});
