/**
 * The six safety invariants of ../../shared/design/migration.md, as pure functions over desired
 * states. A plan that breaks one is refused before anything runs.
 *
 * Steps (one `pulumi up` from phase N to N+1) are checked with the ordering the components enforce:
 * new node groups are created only after the DaemonSet configuration of phase N+1 is applied (they
 * depend on the Cilium release and the vpc-cni add-on), pools are closed only after the pools that
 * open in the same step (aws pools depend on cilium pools), and Pulumi deletes last. Updates of
 * aws-node and of Cilium may land in either order, so pools that persist are checked under all four.
 */
import { NodeShape, runsOn, Taint } from "./affinity";
import { isClosingTaint, isOpen, nodeShape, nodeShapes, PhaseState, PoolState } from "./desired";
import { AWS_POOL_TAINT_KEY, drainedBefore, ownedTaintKeys, PhaseNumber, verifiedEmptyBefore } from "./phases";
import { instanceCapacity } from "../config/instanceTypes";
import { allowedBy, ChangeToCheck, ownedBy } from "./classify";
import { REPLACE_ON_CHANGE } from "./replacement";
import { diffValues } from "./valueDiff";
import { CNI_LABEL, ROLE_IPAM } from "./roles";

export type InvariantId = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 10 | 11;

export const INVARIANTS: Readonly<Record<InvariantId, string>> = {
  1: "every pool that can hold pods has exactly one IPAM provider",
  2: "the chained and the ENI Cilium releases never coexist",
  3: "a pool is removed only after it was closed to new pods and verified empty",
  4: "each availability zone keeps schedulable capacity",
  5: "the unmanaged-pod watcher is off while more than one pool role exists",
  6: "no phase replaces an existing node group or Cilium release unless the phase says so",
  7: "no Cilium enforces policy against pods it cannot identify while another pool role shares the cluster",
  8: "a phase changes a live setting only if it owns it",
  10: "every workload has somewhere to go: each chained pool has successors in both roles",
  11: "no taint evicts a pool at once: a NoExecute taint goes onto an existing pool only once it is drained and verified empty",
};

export interface Violation {
  invariant: InvariantId;
  /** The phase, or the phase a step goes to. */
  phase: PhaseNumber;
  /** Set for a step: the phase it starts from. */
  fromPhase?: PhaseNumber;
  pool?: string;
  az?: string;
  message: string;
  fix: string;
}

export function describeViolation(v: Violation): string {
  const where = v.fromPhase !== undefined ? `step ${v.fromPhase}→${v.phase}` : `phase ${v.phase}`;
  const what = [v.pool ? `pool ${v.pool}` : undefined, v.az ? `AZ ${v.az}` : undefined].filter(Boolean).join(", ");
  return `invariant ${v.invariant} (${INVARIANTS[v.invariant]}) broken at ${where}${what ? `, ${what}` : ""}: ${v.message}\n    fix: ${v.fix}`;
}

type Config = Pick<PhaseState, "awsNode" | "cilium">;

/** The IPAM providers whose placement reaches a node of this shape (aws-node, the ENI Cilium agent). */
export function providersOnNode(node: NodeShape, cfg: Config): string[] {
  const out: string[] = [];
  if (cfg.awsNode && runsOn(cfg.awsNode.placement, node)) out.push("aws-node");
  if (cfg.cilium?.release === "eni" && runsOn(cfg.cilium.agent, node)) out.push("cilium-eni");
  return out;
}

/** The IPAM providers of a node of this pool (its first AZ and instance type; ipamViolation judges every one). */
export function providersOn(pool: PoolState, cfg: Config): string[] {
  return providersOnNode(nodeShape(pool), cfg);
}

function ipamViolation(pool: PoolState, cfg: Config, phase: PhaseNumber, fromPhase?: PhaseNumber, when = ""): Violation | undefined {
  // Every kind of node the pool brings up, by AZ and instance type: a placement that leaves out one is a violation there.
  for (const node of nodeShapes(pool)) {
    const v = ipamViolationOn(node, pool, cfg, phase, fromPhase, when);
    if (v) return v;
  }
  return undefined;
}

