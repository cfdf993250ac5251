/**
 * Moving workloads off the pools of a role, as `kubectl drain` would but through unchain: cordon,
 * then evict every workload pod through the Eviction API, so PodDisruptionBudgets are respected; a
 * node at a time (or a configured number), each with a timeout. A pod that cannot be evicted stops
 * the drain with the pod and the budget that blocks it. Safe to run again after a crash:
 * cordoned nodes stay cordoned, pods already gone are simply not there.
 */
import * as k8s from "@kubernetes/client-node";
import { PoolRole, ROLE_LABEL } from "../../steps/roles";
import { blockingPdbsOf, isWorkload, roleOf, selectorMatches } from "./checks";
import { whereOf, withCluster } from "./access";
import { ClusterSnapshot, NodeInfo, pdbInfo, PodInfo, podInfo, readCluster, Resources } from "./cluster";
import { SKIP_FLAG, SubnetCheck, subnetRoom } from "./subnets";

export interface DrainOptions {
  role: PoolRole;
  /** false: only say what would happen. */
  apply: boolean;
  /** Evict pods no controller will recreate (kubectl drain --force): they are gone for good. */
  force?: boolean;
  /** Evict pods with emptyDir volumes, whose data goes with them (kubectl drain --delete-emptydir-data). */
  deleteEmptyDirData?: boolean;
  /**
   * The stack's node groups, subnets and AWS access, to count the free IP addresses of the subnets
   * the pods move to (automation/health/subnets.ts); without it the drain says it did not count them.
   */
  subnets?: SubnetCheck;
  nodesAtOnce: number;
  perNodeTimeoutMs: number;
  pollMs?: number;
  say: (line: string) => void;
}

