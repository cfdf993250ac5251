/**
 * Staging a cluster's situation in a real API server with no kubelets and no controllers: nodes
 * with their status, DaemonSets with their status, pods bound to nodes with their status, PDBs with
 * the status the disruption controller would compute, CiliumEndpoints. The test plays the kubelet
 * where it must (pods leaving after an eviction).
 */
import * as k8s from "@kubernetes/client-node";
import { isClosingTaint, PhaseState, PoolState } from "../steps/desired";
import { PHASES } from "../steps/phases";
import { CNI_LABEL, PoolRole, ROLE_LABEL } from "../steps/roles";

export interface NodeSpec {
  name: string;
  role: PoolRole;
  /** EKS node group name (label eks.amazonaws.com/nodegroup). */
  group: string;
  ready?: boolean;
  taints?: Array<{ key: string; value?: string; effect: string }>;
  labels?: Record<string, string>;
}

export interface PodSpec {
  namespace?: string;
  name: string;
  node: string;
  labels?: Record<string, string>;
  /** Owned by this DaemonSet (kube-system). */
  daemonSet?: string;
  hostNetwork?: boolean;
  ready?: boolean;
  /** No controller (a pod created by hand); otherwise a workload pod is owned by a ReplicaSet. */
  bare?: boolean;
  /** An emptyDir volume of this name. */
  emptyDir?: string;
  /** A PersistentVolumeClaim of this name, mounted. */
  claim?: string;
  /** Container requests, as a manifest says them (`500m`, `1Gi`). */
  requests?: { cpu?: string; memory?: string };
}

const merge = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);

export class Stage {
  readonly core: k8s.CoreV1Api;
  readonly apps: k8s.AppsV1Api;
  readonly policy: k8s.PolicyV1Api;
  readonly custom: k8s.CustomObjectsApi;
  readonly net: k8s.NetworkingV1Api;
  private namespaces = new Set<string>(["default", "kube-system"]);

