/**
 * The controllers and kubelets a test API server lacks, as far as the real Helm and the real
 * pulumi-kubernetes provider wait on them, and no further:
 * - DaemonSets: a pod on every node the scheduler's rules allow (test/scheduling.ts), replaced when
 *   the pod template changes, removed where it no longer fits; the status the DaemonSet controller
 *   reports (Helm's `--wait` and the provider's await read it);
 * - Deployments: a ReplicaSet per pod template (owned by the Deployment, as Helm looks it up), its
 *   pods, old ReplicaSets gone, the Deployment's status and conditions;
 * - the garbage collector: an object deleted in the foreground (pulumi-kubernetes deletes so) loses
 *   its dependents and then its `foregroundDeletion` finalizer; pods and ReplicaSets whose owner is
 *   gone are deleted;
 * - the node lifecycle controller and pod GC: a Ready node loses the `node.kubernetes.io/not-ready`
 *   taint the API server put on it at registration; pods bound to a node that is gone are deleted;
 * - the Cilium agent: once its pod is ready on a node, the node loses the
 *   `node.cilium.io/agent-not-ready` taint, as the agent removes it.
 * Pods become Running and Ready at once. Everything is reconciled every `intervalMs` while started.
 */
import { createHash } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import { fits } from "./scheduling";

const merge = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);
const AGENT_NOT_READY = "node.cilium.io/agent-not-ready";
const NOT_READY = "node.kubernetes.io/not-ready";
/** What the project's charts and unchain create, which pulumi-kubernetes may delete in the foreground. */
const FOREGROUND_KINDS = [
  { apiVersion: "v1", kind: "ConfigMap" },
  { apiVersion: "v1", kind: "Secret" },
  { apiVersion: "v1", kind: "ServiceAccount" },
  { apiVersion: "apps/v1", kind: "DaemonSet" },
  { apiVersion: "apps/v1", kind: "Deployment" },
  { apiVersion: "apps/v1", kind: "ReplicaSet" },
];

type WithCode = { code?: number };
const ignore404 = (e: WithCode) => {
  if (e.code !== 404 && e.code !== 409) throw e;
};

export function templateHash(t: k8s.V1PodTemplateSpec): string {
  return createHash("sha256").update(JSON.stringify(t)).digest("hex").slice(0, 10);
}

export class StandInControllers {
  private readonly core: k8s.CoreV1Api;
  private readonly apps: k8s.AppsV1Api;
  private readonly objects: k8s.KubernetesObjectApi;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  /** Errors of the last reconcile, for a test to show when something never became ready. */
  lastError?: string;

