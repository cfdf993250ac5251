/**
 * Where the scheduler would put a DaemonSet's pod, by the rules Kubernetes documents, written here
 * from the documentation and apart from unchain's own placement code (steps/affinity.ts), so that
 * the tests hold one against the other:
 * - `nodeSelector`: every label must be on the node
 *   (https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodeselector);
 * - required node affinity: the terms are ORed, a term's expressions ANDed; an empty term matches
 *   nothing; `In`, `NotIn` (true where the label is absent), `Exists`, `DoesNotExist`, `Gt`, `Lt`
 *   (https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#NodeSelectorRequirement);
 * - taints: every NoSchedule and NoExecute taint must be tolerated; a toleration with an empty key
 *   and `Exists` tolerates everything, an empty effect matches every effect
 *   (https://kubernetes.io/docs/concepts/scheduling-eviction/taint-and-toleration/);
 * - the tolerations the DaemonSet controller adds to its pods
 *   (https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/#taints-and-tolerations);
 * - required inter-pod affinity and anti-affinity with topology `kubernetes.io/hostname`: a pod
 *   matching the term runs (does not run) on the node, in the pod's own namespace unless the term
 *   names others.
 */
import type * as k8s from "@kubernetes/client-node";

const DAEMONSET_TOLERATIONS: k8s.V1Toleration[] = [
  { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute" },
  { key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute" },
  { key: "node.kubernetes.io/disk-pressure", operator: "Exists", effect: "NoSchedule" },
  { key: "node.kubernetes.io/memory-pressure", operator: "Exists", effect: "NoSchedule" },
  { key: "node.kubernetes.io/pid-pressure", operator: "Exists", effect: "NoSchedule" },
  { key: "node.kubernetes.io/unschedulable", operator: "Exists", effect: "NoSchedule" },
];
const HOST_NETWORK_TOLERATION: k8s.V1Toleration = { key: "node.kubernetes.io/network-unavailable", operator: "Exists", effect: "NoSchedule" };

function requirement(r: k8s.V1NodeSelectorRequirement, labels: Record<string, string>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  const v = labels[r.key];
  switch (r.operator) {
    case "In":
      return has && (r.values ?? []).includes(v);
    case "NotIn":
      return !has || !(r.values ?? []).includes(v);
    case "Exists":
      return has;
    case "DoesNotExist":
      return !has;
    case "Gt":
      return has && Number.isInteger(Number(v)) && Number(v) > Number((r.values ?? [])[0]);
    case "Lt":
      return has && Number.isInteger(Number(v)) && Number(v) < Number((r.values ?? [])[0]);
    default:
      throw new Error(`unknown node selector operator ${r.operator}`);
  }
}

function term(t: k8s.V1NodeSelectorTerm, node: k8s.V1Node): boolean {
  const exprs = t.matchExpressions ?? [];
  const fields = t.matchFields ?? [];
  if (!exprs.length && !fields.length) return false;
  const labels = node.metadata?.labels ?? {};
  return exprs.every((e) => requirement(e, labels)) && fields.every((f) => requirement(f, { "metadata.name": node.metadata?.name ?? "" }));
}

function tolerated(tolerations: k8s.V1Toleration[], taint: k8s.V1Taint): boolean {
  return tolerations.some((t) => {
    if (t.effect && t.effect !== taint.effect) return false;
    if (t.operator === "Exists") return !t.key || t.key === taint.key;
    return t.key === taint.key && (t.value ?? "") === (taint.value ?? "");
  });
}

function selects(sel: k8s.V1LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!sel) return false;
  const ml = Object.entries(sel.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const me = (sel.matchExpressions ?? []).every((e) => {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    if (e.operator === "In") return has && (e.values ?? []).includes(labels[e.key]);
    if (e.operator === "NotIn") return !has || !(e.values ?? []).includes(labels[e.key]);
    if (e.operator === "Exists") return has;
    return !has;
  });
  return ml && me;
}

/** Would a pod of this template, in this namespace, be placed on `node` (already holding `podsOnNode`)? */
export function fits(spec: k8s.V1PodSpec, namespace: string, node: k8s.V1Node, podsOnNode: k8s.V1Pod[], opts: { daemonSet?: boolean } = {}): boolean {
  const labels = node.metadata?.labels ?? {};
  if (!Object.entries(spec.nodeSelector ?? {}).every(([k, v]) => labels[k] === v)) return false;
  const required = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (required && !required.nodeSelectorTerms.some((t) => term(t, node))) return false;
  const tolerations = [...(spec.tolerations ?? []), ...(opts.daemonSet ? DAEMONSET_TOLERATIONS : []), ...(opts.daemonSet && spec.hostNetwork ? [HOST_NETWORK_TOLERATION] : [])];
  for (const t of node.spec?.taints ?? []) if ((t.effect === "NoSchedule" || t.effect === "NoExecute") && !tolerated(tolerations, t)) return false;
  const onNode = (terms: k8s.V1PodAffinityTerm[] | undefined) =>
    (terms ?? [])
      .filter((t) => t.topologyKey === "kubernetes.io/hostname")
      .map((t) => podsOnNode.some((p) => (t.namespaces?.length ? t.namespaces : [namespace]).includes(p.metadata?.namespace ?? "") && selects(t.labelSelector, p.metadata?.labels ?? {})));
  if (!onNode(spec.affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution).every(Boolean)) return false;
  if (onNode(spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution).some(Boolean)) return false;
  return true;
}

/** Does the node accept pods at all (not cordoned, no NoSchedule/NoExecute taint an ordinary pod would need to tolerate)? */
export function holdsPods(node: k8s.V1Node): boolean {
  return !node.spec?.unschedulable;
}
