/**
 * The desired state of one cluster at one phase: plain data computed from the cluster's config and
 * the phase table. Components turn it into resources; the invariants are checked against it.
 */
import { ClusterConfig, PoolSize } from "../config/types";
import { NodeShape, Placement, Taint } from "./affinity";
import { AWS_POOL_TAINT_KEY, CiliumRelease, PHASES, PhaseNumber, PhaseSpec, TaintTemplate } from "./phases";
import { AGENT_NOT_READY_TAINT_KEY, CNI_LABEL, PoolRole, ROLE_LABEL } from "./roles";
import { awsNodePlacement, ciliumPlacements, ciliumValues, unmanagedPodWatcherRestart, Values, vpcCniConfigurationValues } from "./values";

export interface PoolState {
  /** Unique within the cluster and stable across phases: the Pulumi resource name of its node group. */
  id: string;
  /** The configured pool this node group belongs to. */
  pool: string;
  role: PoolRole;
  nodeGroupName: string;
  availabilityZones: string[];
  subnetIds: string[];
  instanceTypes: string[];
  size: PoolSize;
  amiType?: string;
  capacityType?: string;
  diskSize?: number;
  labels: Record<string, string>;
  /** Kubernetes spelling; the node pool component converts to the EKS API's. */
  taints: Taint[];
  /** Adopt an existing node group (chained pools outside a sandbox). */
  importId?: string;
}

export interface AwsNodeState {
  configurationValues: Values;
  placement: Placement;
}

export interface CiliumState {
  release: CiliumRelease;
  values: Values;
  agent: Placement;
  envoy: Placement;
  unmanagedPodWatcherRestart: boolean;
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
  pools: PoolState[];
  awsNode?: AwsNodeState;
  cilium?: CiliumState;
  /** The cilium-operator's IAM role exists (from the first ENI phase on; kept afterwards). */
  operatorRole: boolean;
  nodeAgents: NodeAgentState[];
}

export interface DesiredOptions {
  /** ARN of the operator role when unchain creates it (an output at deploy time). */
  operatorRoleArn?: string;
}

/** Placeholder for the ARN of a role unchain creates, where the real one is not known yet. */
export const CREATED_OPERATOR_ROLE = "<created by unchain>";

function azSuffix(az: string, region: string): string {
  return az.startsWith(region) ? az.slice(region.length).replace(/^-/, "") || az : az;
}

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

/** What the scheduler sees of a node of this pool: its labels (with EKS's well-known ones) and taints. */
export function nodeShape(pool: PoolState): NodeShape {
  const arm = /ARM/.test(pool.amiType ?? "");
  return {
    labels: {
      ...pool.labels,
      "kubernetes.io/os": "linux",
      "kubernetes.io/arch": arm ? "arm64" : "amd64",
      "eks.amazonaws.com/nodegroup": pool.nodeGroupName,
      ...(pool.availabilityZones.length === 1 ? { "topology.kubernetes.io/zone": pool.availabilityZones[0] } : {}),
    },
    taints: pool.taints,
  };
}

function poolsOf(config: ClusterConfig, spec: PhaseSpec): PoolState[] {
  const pools: PoolState[] = [];
  const chained = spec.pools.chained;
  if (chained) {
    for (const p of config.chainedPools) {
      pools.push({
        id: `chained-${p.name}`,
        pool: p.name,
        role: "chained",
        nodeGroupName: p.nodeGroupName,
        availabilityZones: p.availabilityZones,
        subnetIds: p.subnetIds,
        instanceTypes: p.instanceTypes,
        size: p.size,
        ...(p.amiType ? { amiType: p.amiType } : {}),
        ...(p.capacityType ? { capacityType: p.capacityType } : {}),
        ...(p.diskSize ? { diskSize: p.diskSize } : {}),
        labels: { ...p.labels, [CNI_LABEL]: ROLE_LABEL.chained },
        taints: [...chained.taints.map((t) => resolveTaint(t, config)), ...p.taints],
        ...(config.sandbox ? {} : { importId: p.importId }),
      });
    }
  }
  for (const role of ["aws", "cilium"] as const) {
    const rolePools = spec.pools[role];
    if (!rolePools) continue;
    for (const p of role === "aws" ? config.awsPools : config.ciliumPools) {
      for (const az of p.availabilityZones) {
        const suffix = azSuffix(az, config.region);
        pools.push({
          id: `${role}-${p.name}-${suffix}`,
          pool: p.name,
          role,
          nodeGroupName: `${role}-${p.name}-${suffix}`,
          availabilityZones: [az],
          subnetIds: config.availabilityZones.find((a) => a.name === az)?.subnetIds ?? [],
          instanceTypes: p.instanceTypes,
          size: p.sizePerAz,
          ...(p.amiType ? { amiType: p.amiType } : {}),
          ...(p.capacityType ? { capacityType: p.capacityType } : {}),
          ...(p.diskSize ? { diskSize: p.diskSize } : {}),
          labels: { ...p.labels, [CNI_LABEL]: ROLE_LABEL[role] },
          taints: rolePools.taints.map((t) => resolveTaint(t, config)),
        });
      }
    }
  }
  return pools;
}

export function desiredState(config: ClusterConfig, phase: PhaseNumber, opts: DesiredOptions = {}): PhaseState {
  const spec = PHASES[phase];
  const pools = poolsOf(config, spec);
  const operatorRole = PHASES.slice(0, phase + 1).some((p) => p.cilium.release === "eni");

  let awsNode: AwsNodeState | undefined;
  if (spec.awsNode.present) {
    const configurationValues = vpcCniConfigurationValues(spec.awsNode.roles, config.vpcCni.configurationValues);
    awsNode = { configurationValues, placement: awsNodePlacement(configurationValues) };
  }

  let cilium: CiliumState | undefined;
  if (spec.cilium.release !== "none") {
    const operatorRoleArn =
      config.cilium.operatorRole.kind === "existing" ? config.cilium.operatorRole.roleArn : (opts.operatorRoleArn ?? CREATED_OPERATOR_ROLE);
    const values = ciliumValues({
      release: spec.cilium.release,
      chartVersion: config.cilium.chartVersion,
      roles: spec.cilium.roles,
      unmanagedPodWatcherRestart: spec.cilium.unmanagedPodWatcherRestart,
      subnetIds: config.availabilityZones.flatMap((a) => a.subnetIds),
      operatorRoleArn,
      overrides: config.cilium.values,
    });
    cilium = { release: spec.cilium.release, values, ...ciliumPlacements(values), unmanagedPodWatcherRestart: unmanagedPodWatcherRestart(values) };
  }

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
    pools,
    ...(awsNode ? { awsNode } : {}),
    ...(cilium ? { cilium } : {}),
    operatorRole,
    nodeAgents,
  };
}

/** Desired states of every phase of the walk, 0 to 6. */
export function desiredWalk(config: ClusterConfig, opts: DesiredOptions = {}): PhaseState[] {
  return PHASES.map((p) => desiredState(config, p.phase, opts));
}
