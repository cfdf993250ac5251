/**
 * The driver's locks, pause switch and audit trail in its store, under kills and races, on both
 * kinds of backend: a file backend's folder, and an S3 bucket on a real S3 server (versitygw, with
 * its conditional writes). What a kill leaves behind never blocks or corrupts the next run, and of
 * several runs taking over one stale lock exactly one gets it.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expect } from "chai";
import { AuditLog, readAudit } from "../automation/driver/audit";
import { acquireDriverLock, LockHolder, readDriverLock, releaseDriverLock } from "../automation/driver/locks";
import { createFileExclusive, FileStore, parseS3Url, S3Store, StateStore } from "../automation/driver/store";
import { pausedBecause, setPause } from "../automation/driver/waves";
import { S3Server, startS3Server } from "./s3Harness";

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "unchain-lock-"));
const holder = (runId: string, pid: number, host = os.hostname()): LockHolder => ({ runId, pid, host, operator: "t", command: "unchain advance", since: "now" });
const deadPid = () => Number(spawnSync(process.execPath, ["-e", "console.log(process.pid)"], { encoding: "utf8" }).stdout.trim());

describe("the driver's state in its store, on a file backend and on a real S3 server", function () {
  this.timeout(120_000);
  let s3: S3Server;
  const saved: Record<string, string | undefined> = {};
  before(async function () {
    this.timeout(30 * 60_000); // builds versitygw once on a machine that has none
    s3 = await startS3Server();
    for (const k of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"]) saved[k] = process.env[k];
    process.env.AWS_ACCESS_KEY_ID = s3.credentials.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = s3.credentials.secretAccessKey;
    process.env.AWS_REGION = s3.region;
  });
  after(async () => {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
    await s3?.stop();
  });

  let n = 0;
  const stores: Array<[string, () => StateStore]> = [
    ["a file backend", () => new FileStore(tmp())],
    ["an S3 backend", () => new S3Store({ ...parseS3Url(s3.pulumiBackendUrl), prefix: `team/run-${n++}/.unchain` })],
  ];

  for (const [kind, make] of stores) {
    describe(kind, () => {
      it("refuses a second run while the first one's process lives, names it, and gives the lock to the next once released", async () => {
        const store = make();
        expect((await acquireDriverLock(store, "s", holder("a", process.pid))).ok).to.equal(true);
        expect(await acquireDriverLock(store, "s", holder("b", process.pid))).to.deep.include({ ok: false, state: "alive" });
        await releaseDriverLock(store, "s", "b");
        expect((await readDriverLock(store, "s"))?.runId, "a run releases only its own lock").to.equal("a");
        await releaseDriverLock(store, "s", "a");
        expect((await acquireDriverLock(store, "s", holder("b", process.pid))).ok).to.equal(true);
      });

      it("takes over a lock whose process is gone and says whose it was; one from another host only when told to", async () => {
        const store = make();
        await acquireDriverLock(store, "s", holder("killed", deadPid()));
        const r = await acquireDriverLock(store, "s", holder("next", process.pid));
        expect(r.ok && r.tookOverFrom?.runId).to.equal("killed");
        await acquireDriverLock(store, "t", holder("elsewhere", 1, "ci-runner-7"));
        expect(await acquireDriverLock(store, "t", holder("me", process.pid))).to.deep.include({ ok: false, state: "unknown" });
        expect((await acquireDriverLock(store, "t", holder("me", process.pid), true)).ok).to.equal(true);
      });

      it("of eight runs taking over the same stale lock at once, exactly one gets the stack", async () => {
        const store = make();
        await acquireDriverLock(store, "s", holder("killed", deadPid()));
        const results = await Promise.all(Array.from({ length: 8 }, (_, i) => acquireDriverLock(store, "s", holder(`run-${i}`, process.pid))));
        expect(results.filter((r) => r.ok)).to.have.length(1);
        expect((await readDriverLock(store, "s"))?.runId).to.match(/^run-\d$/);
      });

      it("an empty lock a killed writer left is taken over once it is clearly old", async function () {
        const store = make();
        if (store instanceof FileStore) {
          const file = path.join(store.root, "locks", "s.json");
          fs.mkdirSync(path.dirname(file), { recursive: true });
          fs.writeFileSync(file, "");
          expect((await acquireDriverLock(store, "s", holder("me", process.pid))).ok, "a lock written a moment ago").to.equal(false);
          const old = new Date(Date.now() - 60_000);
          fs.utimesSync(file, old, old);
        } else {
          // S3 never shows a partial object; an empty one (written by hand, or by a tool that crashed) is old once the grace is over.
          await store.put("locks/s.json", "");
          expect((await acquireDriverLock(store, "s", holder("me", process.pid))).ok).to.equal(false);
          return; // its age cannot be set back on S3: the fresh case is what can be checked
        }
        expect((await acquireDriverLock(store, "s", holder("me", process.pid))).ok).to.equal(true);
        expect((await readDriverLock(store, "s"))?.runId).to.equal("me");
      });

      it("a pause set through one checkout stops a run of another sharing the backend", async () => {
        const store = make();
        const other = store instanceof FileStore ? new FileStore(store.root) : new S3Store((store as S3Store).loc);
        await setPause(store, { since: "2026-11-28T02:00:00Z", operator: "alice@laptop", reason: "incident" });
        expect(await pausedBecause(other)).to.equal("paused by alice@laptop since 2026-11-28T02:00:00Z (incident); unchain unpause to go on");
        await setPause(other, undefined);
        expect(await pausedBecause(store)).to.equal(undefined);
      });

      it("the audit trail is one: records of two runs, in order; a torn line (file) does not swallow the next", async () => {
        const store = make();
        const a = new AuditLog(store, "r1", "alice");
        const b = new AuditLog(store, "r2", "ci");
        a.append({ action: "run-start", result: "ok" });
        await a.flush();
        if (store instanceof FileStore) fs.appendFileSync(path.join(store.root, "audit.jsonl"), '{"time":"2026-11-28T00:00:00Z","runId":"r1","act');
        await new Promise((r) => setTimeout(r, 5));
        b.append({ action: "run-start", result: "ok", message: "after the crash" });
        b.append({ action: "run-end", result: "ok" });
        await b.flush();
        const entries = await readAudit(store);
        expect(entries.map((e) => `${e.runId} ${e.action}`)).to.deep.equal(["r1 run-start", "r2 run-start", "r2 run-end"]);
        expect(entries[1].message).to.equal("after the crash");
      });
    });
  }

  it("a file lock is created whole or not at all, and leaves no temporary file", () => {
    const d = tmp();
    const file = path.join(d, "x.json");
    expect(createFileExclusive(file, "one")).to.equal(true);
    expect(createFileExclusive(file, "two")).to.equal(false);
    expect(fs.readFileSync(file, "utf8")).to.equal("one");
    expect(fs.readdirSync(d)).to.deep.equal(["x.json"]);
  });

  it("sweeps the temporary file of a file-lock writer killed between writing and linking", async () => {
    const store = new FileStore(tmp());
    fs.mkdirSync(path.join(store.root, "locks"), { recursive: true });
    const orphan = path.join(store.root, "locks", `s.json.${deadPid()}.abc123.tmp`);
    fs.writeFileSync(orphan, "{}");
    expect((await acquireDriverLock(store, "s", holder("me", process.pid))).ok).to.equal(true);
    expect(fs.existsSync(orphan)).to.equal(false);
  });

  it("of eight processes taking over the same stale file lock at once, exactly one gets the stack", async () => {
    for (let round = 0; round < 3; round++) {
      const root = tmp();
      await acquireDriverLock(new FileStore(root), "s", holder("killed", deadPid()));
      const mod = { locks: require.resolve("../automation/driver/locks"), store: require.resolve("../automation/driver/store") };
      const script = `const { acquireDriverLock } = require(${JSON.stringify(mod.locks)}); const { FileStore } = require(${JSON.stringify(mod.store)}); const os = require("os");
        setTimeout(async () => { const r = await acquireDriverLock(new FileStore(${JSON.stringify(root)}), "s", { runId: process.argv[1], pid: process.pid, host: os.hostname(), operator: "t", command: "c", since: "now" });
        console.log(r.ok ? "ok" : "refused"); setTimeout(() => {}, 1500); }, 300);`;
      const results = await Promise.all(
        Array.from(
          { length: 8 },
          (_, i) =>
            new Promise<string>((resolve) => {
              const c = spawn(process.execPath, ["-e", script, `run-${i}`], { stdio: ["ignore", "pipe", "inherit"] });
              let out = "";
              c.stdout.on("data", (b: Buffer) => (out += b.toString()));
              c.on("close", () => resolve(out.trim()));
            }),
        ),
      );
      expect(results.filter((r) => r === "ok"), `round ${round}: ${results.join(" ")}`).to.have.length(1);
    }
  });
});
