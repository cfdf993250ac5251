/**
 * The health checks, as pure functions of a cluster snapshot and the desired state of the phase the
 * cluster should be in. Each reports what it found in words an operator can act on: which node,
 * which pod, which DaemonSet, how many of how many. Which checks run before and after each phase is
 * data, in steps/phases.ts (`before`, `after`).
 */
import { requirementMatches, SelectorOperator } from "../../steps/affinity";
import { isClosingTaint, PhaseState } from "../../steps/desired";
import { CheckName, GateStep, PHASES } from "../../steps/phases";
import { AGENT_NOT_READY_TAINT_KEY, CNI_LABEL, PoolRole, ROLE_LABEL, roleOfLabel } from "../../steps/roles";
import { ClusterSnapshot, CONFIG_CHECKSUM, LabelSelector, NodeInfo, PodInfo } from "./cluster";

export interface CheckResult {
  check: CheckName;
  role?: PoolRole;
  ok: boolean;
  /** A failing "note" informs; it never stops a cluster (the policy enforcement gap). */
  severity: "failure" | "note";
  summary: string;
  findings: string[];
}

export const NODEGROUP_LABEL = "eks.amazonaws.com/nodegroup";
const SHOWN = 10;

function list(items: string[]): string[] {
  return items.length > SHOWN ? [...items.slice(0, SHOWN), `… and ${items.length - SHOWN} more`] : items;
}

export function selectorMatches(sel: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!sel) return false;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  return (sel.matchExpressions ?? []).every((e) => requirementMatches({ key: e.key, operator: e.operator as SelectorOperator, ...(e.values ? { values: e.values } : {}) }, labels));
}

export function roleOf(node: NodeInfo): PoolRole | undefined {
  return roleOfLabel(node.labels[CNI_LABEL]);
}

/** Pods a drain moves: not DaemonSet pods, not static (mirror) pods, not finished. */
export function isWorkload(p: PodInfo): boolean {
  return p.owner?.kind !== "DaemonSet" && !p.mirror && p.phase !== "Succeeded" && p.phase !== "Failed";
}

class View {
  readonly nodeRole = new Map<string, PoolRole | undefined>();
  readonly podsByNode = new Map<string, PodInfo[]>();
  constructor(readonly snap: ClusterSnapshot) {
    for (const n of snap.nodes) this.nodeRole.set(n.name, roleOf(n));
    for (const p of snap.pods) if (p.node) this.podsByNode.set(p.node, [...(this.podsByNode.get(p.node) ?? []), p]);
  }
  nodesOf(roles: readonly PoolRole[]): NodeInfo[] {
    return this.snap.nodes.filter((n) => {
      const r = this.nodeRole.get(n.name);
      return r !== undefined && roles.includes(r);
    });
  }
  podsOn(nodes: NodeInfo[]): PodInfo[] {
    return nodes.flatMap((n) => this.podsByNode.get(n.name) ?? []);
  }
}

const ok = (check: CheckName, summary: string, role?: PoolRole): CheckResult => ({ check, ...(role ? { role } : {}), ok: true, severity: "failure", summary, findings: [] });
const failed = (check: CheckName, summary: string, findings: string[], role?: PoolRole): CheckResult => ({ check, ...(role ? { role } : {}), ok: false, severity: "failure", summary, findings: list(findings) });
const podName = (p: PodInfo) => `${p.namespace}/${p.name}`;
const roleWord = (r: PoolRole) => `${r} pools (${CNI_LABEL}=${ROLE_LABEL[r]})`;

function nodesReady(v: View): CheckResult {
  // An API server with no nodes is no cluster of this migration: the wrong context, or nodes that never joined.
  if (!v.snap.nodes.length) return failed("nodesReady", "the cluster has no nodes", ["no node is registered: is this the stack's cluster (context and server above)?"]);
  const bad = v.snap.nodes.filter((n) => !n.ready);
  if (!bad.length) return ok("nodesReady", `all ${v.snap.nodes.length} nodes Ready`);
  return failed("nodesReady", `${bad.length} of ${v.snap.nodes.length} nodes not Ready`, bad.map((n) => `${n.name}: ${n.readyReason ?? "not Ready"}`));
}

