/**
 * Two kinds of lock guard a stack.
 *
 * - The driver's own lock (`.unchain/locks/<stack>.json`), held for the whole of a run over the
 *   stack, across phases: a second `unchain advance` is refused while another run holds it. It is
 *   created with O_EXCL, so two runs cannot both take it. A lock whose process is gone (same host,
 *   pid not running) was left by a killed run: it is reported and taken over, since its holder
 *   provably cannot come back. A lock from another host cannot be checked and is never taken over
 *   without --cancel-stale-locks.
 * - Pulumi's own lock, held by the CLI during one `up`. A killed CLI leaves it behind; the driver
 *   reports it and clears it (with `pulumi cancel`) only when told to.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface LockHolder {
  runId: string;
  pid: number;
  host: string;
  operator: string;
  command: string;
  since: string;
}

export type LockState = "alive" | "stale" | "unknown";

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Whether the process behind a lock still runs: only checkable on this host. */
export function lockState(pid: number, host: string): LockState {
  if (host !== os.hostname()) return "unknown";
  return pidAlive(pid) ? "alive" : "stale";
}

export function describeHolder(h: LockHolder): string {
  return `run ${h.runId} by ${h.operator} (pid ${h.pid} on ${h.host}, since ${h.since}: ${h.command})`;
}

function lockFile(stateDir: string, stack: string): string {
  return path.join(stateDir, "locks", `${stack}.json`);
}

export function readDriverLock(stateDir: string, stack: string): LockHolder | undefined {
  try {
    return JSON.parse(fs.readFileSync(lockFile(stateDir, stack), "utf8")) as LockHolder;
  } catch {
    return undefined;
  }
}

export type AcquireResult = { ok: true; tookOverFrom?: LockHolder } | { ok: false; holder: LockHolder; state: LockState };

export function acquireDriverLock(stateDir: string, stack: string, me: LockHolder, breakUnknown = false): AcquireResult {
  const file = lockFile(stateDir, stack);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  let tookOverFrom: LockHolder | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(file, JSON.stringify(me, null, 2) + "\n", { flag: "wx" });
      return tookOverFrom ? { ok: true, tookOverFrom } : { ok: true };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    const holder = readDriverLock(stateDir, stack);
    if (!holder) continue; // released between our attempt and the read
    if (holder.runId === me.runId) return { ok: true };
    const state = lockState(holder.pid, holder.host);
    if (state === "alive" || (state === "unknown" && !breakUnknown)) return { ok: false, holder, state };
    // Take over: rename away first, so that of two runs taking over, only one succeeds.
    const grave = `${file}.${me.runId}.stale`;
    try {
      fs.renameSync(file, grave);
      fs.rmSync(grave, { force: true });
      tookOverFrom = holder;
    } catch {
      /* another run took it over first; try again */
    }
  }
  const holder = readDriverLock(stateDir, stack);
  return holder ? { ok: false, holder, state: lockState(holder.pid, holder.host) } : { ok: false, holder: me, state: "unknown" };
}

export function releaseDriverLock(stateDir: string, stack: string, runId: string): void {
  const holder = readDriverLock(stateDir, stack);
  if (holder?.runId === runId) fs.rmSync(lockFile(stateDir, stack), { force: true });
}

/** A lock the Pulumi CLI holds (file backends: `.pulumi/locks/<org>/<project>/<stack>/<id>.json`). */
export interface PulumiLock {
  file: string;
  pid: number;
  username: string;
  hostname: string;
  timestamp: string;
  state: LockState;
}

export function describePulumiLock(l: PulumiLock): string {
  const who = `pulumi pid ${l.pid}, ${l.username}@${l.hostname}, since ${l.timestamp}`;
  if (l.state === "alive") return `held by a running update (${who})`;
  if (l.state === "stale") return `a stale Pulumi lock: its process is gone, an update was killed (${who}; ${l.file})`;
  return `a Pulumi lock from another machine (${who}; ${l.file})`;
}

/** Pulumi's locks on a stack of a file backend; [] for other backends (the CLI reports those). */
export function pulumiLocks(backendPath: string | undefined, project: string, stack: string): PulumiLock[] {
  if (!backendPath) return [];
  const root = path.join(backendPath, ".pulumi", "locks");
  const dirs = [path.join(root, "organization", project, stack), path.join(root, stack)];
  const out: PulumiLock[] = [];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = fs.readdirSync(dir).filter((n) => n.endsWith(".json"));
    } catch {
      continue;
    }
    for (const n of names) {
      const file = path.join(dir, n);
      try {
        const l = JSON.parse(fs.readFileSync(file, "utf8")) as { pid: number; username: string; hostname: string; timestamp: string };
        out.push({ file, ...l, state: lockState(l.pid, l.hostname) });
      } catch {
        /* a lock being written or removed right now */
      }
    }
  }
  return out;
}