function ipamViolationOn(node: NodeShape, pool: PoolState, cfg: Config, phase: PhaseNumber, fromPhase: PhaseNumber | undefined, when: string): Violation | undefined {
  const providers = providersOnNode(node, cfg);
  const expected = ROLE_IPAM[pool.role];
  const az = node.labels["topology.kubernetes.io/zone"];
  const type = node.labels["node.kubernetes.io/instance-type"];
  if (nodeShapes(pool).length > 1 && type) when = `${when} (its ${type} nodes${az ? ` in ${az}` : ""})`;
  const base = { invariant: 1 as const, phase, ...(fromPhase !== undefined ? { fromPhase } : {}), pool: pool.id, ...(az ? { az } : {}) };
  if (providers.length === 0)
    return {
      ...base,
      message: `role ${pool.role} (labels ${JSON.stringify(pool.labels)}) has no IPAM provider${when}: neither aws-node's affinity nor an ENI Cilium release matches it; its pods would get no IP`,
      fix: expected === "aws-node" ? "keep cni In [both, aws] (or the default affinity) in aws-node's affinity while this pool exists" : "the ENI release's affinity must match cni=cilium",
    };
  if (providers.length > 1)
    return {
      ...base,
      message: `role ${pool.role} would run both aws-node and the ENI Cilium agent${when}: two IPAMs handing out addresses on one node`,
      fix: "aws-node must be pinned to cni In [aws] (phase 3) before any cilium pool exists, and the ENI release must be pinned to cni In [cilium]",
    };
  if (providers[0] !== expected)
    return { ...base, message: `role ${pool.role} would get its IPs from ${providers[0]}, not ${expected}${when}`, fix: "check the affinity overrides in the stack config: a role's IPAM never changes" };
  if (cfg.cilium?.release === "chained") {
    const chainedHere = runsOn(cfg.cilium.agent, node);
    if (chainedHere !== (pool.role === "chained"))
      return {
        ...base,
        message: chainedHere ? `the chained Cilium agent would run on this ${pool.role} pool${when}` : `the chained Cilium agent would not run on this chained pool${when}: its pods would be unmanaged`,
        fix: "the chained release's affinity must be cni In [both]",
      };
  }
  return undefined;
}

function capacityByAz(state: PhaseState, pools: PoolState[]): Map<string, { total: number; parts: string[] }> {
  const out = new Map(state.availabilityZones.map((az) => [az, { total: 0, parts: [] as string[] }]));
  for (const p of pools) {
    if (!isOpen(p)) continue;
    const share = Math.floor(p.size.desired / p.availabilityZones.length);
    for (const az of p.availabilityZones) {
      const e = out.get(az);
      if (e) {
        e.total += share;
        e.parts.push(`${p.id}: ${share}`);
      }
    }
  }
  return out;
}

const rolesOf = (pools: PoolState[]) => [...new Set(pools.map((p) => p.role))];

/** The vCPUs and GiB one node of a pool brings: its smallest instance type, or why it is not known. */
function nodeCapacity(p: PoolState): { vcpu: number; memoryGiB: number; type: string } | { unknown: string } {
  if (!p.instanceTypes?.length) return { unknown: "the stack file lists no instanceTypes (the launch template sets the type)" };
  const known = p.instanceTypes.map((t) => ({ t, c: instanceCapacity(t) }));
  const missing = known.filter((k) => !k.c).map((k) => k.t);
  if (missing.length) return { unknown: `instance type${missing.length > 1 ? "s" : ""} ${missing.join(", ")} ${missing.length > 1 ? "are" : "is"} not in config/instanceTypes.ts` };
  // Several types: EKS may bring up any of them, so a node is counted as the smallest (on both sides of the measure).
  const vcpu = Math.min(...known.map((k) => k.c!.vcpu));
  const memoryGiB = Math.min(...known.map((k) => k.c!.memoryGiB));
  return { vcpu, memoryGiB, type: p.instanceTypes.length > 1 ? `the smallest of ${p.instanceTypes.join(", ")}` : p.instanceTypes[0] };
}

/**
 * The closing taints a pool carries of its own (dedicated pools), not those unchain sets to close
 * it: the stack file may not use unchain's keys (`cni`, `awsPoolTaintKey`; config/validate.ts).
 */