/** `managedKeys`: taint keys unchain sets in some phase; others on a node are the team's own business. */
function poolsLabelledAndTainted(v: View, state: PhaseState, managedKeys: Set<string>): CheckResult {
  const findings: string[] = [];
  const byGroup = new Map(state.pools.map((p) => [p.nodeGroupName, p]));
  let checked = 0;
  for (const n of v.snap.nodes) {
    const group = n.labels[NODEGROUP_LABEL];
    const pool = group ? byGroup.get(group) : undefined;
    const role = roleOf(n);
    if (!pool) {
      if (role && !state.pools.some((p) => p.role === role)) findings.push(`${n.name}: labelled ${CNI_LABEL}=${ROLE_LABEL[role]}, but phase ${state.phase} has no ${role} pools`);
      continue;
    }
    checked++;
    for (const [k, val] of Object.entries(pool.labels)) if (n.labels[k] !== val) findings.push(`${n.name} (${group}): label ${k}=${val} missing${n.labels[k] !== undefined ? ` (has ${n.labels[k]})` : ""}`);
    const want = pool.taints.filter(isClosingTaint);
    for (const t of want)
      if (!n.taints.some((x) => x.key === t.key && (x.value ?? "") === (t.value ?? "") && x.effect === t.effect)) findings.push(`${n.name} (${group}): taint ${t.key}=${t.value ?? ""}:${t.effect} missing`);
    for (const t of n.taints.filter(isClosingTaint))
      if (managedKeys.has(t.key) && !want.some((x) => x.key === t.key && (x.value ?? "") === (t.value ?? "") && x.effect === t.effect))
        findings.push(`${n.name} (${group}): taint ${t.key}=${t.value ?? ""}:${t.effect} should be gone in phase ${state.phase}`);
  }
  // Every node group of the phase has its nodes: at least its minimum, and some where it wants some.
  for (const pool of state.pools) {
    const n = v.snap.nodes.filter((x) => x.labels[NODEGROUP_LABEL] === pool.nodeGroupName).length;
    const floor = Math.max(pool.size.min, pool.size.desired > 0 ? 1 : 0);
    if (n < floor) findings.push(`node group ${pool.nodeGroupName} has ${n} node${n === 1 ? "" : "s"}, fewer than ${pool.size.min > 0 ? `its minimum of ${pool.size.min}` : "the one it wants at least"}: nodes that did not join, or another cluster`);
  }
  if (!findings.length) return ok("poolsLabelledAndTainted", `${checked} nodes of ${state.pools.length} node groups carry the labels and taints of phase ${state.phase}`);
  return failed("poolsLabelledAndTainted", `${findings.length} label or taint differences on pool nodes`, findings);
}

interface Expectation {
  name: string;
  roles: "all" | PoolRole[] | "none";
}

function daemonSetExpectations(phase: number): Expectation[] {
  const spec = PHASES[phase];
  const cilium: PoolRole[] | "none" = spec.cilium.release === "none" ? "none" : spec.cilium.roles;
  return [
    { name: "aws-node", roles: spec.awsNode.present ? spec.awsNode.roles : "none" },
    { name: "cilium", roles: cilium },
    { name: "cilium-envoy", roles: cilium },
  ];
}

