/**
 * The audit log: one JSON line per action the driver takes, appended and never rewritten
 * (`.unchain/audit.jsonl`). It says who did what to which stack, what the preview showed, which
 * plan was applied and how it ended. It holds no config values, so no secret can reach it.
 */
import { ChangeCounts } from "./previewGate";
import { StateStore } from "./store";

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

/** The audit trail's name in the driver's store (`audit.jsonl` in a file backend; one object per record under `audit/` on S3). */
export const AUDIT_LOG = "audit";

/**
 * The audit trail of one run. `append` never waits: records go to the store in order (a file
 * backend's are written at once, with O_APPEND, a torn line ended first); `flush` waits until every
 * record is stored, and says why one could not be.
 */
export class AuditLog {
  private pending: Promise<void> = Promise.resolve();
  private failure?: Error;
  constructor(private readonly store: StateStore, private readonly runId: string, private readonly operator: string) {}

  append(entry: Omit<AuditEntry, "time" | "runId" | "operator">): void {
    const line = JSON.stringify({ time: new Date().toISOString(), runId: this.runId, operator: this.operator, ...entry });
    this.pending = this.pending.then(() => this.store.appendRecord(AUDIT_LOG, line)).catch((e: Error) => {
      this.failure ??= e;
    });
  }

  async flush(): Promise<void> {
    await this.pending;
    if (this.failure) {
      const e = this.failure;
      this.failure = undefined;
      throw e;
    }
  }
}

export async function readAudit(store: StateStore): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  for (const line of await store.readRecords(AUDIT_LOG)) {
    try {
      out.push(JSON.parse(line) as AuditEntry);
    } catch {
      /* a line cut short by a crash: the entries around it still count */
    }
  }
  return out;
}
