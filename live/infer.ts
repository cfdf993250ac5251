/**
 * Which phase a live cluster is at, read from what runs: the roles of its node groups (their `cni`
 * label), their taints, which Cilium release runs and in which mode, and where aws-node is placed.
 * Each phase of steps/phases.ts is a set of conditions; the cluster is at the phase whose conditions
 * all hold. Where none does, the answer says what stands in the way of the nearest ones, so that a
 * cluster taken part-way by hand can be brought to a phase before it is adopted.
 */
import { parse as parseYaml } from "yaml";
import { releaseMode } from "../config/validate";
import { Affinity, affinityMatches } from "../steps/affinity";
import { PHASES, PhaseNumber } from "../steps/phases";
import { AGENT_NOT_READY_TAINT_KEY, CNI_LABEL, PoolRole, roleOfLabel } from "../steps/roles";
import { InferredPhase, LiveHelmRelease, Snapshot } from "./snapshot";

type Obj = Record<string, unknown>;

export interface ClusterFacts {
  roles: Set<PoolRole>;
  unlabelled: string[];
  /** Cilium releases that run (status deployed), by mode. */
  releases: Array<LiveHelmRelease & { mode?: "chained" | "eni" }>;
  addon: "absent" | "everywhere" | "aws-only" | "other";
  /** aws node groups closed by a NoSchedule taint valued `aws`, and its key. */
  awsClosed: string[];
  awsPoolTaintKey?: string;
  /** cilium node groups still under the validation taint cni=cilium:NoExecute. */
  ciliumValidating: string[];
  groupsOf: Record<PoolRole, string[]>;
  notes: string[];
}

/** The Cilium releases in a snapshot: Helm releases of the chart `cilium`. */
export function ciliumReleases(snap: Snapshot): LiveHelmRelease[] {
  return snap.helmReleases.filter((r) => r.chart === "cilium");
}

