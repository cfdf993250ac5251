/**
 * Named crash points for the crash tests (test/failpoints.test.ts), in the manner of etcd's gofail and
 * FoundationDB's simulation: `UNCHAIN_FAILPOINT=<point>[@<n>]` makes the driver kill itself with
 * SIGKILL the n-th time (default: the first) it reaches that point, so a test can stop it exactly
 * where a crash or an impatient operator would and check that the same command resumes from there.
 * Unset, a failpoint is one environment lookup and does nothing. Not a user setting: it is named
 * nowhere in --help or the README's command reference.
 */

export const FAILPOINTS = {
  /** The run holds its driver locks; nothing else happened yet. */
  lock: "after the run took its driver locks",
  /** `pulumi stack init` created the stack and rewrote the stack file; the file is not put back yet. */
  "stack-init": "after pulumi stack init, before the stack file is put back",
  /** The new stack file is written to its temporary file, not renamed into place yet. */
  "phase-edit": "while the phase edit's temporary file is written, before its rename",
  /** The preview is running in the engine. */
  preview: "during the preview",
  /** The update is running: the first resource step of `up` has finished. */
  up: "during up, after its first resource step",
  /** The update is running and has just sent its first create of a cloud resource to the provider. */
  create: "during up, while its first create is with the provider",
  /** The update finished; nothing after it (the audit line, the verifying preview) ran yet. */
  "after-up": "after up, before the step is recorded and verified",
  /** Half of an audit record is written (a torn line on a file backend). */
  audit: "in the middle of writing an audit record",
} as const;

export type FailpointName = keyof typeof FAILPOINTS;

const reached = new Map<string, number>();

function armed(): { point: string; nth: number } | undefined {
  const v = process.env.UNCHAIN_FAILPOINT;
  if (!v) return undefined;
  const m = /^([a-z-]+)(?:@(\d+))?$/.exec(v.trim());
  if (!m || !(m[1] in FAILPOINTS)) throw new Error(`UNCHAIN_FAILPOINT=${v}: not one of ${Object.keys(FAILPOINTS).join(", ")} (optionally @<n>)`);
  return { point: m[1], nth: Number(m[2] ?? "1") };
}

/** True when this arrival at `name` is the one UNCHAIN_FAILPOINT names (counting arrivals in this process). */
export function failpointHit(name: FailpointName): boolean {
  const a = armed();
  if (!a || a.point !== name) return false;
  const n = (reached.get(name) ?? 0) + 1;
  reached.set(name, n);
  return n === a.nth;
}

/** Dies here, at once and without cleanup, when UNCHAIN_FAILPOINT names this arrival at `name`. */
export function failpoint(name: FailpointName): void {
  if (failpointHit(name)) crash();
}

export function crash(): never {
  process.kill(process.pid, "SIGKILL");
  // SIGKILL cannot be caught; this line is never reached.
  throw new Error("unreachable");
}
