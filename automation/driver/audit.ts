/**
 * The audit log: one JSON line per action the driver takes, appended and never rewritten
 * (`.unchain/audit.jsonl`). It says who did what to which stack, what the preview showed, which
 * plan was applied and how it ended. It holds no config values, so no secret can reach it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ChangeCounts } from "./previewGate";

export type AuditAction =
  | "run-start"
  | "run-end"
  | "lock-taken-over"
  | "lock-refused"
  | "pulumi-lock-cancelled"
  | "resolve-pending"
  | "set-config"
  | "restore-config"
  | "preview"
  | "gate"
  | "up"
  | "verify"
  | "health"
  | "drain"
  /** A stage of a reverse step starts (`advance --rollback`): which, and what it does. */
  | "going-back";

export interface AuditEntry {
  time: string;
  runId: string;
  operator: string;
  action: AuditAction;
  stack?: string;
  wave?: string;
  phase?: number;
  /** For run-start: the command line's target phase; for a stack: where the run takes it. */
  target?: number;
  dryRun?: boolean;
  /** For run-start: the stacks the run covers. */
  stacks?: string[];
  result: "ok" | "failed" | "refused" | "cancelled";
  changes?: ChangeCounts;
  /** sha256 of the saved update plan that `up` was held to. */
  planDigest?: string;
  durationMs?: number;
  message?: string;
  /** For a gate: each change of the preview as the gate classified it (property paths, never values). */
  gated?: GatedChange[];
}

export interface GatedChange {
  op: string;
  type: string;
  name: string;
  kind: string;
  role?: string;
  release?: string;
  properties: string[];
  allowed: boolean;
}

export const AUDIT_FILE = "audit.jsonl";

export class AuditLog {
  readonly file: string;
  constructor(stateDir: string, private readonly runId: string, private readonly operator: string) {
    this.file = path.join(stateDir, AUDIT_FILE);
    fs.mkdirSync(stateDir, { recursive: true });
  }

  append(entry: Omit<AuditEntry, "time" | "runId" | "operator">): void {
    const line = JSON.stringify({ time: new Date().toISOString(), runId: this.runId, operator: this.operator, ...entry }) + "\n";
    // A run killed in the middle of a write leaves a line without its end: start on a line of our own.
    const torn = !endsWithNewline(this.file);
    // One write with O_APPEND: concurrent stacks never interleave inside a line.
    fs.appendFileSync(this.file, (torn ? "\n" : "") + line);
  }
}

/** Whether the file is empty, absent, or ends with a newline (its last line is whole). */
function endsWithNewline(file: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
  } catch {
    return true;
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size === 0) return true;
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, size - 1);
    return b[0] === 0x0a;
  } finally {
    fs.closeSync(fd);
  }
}

export function readAudit(stateDir: string): AuditEntry[] {
  let text: string;
  try {
    text = fs.readFileSync(path.join(stateDir, AUDIT_FILE), "utf8");
  } catch {
    return [];
  }
  const out: AuditEntry[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as AuditEntry);
    } catch {
      /* a line cut short by a crash: the entries around it still count */
    }
  }
  return out;
}
