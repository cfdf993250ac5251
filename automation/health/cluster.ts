/**
 * What the health gates read of a cluster, as plain data: one snapshot of nodes, pods, DaemonSets,
 * PodDisruptionBudgets, CoreDNS, Cilium endpoints and network policies, read with paginated list
 * calls. The checks (checks.ts) are pure functions over it.
 */
import * as k8s from "@kubernetes/client-node";
import { Taint, TaintEffect } from "../../steps/affinity";

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

export interface NodeInfo {
  name: string;
  labels: Record<string, string>;
  taints: Taint[];
  ready: boolean;
  /** Why not, from the Ready condition. */
  readyReason?: string;
  unschedulable: boolean;
  /** What the kubelet offers pods (status.allocatable): millicores and bytes; undefined where it reports none. */
  allocatable?: Resources;
}

/** CPU in millicores, memory in bytes. */
export interface Resources {
  cpu: number;
  memory: number;
}

/** A Kubernetes quantity (`500m`, `2`, `1Gi`, `512M`, `1e3`) as a number: millicores for CPU, bytes otherwise. */
export function quantity(q: string | undefined, cpu: boolean): number {
  if (!q) return 0;
  const m = /^([0-9.e+-]+)([a-zA-Z]*)$/.exec(q.trim());
  if (!m) return 0;
  const n = Number(m[1]);
  const unit: Record<string, number> = { "": 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };
  const v = n * (unit[m[2]] ?? 1);
  return cpu ? Math.round(v * 1000) : Math.round(v);
}

export interface PodInfo {
  namespace: string;
  name: string;
  node?: string;
  labels: Record<string, string>;
  hostNetwork: boolean;
  phase: string;
  ready: boolean;
  owner?: { kind: string; name: string };
  /** A static pod's mirror: the kubelet owns it, eviction does not apply. */
  mirror: boolean;
  deleting: boolean;
  /** Owned by a controller that makes a replacement (a ReplicaSet, StatefulSet, Job, …). */
  controlled: boolean;
  /** Its emptyDir volumes: their data goes with the pod. */
  emptyDirs: string[];
  /** The PersistentVolumeClaims it mounts. */
  claims: string[];
  /** Its containers' requests (init containers aside). */
  requests: Resources;
}

export interface DaemonSetInfo {
  namespace: string;
  name: string;
  desired: number;
  available: number;
}

export interface PdbInfo {
  namespace: string;
  name: string;
  selector: LabelSelector;
  disruptionsAllowed: number;
  /** The disruption controller has not yet computed this PDB's status (the API server then refuses evictions). */
  unobserved: boolean;
}

export interface DeploymentInfo {
  namespace: string;
  name: string;
  replicas: number;
  available: number;
}

export interface PolicyInfo {
  kind: "NetworkPolicy" | "CiliumNetworkPolicy" | "CiliumClusterwideNetworkPolicy";
  namespace?: string;
  name: string;
  /** Pods it selects; undefined for a policy that selects by something other than pod labels. */
  selector?: LabelSelector;
}

export interface ClusterSnapshot {
  nodes: NodeInfo[];
  pods: PodInfo[];
  daemonSets: DaemonSetInfo[];
  pdbs: PdbInfo[];
  coreDns?: DeploymentInfo;
  /** `namespace/name` of every CiliumEndpoint (named after its pod). */
  ciliumEndpoints: Set<string>;
  policies: PolicyInfo[];
  /** The data of kube-system/cilium-config (what the agents and the operator read at start). */
  ciliumConfig?: Record<string, string>;
  /** kube-system/cilium-operator: the ConfigMap checksum its pod template carries (chart `operator.rollOutPods`), and its pods'. */
  ciliumOperator?: { templateChecksum?: string; pods: Array<{ name: string; checksum?: string; ready: boolean }> };
  /** `namespace/name` of every SecurityGroupPolicy (Security Groups for Pods, vpc-resource-controller). */
  securityGroupPolicies: string[];
}

/** The pod template annotation the Cilium chart stamps with its ConfigMap's checksum (operator.rollOutPods, rollOutCiliumPods). */
export const CONFIG_CHECKSUM = "cilium.io/cilium-configmap-checksum";