  constructor(readonly kc: k8s.KubeConfig) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.apps = kc.makeApiClient(k8s.AppsV1Api);
    this.policy = kc.makeApiClient(k8s.PolicyV1Api);
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.net = kc.makeApiClient(k8s.NetworkingV1Api);
  }

  async namespace(ns: string): Promise<void> {
    if (this.namespaces.has(ns)) return;
    await this.core.createNamespace({ body: { metadata: { name: ns } } }).catch((e: { code?: number }) => {
      if (e.code !== 409) throw e;
    });
    this.namespaces.add(ns);
  }

  async node(n: NodeSpec): Promise<void> {
    await this.core.createNode({
      body: {
        metadata: { name: n.name, labels: { [CNI_LABEL]: ROLE_LABEL[n.role], "eks.amazonaws.com/nodegroup": n.group, ...n.labels } },
        spec: { taints: n.taints ?? [] },
      },
    });
    await this.setNodeReady(n.name, n.ready ?? true);
  }

  async setNodeReady(name: string, ready: boolean): Promise<void> {
    const now = new Date();
    await this.core.patchNodeStatus(
      { name, body: { status: { conditions: [{ type: "Ready", status: ready ? "True" : "False", reason: ready ? "KubeletReady" : "KubeletNotReady", lastHeartbeatTime: now, lastTransitionTime: now }] } } },
      merge,
    );
  }

  async taint(name: string, taints: Array<{ key: string; value?: string; effect: string }>): Promise<void> {
    await this.core.patchNode({ name, body: { spec: { taints } } }, merge);
  }

  async daemonSet(name: string, desired: number, available: number): Promise<void> {
    const labels = { "k8s-app": name };
    await this.apps.createNamespacedDaemonSet({
      namespace: "kube-system",
      body: { metadata: { name }, spec: { selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name, image: `${name}:test` }] } } } },
    });
    await this.apps.patchNamespacedDaemonSetStatus(
      { name, namespace: "kube-system", body: { status: { desiredNumberScheduled: desired, currentNumberScheduled: desired, numberMisscheduled: 0, numberReady: available, numberAvailable: available } } },
      merge,
    );
  }

  async pod(p: PodSpec): Promise<void> {
    const namespace = p.daemonSet ? "kube-system" : (p.namespace ?? "default");
    await this.namespace(namespace);
    const owner = p.daemonSet
      ? [{ apiVersion: "apps/v1", kind: "DaemonSet", name: p.daemonSet, uid: "00000000-0000-0000-0000-000000000000", controller: true }]
      : p.bare
        ? undefined
        : [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: `${p.name}-rs`, uid: "00000000-0000-0000-0000-000000000001", controller: true }];
    const volumes = [...(p.emptyDir ? [{ name: p.emptyDir, emptyDir: {} }] : []), ...(p.claim ? [{ name: "data", persistentVolumeClaim: { claimName: p.claim } }] : [])];
    await this.core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: p.name, labels: { ...(p.daemonSet ? { "k8s-app": p.daemonSet } : {}), ...p.labels }, ...(owner ? { ownerReferences: owner } : {}) },
        spec: { nodeName: p.node, hostNetwork: p.hostNetwork ?? false, containers: [{ name: "c", image: "app:test", ...(p.requests ? { resources: { requests: p.requests } } : {}) }], ...(volumes.length ? { volumes } : {}) },
      },
    });
    const ready = p.ready ?? true;
    await this.core.patchNamespacedPodStatus(
      { name: p.name, namespace, body: { status: { phase: "Running", conditions: [{ type: "Ready", status: ready ? "True" : "False" }] } } },
      merge,
    );
  }

  /** What the kubelet would report a node offers pods (status.allocatable). */
  async allocatable(name: string, cpu: string, memory: string): Promise<void> {
    await this.core.patchNodeStatus({ name, body: { status: { allocatable: { cpu, memory, pods: "110" }, capacity: { cpu, memory, pods: "110" } } } }, merge);
  }

  /** An EBS-like PersistentVolume that lives in one AZ, and a claim bound to it. */
  async zonalVolume(namespace: string, claim: string, zone: string): Promise<void> {
    await this.boundVolume(namespace, claim, `ebs-${claim}`, "gp3", { csi: { driver: "ebs.csi.aws.com", volumeHandle: `vol-${claim}` } }, { key: "topology.ebs.csi.aws.com/zone", operator: "In", values: [zone] });
  }

  /** A local PersistentVolume on `node` and a claim bound to it. */
  async localVolume(namespace: string, claim: string, node: string): Promise<void> {
    await this.boundVolume(namespace, claim, `local-${claim}`, "local", { local: { path: "/mnt/disks/a" } }, { key: "kubernetes.io/hostname", operator: "In", values: [node] });
  }

  /** A PersistentVolume of this source and node affinity, and a claim bound to it (the binder's work, done here). */
  private async boundVolume(namespace: string, claim: string, pv: string, storageClassName: string, source: Partial<k8s.V1PersistentVolumeSpec>, where: k8s.V1NodeSelectorRequirement): Promise<void> {
    await this.core.createPersistentVolume({
      body: {
        metadata: { name: pv },
        spec: {
          capacity: { storage: "1Gi" },
          accessModes: ["ReadWriteOnce"],
          storageClassName,
          ...source,
          claimRef: { namespace, name: claim },
          nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [where] }] } },
        },
      },
    });
    await this.core.createNamespacedPersistentVolumeClaim({ namespace, body: { metadata: { name: claim }, spec: { accessModes: ["ReadWriteOnce"], storageClassName, volumeName: pv, resources: { requests: { storage: "1Gi" } } } } });
  }

  /** A PDB with the status the disruption controller would compute (none runs here). */
  async pdb(namespace: string, name: string, matchLabels: Record<string, string>, disruptionsAllowed: number): Promise<void> {
    await this.namespace(namespace);
    const created = await this.policy.createNamespacedPodDisruptionBudget({ namespace, body: { metadata: { name }, spec: { minAvailable: 1, selector: { matchLabels } } } });
    await this.policy.patchNamespacedPodDisruptionBudgetStatus(
      {
        name,
        namespace,
        body: { status: { observedGeneration: created.metadata?.generation ?? 1, disruptionsAllowed, currentHealthy: 1 + disruptionsAllowed, desiredHealthy: 1, expectedPods: 1 + disruptionsAllowed } },
      },
      merge,
    );
  }

  async ciliumEndpoint(namespace: string, name: string): Promise<void> {
    await this.namespace(namespace);
    await this.custom.createNamespacedCustomObject({ group: "cilium.io", version: "v2", namespace, plural: "ciliumendpoints", body: { apiVersion: "cilium.io/v2", kind: "CiliumEndpoint", metadata: { name, namespace } } });
  }

  async coreDns(replicas: number, available: number): Promise<void> {
    const labels = { "k8s-app": "kube-dns" };
    await this.apps.createNamespacedDeployment({
      namespace: "kube-system",
      body: { metadata: { name: "coredns" }, spec: { replicas, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: "coredns", image: "coredns:test" }] } } } },
    });
    await this.apps.patchNamespacedDeploymentStatus({ name: "coredns", namespace: "kube-system", body: { status: { replicas, availableReplicas: available, readyReplicas: available } } }, merge);
  }

  /** kube-system/cilium-config as the chart renders the keys the gates read. */
  async ciliumConfig(data: Record<string, string>): Promise<void> {
    await this.core.createNamespacedConfigMap({ namespace: "kube-system", body: { metadata: { name: "cilium-config" }, data } });
  }

  /**
   * kube-system/cilium-operator with the ConfigMap checksum its pod template carries (chart
   * `operator.rollOutPods`; undefined: off), and its pods, each with the checksum it started with.
   */
  async ciliumOperator(templateChecksum: string | undefined, pods: Array<{ name: string; node: string; checksum?: string; ready?: boolean }>): Promise<void> {
    const labels = { "io.cilium/app": "operator", name: "cilium-operator" };
    const annotations = (c: string | undefined) => (c ? { "cilium.io/cilium-configmap-checksum": c } : undefined);
    await this.apps.createNamespacedDeployment({
      namespace: "kube-system",
      body: { metadata: { name: "cilium-operator" }, spec: { replicas: pods.length, selector: { matchLabels: labels }, template: { metadata: { labels, annotations: annotations(templateChecksum) }, spec: { containers: [{ name: "operator", image: "cilium-operator:test" }] } } } },
    });
    for (const p of pods) {
      await this.core.createNamespacedPod({
        namespace: "kube-system",
        body: { metadata: { name: p.name, labels, annotations: annotations(p.checksum) }, spec: { nodeName: p.node, hostNetwork: true, containers: [{ name: "operator", image: "cilium-operator:test" }] } },
      });
      await this.core.patchNamespacedPodStatus({ name: p.name, namespace: "kube-system", body: { status: { phase: "Running", conditions: [{ type: "Ready", status: p.ready === false ? "False" : "True" }] } } }, merge);
    }
  }

  async networkPolicy(namespace: string, name: string, matchLabels: Record<string, string>): Promise<void> {
    await this.namespace(namespace);
    await this.net.createNamespacedNetworkPolicy({ namespace, body: { metadata: { name }, spec: { podSelector: { matchLabels }, policyTypes: ["Ingress"] } } });
  }

  /** Plays the kubelet: pods marked for deletion (after an eviction) are gone. */
  async finishTerminating(): Promise<number> {
    const pods = await this.core.listPodForAllNamespaces();
    const dying = pods.items.filter((p) => p.metadata?.deletionTimestamp);
    for (const p of dying) await this.core.deleteNamespacedPod({ name: p.metadata!.name!, namespace: p.metadata!.namespace!, gracePeriodSeconds: 0 }).catch(() => undefined);
    return dying.length;
  }

  /** Everything staged goes, for the next test. */
  async reset(): Promise<void> {
    for (const ns of this.namespaces) {
      await this.core.deleteCollectionNamespacedPod({ namespace: ns, gracePeriodSeconds: 0 });
      await this.policy.deleteCollectionNamespacedPodDisruptionBudget({ namespace: ns });
      await this.net.deleteCollectionNamespacedNetworkPolicy({ namespace: ns });
      await this.custom.deleteCollectionNamespacedCustomObject({ group: "cilium.io", version: "v2", namespace: ns, plural: "ciliumendpoints" });
    }
    await this.apps.deleteCollectionNamespacedDaemonSet({ namespace: "kube-system" });
    await this.core.deleteCollectionNamespacedConfigMap({ namespace: "kube-system", fieldSelector: "metadata.name=cilium-config" });
    await this.apps.deleteCollectionNamespacedDeployment({ namespace: "kube-system" });
    await this.core.deleteCollectionNode({});
  }
}