function daemonSetsPlaced(v: View, state: PhaseState): CheckResult {
  const findings: string[] = [];
  const parts: string[] = [];
  for (const e of daemonSetExpectations(state.phase)) {
    const ds = v.snap.daemonSets.find((d) => d.namespace === "kube-system" && d.name === e.name);
    const expected = e.roles === "none" ? [] : e.roles === "all" ? v.snap.nodes : v.nodesOf(e.roles);
    const pods = v.snap.pods.filter((p) => p.namespace === "kube-system" && p.owner?.kind === "DaemonSet" && p.owner.name === e.name && p.node && !p.deleting);
    if (e.name === "cilium-envoy" && !ds && !pods.length) continue; // envoy embedded in the agent: no DaemonSet of its own
    if (!ds && expected.length) {
      findings.push(`DaemonSet kube-system/${e.name} not found; it should run on ${expected.length} nodes`);
      continue;
    }
    const readyOn = new Set(pods.filter((p) => p.ready).map((p) => p.node!));
    const expectedNames = new Set(expected.map((n) => n.name));
    const missing = expected.filter((n) => !readyOn.has(n.name));
    const extra = pods.filter((p) => !expectedNames.has(p.node!));
    if (missing.length) {
      const podOn = new Map(pods.map((p) => [p.node!, p]));
      findings.push(
        `${e.name} not available on ${missing.length} of ${expected.length} nodes it should cover: ${list(missing.map((n) => `${n.name} (${podOn.has(n.name) ? `pod ${podOn.get(n.name)!.name} not ready` : "no pod"})`)).join(", ")}`,
      );
    }
    if (extra.length) findings.push(`${e.name} runs on ${extra.length} node${extra.length === 1 ? "" : "s"} it should not: ${list(extra.map((p) => `${p.node} (${v.nodeRole.get(p.node!) ?? "no role"})`)).join(", ")}`);
    if (expected.length || pods.length) parts.push(`${e.name} ${readyOn.size}/${expected.length}`);
  }
  if (!findings.length) return ok("daemonSetsPlaced", `DaemonSets available exactly where phase ${state.phase} puts them (${parts.join(", ") || "none expected"})`);
  return failed("daemonSetsPlaced", `DaemonSets not where phase ${state.phase} puts them`, findings);
}

function ciliumRoles(phase: number): PoolRole[] {
  const c = PHASES[phase].cilium;
  return c.release === "none" ? [] : c.roles;
}

function agentNotReadyCleared(v: View, state: PhaseState): CheckResult {
  const nodes = v.nodesOf(ciliumRoles(state.phase));
  const tainted = nodes.filter((n) => n.taints.some((t) => t.key === AGENT_NOT_READY_TAINT_KEY));
  if (!tainted.length) return ok("agentNotReadyCleared", `${AGENT_NOT_READY_TAINT_KEY} cleared on all ${nodes.length} Cilium nodes`);
  return failed("agentNotReadyCleared", `${tainted.length} of ${nodes.length} Cilium nodes still carry ${AGENT_NOT_READY_TAINT_KEY}`, tainted.map((n) => `${n.name}: the Cilium agent is not ready there`));
}

function noUnmanagedPods(v: View, state: PhaseState): CheckResult {
  const pods = v.podsOn(v.nodesOf(ciliumRoles(state.phase))).filter((p) => !p.hostNetwork && p.phase === "Running" && !p.deleting);
  const unmanaged = pods.filter((p) => !v.snap.ciliumEndpoints.has(podName(p)));
  if (!unmanaged.length) return ok("noUnmanagedPods", `all ${pods.length} pods on Cilium nodes have a CiliumEndpoint`);
  return failed("noUnmanagedPods", `${unmanaged.length} of ${pods.length} pods on Cilium nodes have no CiliumEndpoint (unmanaged: no policy, no Cilium networking)`, unmanaged.map((p) => `${podName(p)} on ${p.node}`));
}

function poolEmpty(v: View, role: PoolRole): CheckResult {
  const nodes = v.nodesOf([role]);
  const left = v.podsOn(nodes).filter(isWorkload);
  if (!left.length) return ok("poolEmpty", `${roleWord(role)}: no workload pods left on ${nodes.length} nodes`, role);
  return failed("poolEmpty", `${roleWord(role)}: ${left.length} workload pods still on ${new Set(left.map((p) => p.node)).size} of ${nodes.length} nodes`, left.map((p) => `${podName(p)} on ${p.node}`), role);
}