/** Every page of a list call. */
export async function listAll<T>(page: (cont: string | undefined) => Promise<{ items: T[]; metadata?: { _continue?: string; continue?: string } }>): Promise<T[]> {
  const out: T[] = [];
  let cont: string | undefined;
  do {
    const r = await page(cont);
    out.push(...r.items);
    // Typed lists spell the token _continue; custom objects come back as the API's own JSON: continue.
    cont = r.metadata?._continue || r.metadata?.continue || undefined;
  } while (cont);
  return out;
}

/** Objects per list call: big pages keep a 10,000-pod cluster to a handful of calls. */
const PAGE = 2000;

export function nodeInfo(n: k8s.V1Node): NodeInfo {
  const ready = n.status?.conditions?.find((c) => c.type === "Ready");
  return {
    name: n.metadata!.name!,
    labels: n.metadata?.labels ?? {},
    taints: (n.spec?.taints ?? []).map((t) => ({ key: t.key, ...(t.value !== undefined ? { value: t.value } : {}), effect: t.effect as TaintEffect })),
    ready: ready?.status === "True",
    ...(ready && ready.status !== "True" ? { readyReason: ready.reason ?? ready.status } : !ready ? { readyReason: "no Ready condition" } : {}),
    unschedulable: n.spec?.unschedulable === true,
    ...(n.status?.allocatable ? { allocatable: { cpu: quantity(n.status.allocatable.cpu, true), memory: quantity(n.status.allocatable.memory, false) } } : {}),
  };
}

export function podInfo(p: k8s.V1Pod): PodInfo {
  const owner = p.metadata?.ownerReferences?.find((o) => o.controller) ?? p.metadata?.ownerReferences?.[0];
  return {
    namespace: p.metadata!.namespace!,
    name: p.metadata!.name!,
    ...(p.spec?.nodeName ? { node: p.spec.nodeName } : {}),
    labels: p.metadata?.labels ?? {},
    hostNetwork: p.spec?.hostNetwork === true,
    phase: p.status?.phase ?? "Pending",
    ready: p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
    ...(owner ? { owner: { kind: owner.kind, name: owner.name } } : {}),
    mirror: p.metadata?.annotations?.["kubernetes.io/config.mirror"] !== undefined,
    deleting: p.metadata?.deletionTimestamp !== undefined,
    controlled: (p.metadata?.ownerReferences ?? []).some((o) => o.controller === true),
    emptyDirs: (p.spec?.volumes ?? []).filter((v) => v.emptyDir).map((v) => v.name),
    claims: (p.spec?.volumes ?? []).flatMap((v) => (v.persistentVolumeClaim ? [v.persistentVolumeClaim.claimName] : [])),
    requests: (p.spec?.containers ?? []).reduce((r, c) => ({ cpu: r.cpu + quantity(c.resources?.requests?.cpu, true), memory: r.memory + quantity(c.resources?.requests?.memory, false) }), { cpu: 0, memory: 0 }),
  };
}

export function pdbInfo(p: k8s.V1PodDisruptionBudget): PdbInfo {
  return {
    namespace: p.metadata!.namespace!,
    name: p.metadata!.name!,
    selector: (p.spec?.selector ?? {}) as LabelSelector,
    disruptionsAllowed: p.status?.disruptionsAllowed ?? 0,
    unobserved: (p.status?.observedGeneration ?? 0) < (p.metadata?.generation ?? 0),
  };
}

interface CustomList {
  items: Array<{ metadata: { name: string; namespace?: string }; spec?: { endpointSelector?: LabelSelector } }>;
  metadata?: { continue?: string };
}

