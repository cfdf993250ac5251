/**
 * What `unchain board` shows, read from where the driver keeps it: each stack's status (the backend's
 * checkpoints, the stack files, the locks — stackStatus), the audit trail and the pause switch (the
 * driver's store in the backend).
 */
import { projectWaves } from "../../config/waves";
import { readAudit } from "../driver/audit";
import { driverEnvironment } from "../driver/environment";
import { Selection, stackStatus } from "../driver/run";
import { storesOf } from "../driver/store";
import { describePause, pauseState } from "../driver/waves";
import { knownSecrets } from "../review/review";
import { BoardData } from "./board";

export async function gatherBoard(projectDir: string, sel: Selection, env: NodeJS.ProcessEnv = process.env, now: Date = new Date()): Promise<BoardData> {
  const { backend, stacks } = await stackStatus(projectDir, sel);
  const { store } = storesOf(driverEnvironment(projectDir, env, { passphrase: false, cli: false }));
  const [audit, pause] = await Promise.all([readAudit(store), pauseState(store)]);
  const { waves } = projectWaves(projectDir);
  const shown = new Set(stacks.map((r) => r.stack));
  return {
    generatedAt: now.toISOString(),
    backend,
    ...(pause ? { paused: describePause(pause) } : {}),
    waves: waves.map((w) => ({ name: w.name, stacks: w.stacks })),
    stacks,
    audit: audit.filter((e) => (e.stack ? shown.has(e.stack) : e.stacks?.some((s) => shown.has(s)) ?? false)),
    secrets: knownSecrets(env, projectDir),
  };
}