export interface SettledOptions {
  /** Nodes staged per node group (default 2). */
  nodesPerGroup?: (pool: PoolState) => number;
  /** Where CoreDNS and the cilium-operator run: nodes of pools of this role (default: the last open pools). */
  home?: PoolRole;
}

/**
 * Stages a cluster settled in `state`: nodes per node group with its labels and closing taints,
 * DaemonSets where the phase puts them, a workload pod per node (with a CiliumEndpoint on Cilium
 * nodes), CoreDNS, and Cilium's ConfigMap with an operator that rolled onto it.
 */
export async function settledAt(stage: Stage, state: PhaseState, opts: SettledOptions = {}): Promise<{ nodes: Array<{ name: string; role: PoolRole }> }> {
  const spec = PHASES[state.phase];
  const ciliumRoles: PoolRole[] = spec.cilium.release === "none" ? [] : spec.cilium.roles;
  const nodes: Array<{ name: string; role: PoolRole }> = [];
  for (const pool of state.pools)
    for (let i = 0; i < (opts.nodesPerGroup?.(pool) ?? 2); i++) {
      const name = `${pool.nodeGroupName}-${i}`;
      // Cilium lifts agent-not-ready once its agent is up; the closing taints stay.
      await stage.node({ name, role: pool.role, group: pool.nodeGroupName, labels: pool.labels, taints: pool.taints.filter(isClosingTaint).map((t) => ({ key: t.key, ...(t.value !== undefined ? { value: t.value } : {}), effect: t.effect })) });
      nodes.push({ name, role: pool.role });
    }
  const place = async (ds: string, roles: PoolRole[] | "all") => {
    const on = nodes.filter((n) => roles === "all" || roles.includes(n.role));
    await stage.daemonSet(ds, on.length, on.length);
    for (const n of on) await stage.pod({ name: `${ds}-${n.name}`, node: n.name, daemonSet: ds, hostNetwork: true });
  };
  if (spec.awsNode.present) await place("aws-node", spec.awsNode.roles);
  if (ciliumRoles.length) {
    await place("cilium", ciliumRoles);
    await place("cilium-envoy", ciliumRoles);
  }
  for (const n of nodes) {
    await stage.pod({ name: `web-${n.name}`, node: n.name, labels: { app: "web" } });
    if (ciliumRoles.includes(n.role)) await stage.ciliumEndpoint("default", `web-${n.name}`);
  }
  await stage.coreDns(2, 2);
  const open = nodes.filter((n) => state.pools.find((p) => n.name.startsWith(p.nodeGroupName) && !p.taints.some(isClosingTaint)));
  const home = opts.home ? nodes.filter((n) => n.role === opts.home) : open;
  if (state.cilium) {
    // What the chart renders of the release's values, and an operator that rolled onto it.
    await stage.ciliumConfig({ "unmanaged-pod-watcher-interval": state.cilium.unmanagedPodWatcherRestart ? "15" : "0", "policy-audit-mode": String(state.cilium.values.policyAuditMode === true) });
    // On the last pool (not one a drain empties), as the scheduler might have put it.
    const host = (opts.home ? home : nodes)[(opts.home ? home : nodes).length - 1].name;
    await stage.ciliumOperator("c1", [{ name: "cilium-operator-0", node: host, checksum: "c1" }]);
  }
  for (const [i, n] of home.slice(-2).entries()) {
    await stage.pod({ namespace: "kube-system", name: `coredns-${i}`, node: n.name, labels: { "k8s-app": "kube-dns" } });
    if (ciliumRoles.includes(n.role)) await stage.ciliumEndpoint("kube-system", `coredns-${i}`);
  }
  return { nodes };
}
