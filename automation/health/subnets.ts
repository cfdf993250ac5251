/**
 * Before a drain's first eviction: the subnets of the pools that receive the pods have free IP
 * addresses for them. Every pod that moves (hostNetwork pods aside) needs an address from the
 * subnets of the node it lands on, and a pod that gets none stays in ContainerCreating: the
 * scheduler does not count addresses. So, in each AZ the drained nodes leave, the pods leaving it
 * are held against the free addresses (EC2 `AvailableIpAddressCount`) of the subnets of the node
 * groups that stay open there; pods leaving an AZ where nothing stays open, or a node with no zone
 * label, are held against all of them. A necessary condition, not a forecast: the IPAMs keep
 * addresses warm beyond the pods (aws-node's WARM_IP_TARGET, Cilium's pre-allocation), and the
 * addresses the evicted pods free stay on their nodes until those go.
 *
 * The node groups come from the live nodes (`eks.amazonaws.com/nodegroup`), their subnets from the
 * stack file (`subnetIds` of each node group). What cannot be counted (a node group the stack file
 * does not list, or lists without subnets) is said, and an AZ it leaves undecided is neither passed
 * nor failed.
 */
import type { AwsTarget, AwsUse, SubnetFree } from "../../live/aws";
import { ClusterConfig } from "../../config/types";
import { PhaseNumber } from "../../steps/phases";
import { PoolRole } from "../../steps/roles";
import { NodeInfo, PodInfo } from "./cluster";

/** How to check a stack's subnets: its node groups and subnets, and how to reach EC2. */
export interface SubnetCheck {
  stack: string;
  /** The phase the stack file names (in 4 and 5 both IPAMs draw from the same subnets). */
  phase: PhaseNumber;
  /** Every node group of the stack file, with its subnets. */
  groups: Array<{ nodeGroupName: string; role: PoolRole; subnetIds: string[] }>;
  aws: AwsTarget;
  /** `--skip-subnet-check`: drain without it, and say so. */
  skip?: boolean;
  /** Reads the subnets' free addresses; default EC2 DescribeSubnets through the SDK (live/aws.ts). */
  read?: (t: AwsTarget, subnetIds: string[], use: AwsUse) => Promise<SubnetFree[]>;
}

export const SKIP_FLAG = "--skip-subnet-check";

/** What the drain's subnet check calls, and what a user can do when it cannot. */
export const DRAIN_USE: AwsUse = {
  command: "drain",
  permissions: ["ec2:DescribeSubnets"],
  credentialsFrom: "Set aws:profile or aws:assumeRoles in the stack file (or AWS_PROFILE)",
  otherwise: `Fix: grant ec2:DescribeSubnets to the identity unchain drains with, or pass ${SKIP_FLAG} to drain without counting the subnets' free addresses.`,
};

/** The subnet check of a stack, from its file: node groups, subnets, region and credentials (the last of aws:assumeRoles, as adopt assumes it). */
export function subnetCheckFor(config: ClusterConfig, skip = false): SubnetCheck {
  const role = config.aws.assumeRoles[config.aws.assumeRoles.length - 1]?.roleArn;
  return {
    stack: config.stack,
    phase: config.phase,
    groups: config.pools.flatMap((p) => p.groups.map((g) => ({ nodeGroupName: g.nodeGroupName, role: p.role, subnetIds: g.subnetIds }))),
    aws: { cluster: config.clusterName, region: config.aws.region, ...(config.aws.profile ? { profile: config.aws.profile } : {}), ...(role ? { roleArn: role } : {}) },
    ...(skip ? { skip } : {}),
  };
}

export interface SubnetRoom {
  /** Shortfalls, each with how many addresses are missing and where. */
  short: string[];
  /** What was not checked, and why. */
  notes: string[];
  /** EC2 could not be read: why, with the permission and the fix. The drain stops. */
  error?: string;
}

const ZONE_KEYS = ["topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone"];
const NODEGROUP_LABEL = "eks.amazonaws.com/nodegroup";
const zoneOf = (n: NodeInfo) => ZONE_KEYS.map((k) => n.labels[k]).find(Boolean);
const list = (xs: string[], max = 4) => `${xs.slice(0, max).join(", ")}${xs.length > max ? `, … (${xs.length})` : ""}`;

/**
 * Whether the subnets of the open node groups have free addresses for the pods a drain moves.
 * `open` are the nodes that stay open to the pods (the drain's room check decides which), `moving`
 * the pods it would evict, `nodeOf` where each is now.
 */