function ownClosingTaints(p: PoolState, state: PhaseState): Taint[] {
  const managed = new Set((["chained", "aws", "cilium"] as const).flatMap((role) => ownedTaintKeys(role, state.awsPoolTaintKey ?? AWS_POOL_TAINT_KEY)));
  return p.taints.filter((t) => isClosingTaint(t) && !managed.has(t.key) && t.key !== CNI_LABEL);
}

const taintKey = (ts: Taint[]) =>
  ts
    .map((t) => `${t.key}=${t.value ?? ""}:${t.effect}`)
    .sort()
    .join(", ");
const amount = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(1));

/**
 * Invariant 4 in vCPU and memory, at a step before which pools are drained: in each AZ, the pools
 * that stay open to workloads (by their desired sizes and instance types, a pool's desired size spread
 * evenly over its AZs) hold at least the vCPU and the memory of the pools drained there. Dedicated
 * pools are weighed against pools carrying the same taints, as their successors do. A pool whose
 * instance type is not known (not listed, or not in config/instanceTypes.ts) is not weighed: a note
 * says so, and an AZ it leaves undecided is neither passed nor failed.
 */
export function cpuMemoryAtDrain(from: PhaseState, to: PhaseState): { violations: Violation[]; notes: string[] } {
  const drained = drainedBefore(to.spec);
  if (!drained.length) return { violations: [], notes: [] };
  const leaving = from.pools.filter((p) => drained.includes(p.role));
  // Pools that stay: open to workloads but for their own dedicated taints (a pool the phase closes receives nothing).
  const staying = from.pools.filter((p) => !drained.includes(p.role) && p.taints.filter(isClosingTaint).length === ownClosingTaints(p, from).length);
  const capacity = new Map<PoolState, ReturnType<typeof nodeCapacity>>();
  const unweighed = new Map<string, string[]>();
  for (const p of [...leaving, ...staying]) {
    const c = nodeCapacity(p);
    capacity.set(p, c);
    if ("unknown" in c) unweighed.set(c.unknown, [...(unweighed.get(c.unknown) ?? []), p.id]);
  }
  const notes = [...unweighed].map(
    ([why, ids]) => `invariant 4 in vCPU and memory was not computed at step ${from.phase}→${to.phase} for pool${ids.length > 1 ? "s" : ""} ${ids.join(", ")}: ${why}; ${ids.length > 1 ? "their" : "its"} nodes are counted, not ${ids.length > 1 ? "their" : "its"} CPU and memory`,
  );
  const violations: Violation[] = [];
  const groups = new Map<string, { leaving: PoolState[]; staying: PoolState[] }>();
  for (const p of leaving) {
    const k = taintKey(ownClosingTaints(p, from));
    groups.set(k, { leaving: [...(groups.get(k)?.leaving ?? []), p], staying: staying.filter((s) => taintKey(ownClosingTaints(s, from)) === k) });
  }
  for (const az of from.availabilityZones) {
    for (const [key, g] of groups) {
      const sum = (pools: PoolState[]) => {
        const out = { vcpu: 0, memoryGiB: 0, unknown: false, parts: [] as string[] };
        for (const p of pools.filter((x) => x.availabilityZones.includes(az))) {
          const c = capacity.get(p)!;
          const nodes = p.size.desired / p.availabilityZones.length;
          if ("unknown" in c) {
            out.unknown = true;
            continue;
          }
          out.vcpu += nodes * c.vcpu;
          out.memoryGiB += nodes * c.memoryGiB;
          out.parts.push(`${p.id}: ${amount(nodes)} × ${c.type}`);
        }
        return out;
      };
      const need = sum(g.leaving);
      const have = sum(g.staying);
      const shortCpu = need.vcpu - have.vcpu;
      const shortMem = need.memoryGiB - have.memoryGiB;
      // A shortfall is certain only where every pool that stays was weighed (an unweighed drained pool only adds to what is needed).
      if ((shortCpu > 1e-9 || shortMem > 1e-9) && !have.unknown) {
        const what = key ? `the pools tainted ${key}` : "the pools open to workloads";
        const roles = [...new Set(g.staying.map((p) => p.role))];
        violations.push({
          invariant: 4,
          phase: to.phase,
          fromPhase: from.phase,
          az,
          message: `in ${az} ${amount(have.vcpu)} vCPU / ${amount(have.memoryGiB)} GiB stay in ${what} (${have.parts.join(", ") || "none"}), the drained ${drained.join(", ")} pools had ${amount(need.vcpu)} vCPU / ${amount(need.memoryGiB)} GiB (${need.parts.join(", ")}): short by ${[shortCpu > 1e-9 ? `${amount(shortCpu)} vCPU` : "", shortMem > 1e-9 ? `${amount(shortMem)} GiB` : ""].filter(Boolean).join(" and ")}`,
          fix: `raise sizePerAz.desired, or choose larger instanceTypes, of the ${roles.length ? roles.join(" and ") : "successor"} pools${key ? ` tainted ${key}` : ""} in ${az} (unchain:${roles.length ? `${roles[0]}Pools` : "awsPools / ciliumPools"}), so that they hold what the drained pools held`,
        });
      }
    }
  }
  return { violations, notes };
}

