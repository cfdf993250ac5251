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
import * as os from "node:os";
import { StateStore } from "./store";

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

const lockKey = (stack: string) => `locks/${stack}.json`;

function parseHolder(body: string): LockHolder | undefined {
  try {
    const h = JSON.parse(body) as LockHolder;
    if (typeof h.runId === "string" && typeof h.pid === "number" && typeof h.host === "string") return h;
  } catch {
    /* torn or empty */
  }
  return undefined;
}

export async function readDriverLock(store: StateStore, stack: string): Promise<LockHolder | undefined> {
  const o = await store.get(lockKey(stack));
  return o ? parseHolder(o.body) : undefined;
}

export type AcquireResult = { ok: true; tookOverFrom?: LockHolder } | { ok: false; holder: LockHolder; state: LockState };

/** A lock that cannot be read this long after it was written was left by a writer that died (older versions wrote it in place). */
const UNREADABLE_GRACE_MS = 10_000;

/**
 * Takes the stack's driver lock in the store. The lock is created only if absent, whole, in one
 * step (steps/store.ts: a hard link; S3 `If-None-Match: *`). A lock whose holder is provably gone
 * (same host, pid not running), or that cannot be read long after it was written, is taken over by
 * a compare-and-swap on the version that was judged stale (a marker and a re-read on files; S3
 * `If-Match`): of two runs taking over one stale lock exactly one gets the stack, and a lock taken
 * meanwhile is never overwritten. One from another host only with `breakUnknown` (--cancel-stale-locks).
 */
export async function acquireDriverLock(store: StateStore, stack: string, me: LockHolder, breakUnknown = false): Promise<AcquireResult> {
  const key = lockKey(stack);
  const text = JSON.stringify(me, null, 2) + "\n";
  for (let attempt = 0; attempt < 5; attempt++) {
    if (await store.createExclusive(key, text)) return { ok: true };
    const seen = await store.get(key);
    if (!seen) continue; // released meanwhile
    const holder = parseHolder(seen.body);
    if (holder?.runId === me.runId) return { ok: true };
    if (holder) {
      const state = lockState(holder.pid, holder.host);
      if (state === "alive" || (state === "unknown" && !breakUnknown)) return { ok: false, holder, state };
    } else if (Date.now() - seen.modified.getTime() < UNREADABLE_GRACE_MS) {
      await new Promise((r) => setTimeout(r, 200)); // being written by a writer of an older version: look again shortly
      continue;
    }
    if (await store.replaceIf(key, text, seen.version)) return holder ? { ok: true, tookOverFrom: holder } : { ok: true };
    await new Promise((r) => setTimeout(r, 50 + Math.random() * 100)); // another run took it over first
  }
  const last = await store.get(key);
  const holder = last ? parseHolder(last.body) : undefined;
  if (holder) return { ok: false, holder, state: lockState(holder.pid, holder.host) };
  return { ok: false, holder: { runId: "(a lock being written)", pid: 0, host: "?", operator: "?", command: `${store.where}/${key} unreadable`, since: "now" }, state: "alive" };
}

export async function releaseDriverLock(store: StateStore, stack: string, runId: string): Promise<void> {
  const holder = await readDriverLock(store, stack);
  if (holder?.runId === runId) await store.delete(lockKey(stack));
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

/**
 * Pulumi's locks on a stack, read from the backend itself (a file backend's folder or an S3
 * backend's bucket: `.pulumi/locks/organization/<project>/<stack>/<id>.json`, or `.pulumi/locks/<stack>/`
 * in older layouts).
 */
export async function pulumiLocks(backend: StateStore, project: string, stack: string): Promise<PulumiLock[]> {
  const out: PulumiLock[] = [];
  for (const dir of [`.pulumi/locks/organization/${project}/${stack}/`, `.pulumi/locks/${stack}/`]) {
    for (const key of (await backend.list(dir)).filter((k) => k.endsWith(".json") && !k.slice(dir.length).includes("/"))) {
      const o = await backend.get(key);
      if (!o) continue; // removed right now
      try {
        const l = JSON.parse(o.body) as { pid: number; username: string; hostname: string; timestamp: string };
        out.push({ file: `${backend.where.replace(/\/$/, "")}/${key}`, ...l, state: lockState(l.pid, l.hostname) });
      } catch {
        /* a lock being written right now */
      }
    }
  }
  return out;
}