export async function subnetRoom(open: NodeInfo[], moving: PodInfo[], nodeOf: (p: PodInfo) => NodeInfo | undefined, check: SubnetCheck | undefined): Promise<SubnetRoom> {
  const pods = moving.filter((p) => !p.hostNetwork);
  if (!pods.length) return { short: [], notes: [] };
  if (!check) return { short: [], notes: ["not checked: this drain was not given the stack's node groups and AWS access (unchain drain -s <stack> checks them)"] };
  if (check.skip) return { short: [], notes: [`not checked (${SKIP_FLAG}): ${pods.length} pod(s) move without counting the subnets' free addresses`] };

  // The open node groups, and what of them cannot be counted.
  const notes: string[] = [];
  const byGroup = new Map<string, NodeInfo[]>();
  const unlabelled = open.filter((n) => !n.labels[NODEGROUP_LABEL]);
  for (const n of open.filter((x) => x.labels[NODEGROUP_LABEL])) byGroup.set(n.labels[NODEGROUP_LABEL], [...(byGroup.get(n.labels[NODEGROUP_LABEL]) ?? []), n]);
  const uncounted = new Set<NodeInfo>(unlabelled);
  if (unlabelled.length) notes.push(`${unlabelled.length} open node(s) carry no ${NODEGROUP_LABEL} label (${list(unlabelled.map((n) => n.name))}): not managed node groups, their subnets are not counted`);
  const counted: Array<{ name: string; subnetIds: string[] }> = [];
  for (const [name, nodes] of [...byGroup].sort(([a], [b]) => a.localeCompare(b))) {
    const g = check.groups.find((x) => x.nodeGroupName === name);
    if (!g || !g.subnetIds.length) {
      for (const n of nodes) uncounted.add(n);
      notes.push(
        !g
          ? `node group ${name} (${nodes.length} open node(s)) is not in Pulumi.${check.stack}.yaml: its subnets are not counted`
          : `node group ${name} lists no subnetIds in Pulumi.${check.stack}.yaml: its subnets are not counted (run unchain adopt -s ${check.stack} --write to record them)`,
      );
      continue;
    }
    counted.push({ name, subnetIds: g.subnetIds });
  }
  if (!counted.length) return { short: [], notes: [...notes, `not checked: none of the open node groups has subnets the stack file names, so no subnet's free addresses could be counted for the ${pods.length} pod(s) that would move`] };

  let subnets: SubnetFree[];
  try {
    const read = check.read ?? (require("../../live/aws") as typeof import("../../live/aws")).subnetFreeIps;
    subnets = await read(check.aws, counted.flatMap((g) => g.subnetIds), DRAIN_USE);
  } catch (e) {
    return { short: [], notes, error: `the subnets' free IP addresses could not be read: ${(e as Error).message}` };
  }
  const known = new Map(subnets.map((s) => [s.subnetId, s]));
  const missing = [...new Set(counted.flatMap((g) => g.subnetIds))].filter((id) => !known.has(id));
  if (missing.length) notes.push(`EC2 did not return subnet(s) ${list(missing)} of Pulumi.${check.stack}.yaml: not counted`);

  const shared = check.phase === 4 || check.phase === 5 ? "; in phases 4 and 5 aws-node and Cilium's ENI IPAM draw from these same subnets, so the addresses either holds are not free to the other" : "";
  const describe = (ss: SubnetFree[]) => ss.map((s) => `${s.subnetId}: ${s.availableIps}`).join(", ");
  const short: string[] = [];
  // Per AZ with open nodes: the pods leaving it against the subnets of the groups open there.
  const openZones = new Set(open.map(zoneOf).filter((z): z is string => !!z));
  const leaving = new Map<string, PodInfo[]>();
  const elsewhere: PodInfo[] = [];
  for (const p of pods) {
    const z = nodeOf(p) ? zoneOf(nodeOf(p)!) : undefined;
    if (z && openZones.has(z)) leaving.set(z, [...(leaving.get(z) ?? []), p]);
    else elsewhere.push(p);
  }
  const subnetsIn = (zone: string | undefined) => {
    const ids = new Set(counted.filter((g) => byGroup.get(g.name)!.some((n) => zone === undefined || zoneOf(n) === zone)).flatMap((g) => g.subnetIds));
    return [...ids].flatMap((id) => (known.get(id) && (zone === undefined || known.get(id)!.availabilityZone === zone) ? [known.get(id)!] : []));
  };
  const judge = (where: string, need: number, zone: string | undefined) => {
    const ss = subnetsIn(zone);
    const free = ss.reduce((n, s) => n + s.availableIps, 0);
    if (free >= need) return;
    const groups = counted.filter((g) => byGroup.get(g.name)!.some((n) => zone === undefined || zoneOf(n) === zone)).map((g) => g.name);
    const undecided = [...uncounted].filter((n) => zone === undefined || zoneOf(n) === zone);
    if (undecided.length) {
      notes.push(`${where}: not decided: ${need} pod(s) would move and the counted subnets have ${free} free IP address(es), but open node(s) ${list(undecided.map((n) => n.name))} are on subnets not counted (above)`);
      return;
    }
    short.push(
      `${where}: ${need} pod(s) would move, the subnets of the node groups that stay open there (${list(groups)}) have ${free} free IP address(es)${ss.length ? ` (${describe(ss)})` : " (none)"}: short by ${need - free}${shared}`,
    );
  };
  for (const [zone, ps] of [...leaving].sort(([a], [b]) => a.localeCompare(b))) judge(`AZ ${zone}`, ps.length, zone);
  // Pods from AZs where nothing stays open, or from nodes with no zone label, go wherever there is room: all AZs together.
  if (!short.length && elsewhere.length) judge("all AZs", pods.length, undefined);
  return { short, notes };
}
