/**
 * The desired state of one cluster at one phase: plain data computed from the cluster's config and
 * the phase table. Components turn it into resources; the invariants are checked against it.
 *
 * What runs when the cluster is adopted is declared exactly as it runs at the phase it was adopted
 * at (`adoptedPhase`): the import reads back what the program declares, property for property. From
 * there, each phase adds only what it owns (steps/phases.ts).
 */
import { ClusterConfig, NodeGroupSpec, ResolveConflicts } from "../config/types";
import { NodeShape, Placement } from "./affinity";
import { AWS_POOL_TAINT_KEY, CiliumRelease, isProtected, PHASES, PhaseNumber, PhaseSpec, STARTUP_TAINT, TaintTemplate } from "./phases";
import { AGENT_NOT_READY_TAINT_KEY, CNI_LABEL, PoolRole, ROLE_LABEL } from "./roles";
import { awsNodePlacement, carriedCaName, ciliumPlacements, ciliumReleaseValues, deepEqual, unmanagedPodWatcherRestart, Values, vpcCniConfigurationValues } from "./values";
import { Taint } from "./affinity";

export interface PoolState extends NodeGroupSpec {
  /** Unique within the cluster and stable across phases: the Pulumi resource name of its node group. */
  id: string;
  /** The configured pool this node group belongs to. */
  pool: string;
  role: PoolRole;
  /** The chained pool this group's pool descends from. */
  lineage?: string;
  /** With the `cni` label of the role. */
  labels: Record<string, string>;
  /** Everything the group carries in this phase (Kubernetes spelling; the component converts for EKS). */
  taints: Taint[];
  /** Protected from deletion (steps/phases.ts `isProtected`): lifted in the phase before its removal. */
  protect: boolean;
}

export interface AwsNodeState {
  addonVersion: string;
  configurationValues: Values;
  /** The configurationValues string to declare: the live one where nothing changed it, else the JSON of `configurationValues`; undefined: none. */
  configurationValuesText?: string;
  serviceAccountRoleArn?: string;
  tags: Record<string, string>;
  /** Declared from the first phase that updates the add-on on (import cannot read it back). */
  resolveConflictsOnUpdate?: ResolveConflicts;
  /** Only where unchain creates the add-on (a sandbox). */
  resolveConflictsOnCreate?: ResolveConflicts;
  /** `<cluster>:vpc-cni`, where the add-on ran when the cluster was adopted. */
  importId?: string;
  placement: Placement;
  protect: boolean;
}

export interface CiliumState {
  release: CiliumRelease;
  /** Helm release name and namespace. */
  name: string;
  namespace: string;
  chartVersion: string;
  values: Values;
  agent: Placement;
  envoy: Placement;
  unmanagedPodWatcherRestart: boolean;
  /** `<namespace>/<name>`, where this release ran when the cluster was adopted. */
  importId?: string;
  /**
   * Declare the release's Pulumi-side settings (repository, history, timeout, atomic): not in the
   * step that adopts it, where the import reads back only name, namespace, chart, version and values.
   */
  upgradeSettings: boolean;
  protect: boolean;
}

/**
 * The CA the chained release made (chart `cilium-ca`), carried over to the ENI release. Uninstalling
 * the chained release in phase 2 deletes the CA with it, and a new one in phase 4 would break every
 * Hubble and ClusterMesh client that trusts the old. So phase 1 copies it while it exists, and phase
 * 4 puts it back under its own name, with Helm's ownership metadata of the release to come, before
 * that release installs: the chart looks the CA Secret up and reuses it ("cilium.ca.setup", `lookup`),
 * and Helm adopts the object. No key ever passes through the Helm values.
 */
export interface CarriedCaState {
  /** The release's CA Secret, read in this phase (it exists until phase 2). */
  source?: string;
  /** The copy's name. */
  copy: string;
  /** The name the CA is put back under (from phase 4), for the release `release`. */
  restore?: { name: string; release: string };
  namespace: string;
}

export interface NodeAgentState {
  name: string;
  /** Roles of this agent that have pools in this phase; the transform pins its DaemonSets to them. */
  roles: PoolRole[];
}

export interface PhaseState {
  phase: PhaseNumber;
  spec: PhaseSpec;
  cluster: string;
  availabilityZones: string[];
  minSchedulableNodesPerAz: number;
  /** The taint key that closes aws pools (`unchain:awsPoolTaintKey`): with `cni`, the keys unchain sets on pools. */
  awsPoolTaintKey?: string;
  pools: PoolState[];
  awsNode?: AwsNodeState;
  cilium?: CiliumState;
  /** The cilium-operator's IAM role exists (from the first ENI phase on; kept afterwards), where unchain creates it. */
  operatorRole: boolean;
  carriedCa?: CarriedCaState;
  nodeAgents: NodeAgentState[];
}

export interface DesiredOptions {
  /** ARN of the operator role when unchain creates it (an output at deploy time). */
  operatorRoleArn?: string;
}

