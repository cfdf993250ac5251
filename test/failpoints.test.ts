/**
 * A crash at every step of a phase, on both backends: the driver is killed with SIGKILL exactly at a
 * named point (UNCHAIN_FAILPOINT, automation/driver/failpoint.ts) — holding its locks, inside `pulumi
 * stack init`, between the phase edit's temporary file and its rename, during the preview, during
 * `up`, right after `up`, half-way through an audit record — and the same command, run again with
 * nothing done by hand, finishes the job: the stack at the target, each phase applied once, no
 * resource created twice, no lock, temporary file or CLI rewrite left, the audit trail whole. The
 * real Pulumi engine and CLI, a file backend and a real S3 server (versitygw).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expect } from "chai";
import { FAILPOINTS } from "../automation/driver/failpoint";
import type { AuditEntry } from "../automation/driver/audit";
import { appliedSequence, auditEntries, ensurePulumi, ledger, runDriverCli, runToFailpoint, simProject, SimProject, SimEnv } from "./driverHarness";
import { s3Audit, s3Env, s3Project, S3Server, startS3Server } from "./s3Harness";

/** Where each point is hit in a walk of a new stack to phase 1 (phase 0, then 1). */
const SCENARIOS: Array<{ point: keyof typeof FAILPOINTS; nth?: number; sim?: SimEnv; says?: RegExp; what?: string }> = [
  { point: "lock" },
  { point: "stack-init" },
  { point: "phase-edit" },
  { point: "preview" },
  { point: "up", nth: 3 },
  // The cloud made it, the answer never came: the resumed run adopts it under its ID.
  { point: "create", sim: { extra: { UNCHAIN_SIM_ANSWER_MS: "3000" } }, says: /of the pending creates, adopted \d+ the cloud had made under their IDs/, what: "the cloud made it" },
  // The cloud never made it: the resumed run's update does.
  { point: "create", sim: { latencyMs: 3000 }, says: /of the pending creates, \d+ it had not made are left to this update/, what: "the cloud did not make it" },
  { point: "after-up" },
  { point: "audit", nth: 5 },
];

/** Resources the provider created a second time while the first copy was still there. */
function createdTwice(p: SimProject, stack: string): string[] {
  const live = new Set<string>();
  const twice: string[] = [];
  for (const l of ledger(p).filter((x) => x.stack === stack)) {
    if (l.op === "create" && live.has(l.name)) twice.push(l.name);
    if (l.op === "create") live.add(l.name);
    if (l.op === "delete") live.delete(l.name);
  }
  return twice;
}

/** The driver's audit trail in the project's backend. */
async function auditOf(p: SimProject, s3: S3Server | undefined): Promise<AuditEntry[]> {
  return s3 ? s3Audit(s3) : auditEntries(path.join(p.dir, ".unchain"));
}

/** Temporary files anywhere in the project folder, but for the backend's own. */
function tempFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.name === ".pulumi" || e.name === ".pulumi-home" || e.name === "ledger.jsonl.cloud") continue;
      const f = path.join(d, e.name);
      if (e.isDirectory()) walk(f);
      else if (/\.tmp$|\.\d+\.tmp$/.test(e.name)) out.push(path.relative(dir, f));
    }
  };
  walk(dir);
  return out;
}

for (const backend of ["file", "s3"] as const) {
  describe(`a crash at each step of a phase, then the same command (${backend} backend)`, function () {
    this.timeout(10 * 60_000);
    let s3: S3Server | undefined;
    before(async function () {
      this.timeout(60 * 60_000);
      ensurePulumi();
      if (backend === "s3") s3 = await startS3Server();
    });
    after(async () => s3?.stop());

    for (const { point, nth, sim: simAt, says, what } of SCENARIOS) {
      const at = nth ? `${point}@${nth}` : point;
      it(`killed ${FAILPOINTS[point]}${what ? `, and ${what}` : ""} (${at}): resumes to the target with nothing done by hand`, async () => {
        const stack = `fp-${point}-${backend}${simAt ? `-${SCENARIOS.filter((x) => x.point === point).findIndex((x) => x.sim === simAt)}` : ""}`;
        const waves = [{ name: "w", stacks: [stack] }];
        const p = backend === "s3" ? s3Project(s3!, waves) : simProject(waves);
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-fp-tmp-"));
        const sim: SimEnv = { latencyMs: 100, ...simAt, extra: { UNCHAIN_TMPDIR: tmp, ...(s3 ? s3Env(s3) : {}), ...simAt?.extra } };
        const file = path.join(p.dir, `Pulumi.${stack}.yaml`);
        const original = fs.readFileSync(file, "utf8");
        const args = ["advance", "--all", "--to", "1", "--yes", "--json"];

        const killed = await runToFailpoint(p, args, at, sim);
        expect(killed.signal, `the driver reached ${at} and died there:\n${killed.stdout}\n${killed.stderr}`).to.equal("SIGKILL");

        const resumed = await runDriverCli(p, args, { ...sim, latencyMs: 100, extra: { ...sim.extra, UNCHAIN_SIM_ANSWER_MS: "0" } });
        expect(resumed.code, `${resumed.stdout}\n${resumed.stderr}`).to.equal(0);
        if (says) expect(resumed.stdout).to.match(says);

        const status = await runDriverCli(p, ["status", "--json"], sim);
        const row = (JSON.parse(status.stdout) as { stacks: Array<{ stack: string; applied?: number; lock?: string }> }).stacks.find((x) => x.stack === stack)!;
        expect(row.applied, "at the target").to.equal(1);
        expect(row.lock, "no driver lock left").to.equal(undefined);
        expect(appliedSequence(p, stack), "each phase applied once by the provider").to.deep.equal([0, 1]);
        expect(createdTwice(p, stack), "no resource created twice").to.deep.equal([]);

        // The stack file: the phase line changed, the key stack init adds appended; nothing else.
        const lines = fs.readFileSync(file, "utf8").split("\n");
        expect(lines.filter((l) => !l.startsWith("encryptionsalt:")).join("\n")).to.equal(original.replace("unchain:phase: 0", "unchain:phase: 1"));
        expect(tempFiles(p.dir), "no temporary file in the project").to.deep.equal([]);
        expect(fs.readdirSync(tmp), "no temporary file or stack-init journal left outside it").to.deep.equal([]);

        // One trail: every record whole (a torn one is a line of its own), each phase's up once.
        const all = await auditOf(p, s3);
        const runs = new Set(all.filter((e) => e.stack === stack || e.stacks?.includes(stack)).map((e) => e.runId));
        const trail = all.filter((e) => runs.has(e.runId));
        const ups = trail.filter((e) => e.action === "up" && e.result === "ok").map((e) => e.phase);
        expect(new Set(ups).size, "no phase's up recorded twice").to.equal(ups.length);
        expect(trail.filter((e) => e.action === "run-end").map((e) => e.result), "the killed run never ended; the resumed one ended well").to.deep.equal(["ok"]);
        expect(trail.filter((e) => e.action === "resolve-pending" && e.result !== "ok"), "nothing left for a person to resolve").to.deep.equal([]);
      });
    }
  });
}