export interface DrainResult {
  ok: boolean;
  nodes: string[];
  drained: string[];
  /** Why it stopped: the pod and the budget(s) that block it, or the pods that did not leave in time. */
  stoppedAt?: { node: string; pod?: string; pdbs?: string[]; left?: string[]; notReady?: string };
  message: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const name = (p: PodInfo) => `${p.namespace}/${p.name}`;

async function podsOnNode(core: k8s.CoreV1Api, node: string): Promise<PodInfo[]> {
  const r = await core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` });
  return r.items.map(podInfo).filter(isWorkload);
}

/** The budgets that cover a pod (to name them when an eviction is refused). */
async function budgetsOf(policy: k8s.PolicyV1Api, pod: PodInfo): Promise<string[]> {
  const r = await policy.listNamespacedPodDisruptionBudget({ namespace: pod.namespace });
  return r.items
    .map(pdbInfo)
    .filter((b) => selectorMatches(b.selector, pod.labels))
    .map((b) => `${b.namespace}/${b.name}`);
}

/** The PersistentVolumes a pod's claims are bound to. */
async function volumesOf(core: k8s.CoreV1Api, p: PodInfo): Promise<Array<{ claim: string; pv: k8s.V1PersistentVolume }>> {
  const out: Array<{ claim: string; pv: k8s.V1PersistentVolume }> = [];
  for (const claim of p.claims) {
    const pvc = await core.readNamespacedPersistentVolumeClaim({ name: claim, namespace: p.namespace }).catch(() => undefined);
    const pv = pvc?.spec?.volumeName ? await core.readPersistentVolume({ name: pvc.spec.volumeName }).catch(() => undefined) : undefined;
    if (pv) out.push({ claim, pv });
  }
  return out;
}

/** The node affinity a PersistentVolume requires, as one list of requirements. */
const affinityOf = (pv: k8s.V1PersistentVolume) => (pv.spec?.nodeAffinity?.required?.nodeSelectorTerms ?? []).flatMap((t) => t.matchExpressions ?? []);

/**
 * The pods of a drain that would be lost or lose data, each with the flag that allows it, as kubectl
 * drain says them (k8s.io/kubectl/pkg/drain filters.go: unreplicatedFilter needs --force,
 * localStorageFilter needs --delete-emptydir-data); and pods whose PersistentVolume is bound to their
 * node (a local volume: its node affinity names the node), which could not start anywhere else.
 */
async function refusals(kc: k8s.KubeConfig, pods: PodInfo[], opts: DrainOptions): Promise<string[]> {
  const out: string[] = [];
  const core = kc.makeApiClient(k8s.CoreV1Api);
  for (const p of pods) {
    if (!p.controlled && !opts.force) out.push(`${name(p)} has no controller: evicted, nothing recreates it. Pass --force to evict it anyway (it is gone for good)`);
    if (p.emptyDirs.length && !opts.deleteEmptyDirData) out.push(`${name(p)} has emptyDir volume(s) ${p.emptyDirs.join(", ")}: their data is deleted with the pod. Pass --delete-emptydir-data to evict it anyway`);
    for (const { claim, pv } of await volumesOf(core, p)) {
      const onHost = affinityOf(pv).some((e) => e.key === "kubernetes.io/hostname");
      if ((pv.spec?.local || pv.spec?.hostPath || onHost) && !opts.force)
        out.push(`${name(p)} uses PersistentVolume ${pv.metadata!.name} (claim ${claim}), bound to node ${p.node}: it could not start on any other node. Move its data first; --force evicts it anyway (it stays Pending)`);
    }
  }
  return out;
}

const ZONE_KEYS = ["topology.kubernetes.io/zone", "topology.ebs.csi.aws.com/zone", "failure-domain.beta.kubernetes.io/zone"];
const cpu = (m: number) => `${(m / 1000).toFixed(m % 1000 ? 1 : 0)} CPU`;
const gib = (b: number) => `${(b / 1024 ** 3).toFixed(1)} GiB`;

/** The nodes that stay open to the pods a drain of `role` moves: Ready, schedulable, of another role, no NoSchedule or NoExecute taint. */
function openNodes(snap: ClusterSnapshot, role: PoolRole): NodeInfo[] {
  // The node controller's own condition taints (node.kubernetes.io/*) say what `ready` and `unschedulable` say already.
  const closing = (t: { key: string; effect: string }) => (t.effect === "NoSchedule" || t.effect === "NoExecute") && !t.key.startsWith("node.kubernetes.io/");
  return snap.nodes.filter((n) => roleOf(n) !== role && n.ready && !n.unschedulable && !n.taints.some(closing));
}

/**
 * Whether the nodes that stay open (ready, schedulable, not of the drained role, no NoSchedule or
 * NoExecute taint) have room, by requests against allocatable, for the pods a drain would move: all
 * of them together, and in each AZ those whose PersistentVolume binds them to it (an EBS volume lives
 * in one AZ). A necessary condition, not a scheduler: it says where there is certainly no room.
 * Nothing to say where the nodes report no allocatable.
 */
async function roomToMove(kc: k8s.KubeConfig, snap: ClusterSnapshot, role: PoolRole, moving: PodInfo[]): Promise<string[]> {
  const open = openNodes(snap, role);
  if (!open.length || open.some((n) => !n.allocatable)) return [];
  const free = (n: NodeInfo) => {
    const used = snap.pods.filter((p) => p.node === n.name && p.phase !== "Succeeded" && p.phase !== "Failed").reduce((r, p) => ({ cpu: r.cpu + p.requests.cpu, memory: r.memory + p.requests.memory }), { cpu: 0, memory: 0 });
    return { cpu: n.allocatable!.cpu - used.cpu, memory: n.allocatable!.memory - used.memory };
  };
  const sum = (rs: Array<{ cpu: number; memory: number }>) => rs.reduce((r, x) => ({ cpu: r.cpu + x.cpu, memory: r.memory + x.memory }), { cpu: 0, memory: 0 });
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const zoneOf = async (p: PodInfo): Promise<string | undefined> => {
    for (const { pv } of await volumesOf(core, p)) {
      const zone = affinityOf(pv).find((e) => ZONE_KEYS.includes(e.key) && e.operator === "In" && e.values?.length === 1)?.values?.[0];
      if (zone) return zone;
    }
    return undefined;
  };
  const out: string[] = [];
  const bound = new Map<string, PodInfo[]>();
  for (const p of moving) {
    const z = await zoneOf(p);
    if (z) bound.set(z, [...(bound.get(z) ?? []), p]);
  }
  const describe = (need: Resources, have: Resources) =>
    `need ${cpu(need.cpu)}, ${gib(need.memory)}; the open nodes there have ${cpu(Math.max(have.cpu, 0))}, ${gib(Math.max(have.memory, 0))} free (short by ${[need.cpu > have.cpu ? cpu(need.cpu - have.cpu) : "", need.memory > have.memory ? gib(need.memory - have.memory) : ""].filter(Boolean).join(", ")})`;
  for (const [zone, pods] of bound) {
    const need = sum(pods.map((p) => p.requests));
    const have = sum(open.filter((n) => ZONE_KEYS.some((k) => n.labels[k] === zone)).map(free));
    if (need.cpu > have.cpu || need.memory > have.memory) out.push(`AZ ${zone}: ${pods.length} pod(s) bound there by their volumes (${pods.slice(0, 3).map(name).join(", ")}${pods.length > 3 ? ", …" : ""}) ${describe(need, have)}`);
  }
  const need = sum(moving.map((p) => p.requests));
  const have = sum(open.map(free));
  if (need.cpu > have.cpu || need.memory > have.memory) out.push(`all AZs: the ${moving.length} pod(s) to move ${describe(need, have)}`);
  return out;
}

/** Puts the nodes of a role back in service (kubectl uncordon): the way back from a drain. */
export async function uncordonRole(kc: k8s.KubeConfig, role: PoolRole, say: (line: string) => void): Promise<string[]> {
  const { context, server } = whereOf(kc);
  say(`cluster: context ${context}, server ${server}`);
  return withCluster(kc, `uncordon of the ${role} pools`, async () => {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const nodes = (await readCluster(kc)).nodes.filter((n) => roleOf(n) === role && n.unschedulable);
    for (const n of nodes) {
      await core.patchNode({ name: n.name, body: { spec: { unschedulable: false } } }, k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch));
      say(`${n.name}: uncordoned`);
    }
    return nodes.map((n) => n.name);
  });
}

/** Evicts one pod, retrying while a budget refuses, until the deadline. */
async function evict(core: k8s.CoreV1Api, pod: PodInfo, deadline: number, pollMs: number): Promise<"evicted" | "gone" | "blocked"> {
  for (;;) {
    try {
      await core.createNamespacedPodEviction({ name: pod.name, namespace: pod.namespace, body: { apiVersion: "policy/v1", kind: "Eviction", metadata: { name: pod.name, namespace: pod.namespace } } });
      return "evicted";
    } catch (e) {
      const code = (e as { code?: number }).code;
      if (code === 404) return "gone";
      if (code !== 429) throw e;
      if (Date.now() >= deadline) return "blocked";
      await sleep(pollMs);
    }
  }
}

async function drainNode(kc: k8s.KubeConfig, node: NodeInfo, opts: DrainOptions): Promise<DrainResult["stoppedAt"] | undefined> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const policy = kc.makeApiClient(k8s.PolicyV1Api);
  const pollMs = opts.pollMs ?? 1000;
  const deadline = Date.now() + opts.perNodeTimeoutMs;
  const pods = await podsOnNode(core, node.name);
  opts.say(`${node.name}: evicting ${pods.length} pod${pods.length === 1 ? "" : "s"}`);
  const results = await Promise.all(pods.filter((p) => !p.deleting).map(async (p) => ({ p, r: await evict(core, p, deadline, pollMs) })));
  const blocked = results.find((x) => x.r === "blocked");
  if (blocked) return { node: node.name, pod: name(blocked.p), pdbs: await budgetsOf(policy, blocked.p) };
  // Evicted pods terminate on the node's kubelet; wait until they are gone.
  for (;;) {
    const left = await podsOnNode(core, node.name);
    if (!left.length) break;
    if (Date.now() >= deadline) return { node: node.name, left: left.map(name) };
    await sleep(pollMs);
  }
  // Then their replacements must be Ready elsewhere before the next node goes: its controller has all its replicas ready again.
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const owners = [...new Map(pods.filter((p) => p.owner && (p.owner.kind === "ReplicaSet" || p.owner.kind === "StatefulSet")).map((p) => [`${p.owner!.kind}/${p.namespace}/${p.owner!.name}`, p])).values()];
  for (const p of owners) {
    for (;;) {
      const read = p.owner!.kind === "ReplicaSet" ? apps.readNamespacedReplicaSet({ name: p.owner!.name, namespace: p.namespace }) : apps.readNamespacedStatefulSet({ name: p.owner!.name, namespace: p.namespace });
      const o = await read.catch((e: { code?: number }) => {
        if (e.code === 404) return undefined; // its owner is gone: nothing will replace it
        throw e;
      });
      const want = o?.spec?.replicas ?? 0;
      const ready = o?.status?.readyReplicas ?? 0;
      if (!o || ready >= want) break;
      if (Date.now() >= deadline) return { node: node.name, notReady: `${p.owner!.kind} ${p.namespace}/${p.owner!.name} has ${ready} of ${want} replicas ready (it replaces ${name(p)})` };
      await sleep(pollMs);
    }
  }
  return undefined;
}

/** Drains the pools of a role; a cluster that cannot be reached or refuses is a KubeAccessError naming context, server and fix. */
export async function drainRole(kc: k8s.KubeConfig, opts: DrainOptions): Promise<DrainResult> {
  const { context, server } = whereOf(kc);
  opts.say(`cluster: context ${context}, server ${server}`);
  return withCluster(kc, `drain of the ${opts.role} pools`, () => drainReachable(kc, opts));
}

async function drainReachable(kc: k8s.KubeConfig, opts: DrainOptions): Promise<DrainResult> {
  const snap = await readCluster(kc);
  const nodes = snap.nodes.filter((n) => roleOf(n) === opts.role).sort((a, b) => a.name.localeCompare(b.name));
  const what = `${opts.role} pools (cni=${ROLE_LABEL[opts.role]})`;
  const podsOf = (n: NodeInfo) => snap.pods.filter((p) => p.node === n.name && isWorkload(p));
  if (!nodes.length) return { ok: true, nodes: [], drained: [], message: `no nodes in ${what}: nothing to drain` };

  // What kubectl drain refuses, and more: pods that would be lost, lose data, or could not start elsewhere.
  const refused = await refusals(kc, nodes.flatMap(podsOf), opts);
  if (refused.length) {
    for (const r of refused) opts.say(`  refused: ${r}`);
    return { ok: false, nodes: nodes.map((n) => n.name), drained: [], message: `drain of ${what} refused before any eviction: ${refused.length} pod(s) would be lost, lose data or could not start elsewhere (listed above); nothing was changed` };
  }

  // Room to move to: the pools that stay open must hold what leaves, per AZ where volumes bind pods to one.
  const short = await roomToMove(kc, snap, opts.role, nodes.flatMap(podsOf));
  if (short.length) {
    for (const r of short) opts.say(`  no room: ${r}`);
    return { ok: false, nodes: nodes.map((n) => n.name), drained: [], message: `drain of ${what} refused before any eviction: the open nodes cannot hold the pods that would move (listed above); add capacity to the pools that stay, then run again` };
  }

  // Free IP addresses in the subnets of the node groups that stay open, per AZ (EC2): a pod that gets none does not start.
  const byName = new Map(snap.nodes.map((n) => [n.name, n]));
  const ips = await subnetRoom(openNodes(snap, opts.role), nodes.flatMap(podsOf), (p) => (p.node ? byName.get(p.node) : undefined), opts.subnets);
  for (const n of ips.notes) opts.say(`  subnet IPs: ${n}`);
  if (ips.error)
    return { ok: false, nodes: nodes.map((n) => n.name), drained: [], message: `drain of ${what} stopped before any eviction: ${ips.error}` };
  if (ips.short.length) {
    for (const r of ips.short) opts.say(`  no free IPs: ${r}`);
    return {
      ok: false,
      nodes: nodes.map((n) => n.name),
      drained: [],
      message: `drain of ${what} refused before any eviction: the subnets of the node groups that stay open have too few free IP addresses for the pods that would move (listed above); free addresses there (unused ENIs, a lower WARM_IP_TARGET or WARM_ENI_TARGET, Cilium's pre-allocation) or give the pools more subnets, then run again; ${SKIP_FLAG} drains without this check`,
    };
  }