export async function readCluster(kc: k8s.KubeConfig, pageSize = PAGE): Promise<ClusterSnapshot> {
  const opt = (cont: string | undefined) => ({ limit: pageSize, ...(cont ? { _continue: cont } : {}) });
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const policy = kc.makeApiClient(k8s.PolicyV1Api);
  const net = kc.makeApiClient(k8s.NetworkingV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const customList = (plural: string) => (cont: string | undefined) =>
    custom.listClusterCustomObject({ group: "cilium.io", version: "v2", plural, ...opt(cont) }) as Promise<CustomList>;
  const optionalCustom = async (plural: string) => {
    try {
      return await listAll(customList(plural));
    } catch (e) {
      // No Cilium CRDs (a cluster before Cilium): nothing of that kind.
      if ((e as { code?: number }).code === 404) return [];
      throw e;
    }
  };
  const optional404 = <T>(p: Promise<T>): Promise<T | undefined> =>
    p.catch((e: { code?: number }) => {
      if (e.code === 404) return undefined;
      throw e;
    });
  const [nodes, pods, daemonSets, pdbs, netpols, cnps, ccnps, ceps, coreDns, ciliumConfig, operator, sgps] = await Promise.all([
    listAll((c) => core.listNode(opt(c))),
    listAll((c) => core.listPodForAllNamespaces(opt(c))),
    listAll((c) => apps.listDaemonSetForAllNamespaces(opt(c))),
    listAll((c) => policy.listPodDisruptionBudgetForAllNamespaces(opt(c))),
    listAll((c) => net.listNetworkPolicyForAllNamespaces(opt(c))),
    optionalCustom("ciliumnetworkpolicies"),
    optionalCustom("ciliumclusterwidenetworkpolicies"),
    optionalCustom("ciliumendpoints"),
    apps.readNamespacedDeployment({ name: "coredns", namespace: "kube-system" }).catch((e: { code?: number }) => {
      if (e.code === 404) return undefined;
      throw e;
    }),
    optional404(core.readNamespacedConfigMap({ name: "cilium-config", namespace: "kube-system" })),
    optional404(apps.readNamespacedDeployment({ name: "cilium-operator", namespace: "kube-system" })),
    // Security Groups for Pods: a CRD of the VPC resource controller, absent where it is not used.
    optional404(listAll((c) => custom.listClusterCustomObject({ group: "vpcresources.k8s.aws", version: "v1beta1", plural: "securitygrouppolicies", ...opt(c) }) as Promise<CustomList>)),
  ]);
  const operatorPods = operator
    ? pods.filter((p) => p.metadata?.namespace === "kube-system" && Object.entries(operator.spec?.selector?.matchLabels ?? {}).every(([k, v]) => p.metadata?.labels?.[k] === v) && Object.keys(operator.spec?.selector?.matchLabels ?? {}).length > 0)
    : [];
  return {
    nodes: nodes.map(nodeInfo),
    pods: pods.map(podInfo),
    daemonSets: daemonSets.map((d) => ({
      namespace: d.metadata!.namespace!,
      name: d.metadata!.name!,
      desired: d.status?.desiredNumberScheduled ?? 0,
      available: d.status?.numberAvailable ?? 0,
    })),
    pdbs: pdbs.map(pdbInfo),
    ...(coreDns ? { coreDns: { namespace: "kube-system", name: "coredns", replicas: coreDns.spec?.replicas ?? 1, available: coreDns.status?.availableReplicas ?? 0 } } : {}),
    ciliumEndpoints: new Set(ceps.map((c) => `${c.metadata.namespace}/${c.metadata.name}`)),
    policies: [
      ...netpols.map((p): PolicyInfo => ({ kind: "NetworkPolicy", namespace: p.metadata!.namespace!, name: p.metadata!.name!, selector: (p.spec?.podSelector ?? {}) as LabelSelector })),
      ...cnps.map((p): PolicyInfo => ({ kind: "CiliumNetworkPolicy", namespace: p.metadata.namespace!, name: p.metadata.name, ...(p.spec?.endpointSelector ? { selector: p.spec.endpointSelector } : {}) })),
      ...ccnps.map((p): PolicyInfo => ({ kind: "CiliumClusterwideNetworkPolicy", name: p.metadata.name, ...(p.spec?.endpointSelector ? { selector: p.spec.endpointSelector } : {}) })),
    ],
    ...(ciliumConfig ? { ciliumConfig: ciliumConfig.data ?? {} } : {}),
    ...(operator
      ? {
          ciliumOperator: {
            ...(operator.spec?.template?.metadata?.annotations?.[CONFIG_CHECKSUM] ? { templateChecksum: operator.spec.template.metadata.annotations[CONFIG_CHECKSUM] } : {}),
            pods: operatorPods.map((p) => ({
              name: p.metadata!.name!,
              ...(p.metadata?.annotations?.[CONFIG_CHECKSUM] ? { checksum: p.metadata.annotations[CONFIG_CHECKSUM] } : {}),
              ready: p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
            })),
          },
        }
      : {}),
    securityGroupPolicies: (sgps ?? []).map((p) => `${p.metadata.namespace}/${p.metadata.name}`),
  };
}
