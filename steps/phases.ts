/**
 * The seven phases of the migration, as data. Each phase is one `pulumi up` per cluster.
 *
 * "What does phase 4 change?" — read PHASES[4]: the pools that exist and how they are tainted,
 * where aws-node and Cilium run, which kinds of change its `pulumi up` may make, and what must be
 * true in the cluster before and after it. Everything else (components, the plan, the driver's
 * gates) is derived from these values.
 */
import { TaintEffect } from "./affinity";
import { AGENT_NOT_READY_TAINT_KEY, CNI_LABEL, PoolRole } from "./roles";

export type PhaseNumber = 0 | 1 | 2 | 3 | 4 | 5 | 6;
export const PHASE_NUMBERS: readonly PhaseNumber[] = [0, 1, 2, 3, 4, 5, 6];
export const FIRST_PHASE: PhaseNumber = 0;
export const LAST_PHASE: PhaseNumber = 6;

export function isPhaseNumber(n: unknown): n is PhaseNumber {
  return typeof n === "number" && Number.isInteger(n) && n >= FIRST_PHASE && n <= LAST_PHASE;
}

/** Stands for the configured taint key of aws pools (`awsPoolTaintKey`, the runbook's `<org>/cni`). */
export const AWS_POOL_TAINT_KEY = "<awsPoolTaintKey>";

export interface TaintTemplate {
  key: string;
  value: string;
  effect: TaintEffect;
}

/** How the pools of one role look in a phase. Absent roles have no entry. */
export interface RolePools {
  /**
   * Taints unchain sets on the pools of this role in this phase, beyond the ones they run with (the
   * taints of an adopted group as it runs; the startup taint of a group unchain creates).
   */
  taints: TaintTemplate[];
}

export type CiliumRelease = "chained" | "eni";

/**
 * What Cilium does with its network policies in a phase. Pods on pools of another role have no
 * Cilium identity, so Cilium sees them as `world`: while two roles share the cluster a policy that
 * allows "app X" would drop app X's pods on the other pools, and a cilium-pool pod's "DNS to
 * kube-dns" rule would lose DNS while CoreDNS runs on aws pools. Cilium's own migration guide turns
 * enforcement off for this reason (k8s-install-migration.rst). So: `audit` (policyAuditMode: policy
 * verdicts are logged, nothing is dropped) while another role shares the cluster, `enforce` (the
 * team's own setting) where Cilium runs on every pool that remains.
 */
export type PolicyEnforcement = "enforce" | "audit";

export type CiliumPlacement =
  | { release: "none" }
  | {
      release: CiliumRelease;
      /** Pools whose nodes run the agent and cilium-envoy (`affinity`, `envoy.affinity`). */
      roles: PoolRole[];
      /** `operator.unmanagedPodWatcher.restart` */
      unmanagedPodWatcherRestart: boolean;
      policy: PolicyEnforcement;
    };

/** aws-node (the vpc-cni add-on): absent, on every node (default affinity), or pinned to roles. */
export type AwsNodePlacement = { present: false } | { present: true; roles: "all" | PoolRole[] };

/** Kinds of resource the program manages; the preview gate and the plan classify every step by these. */
export type ResourceKind =
  | "nodePool"
  | "ciliumRelease"
  /** A copy of the Cilium CA the chained release made, so that the ENI release signs with the same CA. */
  | "carriedSecret"
  | "vpcCniAddon"
  | "operatorRole"
  | "nodeAgent"
  | "provider"
  | "component"
  | "sandbox";

export type ChangeOp = "create" | "import" | "update" | "delete" | "replace";

export interface AllowedChange {
  kind: ResourceKind;
  ops: ChangeOp[];
  /** Only pools of this role (kind nodePool). */
  role?: PoolRole;
  /** Only this Cilium release (kind ciliumRelease). */
  release?: CiliumRelease;
  /**
   * What an update may change: property paths, each covering what lies below it
   * (`values.operator.unmanagedPodWatcher`). Absent: the whole resource is the phase's.
   * Inputs that exist only on Pulumi's side (steps/classify.ts ENGINE_SIDE_PROPERTIES) come with any update.
   */
  owns?: string[];
  why: string;
}

export type CheckName =
  | "nodesReady"
  | "poolsLabelledAndTainted"
  | "daemonSetsPlaced"
  | "agentNotReadyCleared"
  | "noUnmanagedPods"
  | "coreDnsReady"
  | "blockingPdbs"
  | "poolEmpty"
  | "policyEnforcementGap"
  /** The running cilium-operator has the phase's unmanaged-pod watcher setting (its pods rolled since the ConfigMap changed). */
  | "operatorWatcherApplied"
  /** A note: Security Groups for Pods do not work on pools Cilium runs in ENI mode. */
  | "securityGroupsForPods";