/** What a walk's invariant checks could not weigh (the CPU and memory of pools of unknown instance types), once each. */
export function walkNotes(states: PhaseState[]): string[] {
  const out = new Set<string>();
  for (let i = 1; i < states.length; i++) for (const n of cpuMemoryAtDrain(states[i - 1], states[i]).notes) out.add(n);
  return [...out];
}

/** Whether the release's values make Cilium drop traffic by policy (not in audit mode, not `never`). */
export function enforcesPolicy(values: Record<string, unknown>): boolean {
  return values.policyAuditMode !== true && values.policyEnforcementMode !== "never";
}

/** Invariants 1, 2, 4, 5 and 7 within one phase. */
export function checkPhase(state: PhaseState): Violation[] {
  const out: Violation[] = [];
  for (const pool of state.pools) {
    const v = ipamViolation(pool, state, state.phase);
    if (v) out.push(v);
  }
  // 2: one phase holds at most one release by construction; overrides cannot add a second.
  // 4
  for (const [az, cap] of capacityByAz(state, state.pools)) {
    if (cap.total < state.minSchedulableNodesPerAz)
      out.push({
        invariant: 4,
        phase: state.phase,
        az,
        message: `${cap.total} node(s) open to workloads (${cap.parts.join(", ") || "no open pool"}), floor is ${state.minSchedulableNodesPerAz}`,
        fix: `raise sizePerAz.desired of the pools open in phase ${state.phase} in ${az}, or lower unchain:minSchedulableNodesPerAz`,
      });
  }
  // 7: pods of another role are `world` to Cilium; enforcing would drop traffic their policies allow.
  const roles = rolesOf(state.pools);
  if (state.cilium && roles.length > 1 && enforcesPolicy(state.cilium.values))
    out.push({
      invariant: 7,
      phase: state.phase,
      message: `pool roles ${roles.join(", ")} share the cluster and the ${state.cilium.release} release enforces network policy: Cilium sees pods on the other pools as world, so a policy that allows them drops them`,
      fix: "do not override policyAuditMode or policyEnforcementMode in unchain:ciliumValues; unchain audits policy while roles are mixed and restores enforcement in phase 6",
    });
  // 5
  if (state.cilium && roles.length > 1 && state.cilium.unmanagedPodWatcherRestart)
    out.push({
      invariant: 5,
      phase: state.phase,
      message: `pool roles ${roles.join(", ")} coexist and ${state.cilium.release} Cilium has operator.unmanagedPodWatcher.restart on: it would restart CoreDNS on the pools Cilium does not run`,
      fix: "do not override operator.unmanagedPodWatcher.restart in unchain:ciliumValues",
    });
  return out;
}

/** What EKS cannot change in place on a node group (steps/replacement.ts). */
const replaceKeys = (p: PoolState): Record<string, unknown> => ({
  nodeGroupName: p.nodeGroupName,
  nodeRoleArn: p.nodeRoleArn,
  subnetIds: [...p.subnetIds].sort(),
  instanceTypes: p.instanceTypes,
  amiType: p.amiType,
  capacityType: p.capacityType,
  diskSize: p.diskSize,
  remoteAccess: p.remoteAccess,
  "launchTemplate.id": p.launchTemplate?.id,
  "launchTemplate.name": p.launchTemplate?.name,
});