  const blocking = blockingPdbsOf(snap, nodes.flatMap(podsOf));
  if (!opts.apply) {
    opts.say(`drain plan for ${what}: ${nodes.length} nodes, ${opts.nodesAtOnce} at a time`);
    for (const n of nodes) opts.say(`  ${n.name}: ${n.unschedulable ? "already cordoned" : "cordon"}, evict ${podsOf(n).length} pods`);
    for (const b of blocking) opts.say(`  PDB ${b.pdb} ${b.why} now; it covers ${b.pods.map(name).join(", ")}`);
    return { ok: true, nodes: nodes.map((n) => n.name), drained: [], message: `dry run: nothing was changed${blocking.length ? `; ${blocking.length} PDB(s) would block now` : ""}. Run again with --yes to drain.` };
  }

  const core = kc.makeApiClient(k8s.CoreV1Api);
  const drained: string[] = [];
  for (let i = 0; i < nodes.length; i += opts.nodesAtOnce) {
    const batch = nodes.slice(i, i + opts.nodesAtOnce);
    for (const n of batch) {
      if (n.unschedulable) continue;
      await core.patchNode({ name: n.name, body: { spec: { unschedulable: true } } }, k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch));
      opts.say(`${n.name}: cordoned`);
    }
    const stops = await Promise.all(batch.map((n) => drainNode(kc, n, opts)));
    const stop = stops.find((s) => s !== undefined);
    batch.forEach((n, j) => {
      if (!stops[j]) {
        drained.push(n.name);
        opts.say(`${n.name}: drained`);
      }
    });
    if (stop) {
      const waited = Math.round(opts.perNodeTimeoutMs / 1000);
      const why = stop.pod
        ? `pod ${stop.pod} cannot be evicted: ${stop.pdbs?.length ? `PodDisruptionBudget ${stop.pdbs.join(", ")} allows no disruption` : "the API server refuses (429)"} (waited ${waited} s)`
        : stop.notReady
          ? `the replacements of its pods are not Ready elsewhere within ${waited} s: ${stop.notReady}`
          : `${stop.left!.length} pod(s) did not leave ${stop.node} within ${waited} s (stuck terminating): ${stop.left!.join(", ")}`;
      return { ok: false, nodes: nodes.map((n) => n.name), drained, stoppedAt: stop, message: `drain of ${what} stopped at ${stop.node}: ${why}. Drained ${drained.length} of ${nodes.length} nodes; fix it and run again (drained nodes stay cordoned).` };
    }
  }
  return { ok: true, nodes: nodes.map((n) => n.name), drained, message: `drained ${drained.length} of ${nodes.length} nodes of ${what}` };
}
