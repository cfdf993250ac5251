/**
 * What a driver run reports as it goes (the progress display renders these) and how each stack
 * ended (the closing summary).
 */
import { ChangeCounts } from "./previewGate";

export type PhaseStep = "set-config" | "preview" | "gate" | "health" | "drain" | "up" | "verify";

export type StackStatus =
  /** Reached the target phase in this run. */
  | "succeeded"
  /** Dry run: the next phase was previewed and passed the gate. */
  | "previewed"
  /** Already at (or past) the target: nothing to do. */
  | "skipped"
  /** A preview gate refused a change: nothing of that phase was applied. */
  | "refused"
  | "failed"
  /** Held by another driver run or a Pulumi lock. */
  | "locked"
  /** Never started (pause switch, or the wave or an earlier one stopped). */
  | "not-started"
  /** Started, then stopped between phases by the pause switch or the wave's failure policy. */
  | "stopped";

export interface StackResult {
  stack: string;
  wave?: string;
  status: StackStatus;
  target: number;
  /** Applied phase when the run reached the stack (undefined: never applied). */
  from?: number;
  /** Applied phase when the run left it. */
  reached?: number;
  phasesApplied: number[];
  /** The phase that failed or was refused, or the one previewed in a dry run. */
  phase?: number;
  changes?: ChangeCounts;
  error?: string;
  durationMs: number;
}

export type DriverEvent =
  | { type: "run-start"; command: string; target: number; dryRun: boolean; stacks: number }
  | { type: "wave-start"; wave: string; stacks: string[]; concurrency: number; index: number; of: number }
  | { type: "wave-end"; wave: string; healthy: boolean }
  | { type: "stack-start"; stack: string; wave?: string; from?: number; target: number; phases: number[] }
  | { type: "step"; stack: string; phase: number; step: PhaseStep; message?: string; label?: string }
  | { type: "progress"; stack: string; phase: number; done: number; total: number; label?: string }
  /** `label`: a stage of a reverse step ("going back 5→4, step 1 of 2"); phase is then the phase the step goes back to. */
  | { type: "phase-end"; stack: string; phase: number; status: "applied" | "previewed" | "refused" | "failed"; changes?: ChangeCounts; message?: string; label?: string }
  | { type: "stack-end"; result: StackResult }
  | { type: "note"; stack?: string; level: "info" | "warning"; message: string };

export type EventSink = (e: DriverEvent) => void;
