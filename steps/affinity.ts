/**
 * Kubernetes node placement as plain data, and the scheduler's own matching rules over it.
 *
 * The invariants are checked against the placement that would really be deployed (Helm values and
 * add-on configuration after user overrides are merged), so matching follows the Kubernetes rules:
 * nodeSelectorTerms are ORed, the matchExpressions of one term are ANDed, a DaemonSet pod lands on a
 * node only if affinity and nodeSelector match and every NoSchedule/NoExecute taint is tolerated.
 */
import { CNI_LABEL, PoolRole, ROLE_LABEL } from "./roles";

export type SelectorOperator = "In" | "NotIn" | "Exists" | "DoesNotExist" | "Gt" | "Lt";

export interface NodeSelectorRequirement {
  key: string;
  operator: SelectorOperator;
  values?: string[];
}

export interface NodeSelectorTerm {
  matchExpressions?: NodeSelectorRequirement[];
}

export interface NodeAffinity {
  requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms: NodeSelectorTerm[] };
  preferredDuringSchedulingIgnoredDuringExecution?: unknown[];
}

export interface Affinity {
  nodeAffinity?: NodeAffinity;
  podAffinity?: unknown;
  podAntiAffinity?: unknown;
}

export type TaintEffect = "NoSchedule" | "NoExecute" | "PreferNoSchedule";

export interface Taint {
  key: string;
  value?: string;
  effect: TaintEffect;
}

export interface Toleration {
  key?: string;
  operator?: "Exists" | "Equal";
  value?: string;
  effect?: TaintEffect | "";
  tolerationSeconds?: number;
}

/** Where a DaemonSet's pods may run. */
export interface Placement {
  affinity?: Affinity;
  nodeSelector?: Record<string, string>;
  tolerations?: Toleration[];
}

/** What the scheduler sees of a node: its labels and taints. */
export interface NodeShape {
  labels: Record<string, string>;
  taints: Taint[];
}

export function requirementMatches(req: NodeSelectorRequirement, labels: Record<string, string>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, req.key);
  const value = labels[req.key];
  const values = req.values ?? [];
  switch (req.operator) {
    case "In":
      return has && values.includes(value);
    case "NotIn":
      return !has || !values.includes(value);
    case "Exists":
      return has;
    case "DoesNotExist":
      return !has;
    case "Gt":
    case "Lt": {
      if (!has || values.length !== 1) return false;
      const a = Number.parseInt(value, 10);
      const b = Number.parseInt(values[0], 10);
      if (Number.isNaN(a) || Number.isNaN(b)) return false;
      return req.operator === "Gt" ? a > b : a < b;
    }
  }
}

/** Terms are ORed; an empty term matches nothing (as in Kubernetes). */
export function termsMatch(terms: NodeSelectorTerm[], labels: Record<string, string>): boolean {
  return terms.some((t) => {
    const exprs = t.matchExpressions ?? [];
    return exprs.length > 0 && exprs.every((r) => requirementMatches(r, labels));
  });
}

export function affinityMatches(affinity: Affinity | undefined, labels: Record<string, string>): boolean {
  const required = affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (!required) return true;
  return termsMatch(required.nodeSelectorTerms ?? [], labels);
}

export function tolerates(tolerations: Toleration[], taint: Taint): boolean {
  return tolerations.some((t) => {
    if (t.effect && t.effect !== taint.effect) return false;
    if (t.operator === "Exists") return t.key === undefined || t.key === "" || t.key === taint.key;
    return t.key === taint.key && (t.value ?? "") === (taint.value ?? "");
  });
}

/** Would a DaemonSet with this placement run a pod on this node? */
export function runsOn(placement: Placement, node: NodeShape): boolean {
  const selector = placement.nodeSelector ?? {};
  if (!Object.entries(selector).every(([k, v]) => node.labels[k] === v)) return false;
  if (!affinityMatches(placement.affinity, node.labels)) return false;
  const hard = node.taints.filter((t) => t.effect !== "PreferNoSchedule");
  return hard.every((t) => tolerates(placement.tolerations ?? [], t));
}

/** `cni In [<labels of roles>]`: the requirement that pins a DaemonSet to pools of the given roles. */
export function roleRequirement(roles: readonly PoolRole[]): NodeSelectorRequirement {
  return { key: CNI_LABEL, operator: "In", values: roles.map((r) => ROLE_LABEL[r]) };
}

/**
 * Returns `affinity` with its required node affinity narrowed to pools of `roles`: the role
 * requirement is ANDed into every existing term (replacing an earlier `cni` requirement), or made the
 * only term when there is none. Pod (anti-)affinity and preferences are kept untouched.
 */
export function pinToRoles(affinity: Affinity | undefined, roles: readonly PoolRole[]): Affinity {
  const requirement = roleRequirement(roles);
  const base = affinity ?? {};
  const existing = base.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  const terms: NodeSelectorTerm[] = existing.length
    ? existing.map((t) => ({
        ...t,
        matchExpressions: [...(t.matchExpressions ?? []).filter((r) => r.key !== CNI_LABEL), requirement],
      }))
    : [{ matchExpressions: [requirement] }];
  return {
    ...base,
    nodeAffinity: {
      ...(base.nodeAffinity ?? {}),
      requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms },
    },
  };
}

/** Kubernetes spelling → EKS API spelling of taint effects (`NoSchedule` → `NO_SCHEDULE`). */
export const EKS_TAINT_EFFECT: Readonly<Record<TaintEffect, "NO_SCHEDULE" | "NO_EXECUTE" | "PREFER_NO_SCHEDULE">> = {
  NoSchedule: "NO_SCHEDULE",
  NoExecute: "NO_EXECUTE",
  PreferNoSchedule: "PREFER_NO_SCHEDULE",
};
