/**
 * Operations a killed `pulumi up` left unfinished. The engine records an operation as pending before it
 * asks the provider, and as done once the provider answered; a run killed in between leaves the state
 * not knowing that the provider did it. Resuming over that would create or update the resource a
 * second time (EKS refuses a second node group of one name; an update runs twice). So before a stack
 * goes on, its pending operations are resolved: a pending create whose ID follows from its inputs
 * (node group `<cluster>:<name>`, add-on `<cluster>:<name>`, Helm release `<namespace>/<name>`) is put
 * into the state as a resource under that ID, and a refresh then reads every resource back from its
 * provider: one the cloud has keeps its place with what the provider reports, one it does not have
 * is dropped (refresh's rule for a resource gone), and the next update creates it.
 *
 * Not `pulumi refresh --import-pending-creates`: with pulumi v3.274.1 on a file or S3 backend it turns
 * the pending creates into pending imports and then drops them without asking the provider (no Read
 * call; the resource is missing from the state afterwards), so the next update creates the resource
 * a second time — seen with test/failpoints.test.ts, killing `up` while a create was with the provider.
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
  /** URNs of pending creates the cloud had: now in the state under their IDs. */
  adopted?: string[];
  /** URNs of pending creates the cloud did not have: dropped, the next update creates them. */
  absent?: string[];
  /** Pending creates whose ID cannot be known: left for the operator, with what to run. */
  unresolved?: string;
}

/**
 * Puts each pending create of a cloud object into the state under its ID and reads the stack back
 * from the providers (pulumi refresh), then drops the engine's own pending creates; refuses where an
 * ID cannot be known.
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
  if (imports.length) await adoptPendingCreates(stack, new Map(imports.map((x) => [x.p.urn, x.id!])));
  await refresh(env, name, []);
  if ((await pendingOperations(stack)).some((p) => p.type === "creating" && engineOwn(p))) await refresh(env, name, ["--clear-pending-creates"]);
  const left = await pendingOperations(stack);
  if (left.length)
    return { resolved: [], unresolved: `pulumi refresh left ${left.length} pending operation(s) on stack ${name}: ${left.map((p) => `${p.type} ${p.urn}`).join(", ")}. Resolve them with pulumi refresh --stack ${name}, then run again.` };
  const kept = new Set((await stack.exportStack()).deployment.resources?.map((r: { urn: string }) => r.urn) ?? []);
  return { resolved: pending, adopted: imports.filter((x) => kept.has(x.p.urn)).map((x) => x.p.urn), absent: imports.filter((x) => !kept.has(x.p.urn)).map((x) => x.p.urn) };
}

interface StateResource {
  urn: string;
  id?: string;
  custom?: boolean;
  delete?: boolean;
  inputs?: Record<string, unknown>;
  outputs?: Record<string, unknown>;
  [key: string]: unknown;
}

/**
 * The state edit: each pending create named in `ids` becomes a resource with that ID, its outputs
 * the inputs it was created with until the refresh reads the real ones (a dynamic provider finds
 * its code there, `__provider`). Appended after the others: its parent, provider and dependencies
 * were registered before it, and nothing in the state can depend on it, as nothing waited for a
 * create that never answered. A create whose URN the state already holds (the new half of a
 * replacement) is left pending. `pulumi stack import` checks the result before taking it.
 */
async function adoptPendingCreates(stack: Stack, ids: Map<string, string>): Promise<void> {
  const state = await stack.exportStack();
  const d = state.deployment as { resources?: StateResource[]; pending_operations?: Array<{ type?: string; resource?: StateResource }> };
  const resources = d.resources ?? [];
  const present = new Set(resources.map((r) => r.urn));
  const left: NonNullable<typeof d.pending_operations> = [];
  for (const op of d.pending_operations ?? []) {
    const r = op.resource;
    const id = op.type === "creating" && r ? ids.get(r.urn) : undefined;
    if (!r || !id || present.has(r.urn)) {
      left.push(op);
      continue;
    }
    resources.push({ ...r, id, outputs: r.outputs && Object.keys(r.outputs).length ? r.outputs : (r.inputs ?? {}) });
    present.add(r.urn);
  }
  d.resources = resources;
  d.pending_operations = left;
  await stack.importStack(state);
}

function refresh(env: DriverEnvironment, name: string, extra: string[]): Promise<void> {
  const args = ["refresh", "--yes", "--non-interactive", "--skip-preview", "--stack", name, "--cwd", env.projectDir, ...extra];
  return new Promise<void>((resolve, reject) =>
    execFile(env.pulumiBinary, args, { env: { ...process.env, ...env.envVars }, maxBuffer: 32 << 20 }, (err, stdout, stderr) =>
      err ? reject(new Error(`pulumi refresh to resolve the pending operations failed: ${(stderr || stdout).split("\n").filter((l) => /error/i.test(l)).join(" ").trim() || err.message}`)) : resolve(),
    ),
  );
}