function coreDnsReady(v: View, goingRole: PoolRole | undefined): CheckResult {
  const d = v.snap.coreDns;
  if (!d) return failed("coreDnsReady", "Deployment kube-system/coredns not found", ["no CoreDNS Deployment in kube-system"]);
  const findings: string[] = [];
  if (d.available < d.replicas || d.available === 0) findings.push(`coredns: ${d.available} of ${d.replicas} replicas available`);
  if (goingRole) {
    const ready = v.snap.pods.filter((p) => p.namespace === "kube-system" && p.labels["k8s-app"] === "kube-dns" && p.ready && p.node);
    const elsewhere = ready.filter((p) => v.nodeRole.get(p.node!) !== goingRole);
    if (!elsewhere.length) findings.push(`all ${ready.length} ready CoreDNS pods run on ${roleWord(goingRole)}, which go next: ${ready.map((p) => `${p.name} on ${p.node}`).join(", ")}`);
  }
  if (!findings.length) return ok("coreDnsReady", `CoreDNS ${d.available}/${d.replicas} available${goingRole ? `, not only on ${goingRole} pools` : ""}`, goingRole);
  return failed("coreDnsReady", "CoreDNS is not safely ready", findings, goingRole);
}

/** PDBs that allow no disruption and cover workload pods on the role's nodes: each would stop a drain. */
export function blockingPdbsOf(snap: ClusterSnapshot, pods: PodInfo[]): Array<{ pdb: string; pods: PodInfo[]; why: string }> {
  const out: Array<{ pdb: string; pods: PodInfo[]; why: string }> = [];
  for (const b of snap.pdbs) {
    if (b.disruptionsAllowed > 0 && !b.unobserved) continue;
    const covered = pods.filter((p) => p.namespace === b.namespace && selectorMatches(b.selector, p.labels));
    if (covered.length) out.push({ pdb: `${b.namespace}/${b.name}`, pods: covered, why: b.unobserved ? "its status is not computed yet" : "allows no disruption" });
  }
  return out;
}

function blockingPdbs(v: View, role: PoolRole): CheckResult {
  const pods = v.podsOn(v.nodesOf([role])).filter(isWorkload);
  const blocking = blockingPdbsOf(v.snap, pods);
  if (!blocking.length) return ok("blockingPdbs", `no PodDisruptionBudget blocks draining ${roleWord(role)} (${pods.length} workload pods)`, role);
  return failed(
    "blockingPdbs",
    `${blocking.length} PodDisruptionBudget${blocking.length === 1 ? "" : "s"} would block draining ${roleWord(role)}`,
    blocking.map((b) => `PDB ${b.pdb} ${b.why}; it covers ${b.pods.length} pod${b.pods.length === 1 ? "" : "s"} there: ${list(b.pods.map(podName)).join(", ")}`),
    role,
  );
}

/**
 * Network policy while pool roles are mixed, in both directions:
 * - pods on aws pools: no Cilium runs there, so no CiliumNetworkPolicy (nor, without vpc-cni's own
 *   agent, a NetworkPolicy) is enforced on them: a note naming each policy;
 * - pods Cilium runs: pods of the other pools have no identity and are `world` to it, so enforcing
 *   their policies would drop traffic those policies allow. Cilium must be in policy audit mode
 *   (cilium-config `policy-audit-mode`), as unchain sets it; enforcing then is a failure.
 */
