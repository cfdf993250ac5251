/**
 * Operations a killed `pulumi up` left unfinished. The engine records an operation as pending before it
 * asks the provider, and as done once the provider answered; a run killed in between leaves the state
 * not knowing that the provider did it. Resuming over that would create or update the resource a
 * second time (EKS refuses a second node group of one name; an update runs twice). So before a stack
 * goes on, its pending operations are resolved the way Pulumi resolves them: a refresh reads each
 * resource back from the provider, and a pending create is imported under the ID the provider gave
 * it, which for unchain's resources follows from their inputs (node group `<cluster>:<name>`, add-on
 * `<cluster>:<name>`, Helm release `<namespace>/<name>`).
 */
import { execFile } from "node:child_process";
import { Stack } from "@pulumi/pulumi/automation";
import { DriverEnvironment } from "./environment";

/** The ID a resource's provider gives it, from its inputs, where it is deterministic. */
export type ResourceIds = (type: string, inputs: Record<string, unknown>) => string | undefined;

export interface PendingOperation {
  type: string;
  /** False for the stack and components: the engine's own, with no cloud object behind them. */
  custom: boolean;
  urn: string;
  resourceType: string;
  inputs: Record<string, unknown>;
}

interface ExportedDeployment {
  pending_operations?: Array<{ type?: string; resource?: { urn?: string; type?: string; custom?: boolean; inputs?: Record<string, unknown> } }>;
}

export async function pendingOperations(stack: Stack): Promise<PendingOperation[]> {
  const d = (await stack.exportStack()).deployment as ExportedDeployment;
  return (d.pending_operations ?? []).map((p) => ({
    type: p.type ?? "unknown",
    custom: p.resource?.custom ?? true,
    urn: p.resource?.urn ?? "",
    resourceType: p.resource?.type ?? "",
    inputs: p.resource?.inputs ?? {},
  }));
}

/**
 * A pending create with nothing behind it outside the state: the stack, a component, a provider. Such a
 * create is dropped rather than imported — the next update makes it again — and it must be: the engine
 * keeps pending creates across updates, and refuses to import one that is not custom ("has 'custom'
 * false but non-empty ID", pulumi v3.274.1).
 */
function engineOwn(p: PendingOperation): boolean {
  return !p.custom || p.resourceType.startsWith("pulumi:providers:");
}

export interface Resolution {
  resolved: PendingOperation[];
  /** Pending creates whose ID cannot be known: left for the operator, with what to run. */
  unresolved?: string;
}

/**
 * Refreshes the stack, importing each pending create of a cloud object under its ID, then dropping the
 * engine's own pending creates; refuses where an ID cannot be known. `--import-pending-creates` takes
 * one token per occurrence, URN and ID alternating; `--clear-pending-creates` drops every pending
 * create, so it runs only once nothing else is left.
 */
export async function resolvePending(env: DriverEnvironment, stack: Stack, name: string, ids: ResourceIds): Promise<Resolution> {
  const pending = await pendingOperations(stack);
  if (!pending.length) return { resolved: [] };
  const cloudCreates = pending.filter((p) => p.type === "creating" && !engineOwn(p));
  const imports = cloudCreates.map((p) => ({ p, id: ids(p.resourceType, p.inputs) }));
  const unknown = imports.filter((x) => !x.id);
  if (unknown.length)
    return {
      resolved: [],
      unresolved:
        `a killed update left ${unknown.length} pending create(s) whose ID unchain cannot know: ${unknown.map((x) => x.p.urn).join(", ")}. ` +
        `Find each in the cloud, then run pulumi refresh --stack ${name} --import-pending-creates <urn> --import-pending-creates <id> ` +
        `(or --clear-pending-creates where none was made), and run again.`,
    };
  await refresh(env, name, imports.flatMap((x) => ["--import-pending-creates", x.p.urn, "--import-pending-creates", x.id!]));
  if ((await pendingOperations(stack)).some((p) => p.type === "creating" && engineOwn(p))) await refresh(env, name, ["--clear-pending-creates"]);
  const left = await pendingOperations(stack);
  if (left.length)
    return { resolved: [], unresolved: `pulumi refresh left ${left.length} pending operation(s) on stack ${name}: ${left.map((p) => `${p.type} ${p.urn}`).join(", ")}. Resolve them with pulumi refresh --stack ${name}, then run again.` };
  return { resolved: pending };
}

function refresh(env: DriverEnvironment, name: string, extra: string[]): Promise<void> {
  const args = ["refresh", "--yes", "--non-interactive", "--skip-preview", "--stack", name, "--cwd", env.projectDir, ...extra];
  return new Promise<void>((resolve, reject) =>
    execFile(env.pulumiBinary, args, { env: { ...process.env, ...env.envVars }, maxBuffer: 32 << 20 }, (err, stdout, stderr) =>
      err ? reject(new Error(`pulumi refresh to resolve the pending operations failed: ${(stderr || stdout).split("\n").filter((l) => /error/i.test(l)).join(" ").trim() || err.message}`)) : resolve(),
    ),
  );
}
