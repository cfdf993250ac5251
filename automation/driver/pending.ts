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
  urn: string;
  resourceType: string;
  inputs: Record<string, unknown>;
}

interface ExportedDeployment {
  pending_operations?: Array<{ type?: string; resource?: { urn?: string; type?: string; inputs?: Record<string, unknown> } }>;
}

export async function pendingOperations(stack: Stack): Promise<PendingOperation[]> {
  const d = (await stack.exportStack()).deployment as ExportedDeployment;
  return (d.pending_operations ?? []).map((p) => ({ type: p.type ?? "unknown", urn: p.resource?.urn ?? "", resourceType: p.resource?.type ?? "", inputs: p.resource?.inputs ?? {} }));
}

export interface Resolution {
  resolved: PendingOperation[];
  /** Pending creates whose ID cannot be known: left for the operator, with what to run. */
  unresolved?: string;
}

/** Refreshes the stack, importing each pending create under its ID; refuses where an ID cannot be known. */
export async function resolvePending(env: DriverEnvironment, stack: Stack, name: string, ids: ResourceIds): Promise<Resolution> {
  const pending = await pendingOperations(stack);
  if (!pending.length) return { resolved: [] };
  const creates = pending.filter((p) => p.type === "creating");
  const imports = creates.map((p) => ({ p, id: ids(p.resourceType, p.inputs) }));
  const unknown = imports.filter((x) => !x.id);
  if (unknown.length)
    return {
      resolved: [],
      unresolved:
        `a killed update left ${unknown.length} pending create(s) whose ID unchain cannot know: ${unknown.map((x) => x.p.urn).join(", ")}. ` +
        `Find each in the cloud, then run pulumi refresh --stack ${name} --import-pending-creates <urn> <id> (or --clear-pending-creates where none was made), and run again.`,
    };
  const args = ["refresh", "--yes", "--non-interactive", "--skip-preview", "--stack", name, "--cwd", env.projectDir, ...imports.flatMap((x) => ["--import-pending-creates", x.p.urn, x.id!])];
  await new Promise<void>((resolve, reject) =>
    execFile(env.pulumiBinary, args, { env: { ...process.env, ...env.envVars }, maxBuffer: 32 << 20 }, (err, stdout, stderr) =>
      err ? reject(new Error(`pulumi refresh to resolve the pending operations failed: ${(stderr || stdout).split("\n").filter((l) => /error/i.test(l)).join(" ").trim() || err.message}`)) : resolve(),
    ),
  );
  return { resolved: pending };
}
