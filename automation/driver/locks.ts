/**
 * Two kinds of lock guard a stack.
 *
 * - The driver's own lock (`.unchain/locks/<stack>.json`), held for the whole of a run over the
 *   stack, across phases: a second `unchain advance` is refused while another run holds it. It is
 *   created whole in one step (a hard link of a written file), so two runs cannot both take it and
 *   a kill never leaves an empty one. A lock whose process is gone (same host,
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

/** A lock file that cannot be read this long after it was written was left by a writer that died (older versions wrote it in place). */
const UNREADABLE_GRACE_MS = 10_000;

/**
 * Creates `file` holding `text`, only if it does not exist, in one step: the text goes to a private
 * temporary file first, which is then hard-linked to the name (link fails if the name exists). A
 * kill leaves either no lock or a whole one, never an empty one; the temporary file is removed
 * here, and one a kill left behind carries the dead pid in its name and is swept.
 */
export function createExclusive(file: string, text: string): boolean {
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  fs.writeFileSync(tmp, text, { flag: "wx" });
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** Removes temporary files of lock writers that are gone (a kill between writing and linking). */
function sweepTemporaries(dir: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const m = /\.(\d+)\.[a-z0-9]+\.tmp$/.exec(n);
    if (m && !pidAlive(Number(m[1]))) fs.rmSync(path.join(dir, n), { force: true });
  }
}

function readHolder(file: string): { holder?: LockHolder; unreadableFor?: number } {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return {}; // gone
  }
  try {
    const h = JSON.parse(text) as LockHolder;
    if (typeof h.runId === "string" && typeof h.pid === "number" && typeof h.host === "string") return { holder: h };
  } catch {
    /* torn or empty */
  }
  let age = 0;
  try {
    age = Date.now() - fs.statSync(file).mtimeMs;
  } catch {
    return {};
  }
  return { unreadableFor: age };
}

/**
 * Takes the stack's driver lock. A lock whose holder is provably gone (same host, pid not running),
 * or that cannot be read long after it was written, is taken over; one from another host only with
 * `breakUnknown` (--cancel-stale-locks). A take-over is itself guarded by an exclusive marker
 * (`<lock>.takeover`), and the lock is checked again under it, so that of two runs taking over
 * the same stale lock exactly one gets the stack, and a run never removes a lock taken meanwhile.
 */
export function acquireDriverLock(stateDir: string, stack: string, me: LockHolder, breakUnknown = false): AcquireResult {
  const file = lockFile(stateDir, stack);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  sweepTemporaries(path.dirname(file));
  const text = JSON.stringify(me, null, 2) + "\n";
  let tookOverFrom: LockHolder | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    if (createExclusive(file, text)) return tookOverFrom ? { ok: true, tookOverFrom } : { ok: true };
    const seen = readHolder(file);
    if (!seen.holder && seen.unreadableFor === undefined) continue; // released meanwhile
    if (seen.holder?.runId === me.runId) return { ok: true };
    if (seen.holder) {
      const state = lockState(seen.holder.pid, seen.holder.host);
      if (state === "alive" || (state === "unknown" && !breakUnknown)) return { ok: false, holder: seen.holder, state };
    } else if ((seen.unreadableFor ?? 0) < UNREADABLE_GRACE_MS) {
      // Being written by a writer of an older version, or torn a moment ago: look again shortly.
      sleepSync(200);
      continue;
    }
    // Take over under the marker.
    const marker = `${file}.takeover`;
    const markerHolder = readHolder(marker).holder;
    if (markerHolder && lockState(markerHolder.pid, markerHolder.host) === "stale") fs.rmSync(marker, { force: true });
    if (!createExclusive(marker, text)) {
      sleepSync(100);
      continue; // another run is taking it over
    }
    try {
      const again = readHolder(file);
      const same = seen.holder ? again.holder?.runId === seen.holder.runId : again.holder === undefined && again.unreadableFor !== undefined;
      if (same) {
        fs.rmSync(file, { force: true });
        if (seen.holder) tookOverFrom = seen.holder;
      }
    } finally {
      fs.rmSync(marker, { force: true });
    }
  }
  const last = readHolder(file);
  if (last.holder) return { ok: false, holder: last.holder, state: lockState(last.holder.pid, last.holder.host) };
  // Still unreadable, and too fresh to call dead: someone is writing it right now.
  return { ok: false, holder: { runId: "(a lock being written)", pid: 0, host: "?", operator: "?", command: `${file}, unreadable for ${Math.round((last.unreadableFor ?? 0) / 1000)} s`, since: "now" }, state: "alive" };
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
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
