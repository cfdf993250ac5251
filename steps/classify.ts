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
  if (chain.includes("unchain:index:CarriedSecret")) return { kind: "carriedSecret" };
  const owner = [...chain.slice(0, -1)].reverse().find((t) => t.startsWith("unchain:index:"));
  const kind = TYPE_KIND[type] ?? (type.startsWith("unchain:") || !owner ? undefined : OWNER_KIND[owner]);
  switch (kind) {
    case "nodePool": {
      const role = roleOfLabel(((inputs.labels ?? {}) as Record<string, string>).cni);
      return role ? { kind, role } : { kind };
    }
    case "ciliumRelease": {
      // By the resource's name (`<cluster>-cilium-<release>-release`): its values may be one unknown
      // Output in a real preview, where they hold the ARN of a role created in the same phase.
      const byName = /-cilium-(chained|eni)-release$/.exec(urn)?.[1] as CiliumRelease | undefined;
      const values = (inputs.values ?? {}) as { ipam?: { mode?: string } };
      return { kind, release: byName ?? (values.ipam?.mode === "eni" ? "eni" : "chained") };
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
 * Also the release's inputs the provider's Check derives from the chart and the values (`checksum`,
 * `resourceNames`): they change only with what they are derived from, which the gate judges itself.
 */
export const ENGINE_SIDE_PROPERTIES: Readonly<Partial<Record<ResourceKind, readonly string[]>>> = {
  ciliumRelease: ["repositoryOpts", "maxHistory", "timeout", "atomic", "cleanupOnFail", "skipAwait", "waitForJobs", "checksum", "resourceNames"],
  vpcCniAddon: ["resolveConflictsOnCreate", "resolveConflictsOnUpdate", "preserve"],
};

export interface ChangeToCheck extends Classified {
  op: ChangeOp;
  /** Property paths an update changes (`taints`, `values.operator.unmanagedPodWatcher.restart`). */
  properties: string[];
}

/** Whether `path` lies at or below one of the owned paths. */
export function ownedBy(path: string, owns: readonly string[]): boolean {
  return owns.some((o) => path === o || path.startsWith(`${o}.`) || path.startsWith(`${o}[`));
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
  const touched = change.properties.filter((p) => !engineSide.includes(p.split(/[.[]/)[0]));
  const candidates = spec.allowed.filter(
    (a) => a.kind === change.kind && ops.some((o) => a.ops.includes(o)) && (a.role === undefined || a.role === change.role) && (a.release === undefined || a.release === change.release),
  );
  const rule = candidates.find((a) => change.op !== "update" || a.owns === undefined || touched.every((p) => ownedBy(p, a.owns!)));
  if (rule) return { rule, allowed: true };
  const who = `${change.kind}${change.role ? ` (${change.role})` : ""}${change.release ? ` (${change.release})` : ""}`;
  if (change.op === "update" && candidates.length) {
    const owned = candidates.flatMap((a) => a.owns ?? []);
    const foreign = touched.filter((p) => !ownedBy(p, owned));
    return { allowed: false, reason: `phase ${spec.phase} (${spec.title}) owns ${owned.join(", ")} of this ${who}, not ${foreign.join(", ")}: a live setting no phase asked to change` };
  }
  const what = `${change.op} of ${who}${change.op === "update" ? ` touching ${touched.join(", ")}` : ""}`;
  return { allowed: false, reason: `phase ${spec.phase} (${spec.title}) does not call for a ${what}` };
}
