/**
 * Which kind of unchain resource a Pulumi resource is, from its URN (type chain) and inputs. The
 * offline plan and the driver's preview gate classify every step this way, then hold it against the
 * phase's `allowed` changes.
 */
import { AllowedChange, ChangeOp, CiliumRelease, PhaseSpec, ResourceKind } from "./phases";
import { PoolRole, roleOfLabel } from "./roles";

export interface Classified {
  kind: ResourceKind;
  role?: PoolRole;
  release?: CiliumRelease;
}

/** `urn:pulumi:stack::project::a$b$c::name` → [a, b, c] */
export function typeChain(urn: string): string[] {
  const parts = urn.split("::");
  return parts.length >= 4 ? parts[2].split("$") : [];
}

/** Kinds of resource known by their own type. */
const TYPE_KIND: Record<string, ResourceKind> = {
  "aws:eks/nodeGroup:NodeGroup": "nodePool",
  "kubernetes:helm.sh/v3:Release": "ciliumRelease",
  "aws:eks/addon:Addon": "vpcCniAddon",
};

/** Kinds of resource known by the unchain component that holds them. */
const OWNER_KIND: Record<string, ResourceKind> = {
  "unchain:index:NodePool": "nodePool",
  "unchain:index:CiliumRelease": "ciliumRelease",
  "unchain:index:VpcCniAddon": "vpcCniAddon",
};

/**
 * A resource's kind comes from its own type, or else from the unchain component that owns it: a
 * node pool is what a NodePool holds, whatever provider backs it (the driver's tests back it with
 * dynamic resources).
 */
export function classify(urn: string, type: string, inputs: Record<string, unknown>): Classified {
  const chain = typeChain(urn);
  if (type.startsWith("pulumi:providers:")) return { kind: "provider" };
  if (chain.includes("unchain:index:Sandbox")) return { kind: "sandbox" };
  if (chain.includes("unchain:index:CiliumOperatorRole")) return { kind: "operatorRole" };
  if (chain.includes("unchain:index:NodeAgent")) return { kind: "nodeAgent" };
  const owner = [...chain.slice(0, -1)].reverse().find((t) => t.startsWith("unchain:index:"));
  const kind = TYPE_KIND[type] ?? (type.startsWith("unchain:") || !owner ? undefined : OWNER_KIND[owner]);
  switch (kind) {
    case "nodePool": {
      const role = roleOfLabel(((inputs.labels ?? {}) as Record<string, string>).cni);
      return role ? { kind, role } : { kind };
    }
    case "ciliumRelease": {
      const values = (inputs.values ?? {}) as { ipam?: { mode?: string } };
      return { kind, release: values.ipam?.mode === "eni" ? "eni" : "chained" };
    }
    case "vpcCniAddon":
      return { kind };
  }
  return { kind: "component" };
}

/**
 * Inputs that exist only on Pulumi's side (how the provider carries out a change), not settings of the
 * live object: an update that allows a resource to change may set them. pulumi-kubernetes
 * `helm_release.go` (repositoryOpts, maxHistory, timeout, atomic, cleanupOnFail, skipAwait,
 * waitForJobs); terraform-provider-aws `addon.go` (resolve_conflicts_on_create/_on_update, preserve).
 */
export const ENGINE_SIDE_PROPERTIES: Readonly<Partial<Record<ResourceKind, readonly string[]>>> = {
  ciliumRelease: ["repositoryOpts", "maxHistory", "timeout", "atomic", "cleanupOnFail", "skipAwait", "waitForJobs"],
  vpcCniAddon: ["resolveConflictsOnCreate", "resolveConflictsOnUpdate", "preserve"],
};

export interface ChangeToCheck extends Classified {
  op: ChangeOp;
  /** Top-level properties an update touches. */
  properties: string[];
}

/**
 * The rule of the phase that allows this change, or why none does. In a sandbox the cluster is
 * created, not adopted, so a create stands where production imports.
 */
export function allowedBy(spec: PhaseSpec, change: ChangeToCheck, sandbox: boolean): { rule?: AllowedChange; allowed: boolean; reason?: string } {
  if (change.kind === "provider" || change.kind === "component") return { allowed: true };
  if (change.kind === "sandbox") return sandbox ? { allowed: true } : { allowed: false, reason: "sandbox resources in a production stack" };
  const ops: ChangeOp[] = sandbox && change.op === "create" ? ["create", "import"] : [change.op];
  const engineSide = ENGINE_SIDE_PROPERTIES[change.kind] ?? [];
  const touched = change.properties.filter((p) => !engineSide.includes(p));
  const rule = spec.allowed.find(
    (a) =>
      a.kind === change.kind &&
      ops.some((o) => a.ops.includes(o)) &&
      (a.role === undefined || a.role === change.role) &&
      (a.release === undefined || a.release === change.release) &&
      (change.op !== "update" || a.properties === undefined || touched.every((p) => a.properties!.includes(p))),
  );
  if (rule) return { rule, allowed: true };
  const what = `${change.op} of ${change.kind}${change.role ? ` (${change.role})` : ""}${change.release ? ` (${change.release})` : ""}${change.op === "update" ? ` touching ${change.properties.join(", ")}` : ""}`;
  return { allowed: false, reason: `phase ${spec.phase} (${spec.title}) does not call for a ${what}` };
}