function policyEnforcementGap(v: View, state: PhaseState): CheckResult {
  const awsPods = v.podsOn(v.nodesOf(["aws"])).filter((p) => !p.hostNetwork && isWorkload(p));
  const findings: string[] = [];
  const selecting = (pods: PodInfo[]) => v.snap.policies.map((pol) => ({ pol, pods: pods.filter((p) => (pol.namespace === undefined || p.namespace === pol.namespace) && selectorMatches(pol.selector ?? {}, p.labels)) })).filter((x) => x.pods.length);
  const name = (pol: ClusterSnapshot["policies"][number]) => `${pol.kind} ${pol.namespace ? `${pol.namespace}/` : ""}${pol.name}`;
  for (const { pol, pods } of selecting(awsPods))
    findings.push(`${name(pol)} selects ${pods.length} pod${pods.length === 1 ? "" : "s"} on aws pools, where nothing enforces it: ${list(pods.map(podName)).slice(0, 3).join(", ")}${pods.length > 3 ? ", …" : ""}`);
  const roles = [...new Set(state.pools.map((p) => p.role))];
  const ciliumRoles = state.cilium ? (state.spec.cilium.release === "none" ? [] : state.spec.cilium.roles) : [];
  let enforcing: string[] = [];
  if (ciliumRoles.length && roles.length > 1) {
    const ciliumPods = v.podsOn(v.nodesOf(ciliumRoles)).filter((p) => !p.hostNetwork && isWorkload(p));
    const onCilium = selecting(ciliumPods);
    const audit = v.snap.ciliumConfig?.["policy-audit-mode"] === "true";
    if (audit) for (const { pol, pods } of onCilium) findings.push(`${name(pol)} selects ${pods.length} pod${pods.length === 1 ? "" : "s"} Cilium runs: audited, not enforced, while pods of ${roles.filter((r) => !ciliumRoles.includes(r)).join(", ")} pools are world to Cilium (until phase 6)`);
    else enforcing = onCilium.map(({ pol, pods }) => `${name(pol)} is enforced on ${pods.length} pod${pods.length === 1 ? "" : "s"} Cilium runs (${list(pods.map(podName)).slice(0, 3).join(", ")}), and pods of the other pools are world to it: traffic the policy allows from them is dropped`);
  }
  if (enforcing.length)
    return {
      check: "policyEnforcementGap",
      severity: "failure",
      ok: false,
      summary: `Cilium enforces ${enforcing.length} network ${enforcing.length === 1 ? "policy" : "policies"} while pool roles ${roles.join(", ")} share the cluster: cilium-config has no policy-audit-mode: "true" (unchain's values set policyAuditMode in phases 1, 4 and 5)`,
      findings: list(enforcing),
    };
  const base = { check: "policyEnforcementGap" as const, severity: "note" as const, ok: findings.length === 0 };
  if (!findings.length) return { ...base, summary: `no network policy is left unenforced or audited by the mix of pool roles (phase ${state.phase})`, findings: [] };
  return { ...base, summary: `${findings.length} network ${findings.length === 1 ? "policy is" : "policies are"} not enforced in phase ${state.phase} (a security note, not a failure)`, findings: list(findings) };
}

/**
 * The running cilium-operator has the phase's unmanaged-pod watcher setting. The operator reads
 * cilium-config at start: a changed ConfigMap reaches it only when its pods roll, which the chart
 * does on a change when `operator.rollOutPods` stamps the ConfigMap's checksum on the pod template.
 */
function operatorWatcherApplied(v: View, state: PhaseState): CheckResult {
  const c = "operatorWatcherApplied";
  if (!state.cilium) return ok(c, `no Cilium release runs in phase ${state.phase}`);
  const want = state.cilium.unmanagedPodWatcherRestart;
  const cfg = v.snap.ciliumConfig;
  if (!cfg) return failed(c, "no kube-system/cilium-config ConfigMap", ["the Cilium release should have made it"]);
  // Chart: `unmanaged-pod-watcher-interval: "0"` when the watcher's restart is off, else its interval.
  const on = cfg["unmanaged-pod-watcher-interval"] !== "0";
  const word = (b: boolean) => (b ? "on" : "off");
  if (on !== want) return failed(c, `cilium-config has the unmanaged-pod watcher ${word(on)}; phase ${state.phase} wants it ${word(want)}`, [`unmanaged-pod-watcher-interval: ${JSON.stringify(cfg["unmanaged-pod-watcher-interval"] ?? "(unset: the default interval)")}`]);
  const op = v.snap.ciliumOperator;
  if (!op) return failed(c, "no kube-system/cilium-operator Deployment", ["the Cilium release should have made it"]);
  if (!op.templateChecksum)
    return failed(c, "the cilium-operator does not roll when cilium-config changes, so it may still run with the old watcher setting", [`its pod template has no ${CONFIG_CHECKSUM} annotation: operator.rollOutPods is off (unchain turns it on with the watcher)`]);
  const stale = op.pods.filter((p) => p.checksum !== op.templateChecksum || !p.ready);
  if (!op.pods.length) return failed(c, "no cilium-operator pod runs", []);
  if (stale.length)
    return failed(c, `${stale.length} of ${op.pods.length} cilium-operator pods have not rolled onto the current cilium-config`, stale.map((p) => `${p.name}: ${p.checksum === op.templateChecksum ? "not Ready" : "started before the ConfigMap changed"}`));
  return ok(c, `the running cilium-operator (${op.pods.length} pod${op.pods.length === 1 ? "" : "s"}) started with the unmanaged-pod watcher ${word(want)}`);
}