/** One step of a health gate: a check, or moving workloads off the pools of a role. */
export type GateStep = { kind: "check"; check: CheckName; role?: PoolRole } | { kind: "drain"; role: PoolRole };

export interface PhaseSpec {
  phase: PhaseNumber;
  title: string;
  /** One line: what this phase's `pulumi up` does. */
  summary: string;
  /** Pools of each role that exist in this phase. */
  pools: Partial<Record<PoolRole, RolePools>>;
  awsNode: AwsNodePlacement;
  cilium: CiliumPlacement;
  /** Where workloads are (or go) in this phase. */
  workloads: string;
  /** What the `pulumi up` into this phase may change. Anything else stops the preview gate. */
  allowed: AllowedChange[];
  /** Run in order before this phase's `pulumi up` (after the previous phase is applied). */
  before: GateStep[];
  /** Must hold after this phase's `pulumi up`. */
  after: GateStep[];
}

/** Paths of a Cilium release's values that phases own (steps/values.ts `withPhaseSettings`). */
export const RELEASE_PLACEMENT = ["values.affinity", "values.envoy.affinity"];
export const RELEASE_WATCHER = ["values.operator.unmanagedPodWatcher.restart"];
export const RELEASE_POLICY = ["values.policyAuditMode"];
/** The operator reads its ConfigMap at start, the agents too: they roll when it changes (chart `operator.rollOutPods`, `rollOutCiliumPods`). */
export const RELEASE_ROLLOUT = ["values.operator.rollOutPods", "values.rollOutCiliumPods"];

const check = (c: CheckName, role?: PoolRole): GateStep => (role ? { kind: "check", check: c, role } : { kind: "check", check: c });

/** Taint every chained pool carries (EKS managed node groups for Cilium); Cilium removes it from ready nodes. */
export const CHAINED_STARTUP_TAINT: TaintTemplate = { key: AGENT_NOT_READY_TAINT_KEY, value: "true", effect: "NoSchedule" };
/** Cilium pools start NoExecute: no pod starts on a node before its agent is ready. */
export const CILIUM_STARTUP_TAINT: TaintTemplate = { key: AGENT_NOT_READY_TAINT_KEY, value: "true", effect: "NoExecute" };
/** Keeps workloads off new cilium pools while they are validated (phase 4 only; new pools only). */
export const CILIUM_VALIDATION_TAINT: TaintTemplate = { key: CNI_LABEL, value: "cilium", effect: "NoExecute" };
/** Closes aws pools to new pods once cilium pools are open (phase 5). */
export const AWS_CLOSED_TAINT: TaintTemplate = { key: AWS_POOL_TAINT_KEY, value: "aws", effect: "NoSchedule" };

/**
 * The taint a node group unchain creates starts with, so that no pod runs on a node before its
 * Cilium agent (chained pools of a sandbox; cilium pools). Adopted groups keep the taints they run with.
 */
export const STARTUP_TAINT: Partial<Record<PoolRole, TaintTemplate>> = { chained: CHAINED_STARTUP_TAINT, cilium: CILIUM_STARTUP_TAINT };

/** Taint keys some phase sets or lifts on pools of `role`: the stack file never lists them. */
export function ownedTaintKeys(role: PoolRole, awsPoolTaintKey: string): string[] {
  const keys = PHASES.flatMap((p) => (p.pools[role]?.taints ?? []).map((t) => (t.key === AWS_POOL_TAINT_KEY ? awsPoolTaintKey : t.key)));
  return [...new Set(keys)];
}

const SETTLED: GateStep[] = [check("nodesReady"), check("poolsLabelledAndTainted"), check("daemonSetsPlaced")];