/** What a node group declares that a phase could change: everything but its identity and the autoscaler's count. */
function groupSettings(p: PoolState): Record<string, unknown> {
  const { id: _id, pool: _pool, role: _role, lineage: _lineage, importId: _importId, protect: _protect, ...rest } = p;
  return { ...rest, size: { min: p.size.min, max: p.size.max } };
}

/**
 * Invariant 8 for one step: every setting of a resource that lives through the step is the same
 * after it, unless the phase owns it (steps/phases.ts `allowed[].owns`). Adopted resources are
 * declared as they ran in the phase they were adopted at, so by this rule every later phase
 * declares what ran, but what the phases between own.
 */
export function checkOwnership(from: PhaseState, to: PhaseState): Violation[] {
  const out: Violation[] = [];
  const step = { phase: to.phase, fromPhase: from.phase };
  const judge = (what: string, change: Omit<ChangeToCheck, "properties">, before: unknown, after: unknown, pool?: string) => {
    const changes = diffValues(before, after);
    if (!changes.length) return;
    const verdict = allowedBy(to.spec, { ...change, properties: changes.map((c) => c.path) }, false);
    if (verdict.allowed) return;
    const owned = to.spec.allowed.filter((a) => a.kind === change.kind && (a.role === undefined || a.role === change.role) && a.ops.includes("update")).flatMap((a) => a.owns ?? []);
    const foreign = changes.filter((c) => !ownedBy(c.path, owned));
    out.push({
      ...step,
      invariant: 8,
      ...(pool ? { pool } : {}),
      message: `phase ${to.phase} would change ${what}: ${foreign.map((c) => `${c.path} ${c.kind === "add" ? `set to ${JSON.stringify(c.after)}` : c.kind === "delete" ? `removed (was ${JSON.stringify(c.before)})` : `${JSON.stringify(c.before)} → ${JSON.stringify(c.after)}`}`).join("; ")}, which ${owned.length ? `it does not own (it owns ${owned.join(", ")})` : "no phase owns"}`,
      fix: "a live setting changes only in the phase that owns it: change it outside unchain (then unchain adopt --write), or leave the stack file as adopt wrote it",
    });
  };
  for (const pool of to.pools) {
    const before = from.pools.find((p) => p.id === pool.id);
    if (before) judge(`node group ${pool.nodeGroupName}`, { kind: "nodePool", role: pool.role, op: "update" }, groupSettings(before), groupSettings(pool), pool.id);
  }
  if (from.cilium && to.cilium && from.cilium.release === to.cilium.release)
    judge(`the ${to.cilium.release} Cilium release`, { kind: "ciliumRelease", release: to.cilium.release, op: "update" }, { values: from.cilium.values, chartVersion: from.cilium.chartVersion }, { values: to.cilium.values, chartVersion: to.cilium.chartVersion });
  if (from.awsNode && to.awsNode) {
    const addon = (a: NonNullable<PhaseState["awsNode"]>) => ({ addonVersion: a.addonVersion, configurationValues: a.configurationValues, serviceAccountRoleArn: a.serviceAccountRoleArn, tags: a.tags });
    judge("the vpc-cni add-on", { kind: "vpcCniAddon", op: "update" }, addon(from.awsNode), addon(to.awsNode));
  }
  return out;
}

