/**
 * The driver's lock and audit files under crashes and races: what a kill leaves behind never blocks
 * or corrupts the next run, and of several runs taking over one stale lock exactly one gets it.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expect } from "chai";
import { AuditLog, readAudit } from "../automation/driver/audit";
import { acquireDriverLock, createExclusive, LockHolder, readDriverLock } from "../automation/driver/locks";

const dir = () => fs.mkdtempSync(path.join(os.tmpdir(), "unchain-lock-"));
const holder = (runId: string, pid: number, host = os.hostname()): LockHolder => ({ runId, pid, host, operator: "t", command: "unchain advance", since: "now" });
const deadPid = () => Number(spawnSync(process.execPath, ["-e", "console.log(process.pid)"], { encoding: "utf8" }).stdout.trim());

describe("the driver's lock and audit files, under kills and races", () => {
  it("creates a lock whole or not at all, and leaves no temporary file", () => {
    const d = dir();
    const file = path.join(d, "x.json");
    expect(createExclusive(file, "one")).to.equal(true);
    expect(createExclusive(file, "two")).to.equal(false);
    expect(fs.readFileSync(file, "utf8")).to.equal("one");
    expect(fs.readdirSync(d)).to.deep.equal(["x.json"]);
  });

  it("an empty lock a killed writer left is taken over once it is clearly old, not while it may be being written", () => {
    const d = dir();
    const file = path.join(d, "locks", "s.json");
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, "");
    const fresh = acquireDriverLock(d, "s", holder("me", process.pid));
    expect(fresh.ok, "a lock written a moment ago").to.equal(false);
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(file, old, old);
    expect(acquireDriverLock(d, "s", holder("me", process.pid)).ok).to.equal(true);
    expect(readDriverLock(d, "s")?.runId).to.equal("me");
  });

  it("sweeps the temporary file of a writer killed between writing and linking", () => {
    const d = dir();
    fs.mkdirSync(path.join(d, "locks"), { recursive: true });
    const orphan = path.join(d, "locks", `s.json.${deadPid()}.abc123.tmp`);
    fs.writeFileSync(orphan, "{}");
    expect(acquireDriverLock(d, "s", holder("me", process.pid)).ok).to.equal(true);
    expect(fs.existsSync(orphan)).to.equal(false);
  });

  it("of eight runs taking over the same stale lock at once, exactly one gets the stack", async () => {
    for (let round = 0; round < 3; round++) {
      const d = dir();
      expect(acquireDriverLock(d, "s", holder("killed", deadPid())).ok).to.equal(true);
      const locks = require.resolve("../automation/driver/locks");
      const script = `const { acquireDriverLock } = require(${JSON.stringify(locks)}); const os = require("os");
        setTimeout(() => { const r = acquireDriverLock(${JSON.stringify(d)}, "s", { runId: process.argv[1], pid: process.pid, host: os.hostname(), operator: "t", command: "c", since: "now" });
        console.log(r.ok ? "ok" : "refused"); setTimeout(() => {}, 1500); }, 300);`;
      const runs = Array.from({ length: 8 }, (_, i) =>
        new Promise<string>((resolve) => {
          const c = spawn(process.execPath, ["-e", script, `run-${i}`], { stdio: ["ignore", "pipe", "inherit"] });
          let out = "";
          c.stdout.on("data", (b: Buffer) => (out += b.toString()));
          c.on("close", () => resolve(out.trim()));
        }),
      );
      const results = await Promise.all(runs);
      expect(results.filter((r) => r === "ok"), `round ${round}: ${results.join(" ")}`).to.have.length(1);
      expect(readDriverLock(d, "s")?.runId).to.match(/^run-\d$/);
    }
  });

  it("an audit line torn by a kill does not swallow the next run's first entry", () => {
    const d = dir();
    new AuditLog(d, "r1", "op").append({ action: "run-start", result: "ok" });
    fs.appendFileSync(path.join(d, "audit.jsonl"), '{"time":"2026-11-28T00:00:00Z","runId":"r1","act');
    new AuditLog(d, "r2", "op").append({ action: "run-start", result: "ok", message: "after the crash" });
    const entries = readAudit(d);
    expect(entries.map((e) => e.runId)).to.deep.equal(["r1", "r2"]);
    expect(entries[1].message).to.equal("after the crash");
  });
});