/** Security Groups for Pods (branch ENIs of the VPC resource controller) do not work where Cilium does ENI IPAM. */
function securityGroupsForPods(v: View, state: PhaseState): CheckResult {
  const sgps = v.snap.securityGroupPolicies;
  const base = { check: "securityGroupsForPods" as const, severity: "note" as const, ok: sgps.length === 0 };
  if (!sgps.length) return { ...base, summary: "no SecurityGroupPolicy: no pod relies on Security Groups for Pods", findings: [] };
  return {
    ...base,
    summary: `${sgps.length} SecurityGroupPolicy object${sgps.length === 1 ? "" : "s"}: Security Groups for Pods do not work on cilium pools; the pods they select lose their security groups when they move there (phase ${state.phase === 4 ? 5 : state.phase})`,
    findings: list(sgps),
  };
}

/**
 * Runs one gate's checks. `state` is the desired state the cluster should be in now: the previous
 * phase's before an `up`, the phase's own after it. `going` is the role whose pools the next step
 * removes (for CoreDNS).
 */
export function runChecks(snap: ClusterSnapshot, state: PhaseState, steps: GateStep[], awsPoolTaintKey: string): CheckResult[] {
  const v = new View(snap);
  const going = steps.find((s) => s.kind === "drain")?.role;
  const out: CheckResult[] = [];
  for (const s of steps) {
    if (s.kind !== "check") continue;
    switch (s.check) {
      case "nodesReady":
        out.push(nodesReady(v));
        break;
      case "poolsLabelledAndTainted":
        out.push(poolsLabelledAndTainted(v, state, new Set([CNI_LABEL, awsPoolTaintKey])));
        break;
      case "daemonSetsPlaced":
        out.push(daemonSetsPlaced(v, state));
        break;
      case "agentNotReadyCleared":
        out.push(agentNotReadyCleared(v, state));
        break;
      case "noUnmanagedPods":
        out.push(noUnmanagedPods(v, state));
        break;
      case "poolEmpty":
        out.push(poolEmpty(v, s.role!));
        break;
      case "coreDnsReady":
        out.push(coreDnsReady(v, going));
        break;
      case "blockingPdbs":
        out.push(blockingPdbs(v, s.role!));
        break;
      case "operatorWatcherApplied":
        out.push(operatorWatcherApplied(v, state));
        break;
      case "securityGroupsForPods":
        out.push(securityGroupsForPods(v, state));
        break;
      case "policyEnforcementGap":
        out.push(policyEnforcementGap(v, state));
        break;
    }
  }
  return out;
}

export function gatePassed(results: CheckResult[]): boolean {
  return results.every((r) => r.ok || r.severity === "note");
}

export function describeResults(results: CheckResult[]): string {
  return results
    .map((r) => [`${r.ok ? "✔" : r.severity === "note" ? "!" : "✖"} ${r.check}${r.role ? ` (${r.role})` : ""}: ${r.summary}`, ...r.findings.map((f) => `    - ${f}`)].join("\n"))
    .join("\n");
}