export const PHASES: readonly PhaseSpec[] = [
  {
    phase: 0,
    title: "baseline",
    summary: "Adopt what runs today: chained pools, the vpc-cni add-on and the chained Cilium release.",
    pools: { chained: { taints: [] } },
    awsNode: { present: true, roles: "all" },
    cilium: { release: "chained", roles: ["chained"], unmanagedPodWatcherRestart: true, policy: "enforce" },
    workloads: "on chained pools",
    allowed: [
      { kind: "nodePool", ops: ["import"], role: "chained", why: "existing node groups are adopted, never recreated" },
      { kind: "vpcCniAddon", ops: ["import"], why: "the running add-on is adopted" },
      { kind: "ciliumRelease", ops: ["import"], release: "chained", why: "the running chained release is adopted" },
      { kind: "nodeAgent", ops: ["create", "update"], why: "node agents follow the pools of their roles" },
    ],
    before: [],
    after: [...SETTLED, check("agentNotReadyCleared"), check("noUnmanagedPods"), check("coreDnsReady")],
  },
  {
    phase: 1,
    title: "aws pools",
    summary: "Add aws pools (cni=aws, no taints) beside the chained pools; turn the unmanaged-pod watcher off and policy to audit, rolled onto the operator and agents; copy the Cilium CA.",
    pools: { chained: { taints: [] }, aws: { taints: [] } },
    awsNode: { present: true, roles: "all" },
    cilium: { release: "chained", roles: ["chained"], unmanagedPodWatcherRestart: false, policy: "audit" },
    workloads: "start moving to aws pools",
    allowed: [
      { kind: "nodePool", ops: ["create"], role: "aws", why: "new aws pools, one per AZ" },
      {
        kind: "ciliumRelease",
        ops: ["update"],
        release: "chained",
        owns: [...RELEASE_PLACEMENT, ...RELEASE_WATCHER, ...RELEASE_POLICY, ...RELEASE_ROLLOUT],
        why: "agent and envoy pinned to chained pools, unmanaged-pod watcher off and policy audited while two pool roles exist, and the agents and operator rolled so that every one runs with it",
      },
      { kind: "carriedSecret", ops: ["create"], why: "a copy of the Cilium CA, so that the ENI release of phase 4 signs with the same CA (Hubble and ClusterMesh clients keep trusting it)" },
      { kind: "nodeAgent", ops: ["create", "update"], why: "node agents follow the pools of their roles" },
    ],
    before: [check("nodesReady"), check("noUnmanagedPods"), check("coreDnsReady")],
    after: [...SETTLED, check("coreDnsReady"), check("operatorWatcherApplied"), check("policyEnforcementGap")],
  },
  {
    phase: 2,
    title: "chained pools gone",
    summary: "Drain the chained pools through the Eviction API, then remove them and the chained Cilium release (CRDs kept).",
    pools: { aws: { taints: [] } },
    awsNode: { present: true, roles: "all" },
    cilium: { release: "none" },
    workloads: "on aws pools",
    allowed: [
      { kind: "nodePool", ops: ["delete"], role: "chained", why: "chained pools were drained and verified empty" },
      { kind: "ciliumRelease", ops: ["delete"], release: "chained", why: "the chained release runs nowhere once chained pools are gone" },
      { kind: "nodeAgent", ops: ["update", "delete"], why: "node agents follow the pools of their roles" },
    ],
    before: [check("nodesReady"), check("blockingPdbs", "chained"), { kind: "drain", role: "chained" }, check("poolEmpty", "chained"), check("coreDnsReady")],
    after: [...SETTLED, check("coreDnsReady"), check("policyEnforcementGap")],
  },
  {
    phase: 3,
    title: "aws-node pinned",
    summary: "Pin aws-node to aws pools (cni In [aws], default affinity kept) so it never lands on cilium pools.",
    pools: { aws: { taints: [] } },
    awsNode: { present: true, roles: ["aws"] },
    cilium: { release: "none" },
    workloads: "on aws pools",
    allowed: [
      { kind: "vpcCniAddon", ops: ["update"], owns: ["configurationValues.affinity"], why: "aws-node affinity gains cni In [aws]; the rest of its configuration stays as it runs" },
      { kind: "nodeAgent", ops: ["update"], why: "node agents follow the pools of their roles" },
    ],
    before: [check("nodesReady")],
    after: [...SETTLED, check("policyEnforcementGap")],
  },
  {
    phase: 4,
    title: "cilium pools",
    summary: "Add one cilium pool per AZ (tainted cni=cilium:NoExecute while validated) and the ENI-mode Cilium release, with the chained values that still apply and the same CA.",
    pools: {
      aws: { taints: [] },
      cilium: { taints: [CILIUM_VALIDATION_TAINT] },
    },
    awsNode: { present: true, roles: ["aws"] },
    cilium: { release: "eni", roles: ["cilium"], unmanagedPodWatcherRestart: false, policy: "audit" },
    workloads: "on aws pools",
    allowed: [
      { kind: "nodePool", ops: ["create"], role: "cilium", why: "new cilium pools, one per AZ" },
      { kind: "ciliumRelease", ops: ["create"], release: "eni", why: "the ENI-mode release, on cilium pools only" },
      { kind: "carriedSecret", ops: ["create"], why: "the Cilium CA put back under its own name for the ENI release to reuse" },
      { kind: "operatorRole", ops: ["create"], why: "EC2 permissions for the cilium-operator (ENI IPAM)" },
      { kind: "nodeAgent", ops: ["create", "update"], why: "node agents follow the pools of their roles" },
    ],
    before: [check("nodesReady"), check("daemonSetsPlaced"), check("securityGroupsForPods")],
    after: [...SETTLED, check("agentNotReadyCleared"), check("noUnmanagedPods"), check("operatorWatcherApplied"), check("policyEnforcementGap")],
  },
  {
    phase: 5,
    title: "cilium pools open",
    summary: "Untaint the cilium pools and close the aws pools (<awsPoolTaintKey>=aws:NoSchedule).",
    pools: {
      aws: { taints: [AWS_CLOSED_TAINT] },
      cilium: { taints: [] },
    },
    awsNode: { present: true, roles: ["aws"] },
    cilium: { release: "eni", roles: ["cilium"], unmanagedPodWatcherRestart: false, policy: "audit" },
    workloads: "move to cilium pools",
    allowed: [
      { kind: "nodePool", ops: ["update"], role: "cilium", owns: ["taints"], why: "validation taint removed" },
      { kind: "nodePool", ops: ["update"], role: "aws", owns: ["taints"], why: "aws pools closed to new pods" },
    ],
    before: [check("nodesReady"), check("agentNotReadyCleared"), check("noUnmanagedPods"), check("securityGroupsForPods")],
    after: [...SETTLED, check("noUnmanagedPods"), check("operatorWatcherApplied"), check("policyEnforcementGap")],
  },
  {
    phase: 6,
    title: "final",
    summary: "Drain the aws pools, remove them and the vpc-cni add-on; the unmanaged-pod watcher goes back on and policy is enforced again.",
    pools: { cilium: { taints: [] } },
    awsNode: { present: false },
    cilium: { release: "eni", roles: ["cilium"], unmanagedPodWatcherRestart: true, policy: "enforce" },
    workloads: "on cilium pools",
    allowed: [
      { kind: "nodePool", ops: ["delete"], role: "aws", why: "aws pools were drained and verified empty" },
      { kind: "vpcCniAddon", ops: ["delete"], why: "no pool uses aws-node any more" },
      { kind: "ciliumRelease", ops: ["update"], release: "eni", owns: [...RELEASE_WATCHER, ...RELEASE_POLICY], why: "unmanaged-pod watcher back to its default, policy enforced again: one role remains" },
      { kind: "nodeAgent", ops: ["update", "delete"], why: "node agents follow the pools of their roles" },
    ],
    before: [check("nodesReady"), check("blockingPdbs", "aws"), { kind: "drain", role: "aws" }, check("poolEmpty", "aws"), check("coreDnsReady")],
    after: [...SETTLED, check("agentNotReadyCleared"), check("noUnmanagedPods"), check("coreDnsReady"), check("operatorWatcherApplied")],
  },
];

/**
 * Whether a resource of this kind (and role) is protected in phase `p`: everything that holds
 * workloads or places them is, so that a `pulumi destroy` by hand or a renamed pool cannot delete it;
 * the phase before the one that removes it lifts the protection, so that the removal can happen.
 */
export function isProtected(p: PhaseNumber, kind: "nodePool" | "ciliumRelease" | "vpcCniAddon", which?: PoolRole | CiliumRelease): boolean {
  const next = PHASES[p + 1];
  if (!next) return true;
  switch (kind) {
    case "nodePool":
      return next.pools[which as PoolRole] !== undefined;
    case "vpcCniAddon":
      return next.awsNode.present;
    case "ciliumRelease":
      return next.cilium.release === which;
  }
}

/** Roles drained (through the Eviction API) before the `up` into `spec`. */
export function drainedBefore(spec: PhaseSpec): PoolRole[] {
  return spec.before.flatMap((s) => (s.kind === "drain" ? [s.role] : []));
}

/** Roles verified empty before the `up` into `spec`. */
export function verifiedEmptyBefore(spec: PhaseSpec): PoolRole[] {
  return spec.before.flatMap((s) => (s.kind === "check" && s.check === "poolEmpty" && s.role ? [s.role] : []));
}