function addonPlacement(snap: Snapshot): ClusterFacts["addon"] {
  const a = snap.addons.vpcCni;
  if (!a) return "absent";
  let values: Obj = {};
  try {
    const text = a.configurationValues ?? "";
    values = (text.trim() === "" ? {} : /^\s*[{[]/.test(text) ? JSON.parse(text) : parseYaml(text)) as Obj;
  } catch {
    return "other";
  }
  const affinity = values?.affinity as Affinity | undefined;
  if (!affinity) return "everywhere";
  const on = (cni: string) => affinityMatches(affinity, { [CNI_LABEL]: cni, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64" });
  if (on("aws") && !on("both") && !on("cilium")) return "aws-only";
  if (on("aws") && on("both")) return "everywhere";
  return "other";
}

export function clusterFacts(snap: Snapshot): ClusterFacts {
  const roles = new Set<PoolRole>();
  const groupsOf: Record<PoolRole, string[]> = { chained: [], aws: [], cilium: [] };
  const unlabelled: string[] = [];
  const notes: string[] = [];
  const awsClosed: string[] = [];
  const ciliumValidating: string[] = [];
  let awsPoolTaintKey: string | undefined;
  for (const g of snap.nodeGroups) {
    const role = roleOfLabel(g.labels[CNI_LABEL]);
    if (!role) {
      unlabelled.push(g.nodegroupName);
      continue;
    }
    roles.add(role);
    groupsOf[role].push(g.nodegroupName);
    if (role === "aws") {
      const closing = g.taints.find((t) => t.value === "aws" && t.effect === "NO_SCHEDULE" && t.key !== CNI_LABEL && t.key !== AGENT_NOT_READY_TAINT_KEY);
      if (closing) {
        awsClosed.push(g.nodegroupName);
        awsPoolTaintKey = closing.key;
      }
    }
    if (role === "cilium" && g.taints.some((t) => t.key === CNI_LABEL && t.value === "cilium" && t.effect === "NO_EXECUTE")) ciliumValidating.push(g.nodegroupName);
    const nodes = snap.nodes.find((n) => n.nodeGroup === g.nodegroupName);
    const other = nodes?.cniLabels.filter((l) => l !== g.labels[CNI_LABEL]) ?? [];
    if (other.length) notes.push(`nodes of ${g.nodegroupName} carry cni=${other.join(", cni=")}, while the node group says cni=${g.labels[CNI_LABEL]}`);
  }
  const releases = ciliumReleases(snap).map((r) => ({ ...r, mode: releaseMode(r.values) }));
  for (const r of releases) if (r.status !== "deployed") notes.push(`the Cilium release ${r.namespace}/${r.name} is ${r.status} (revision ${r.revision}); finish or roll back that Helm operation first`);
  return { roles, unlabelled, releases, addon: addonPlacement(snap), awsClosed, ...(awsPoolTaintKey ? { awsPoolTaintKey } : {}), ciliumValidating, groupsOf, notes };
}

const list = (xs: string[]) => xs.join(", ");

/** What keeps the cluster from being at `phase`, in words; empty: it is at that phase. */
export function phaseMismatches(facts: ClusterFacts, phase: PhaseNumber): string[] {
  const spec = PHASES[phase];
  const out: string[] = [];
  const want = new Set(Object.keys(spec.pools) as PoolRole[]);
  for (const role of ["chained", "aws", "cilium"] as const) {
    if (want.has(role) && !facts.roles.has(role)) out.push(`no ${role} node groups (label cni=${role === "chained" ? "both" : role})`);
    if (!want.has(role) && facts.roles.has(role)) out.push(`${role} node groups run (${list(facts.groupsOf[role])})`);
  }
  const deployed = facts.releases.filter((r) => r.status === "deployed");
  const wantRelease = spec.cilium.release;
  if (wantRelease === "none" && deployed.length) out.push(`a Cilium release runs (${list(deployed.map((r) => `${r.namespace}/${r.name}, ${r.mode ?? "unknown mode"}`))})`);
  if (wantRelease !== "none") {
    const match = deployed.filter((r) => r.mode === wantRelease);
    if (!match.length) out.push(`no ${wantRelease} Cilium release runs${deployed.length ? ` (only ${list(deployed.map((r) => `${r.namespace}/${r.name}, ${r.mode ?? "unknown mode"}`))})` : ""}`);
    if (deployed.length > 1) out.push(`${deployed.length} Cilium releases run at once (${list(deployed.map((r) => `${r.namespace}/${r.name}`))})`);
  }
  const addon = spec.awsNode.present ? (spec.awsNode.roles === "all" ? "everywhere" : "aws-only") : "absent";
  if (facts.addon !== addon)
    out.push(
      addon === "absent"
        ? "the vpc-cni add-on still runs"
        : facts.addon === "absent"
          ? "the vpc-cni add-on is not installed"
          : addon === "everywhere"
            ? `aws-node is ${facts.addon === "aws-only" ? "pinned to cni=aws pools" : "placed by an affinity unchain does not recognise"}`
            : `aws-node is ${facts.addon === "everywhere" ? "not pinned to cni=aws pools" : "placed by an affinity unchain does not recognise"}`,
    );
  if (phase === 4 && facts.ciliumValidating.length !== facts.groupsOf.cilium.length)
    out.push(`cilium node groups without the validation taint cni=cilium:NoExecute: ${list(facts.groupsOf.cilium.filter((g) => !facts.ciliumValidating.includes(g)))}`);
  if (phase === 5 && facts.ciliumValidating.length) out.push(`cilium node groups still tainted cni=cilium:NoExecute: ${list(facts.ciliumValidating)}`);
  if (phase === 5 && facts.awsClosed.length !== facts.groupsOf.aws.length) out.push(`aws node groups not closed by <key>=aws:NoSchedule: ${list(facts.groupsOf.aws.filter((g) => !facts.awsClosed.includes(g)))}`);
  if (phase !== 5 && facts.awsClosed.length && want.has("aws")) out.push(`aws node groups are closed (${list(facts.awsClosed)})`);
  return out;
}

/** The phase the cluster is at, or why it matches none. */
export function inferPhase(snap: Snapshot): InferredPhase {
  const facts = clusterFacts(snap);
  const blocking = [
    ...facts.unlabelled.map((g) => `node group ${g} has no cni label (both, aws or cilium); the runbook labels every pool with its role`),
    ...facts.notes,
  ];
  const byPhase = PHASES.map((p) => ({ phase: p.phase, why: phaseMismatches(facts, p.phase) }));
  const matching = byPhase.filter((p) => p.why.length === 0);
  if (matching.length === 1 && blocking.length === 0) {
    const phase = matching[0].phase;
    const spec = PHASES[phase];
    return {
      phase,
      reasons: [`${spec.title}: ${[...facts.roles].sort().map((r) => `${r} pools (${facts.groupsOf[r].length} node groups)`).join(", ")}; Cilium ${spec.cilium.release}; aws-node ${facts.addon}`],
      ...(facts.awsPoolTaintKey ? { awsPoolTaintKey: facts.awsPoolTaintKey } : {}),
    };
  }
  const fewest = Math.min(...byPhase.map((p) => p.why.length));
  const nearest = byPhase.filter((p) => p.why.length === fewest);
  return {
    reasons: [...blocking, ...(fewest > 0 ? nearest.map((p) => `not phase ${p.phase} (${PHASES[p.phase].title}): ${p.why.join("; ")}`) : [])],
  };
}