/** Invariants 1-6 and 8 for the step from `from` to `to` (one `pulumi up`). */
export function checkStep(from: PhaseState, to: PhaseState): Violation[] {
  const out: Violation[] = [];
  const step = { phase: to.phase, fromPhase: from.phase };
  const toIds = new Set(to.pools.map((p) => p.id));
  const fromIds = new Set(from.pools.map((p) => p.id));
  const persisting = to.pools.filter((p) => fromIds.has(p.id));
  const created = to.pools.filter((p) => !fromIds.has(p.id));
  const removed = from.pools.filter((p) => !toIds.has(p.id));
  const verified = verifiedEmptyBefore(to.spec);
  const drained = drainedBefore(to.spec);
  const removedUnverified = removed.filter((p) => !verified.includes(p.role));

  // 1: persisting pools under every mix of old and new DaemonSet configuration; new pools under the new one.
  const mixes: Array<[Config, string]> = [
    [{ awsNode: from.awsNode, cilium: from.cilium }, ` before the step`],
    [{ awsNode: to.awsNode, cilium: from.cilium }, ` while aws-node is updated before Cilium`],
    [{ awsNode: from.awsNode, cilium: to.cilium }, ` while Cilium is updated before aws-node`],
  ];
  for (const pool of persisting) {
    for (const [cfg, when] of mixes) {
      const v = ipamViolation(pool, cfg, to.phase, from.phase, when);
      if (v) {
        out.push(v);
        break;
      }
    }
  }
  for (const pool of [...persisting, ...created]) {
    const v = ipamViolation(pool, to, to.phase, from.phase, " after the step");
    if (v && !out.some((o) => o.invariant === 1 && o.pool === pool.id)) out.push(v);
  }

  // 2
  const releases = new Set([from.cilium?.release, to.cilium?.release]);
  if (releases.has("chained") && releases.has("eni"))
    out.push({
      ...step,
      invariant: 2,
      message: "the step would install the ENI release while the chained release is still installed: the operator has one IPAM mode per cluster",
      fix: "remove the chained release in an earlier phase (phase 2) than the one that installs the ENI release (phase 4)",
    });

  // 3
  for (const pool of removed) {
    const closed = pool.taints.some(isClosingTaint) || drained.includes(pool.role);
    const empty = verified.includes(pool.role);
    if (!closed || !empty)
      out.push({
        ...step,
        invariant: 3,
        pool: pool.id,
        message: `role ${pool.role} is removed, but it was ${closed ? "" : "never closed to new pods (no closing taint, no drain)"}${!closed && !empty ? " and " : ""}${empty ? "" : "not verified empty before the step"}; deleting a node group ignores PodDisruptionBudgets`,
        fix: `drain the ${pool.role} pools and check them empty before phase ${to.phase} (a drain and a poolEmpty check in PHASES[${to.phase}].before)`,
      });
  }

  // 11: a NoExecute taint put on a pool that lives through the step evicts every pod there that does not tolerate it, at once, PDBs ignored.
  for (const pool of persisting) {
    const before = from.pools.find((p) => p.id === pool.id)!;
    const added = pool.taints.filter((t) => t.effect === "NoExecute" && !before.taints.some((b) => b.key === t.key && b.value === t.value && b.effect === "NoExecute"));
    if (added.length && !(drained.includes(pool.role) && verified.includes(pool.role)))
      out.push({
        ...step,
        invariant: 11,
        pool: pool.id,
        message: `${added.map((t) => `${t.key}=${t.value ?? ""}:NoExecute`).join(", ")} goes onto ${pool.nodeGroupName}, which may hold workloads: every pod there that does not tolerate it is evicted at once, PodDisruptionBudgets ignored`,
        fix: `close the pool with NoSchedule first, drain the ${pool.role} pools and check them empty before this step, then put the NoExecute taint on`,
      });
  }

  // 4: capacity at both ends; pools drained before the step do not count for the start.
  const fromHolding = from.pools.filter((p) => !drained.includes(p.role));
  const start = capacityByAz(from, fromHolding);
  for (const [az, cap] of start) {
    if (cap.total < from.minSchedulableNodesPerAz && !out.some((o) => o.invariant === 4 && o.az === az))
      out.push({
        ...step,
        invariant: 4,
        az,
        message: `once the ${drained.join(", ")} pools are drained for this step, ${cap.total} node(s) stay open to workloads (${cap.parts.join(", ") || "none"}), floor is ${from.minSchedulableNodesPerAz}`,
        fix: `raise sizePerAz.desired of the pools that stay open in ${az}, or lower unchain:minSchedulableNodesPerAz`,
      });
  }

  // 4 in vCPU and memory: what stays open holds what is drained, per AZ, where instance types are known.
  // An AZ already short of nodes is said once.
  const shortOfNodes = new Set(out.filter((o) => o.invariant === 4).map((o) => o.az));
  for (const v of cpuMemoryAtDrain(from, to).violations) if (!shortOfNodes.has(v.az)) out.push(v);

  // 5: under the old configuration, pools that existed; under the new one, pools that exist then
  // plus removed pools nobody verified empty.
  for (const [cilium, pools, when] of [
    [from.cilium, from.pools.filter((p) => !(removed.includes(p) && verified.includes(p.role))), "before the new configuration lands"],
    [to.cilium, [...to.pools, ...removedUnverified], "after the new configuration lands"],
  ] as const) {
    const roles = rolesOf(pools as PoolState[]);
    if (cilium && cilium.unmanagedPodWatcherRestart && roles.length > 1)
      out.push({
        ...step,
        invariant: 5,
        message: `${when}, roles ${roles.join(", ")} can hold pods while the unmanaged-pod watcher is on`,
        fix: "turn operator.unmanagedPodWatcher.restart off in the phase before the second role's pools appear, and on only after they are empty",
      });
  }

  // 6
  const allowsReplace = (kind: "nodePool" | "ciliumRelease") => to.spec.allowed.some((a) => a.kind === kind && a.ops.includes("replace"));
  if (!allowsReplace("nodePool")) {
    for (const pool of persisting) {
      const before = from.pools.find((p) => p.id === pool.id)!;
      const a = replaceKeys(before);
      const b = replaceKeys(pool);
      const changed = Object.keys(a).filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
      if (changed.length)
        out.push({
          ...step,
          invariant: 6,
          pool: pool.id,
          message: `node group would be replaced (every node recycled): ${changed.join(", ")} change${changed.length === 1 ? "s" : ""}, and EKS cannot change ${changed.length === 1 ? "it" : "them"} in place (${REPLACE_ON_CHANGE["aws:eks/nodeGroup:NodeGroup"].length} such properties)`,
          fix: "make a new pool instead of changing these properties of an existing one",
        });
    }
  }
  out.push(...checkOwnership(from, to));
  if (!allowsReplace("ciliumRelease") && from.cilium && to.cilium && from.cilium.release !== to.cilium.release)
    out.push({
      ...step,
      invariant: 6,
      message: `the ${from.cilium.release} release would be replaced by the ${to.cilium.release} release in one step`,
      fix: "remove one release and install the other in different phases",
    });
  return out;
}

