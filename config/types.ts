/**
 * The validated configuration of one stack (one cluster). Produced by `validateStackConfig` from the
 * `unchain:*` keys of `Pulumi.<stack>.yaml` and the defaults in `Pulumi.yaml`.
 */
import { Taint } from "../steps/affinity";
import { PhaseNumber } from "../steps/phases";
import { PoolRole } from "../steps/roles";

export interface PoolSize {
  min: number;
  desired: number;
  max: number;
}

export interface AvailabilityZone {
  /** AZ name, e.g. `eu-central-1a`. */
  name: string;
  /** Subnets of this AZ that nodes (and, in ENI mode, pods) use. */
  subnetIds: string[];
}

export type CapacityType = "ON_DEMAND" | "SPOT";

/** An existing node group running chained Cilium; adopted with `import`, never recreated. */
export interface ChainedPoolConfig {
  name: string;
  /** The EKS node group's name. Defaults to `name`. */
  nodeGroupName: string;
  /** `<cluster>:<nodeGroupName>`, the id `pulumi import` uses. Defaults to that. */
  importId: string;
  /** AZs the group spans. Defaults to every AZ of the cluster. */
  availabilityZones: string[];
  /** Subnets of the group as they are today. Defaults to the subnets of its AZs. */
  subnetIds: string[];
  instanceTypes: string[];
  size: PoolSize;
  amiType?: string;
  capacityType?: CapacityType;
  diskSize?: number;
  /** Labels beyond `cni=both` the group already has. */
  labels: Record<string, string>;
  /** Taints beyond Cilium's agent-not-ready taint the group already has (Kubernetes spelling). */
  taints: Taint[];
}

/** A pool unchain creates: one node group per AZ. */
export interface NewPoolConfig {
  name: string;
  instanceTypes: string[];
  sizePerAz: PoolSize;
  /** AZs that get a node group of this pool. Defaults to every AZ of the cluster. */
  availabilityZones: string[];
  amiType?: string;
  capacityType?: CapacityType;
  diskSize?: number;
  labels: Record<string, string>;
}

export type OperatorRoleConfig =
  /** Use a role that already has the EC2 permissions (IRSA or Pod Identity set up elsewhere). */
  | { kind: "existing"; roleArn: string }
  /** unchain creates the role, trusted by the cluster's IAM OIDC provider. */
  | { kind: "create"; oidcProviderArn?: string };

export interface CiliumConfig {
  chartVersion: string;
  repository: string;
  /** Helm values merged over unchain's, for both releases, then per release. */
  values: { common: Record<string, unknown>; chained: Record<string, unknown>; eni: Record<string, unknown> };
  operatorRole: OperatorRoleConfig;
}

export type ResolveConflicts = "OVERWRITE" | "PRESERVE" | "NONE";

export interface VpcCniConfig {
  addonVersion: string;
  /** Merged into the add-on's configurationValues (affinity is narrowed, never replaced). */
  configurationValues: Record<string, unknown>;
  resolveConflicts: ResolveConflicts;
}

/** A node agent (a chart with DaemonSets) that must follow pools of some roles, e.g. node-local DNS. */
export interface NodeAgentConfig {
  name: string;
  chart: string;
  version: string;
  repository: string;
  namespace: string;
  values: Record<string, unknown>;
  roles: PoolRole[];
}

export interface ClusterConfig {
  /** Pulumi stack name. */
  stack: string;
  phase: PhaseNumber;
  clusterName: string;
  region: string;
  availabilityZones: AvailabilityZone[];
  /** IAM role of the nodes. Required unless `sandbox` (the sandbox creates one). */
  nodeRoleArn?: string;
  /** kubeconfig context to use instead of the cluster's endpoint and `aws eks get-token`. */
  kubeContext?: string;
  chainedPools: ChainedPoolConfig[];
  awsPools: NewPoolConfig[];
  ciliumPools: NewPoolConfig[];
  awsPoolTaintKey: string;
  /** Per AZ, how many nodes open to workloads must remain in every phase and step. */
  minSchedulableNodesPerAz: number;
  cilium: CiliumConfig;
  vpcCni: VpcCniConfig;
  nodeAgents: NodeAgentConfig[];
  /** Create the VPC and the EKS cluster too (a throwaway rehearsal account). */
  sandbox: boolean;
  /** Kubernetes version of a sandbox cluster. */
  kubernetesVersion: string;
}