/** Placeholder for the ARN of a role unchain creates, where the real one is not known yet. */
export const CREATED_OPERATOR_ROLE = "<created by unchain>";

function resolveTaint(t: TaintTemplate, config: ClusterConfig): Taint {
  return { key: t.key === AWS_POOL_TAINT_KEY ? config.awsPoolTaintKey : t.key, value: t.value, effect: t.effect };
}

/** A taint that closes a pool to new workload pods (agent-not-ready is lifted by Cilium, so it does not). */
export function isClosingTaint(t: Taint): boolean {
  return (t.effect === "NoSchedule" || t.effect === "NoExecute") && t.key !== AGENT_NOT_READY_TAINT_KEY;
}

export function isOpen(pool: PoolState): boolean {
  return !pool.taints.some(isClosingTaint);
}

/** The region of an availability zone (`eu-west-1a` → `eu-west-1`; Local Zones `us-east-1-bos-1a` → `us-east-1`). */
export function regionOfAz(az: string): string {
  return /^([a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d+)/.exec(az)?.[1] ?? az.replace(/[a-z]$/, "");
}

/**
 * What the scheduler sees of the nodes of this pool: one shape for each AZ and instance type it can
 * bring up, with the labels every such node carries. Kubernetes' well-known labels, set by kubelet
 * and the cloud provider (kubernetes.io/docs/reference/labels-annotations-taints: kubernetes.io/os,
 * kubernetes.io/arch, node.kubernetes.io/instance-type, topology.kubernetes.io/region and /zone), and
 * those EKS sets on managed node group nodes (docs.aws.amazon.com/eks/latest/userguide/managed-node-groups.html:
 * eks.amazonaws.com/nodegroup, eks.amazonaws.com/capacityType). A placement that excludes one AZ or
 * one instance type of a pool is judged on those nodes, not on the pool as a whole.
 */
export function nodeShapes(pool: PoolState): NodeShape[] {
  const arm = /ARM/.test(pool.amiType ?? "");
  const zones = pool.availabilityZones.length ? pool.availabilityZones : [undefined];
  const types = pool.instanceTypes?.length ? pool.instanceTypes : [undefined];
  return zones.flatMap((zone) =>
    types.map((type) => ({
      labels: {
        ...pool.labels,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": arm ? "arm64" : "amd64",
        "eks.amazonaws.com/nodegroup": pool.nodeGroupName,
        "eks.amazonaws.com/capacityType": pool.capacityType ?? "ON_DEMAND",
        ...(type ? { "node.kubernetes.io/instance-type": type } : {}),
        ...(zone ? { "topology.kubernetes.io/zone": zone, "topology.kubernetes.io/region": regionOfAz(zone) } : {}),
      },
      taints: pool.taints,
    })),
  );
}

/** The shape of one node of this pool (its first AZ and instance type): see nodeShapes. */
export function nodeShape(pool: PoolState): NodeShape {
  return nodeShapes(pool)[0];
}

/** The Pulumi resource name of a node group: stable, unique in the stack. */
function groupId(role: PoolRole, pool: string, g: NodeGroupSpec): string {
  if (role === "chained") return `chained-${pool}`;
  return g.nodeGroupName.startsWith(`${role}-`) ? g.nodeGroupName : `${role}-${g.nodeGroupName}`;
}

function poolsOf(config: ClusterConfig, spec: PhaseSpec): PoolState[] {
  const guard = (role: PoolRole) => !config.sandbox && isProtected(spec.phase, "nodePool", role);
  const out: PoolState[] = [];
  for (const pool of config.pools) {
    const rolePools = spec.pools[pool.role];
    if (!rolePools) continue;
    for (const g of pool.groups) {
      const startup = g.importId === undefined ? STARTUP_TAINT[pool.role] : undefined;
      out.push({
        ...g,
        id: groupId(pool.role, pool.name, g),
        pool: pool.name,
        role: pool.role,
        ...(pool.lineage ? { lineage: pool.lineage } : {}),
        labels: { ...g.labels, [CNI_LABEL]: ROLE_LABEL[pool.role] },
        taints: [...(startup ? [resolveTaint(startup, config)] : []), ...g.taints, ...rolePools.taints.map((t) => resolveTaint(t, config))],
        protect: guard(pool.role),
      });
    }
  }
  return out;
}

/** The add-on's configurationValues in `phase`, and the text to declare. */
function awsNodeCore(config: ClusterConfig, phase: PhaseNumber): { values: Values; text?: string } | undefined {
  const spec = PHASES[phase];
  if (!spec.awsNode.present) return undefined;
  const adopted = !config.sandbox && config.adoptedPhase <= 5;
  const live = config.vpcCni.configurationValues;
  const values = vpcCniConfigurationValues(spec.awsNode.roles, live);
  // Where nothing changed the values, the live text is declared as it is: EKS compares the string.
  const text = deepEqual(values, live) ? (adopted ? config.vpcCni.configurationValuesText : Object.keys(values).length ? JSON.stringify(values) : undefined) : JSON.stringify(values);
  return { values, ...(text !== undefined ? { text } : {}) };
}

/** The first phase after the adopting one in which `core` differs from what was adopted (undefined: none up to `phase`). */
function changedSinceAdoption<T>(config: ClusterConfig, phase: PhaseNumber, core: (p: PhaseNumber) => T): boolean {
  const at = core(config.adoptedPhase);
  for (let p = config.adoptedPhase + 1; p <= phase; p++) if (!deepEqual(core(p as PhaseNumber), at)) return true;
  return false;
}

export function desiredState(config: ClusterConfig, phase: PhaseNumber, opts: DesiredOptions = {}): PhaseState {
  const spec = PHASES[phase];
  const pools = poolsOf(config, spec);
  const operatorRole = config.cilium.operatorRole?.kind === "create" && PHASES.slice(config.adoptedPhase, phase + 1).some((p) => p.cilium.release === "eni") && !(config.cilium.live?.mode === "eni");

  let awsNode: AwsNodeState | undefined;
  const core = awsNodeCore(config, phase);
  if (core) {
    const adopted = !config.sandbox && config.adoptedPhase <= 5;
    const updated = adopted ? changedSinceAdoption(config, phase, (p) => awsNodeCore(config, p)?.text) : true;
    awsNode = {
      addonVersion: config.vpcCni.addonVersion,
      configurationValues: core.values,
      ...(core.text !== undefined ? { configurationValuesText: core.text } : {}),
      ...(config.vpcCni.serviceAccountRoleArn ? { serviceAccountRoleArn: config.vpcCni.serviceAccountRoleArn } : {}),
      tags: config.vpcCni.tags,
      ...(updated ? { resolveConflictsOnUpdate: config.vpcCni.resolveConflictsOnUpdate } : {}),
      ...(adopted ? { importId: `${config.clusterName}:vpc-cni` } : { resolveConflictsOnCreate: "OVERWRITE" as const }),
      placement: awsNodePlacement(core.values),
      protect: !config.sandbox && isProtected(phase, "vpcCniAddon"),
    };
  }

  let cilium: CiliumState | undefined;
  if (spec.cilium.release !== "none") {
    const release = spec.cilium.release;
    const live = config.cilium.live?.mode === release ? config.cilium.live : undefined;
    const operatorRoleArn =
      config.cilium.operatorRole?.kind === "existing" ? config.cilium.operatorRole.roleArn : config.cilium.operatorRole ? (opts.operatorRoleArn ?? CREATED_OPERATOR_ROLE) : undefined;
    const valuesAt = (p: PhaseNumber) => ciliumReleaseValues(config, PHASES[p], operatorRoleArn);
    const values = valuesAt(phase);
    cilium = {
      release,
      name: live?.name ?? "cilium",
      namespace: live?.namespace ?? "kube-system",
      chartVersion: live?.chartVersion ?? config.cilium.chartVersion,
      values,
      ...ciliumPlacements(values),
      unmanagedPodWatcherRestart: unmanagedPodWatcherRestart(values),
      ...(live ? { importId: `${live.namespace}/${live.name}` } : {}),
      upgradeSettings: live ? changedSinceAdoption(config, phase, valuesAt) : true,
      protect: !config.sandbox && isProtected(phase, "ciliumRelease", release),
    };
  }
  const chainedLive = config.cilium.live?.mode === "chained" ? config.cilium.live : undefined;
  const carriedCa: CarriedCaState | undefined =
    chainedLive?.caSecret && !config.sandbox && config.adoptedPhase <= 1 && phase >= 1
      ? {
          ...(phase === 1 ? { source: chainedLive.caSecret } : {}),
          copy: carriedCaName(chainedLive.caSecret),
          ...(PHASES[phase].cilium.release === "eni" ? { restore: { name: chainedLive.caSecret, release: cilium?.name ?? "cilium" } } : {}),
          namespace: chainedLive.namespace,
        }
      : undefined;

  const present = new Set(pools.map((p) => p.role));
  const nodeAgents = config.nodeAgents
    .map((a) => ({ name: a.name, roles: a.roles.filter((r) => present.has(r)) }))
    .filter((a) => a.roles.length > 0);

  return {
    phase,
    spec,
    cluster: config.clusterName,
    availabilityZones: config.availabilityZones.map((a) => a.name),
    minSchedulableNodesPerAz: config.minSchedulableNodesPerAz,
    awsPoolTaintKey: config.awsPoolTaintKey,
    pools,
    ...(awsNode ? { awsNode } : {}),
    ...(cilium ? { cilium } : {}),
    operatorRole,
    ...(carriedCa ? { carriedCa } : {}),
    nodeAgents,
  };
}

/** Desired states of every phase of the walk, from the phase the cluster was adopted at to 6. */
export function desiredWalk(config: ClusterConfig, opts: DesiredOptions = {}): PhaseState[] {
  return PHASES.filter((p) => p.phase >= config.adoptedPhase).map((p) => desiredState(config, p.phase, opts));
}
