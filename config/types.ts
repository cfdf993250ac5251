/**
 * The validated, resolved configuration of one stack (one cluster). Produced by
 * `validateStackConfig` from the `unchain:*` keys of `Pulumi.<stack>.yaml` (shapes in
 * config/schema.ts) and the defaults in `Pulumi.yaml`: defaults filled in, lineage resolved, every
 * node group spelled out.
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

export interface LaunchTemplateRef {
  id?: string;
  name?: string;
  /** The version number, as EKS reports it for the node group. */
  version: string;
}

export interface RemoteAccess {
  ec2SshKey?: string;
  sourceSecurityGroupIds?: string[];
}

export interface UpdateConfig {
  maxUnavailable?: number;
  maxUnavailablePercentage?: number;
}

/**
 * An EKS managed node group as unchain declares it. An adopted group (`importId`) is declared
 * exactly as EKS describes it, so that its import reads back what the program declares.
 */
export interface NodeGroupSpec {
  nodeGroupName: string;
  availabilityZones: string[];
  subnetIds: string[];
  /** Undefined only in a sandbox, whose node role is created with the cluster. */
  nodeRoleArn?: string;
  size: PoolSize;
  /** Absent where the launch template sets the instance type. */
  instanceTypes?: string[];
  amiType?: string;
  capacityType?: string;
  diskSize?: number;
  releaseVersion?: string;
  version?: string;
  launchTemplate?: LaunchTemplateRef;
  remoteAccess?: RemoteAccess;
  updateConfig?: UpdateConfig;
  /** Labels without the `cni` label (unchain sets it from the role). */
  labels: Record<string, string>;
  /** Taints without the ones unchain sets per role and phase (Kubernetes spelling). */
  taints: Taint[];
  tags: Record<string, string>;
  /** The id `pulumi import` uses (`<cluster>:<nodeGroupName>`) for a group that exists; absent for groups unchain creates. */
  importId?: string;
}

/** A node pool: node groups of one role. */
export interface PoolConfig {
  role: PoolRole;
  name: string;
  /** The chained pool this pool descends from (its own name, for a chained pool); undefined where none is known (a cluster adopted past phase 1). */
  lineage?: string;
  /** Chained: the one adopted group. aws and cilium: one group per AZ, adopted or to be created. */
  groups: NodeGroupSpec[];
}

export type OperatorRoleConfig =
  /** Use a role that already has the EC2 permissions (IRSA or Pod Identity set up elsewhere). */
  | { kind: "existing"; roleArn: string }
  /** unchain creates the role, trusted by the cluster's IAM OIDC provider. */
  | { kind: "create"; oidcProviderArn?: string };

export type ReleaseMode = "chained" | "eni";

/** The Cilium release that runs in the cluster, as Helm recorded it. */
export interface LiveRelease {
  name: string;
  namespace: string;
  chartVersion: string;
  /** The values the team supplied (Helm's `config`), exactly. */
  values: Record<string, unknown>;
  mode: ReleaseMode;
  /** The CA Secret the release made itself (chart `cilium-ca`), carried to the ENI release. */
  caSecret?: string;
}

export interface CiliumConfig {
  /** Chart version of a release unchain installs (the ENI release). */
  chartVersion: string;
  repository: string;
  /** The release that ran when the cluster was adopted. */
  live?: LiveRelease;
  /** Helm values unchain adds, for both releases, then per release. */
  values: { common: Record<string, unknown>; chained: Record<string, unknown>; eni: Record<string, unknown> };
  operatorRole?: OperatorRoleConfig;
}

export type ResolveConflicts = "OVERWRITE" | "PRESERVE" | "NONE";

export interface VpcCniConfig {
  addonVersion: string;
  /** configurationValues exactly as EKS holds them (what an import reads back); undefined: none set. */
  configurationValuesText?: string;
  /** The same, parsed (JSON or YAML). */
  configurationValues: Record<string, unknown>;
  serviceAccountRoleArn?: string;
  tags: Record<string, string>;
  resolveConflictsOnUpdate: ResolveConflicts;
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

/** How the program reaches AWS for this stack: the AWS provider's own config keys (`aws:*`). */
export interface AwsAccess {
  region: string;
  profile?: string;
  /** `aws:assumeRoles`: roles assumed in turn (the first from the profile's or ambient credentials). */
  assumeRoles: Array<{ roleArn: string; sessionName?: string; externalId?: string }>;
}

export interface ClusterConfig {
  /** Pulumi stack name. */
  stack: string;
  phase: PhaseNumber;
  /** The phase the cluster was at when adopted: what ran then is imported. Sandboxes adopt nothing. */
  adoptedPhase: PhaseNumber;
  clusterName: string;
  region: string;
  availabilityZones: AvailabilityZone[];
  /** kubeconfig context to use instead of the cluster's endpoint and `aws eks get-token`. */
  kubeContext?: string;
  /** Identity of the cluster as adopt read it. */
  clusterArn?: string;
  endpoint?: string;
  aws: AwsAccess;
  pools: PoolConfig[];
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
  /** Keys of `secure:` values in the stack file (`unchain:ciliumValues.common.x.y`): kept secret wherever they go. */
  secretKeys: string[];
  /**
   * Set by the driver for one `pulumi up` of `unchain advance --rollback` (never read from the stack
   * file): the stage of a reverse step to run (steps/reverse.ts) instead of the phase.
   */
  goingBack?: { from: PhaseNumber; stage: number };
}

export const poolsOfRole = (config: ClusterConfig, role: PoolRole): PoolConfig[] => config.pools.filter((p) => p.role === role);