/**
 * Invariant 10 over a walk: every chained pool (dedicated ones included) has a successor in both
 * roles, so its workloads, with the labels and taints they select, have somewhere to go in phase 2
 * and in phase 6.
 */
export function checkLineage(states: PhaseState[]): Violation[] {
  const first = states[0];
  if (!first) return [];
  const chained = first.pools.filter((p) => p.role === "chained");
  const out: Violation[] = [];
  const later = states.flatMap((s) => s.pools);
  for (const pool of chained) {
    for (const role of ["aws", "cilium"] as const) {
      if (later.some((p) => p.role === role && p.lineage === pool.pool)) continue;
      const phase = (role === "aws" ? 1 : 4) as PhaseNumber;
      out.push({
        invariant: 10,
        phase,
        pool: pool.id,
        message: `chained pool "${pool.pool}" has no ${role} pool succeeding it${pool.taints.some(isClosingTaint) ? ` (it is dedicated: ${pool.taints.filter(isClosingTaint).map((t) => `${t.key}=${t.value ?? ""}:${t.effect}`).join(", ")})` : ""}; its workloads would have nowhere to go when it is removed`,
        fix: `add { name: ${pool.pool}, from: ${pool.pool} } to unchain:${role}Pools: it inherits the pool's launch template, role, instance types, labels, taints and sizes`,
      });
    }
  }
  return out;
}

/** Every phase and every step of a walk, and the lineage of its pools. */
export function checkWalk(states: PhaseState[]): Violation[] {
  const out: Violation[] = [];
  states.forEach((s, i) => {
    out.push(...checkPhase(s));
    if (i > 0) out.push(...checkStep(states[i - 1], s));
  });
  out.push(...checkLineage(states));
  return out;
}


