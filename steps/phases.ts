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

export type CiliumPlacement =
  | { release: "none" }
  | {
      release: CiliumRelease;
      /** Pools whose nodes run the agent and cilium-envoy (`affinity`, `envoy.affinity`). */
      roles: PoolRole[];
      /** `operator.unmanagedPodWatcher.restart` */
      unmanagedPodWatcherRestart: boolean;
    };

/** aws-node (the vpc-cni add-on): absent, on every node (default affinity), or pinned to roles. */
export type AwsNodePlacement = { present: false } | { present: true; roles: "all" | PoolRole[] };

/** Kinds of resource the program manages; the preview gate and the plan classify every step by these. */
export type ResourceKind =
  | "nodePool"
  | "ciliumRelease"
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
  /** Updates may touch only these top-level properties. */
  properties?: string[];
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
  | "policyEnforcementGap";

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
    cilium: { release: "chained", roles: ["chained"], unmanagedPodWatcherRestart: true },
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
    summary: "Add aws pools (cni=aws, no taints) beside the chained pools; turn the unmanaged-pod watcher off.",
    pools: { chained: { taints: [] }, aws: { taints: [] } },
    awsNode: { present: true, roles: "all" },
    cilium: { release: "chained", roles: ["chained"], unmanagedPodWatcherRestart: false },
    workloads: "start moving to aws pools",
    allowed: [
      { kind: "nodePool", ops: ["create"], role: "aws", why: "new aws pools, one per AZ" },
      { kind: "ciliumRelease", ops: ["update"], release: "chained", properties: ["values"], why: "unmanaged-pod watcher off while two pool roles exist" },
      { kind: "nodeAgent", ops: ["create", "update"], why: "node agents follow the pools of their roles" },
    ],
    before: [check("nodesReady"), check("noUnmanagedPods"), check("coreDnsReady")],
    after: [...SETTLED, check("coreDnsReady"), check("policyEnforcementGap")],
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
      { kind: "vpcCniAddon", ops: ["update"], properties: ["configurationValues"], why: "aws-node affinity gains cni In [aws]" },
      { kind: "nodeAgent", ops: ["update"], why: "node agents follow the pools of their roles" },
    ],
    before: [check("nodesReady")],
    after: [...SETTLED, check("policyEnforcementGap")],
  },
  {
    phase: 4,
    title: "cilium pools",
    summary: "Add one cilium pool per AZ (tainted cni=cilium:NoExecute while validated) and the ENI-mode Cilium release.",
    pools: {
      aws: { taints: [] },
      cilium: { taints: [CILIUM_VALIDATION_TAINT] },
    },
    awsNode: { present: true, roles: ["aws"] },
    cilium: { release: "eni", roles: ["cilium"], unmanagedPodWatcherRestart: false },
    workloads: "on aws pools",
    allowed: [
      { kind: "nodePool", ops: ["create"], role: "cilium", why: "new cilium pools, one per AZ" },
      { kind: "ciliumRelease", ops: ["create"], release: "eni", why: "the ENI-mode release, on cilium pools only" },
      { kind: "operatorRole", ops: ["create"], why: "EC2 permissions for the cilium-operator (ENI IPAM)" },
      { kind: "nodeAgent", ops: ["create", "update"], why: "node agents follow the pools of their roles" },
    ],
    before: [check("nodesReady"), check("daemonSetsPlaced")],
    after: [...SETTLED, check("agentNotReadyCleared"), check("noUnmanagedPods"), check("policyEnforcementGap")],
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
    cilium: { release: "eni", roles: ["cilium"], unmanagedPodWatcherRestart: false },
    workloads: "move to cilium pools",
    allowed: [
      { kind: "nodePool", ops: ["update"], role: "cilium", properties: ["taints"], why: "validation taint removed" },
      { kind: "nodePool", ops: ["update"], role: "aws", properties: ["taints"], why: "aws pools closed to new pods" },
    ],
    before: [check("nodesReady"), check("agentNotReadyCleared"), check("noUnmanagedPods")],
    after: [...SETTLED, check("noUnmanagedPods"), check("policyEnforcementGap")],
  },
  {
    phase: 6,
    title: "final",
    summary: "Drain the aws pools, remove them and the vpc-cni add-on; the unmanaged-pod watcher goes back on.",
    pools: { cilium: { taints: [] } },
    awsNode: { present: false },
    cilium: { release: "eni", roles: ["cilium"], unmanagedPodWatcherRestart: true },
    workloads: "on cilium pools",
    allowed: [
      { kind: "nodePool", ops: ["delete"], role: "aws", why: "aws pools were drained and verified empty" },
      { kind: "vpcCniAddon", ops: ["delete"], why: "no pool uses aws-node any more" },
      { kind: "ciliumRelease", ops: ["update"], release: "eni", properties: ["values"], why: "unmanaged-pod watcher back to its default" },
      { kind: "nodeAgent", ops: ["update", "delete"], why: "node agents follow the pools of their roles" },
    ],
    before: [check("nodesReady"), check("blockingPdbs", "aws"), { kind: "drain", role: "aws" }, check("poolEmpty", "aws"), check("coreDnsReady")],
    after: [...SETTLED, check("agentNotReadyCleared"), check("noUnmanagedPods"), check("coreDnsReady")],
  },
];

/** Roles drained (through the Eviction API) before the `up` into `spec`. */
export function drainedBefore(spec: PhaseSpec): PoolRole[] {
  return spec.before.flatMap((s) => (s.kind === "drain" ? [s.role] : []));
}

/** Roles verified empty before the `up` into `spec`. */
export function verifiedEmptyBefore(spec: PhaseSpec): PoolRole[] {
  return spec.before.flatMap((s) => (s.kind === "check" && s.check === "poolEmpty" && s.role ? [s.role] : []));
}