  constructor(kc: k8s.KubeConfig, private readonly intervalMs = 300) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.apps = kc.makeApiClient(k8s.AppsV1Api);
    this.objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  }

  start(): void {
    const tick = () => {
      this.running = this.reconcile()
        .then(() => {
          this.lastError = undefined;
        })
        .catch((e: Error & { body?: unknown }) => {
          this.lastError = `${e.message} ${JSON.stringify(e.body ?? "")}`;
        })
        .finally(() => {
          if (this.timer) this.timer = setTimeout(tick, this.intervalMs);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    const t = this.timer;
    this.timer = undefined;
    if (t) clearTimeout(t);
    await this.running;
  }

  async reconcile(): Promise<void> {
    const nodes = (await this.core.listNode()).items;
    let pods = (await this.core.listPodForAllNamespaces()).items.filter((p) => !p.metadata?.deletionTimestamp);
    // DaemonSets whose pods need another pod on the node (Cilium's envoy next to its agent) after the others.
    const dss = (await this.apps.listDaemonSetForAllNamespaces()).items.sort(
      (a, b) => Number(!!a.spec?.template.spec?.affinity?.podAffinity) - Number(!!b.spec?.template.spec?.affinity?.podAffinity),
    );
    const deployments = (await this.apps.listDeploymentForAllNamespaces()).items;
    await this.collectGarbage(dss, deployments, pods);
    await this.nodeLifecycle(nodes, pods);
    pods = (await this.core.listPodForAllNamespaces()).items.filter((p) => !p.metadata?.deletionTimestamp);
    for (const ds of dss) if (!ds.metadata?.deletionTimestamp) pods = await this.daemonSet(ds, nodes, pods);
    for (const d of deployments) if (!d.metadata?.deletionTimestamp) pods = await this.deployment(d, nodes, pods);
    await this.agentReady(nodes, pods);
  }

  private async collectGarbage(dss: k8s.V1DaemonSet[], deployments: k8s.V1Deployment[], pods: k8s.V1Pod[]): Promise<void> {
    const replicaSets = (await this.apps.listReplicaSetForAllNamespaces()).items;
    const owners = new Set([...dss, ...deployments, ...replicaSets].filter((o) => !o.metadata?.deletionTimestamp).map((o) => o.metadata!.uid!));
    const controlledBy = (m: k8s.V1ObjectMeta | undefined) => (m?.ownerReferences ?? []).find((o) => o.controller);
    // Dependents of what is gone or going.
    for (const p of pods) {
      const o = controlledBy(p.metadata);
      if (o && (o.kind === "DaemonSet" || o.kind === "ReplicaSet") && !owners.has(o.uid)) await this.deletePod(p);
    }
    for (const rs of replicaSets) {
      const o = controlledBy(rs.metadata);
      if (o?.kind === "Deployment" && !owners.has(o.uid)) await this.apps.deleteNamespacedReplicaSet({ name: rs.metadata!.name!, namespace: rs.metadata!.namespace! }).catch(ignore404);
    }
    // Then whatever was deleted in the foreground and has no dependents left loses the finalizer that held it.
    const left = new Set([...(await this.core.listPodForAllNamespaces()).items, ...(await this.apps.listReplicaSetForAllNamespaces()).items].flatMap((o) => (o.metadata?.ownerReferences ?? []).map((r) => r.uid)));
    for (const { apiVersion, kind } of FOREGROUND_KINDS) {
      const items = (await this.objects.list(apiVersion, kind)).items;
      for (const o of items) {
        const fin = o.metadata?.finalizers ?? [];
        if (!o.metadata?.deletionTimestamp || !fin.includes("foregroundDeletion") || left.has(o.metadata.uid!)) continue;
        const body = { apiVersion, kind, metadata: { name: o.metadata.name, namespace: o.metadata.namespace, finalizers: fin.filter((f) => f !== "foregroundDeletion") } };
        await this.objects.patch(body, undefined, undefined, undefined, undefined, k8s.PatchStrategy.MergePatch).catch(ignore404);
      }
    }
  }

  /** What the node lifecycle controller and pod GC do: a Ready node loses `not-ready`; pods of deleted nodes go. */
  private async nodeLifecycle(nodes: k8s.V1Node[], pods: k8s.V1Pod[]): Promise<void> {
    const names = new Set(nodes.map((n) => n.metadata!.name!));
    for (const p of pods) if (p.spec?.nodeName && !names.has(p.spec.nodeName)) await this.deletePod(p);
    for (const n of nodes) {
      const ready = (n.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
      const taints = n.spec?.taints ?? [];
      if (!ready || !taints.some((t) => t.key === NOT_READY)) continue;
      await this.core.patchNode({ name: n.metadata!.name!, body: { spec: { taints: taints.filter((t) => t.key !== NOT_READY) } } }, merge);
    }
  }

  private async createPod(body: k8s.V1Pod): Promise<k8s.V1Pod | undefined> {
    const ns = body.metadata!.namespace!;
    const created = await this.core.createNamespacedPod({ namespace: ns, body }).catch((e: WithCode) => (ignore404(e), undefined));
    if (!created) return undefined;
    const now = new Date();
    await this.core.patchNamespacedPodStatus(
      { name: created.metadata!.name!, namespace: ns, body: { status: { phase: "Running", startTime: now, conditions: [{ type: "Ready", status: "True", lastTransitionTime: now }] } } },
      merge,
    );
    return created;
  }

  private async deletePod(p: k8s.V1Pod): Promise<void> {
    await this.core.deleteNamespacedPod({ name: p.metadata!.name!, namespace: p.metadata!.namespace!, gracePeriodSeconds: 0 }).catch(ignore404);
  }

  private ownedBy(pods: k8s.V1Pod[], uid: string): k8s.V1Pod[] {
    return pods.filter((p) => (p.metadata?.ownerReferences ?? []).some((o) => o.uid === uid));
  }

  private async daemonSet(ds: k8s.V1DaemonSet, nodes: k8s.V1Node[], pods: k8s.V1Pod[]): Promise<k8s.V1Pod[]> {
    const ns = ds.metadata!.namespace!;
    const uid = ds.metadata!.uid!;
    const hash = templateHash(ds.spec!.template);
    const mine = this.ownedBy(pods, uid);
    let all = pods;
    const eligible = nodes.filter((n) => fits(ds.spec!.template.spec!, ns, n, all.filter((p) => p.spec?.nodeName === n.metadata!.name && !mine.includes(p)), { daemonSet: true }));
    const names = new Set(eligible.map((n) => n.metadata!.name!));
    for (const p of mine)
      if (!names.has(p.spec!.nodeName!) || p.metadata?.labels?.["controller-revision-hash"] !== hash) {
        await this.deletePod(p);
        all = all.filter((x) => x !== p);
      }
    for (const n of eligible) {
      const node = n.metadata!.name!;
      if (all.some((p) => p.spec?.nodeName === node && p.metadata?.labels?.["controller-revision-hash"] === hash && (p.metadata?.ownerReferences ?? []).some((o) => o.uid === uid))) continue;
      const t = ds.spec!.template;
      const pod = await this.createPod({
        metadata: {
          name: `${ds.metadata!.name}-${hash.slice(0, 5)}-${node}`.slice(0, 253),
          namespace: ns,
          labels: { ...(t.metadata?.labels ?? {}), "controller-revision-hash": hash },
          annotations: t.metadata?.annotations ?? {},
          ownerReferences: [{ apiVersion: "apps/v1", kind: "DaemonSet", name: ds.metadata!.name!, uid, controller: true }],
        },
        spec: { ...t.spec!, nodeName: node },
      });
      if (pod) all = [...all, pod];
    }
    const n = eligible.length;
    const s = ds.status;
    if (s?.observedGeneration !== ds.metadata!.generation || s?.desiredNumberScheduled !== n || s?.numberReady !== n || s?.updatedNumberScheduled !== n)
      await this.apps.patchNamespacedDaemonSetStatus(
        {
          name: ds.metadata!.name!,
          namespace: ns,
          body: { status: { observedGeneration: ds.metadata!.generation, desiredNumberScheduled: n, currentNumberScheduled: n, updatedNumberScheduled: n, numberReady: n, numberAvailable: n, numberUnavailable: 0, numberMisscheduled: 0 } },
        },
        merge,
      );
    return all;
  }

  private async deployment(d: k8s.V1Deployment, nodes: k8s.V1Node[], pods: k8s.V1Pod[]): Promise<k8s.V1Pod[]> {
    const ns = d.metadata!.namespace!;
    const name = d.metadata!.name!;
    const hash = templateHash(d.spec!.template);
    const replicas = d.spec!.replicas ?? 1;
    const rsName = `${name}-${hash}`;
    const owned = (await this.apps.listNamespacedReplicaSet({ namespace: ns })).items.filter((rs) => (rs.metadata?.ownerReferences ?? []).some((o) => o.uid === d.metadata!.uid && o.controller));
    let all = pods;
    for (const old of owned.filter((rs) => rs.metadata!.name !== rsName)) {
      for (const p of this.ownedBy(all, old.metadata!.uid!)) await this.deletePod(p);
      all = all.filter((p) => !this.ownedBy([p], old.metadata!.uid!).length);
      await this.apps.deleteNamespacedReplicaSet({ name: old.metadata!.name!, namespace: ns }).catch(ignore404);
    }
    let rs = owned.find((r) => r.metadata!.name === rsName);
    if (!rs) {
      const t = d.spec!.template;
      rs = await this.apps.createNamespacedReplicaSet({
        namespace: ns,
        body: {
          metadata: { name: rsName, namespace: ns, labels: { ...(t.metadata?.labels ?? {}), "pod-template-hash": hash }, ownerReferences: [{ apiVersion: "apps/v1", kind: "Deployment", name, uid: d.metadata!.uid!, controller: true }] },
          spec: {
            replicas,
            selector: { ...d.spec!.selector, matchLabels: { ...(d.spec!.selector.matchLabels ?? {}), "pod-template-hash": hash } },
            template: { ...t, metadata: { ...(t.metadata ?? {}), labels: { ...(t.metadata?.labels ?? {}), "pod-template-hash": hash } } },
          },
        },
      });
    }
    const rsUid = rs.metadata!.uid!;
    const mine = this.ownedBy(all, rsUid);
    const candidates = nodes.filter((n) => fits(rs!.spec!.template!.spec!, ns, n, []));
    for (let i = mine.length; i < replicas && candidates.length; i++) {
      const t = rs.spec!.template!;
      const pod = await this.createPod({
        metadata: { name: `${rsName}-${i}`, namespace: ns, labels: t.metadata?.labels ?? {}, annotations: t.metadata?.annotations ?? {}, ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: rsName, uid: rsUid, controller: true }] },
        spec: { ...t.spec!, nodeName: candidates[i % candidates.length].metadata!.name! },
      });
      if (pod) all = [...all, pod];
    }
    const ready = Math.min(replicas, this.ownedBy(all, rsUid).length);
    if (rs.status?.observedGeneration !== rs.metadata!.generation || rs.status?.readyReplicas !== ready)
      await this.apps.patchNamespacedReplicaSetStatus(
        { name: rsName, namespace: ns, body: { status: { observedGeneration: rs.metadata!.generation, replicas: ready, fullyLabeledReplicas: ready, readyReplicas: ready, availableReplicas: ready } } },
        merge,
      );
    if (d.status?.observedGeneration !== d.metadata!.generation || d.status?.readyReplicas !== ready) {
      const now = new Date();
      await this.apps.patchNamespacedDeploymentStatus(
        {
          name,
          namespace: ns,
          body: {
            status: {
              observedGeneration: d.metadata!.generation,
              replicas: ready,
              updatedReplicas: ready,
              readyReplicas: ready,
              availableReplicas: ready,
              unavailableReplicas: replicas - ready,
              conditions: [
                { type: "Available", status: ready >= replicas ? "True" : "False", reason: "MinimumReplicasAvailable", lastUpdateTime: now, lastTransitionTime: now },
                { type: "Progressing", status: "True", reason: "NewReplicaSetAvailable", message: `ReplicaSet "${rsName}" has successfully progressed.`, lastUpdateTime: now, lastTransitionTime: now },
              ],
            },
          },
        },
        merge,
      );
    }
    return all;
  }

  private async agentReady(nodes: k8s.V1Node[], pods: k8s.V1Pod[]): Promise<void> {
    const withAgent = new Set(pods.filter((p) => p.metadata?.namespace === "kube-system" && p.metadata?.labels?.["k8s-app"] === "cilium").map((p) => p.spec?.nodeName));
    for (const n of nodes) {
      const taints = n.spec?.taints ?? [];
      if (!withAgent.has(n.metadata!.name!) || !taints.some((t) => t.key === AGENT_NOT_READY)) continue;
      await this.core.patchNode({ name: n.metadata!.name!, body: { spec: { taints: taints.filter((t) => t.key !== AGENT_NOT_READY) } } }, merge);
    }
  }
}
