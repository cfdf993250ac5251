/**
 * Two checkouts, one backend: the driver's state lives beside the Pulumi state in an S3 bucket on a
 * real S3 server (versitygw), so two operators (or an operator and CI) on two checkouts see the same
 * locks, the same pause switch and one audit trail. The real Pulumi engine and CLI, with the S3
 * backend declared once in Pulumi.yaml.
 */
import { spawnSync } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { expect } from "chai";
import { appliedSequence, ensurePulumi, killAndResume, ledger, runDriverCli, SimProject, startDriver, summaryOf, waitUntil } from "./driverHarness";
import { s3Audit, s3Env, s3Project, S3Server, startS3Server } from "./s3Harness";

describe("two checkouts sharing an S3 backend", function () {
  this.timeout(10 * 60_000);
  let s3: S3Server;
  before(async function () {
    this.timeout(60 * 60_000);
    ensurePulumi();
    s3 = await startS3Server();
  });
  after(async () => s3?.stop());

  /** A checkout of the same project whose Pulumi.yaml declares the team's bucket. */
  const checkout = (stacks: string[]): SimProject => s3Project(s3, [{ name: "w", stacks }]);
  const aws = () => s3Env(s3);

  it("one run holds the stacks for both checkouts, a pause from either stops both, and the audit trail is one", async () => {
    const alice = checkout(["team1", "team2"]);
    const ci = checkout(["team1", "team2"]);
    const sim = { latencyMs: 1500, extra: aws() };

    // Alice walks both stacks; CI starts the same walk from its own checkout while she runs.
    const run = startDriver(alice, ["advance", "--all", "--to", "2", "--yes", "--json"], sim);
    await waitUntil(() => ledger(alice).some((l) => l.stack === "team1"), 120_000, "alice's run to start changing team1");
    const refused = await runDriverCli(ci, ["advance", "--all", "--to", "2", "--yes", "--json"], { extra: aws() });
    expect(refused.code, refused.stdout + refused.stderr).to.equal(4);
    expect(refused.stdout).to.contain("this run takes all of its 2 stacks or none");
    expect(summaryOf(refused).results.find((r) => r.stack === "team1")!.error).to.match(/held by another driver run \S+ by test-operator \(pid \d+ on /);
    expect(ledger(ci), "CI changed nothing").to.deep.equal([]);

    // CI pauses the fleet from its checkout: Alice's run finishes the phase it is in and stops.
    const paused = await runDriverCli(ci, ["pause", "--reason", "CI saw a failing check"], { extra: aws() });
    expect(paused.code, paused.stderr).to.equal(0);
    expect(paused.stdout).to.contain(`paused (s3://${s3.bucket}/.unchain/)`);
    const stopped = await run.done;
    expect(stopped.code, stopped.stdout).to.equal(3);
    expect(stopped.stdout).to.contain("paused by test-operator");
    expect(stopped.stdout).to.contain("(CI saw a failing check)");

    // Both checkouts see the same state: the stacks where Alice left them, and the pause.
    const status = await runDriverCli(ci, ["status", "--json"], { extra: aws() });
    const shown = JSON.parse(status.stdout) as { backend: string; paused: { reason?: string } | null; stacks: Array<{ stack: string; applied?: number }> };
    expect(shown.backend).to.contain(`s3://${s3.bucket}`).and.contain("Pulumi.yaml backend.url");
    expect(shown.paused?.reason).to.equal("CI saw a failing check");
    expect(shown.stacks.find((x) => x.stack === "team1")!.applied, "alice's progress, read from the bucket").to.be.a("number");

    // Alice unpauses from hers and goes on; CI's audit reading shows one trail with both runs.
    expect((await runDriverCli(alice, ["unpause"], { extra: aws() })).code).to.equal(0);
    const again = await runDriverCli(alice, ["advance", "--all", "--to", "2", "--yes", "--json"], { extra: aws() });
    expect(again.code, again.stdout).to.equal(0);
    const trail = await s3Audit(s3);
    const runs = new Set(trail.filter((e) => e.action === "run-start" || e.action === "lock-refused").map((e) => e.runId));
    expect(runs.size, "alice's two runs and CI's refused one").to.equal(3);
    expect(trail.some((e) => e.action === "lock-refused" && /takes all of its 2 stacks/.test(e.message ?? ""))).to.equal(true);
    expect(trail.filter((e) => e.action === "up" && e.result === "ok").map((e) => `${e.stack}:${e.phase}`).sort()).to.include.members(["team1:0", "team1:1", "team1:2", "team2:2"]);
    expect(fs.existsSync(path.join(alice.dir, ".unchain", "audit.jsonl")), "nothing of it only on alice's laptop").to.equal(false);

    // The plan each up was held to is in the bucket too: the one its audit line's planDigest names.
    const client = s3.client();
    const keys = ((await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: ".unchain/plans/team1/" }))).Contents ?? []).map((o) => o.Key!);
    const digests = await Promise.all(
      keys.map(async (Key) => createHash("sha256").update(await (await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key }))).Body!.transformToString()).digest("hex")),
    );
    client.destroy();
    const held = trail.filter((e) => e.action === "up" && e.result === "ok" && e.stack === "team1").map((e) => e.planDigest);
    expect(held.length).to.be.greaterThan(0);
    expect(digests, "every applied plan of team1, readable from the other checkout").to.include.members(held);
  });

  it("killed with SIGKILL at random points with its state on S3, the same command resumes: every stack at the target, each phase applied once, no lock left", async function () {
    this.timeout(20 * 60_000);
    const p = checkout(["chaos1", "chaos2"]);
    const { last, kills, context } = await killAndResume(p, ["advance", "--all", "--to", "2", "--yes", "--json"], { sim: { latencyMs: 150, extra: aws() }, killRounds: 5, maxRounds: 12, minDelayMs: 1500, spreadMs: 7000 });
    expect(last?.code, `${context}\n${last?.stdout}`).to.equal(0);
    expect(kills.length, context).to.be.greaterThan(0);
    const status = JSON.parse((await runDriverCli(p, ["status", "--json"], { extra: aws() })).stdout) as { stacks: Array<{ stack: string; applied?: number; lock?: string }> };
    for (const s of ["chaos1", "chaos2"]) {
      const row = status.stacks.find((x) => x.stack === s)!;
      expect(row.applied, `${s}: ${context}`).to.equal(2);
      expect(row.lock, `${s}: no lock left behind: ${context}`).to.equal(undefined);
      expect(appliedSequence(p, s), `${s} phases applied by the provider: ${context}`).to.deep.equal([0, 1, 2]);
    }
    const trail = await s3Audit(s3);
    const ups = trail.filter((e) => e.action === "up" && e.result === "ok" && e.stack?.startsWith("chaos")).map((e) => `${e.stack}:${e.phase}`);
    expect(new Set(ups).size, `each phase's up recorded once in the shared trail: ${context}`).to.equal(ups.length);
  });

  it("a Pulumi lock left in the bucket: another machine's is reported and kept; this machine's, its process gone, is cleared with an audit line", async function () {
    this.timeout(5 * 60_000);
    const p = checkout(["lk1"]);
    expect((await runDriverCli(p, ["advance", "--all", "--to", "0", "--yes"], { extra: aws() })).code).to.equal(0);
    const client = s3.client();
    const key = `.pulumi/locks/organization/unchain/lk1/${randomUUID()}.json`;
    const deadPid = Number(spawnSync(process.execPath, ["-e", "console.log(process.pid)"], { encoding: "utf8" }).stdout.trim());
    const lock = (hostname: string) => client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: JSON.stringify({ pid: deadPid, username: "ci", hostname, timestamp: new Date().toISOString() }) }));
    const present = async () => ((await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: ".pulumi/locks/" }))).Contents ?? []).some((o) => o.Key === key);

    await lock("ci-runner-7");
    const refused = await runDriverCli(p, ["advance", "--all", "--to", "1", "--yes", "--json"], { extra: aws() });
    expect(refused.code, refused.stdout).to.equal(4);
    expect(summaryOf(refused).results[0].error).to.match(/a Pulumi lock from another machine \(pulumi pid \d+, ci@ci-runner-7, since .*\.pulumi\/locks\/organization\/unchain\/lk1\//);
    expect(summaryOf(refused).results[0].error).to.contain("--cancel-stale-locks");
    expect(await present(), "never broken unasked").to.equal(true);

    await lock(os.hostname());
    const r = await runDriverCli(p, ["advance", "--all", "--to", "1", "--yes", "--json"], { extra: aws() });
    expect(r.code, r.stdout).to.equal(0);
    expect(r.stdout).to.match(/cleared a stale Pulumi lock: its process is gone.*\(its process is gone from this host\)/);
    expect(await present(), "the stale lock is gone").to.equal(false);
    const trail = await s3Audit(s3);
    expect(trail.filter((e) => e.action === "pulumi-lock-cancelled" && e.stack === "lk1")).to.have.length(1);
    client.destroy();
  });
});
