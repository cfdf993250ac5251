/**
 * From what adopt read to what the stack file says: every node group, the add-on and the Cilium
 * release exactly as they run (so that each import reads back what the program declares), the phase
 * the cluster is at, and a successor in each later role for every pool (by lineage). Pure: the
 * adopt command (automation/adopt.ts) reads the cluster and writes the files.
 */
import { Document, isMap, parseDocument, YAMLMap } from "yaml";
import { styleNode } from "./yamlStyle";
import { DEFAULTS, KEY_NAMES } from "../config/schema";
import { NAMESPACE } from "../config/validate";
import { ownedTaintKeys } from "../steps/phases";
import { CNI_LABEL, PoolRole, roleOfLabel } from "../steps/roles";
import { LiveNodeGroup, Snapshot, SNAPSHOT_DIR } from "./snapshot";

type Obj = Record<string, unknown>;

export interface AdoptOptions {
  stack: string;
  profile?: string;
  roleArn?: string;
  /** A kubeconfig context to record (where it is not named after the cluster). */
  kubeContext?: string;
  /** The cilium-operator's role, where the user names one. */
  operatorRoleArn?: string;
  /** The cluster's OIDC issuer (for a role unchain creates). */
  oidcIssuer?: string;
}

const K8S_EFFECT = { NO_SCHEDULE: "NoSchedule", NO_EXECUTE: "NoExecute", PREFER_NO_SCHEDULE: "PreferNoSchedule" } as const;

/**
 * A pool name from a node group's name: `general-20230412` → `general` (a date), `ng-general` →
 * `general` (eksctl), `general-2023041210123456789` → `general` (Terraform's name_prefix),
 * `aws-general-a` → `general` (a pool of the runbook, per AZ).
 */
export function poolNameOf(nodeGroup: string, role: PoolRole): string {
  let n = nodeGroup.toLowerCase().replace(/^(ng|nodegroup|eks)[-_]/, "");
  if (role !== "chained") n = n.replace(new RegExp(`^${role}[-_]`), "").replace(/[-_](?:[a-z]{2}-[a-z]+-\d)?[a-z]$/, "");
  n = n
    .replace(/[-_](\d{6,}|v\d+|\d+)$/, "")
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 32)
    .replace(/-+$/, "");
  return n || "pool";
}

/** A live node group as the stack file holds it (without the role's label and the taints phases own). */
export function groupEntry(g: LiveNodeGroup, snap: Snapshot, ownedTaints: string[]): Obj {
  const lt = g.launchTemplate ? snap.launchTemplates.find((t) => (t.id === g.launchTemplate?.id || t.name === g.launchTemplate?.name) && t.version === g.launchTemplate?.version) : undefined;
  // Where the launch template sets the type (or the disk), EKS refuses them on the node group; the provider keeps what it reads (Optional + Computed).
  const typesFromTemplate = g.launchTemplate !== undefined && (lt === undefined || lt.instanceType !== undefined);
  const labels = Object.fromEntries(Object.entries(g.labels).filter(([k]) => k !== CNI_LABEL));
  const taints = g.taints.filter((t) => !ownedTaints.includes(t.key)).map((t) => ({ key: t.key, ...(t.value !== undefined ? { value: t.value } : {}), effect: K8S_EFFECT[t.effect] }));
  const tags = Object.fromEntries(Object.entries(g.tags).filter(([k]) => !k.startsWith("aws:")));
  return {
    nodeGroupName: g.nodegroupName,
    subnetIds: g.subnets,
    nodeRoleArn: g.nodeRole,
    size: { min: g.scalingConfig.minSize, desired: g.scalingConfig.desiredSize, max: g.scalingConfig.maxSize },
    ...(g.instanceTypes && !typesFromTemplate ? { instanceTypes: g.instanceTypes } : {}),
    ...(g.amiType ? { amiType: g.amiType } : {}),
    ...(g.capacityType ? { capacityType: g.capacityType } : {}),
    ...(g.diskSize !== undefined && !g.launchTemplate ? { diskSize: g.diskSize } : {}),
    ...(g.releaseVersion ? { releaseVersion: g.releaseVersion } : {}),
    ...(g.version ? { version: g.version } : {}),
    // id and name conflict in the provider's schema: the id alone, with the version number EKS reports.
    ...(g.launchTemplate ? { launchTemplate: { ...(g.launchTemplate.id ? { id: g.launchTemplate.id } : { name: g.launchTemplate.name }), version: g.launchTemplate.version } } : {}),
    ...(g.remoteAccess ? { remoteAccess: { ...(g.remoteAccess.ec2SshKey ? { ec2SshKey: g.remoteAccess.ec2SshKey } : {}), ...(g.remoteAccess.sourceSecurityGroups?.length ? { sourceSecurityGroupIds: g.remoteAccess.sourceSecurityGroups } : {}) } } : {}),
    ...(g.updateConfig ? { updateConfig: g.updateConfig } : {}),
    ...(Object.keys(labels).length ? { labels } : {}),
    ...(taints.length ? { taints } : {}),
    ...(Object.keys(tags).length ? { tags } : {}),
  };
}

/** Unique names: a second `general` becomes `general-2`. */
function uniqueNames<T>(items: T[], name: (x: T) => string): Map<T, string> {
  const used = new Map<string, number>();
  const out = new Map<T, string>();
  for (const x of items) {
    const base = name(x);
    const n = (used.get(base) ?? 0) + 1;
    used.set(base, n);
    out.set(x, n === 1 ? base : `${base.slice(0, 29)}-${n}`);
  }
  return out;
}

/** Secret values of a release are never written out: the stack file gets a placeholder that says how to set them. */
function withSecretPlaceholders(values: Obj, paths: string[]): Obj {
  const out = JSON.parse(JSON.stringify(values)) as Obj;
  for (const p of paths) {
    const parts = p.split(/\.|\[(\d+)\]/).filter((x) => x !== undefined && x !== "");
    let o: unknown = out;
    for (let i = 0; i < parts.length - 1; i++) o = (o as Obj)[parts[i]];
    if (o && typeof o === "object") (o as Obj)[parts[parts.length - 1]] = `<secret: pulumi config set --secret --path '${NAMESPACE}:ciliumRelease.values.${p}'>`;
  }
  return out;
}

/**
 * The stack file's keys for what adopt read (`ns:key` → value, in the order a file shows them).
 * `existing` is the stack file's current config: keys adopt does not read (node agents, Helm values
 * unchain adds, overrides of successor pools, the operator role) are kept from it.
 */
export function adoptedKeys(snap: Snapshot, opts: AdoptOptions, existing: Obj = {}): { keys: Obj; notes: string[] } {
  const notes: string[] = [];
  const phase = snap.inferred.phase;
  if (phase === undefined) throw new Error("adoptedKeys needs a snapshot whose phase was inferred");
  const k = (key: string) => `${NAMESPACE}:${key}`;
  const old = (key: string) => existing[k(key)];
  const awsPoolTaintKey = snap.inferred.awsPoolTaintKey ?? (typeof old("awsPoolTaintKey") === "string" ? (old("awsPoolTaintKey") as string) : DEFAULTS.awsPoolTaintKey);

  const byRole = (role: PoolRole) => snap.nodeGroups.filter((g) => roleOfLabel(g.labels[CNI_LABEL]) === role);
  const chainedGroups = byRole("chained");
  const chainedNames = uniqueNames(chainedGroups, (g) => poolNameOf(g.nodegroupName, "chained"));
  const chainedPools = chainedGroups.map((g) => {
    const entry = groupEntry(g, snap, ownedTaintKeys("chained", awsPoolTaintKey));
    return { name: chainedNames.get(g)!, ...entry };
  });

  /** Existing successor entries (no nodeGroups) of a role, by name: the user's overrides are kept. */
  const oldSuccessors = (key: string): Map<string, Obj> =>
    new Map(((Array.isArray(old(key)) ? old(key) : []) as Obj[]).filter((e) => e && typeof e === "object" && !("nodeGroups" in e) && typeof e.name === "string").map((e) => [e.name as string, e]));

  /** Pools of a role that run: node groups grouped by the pool name their names give. */
  const runningPools = (role: "aws" | "cilium"): Obj[] => {
    const groups = byRole(role);
    const pools = new Map<string, LiveNodeGroup[]>();
    for (const g of groups) {
      const n = poolNameOf(g.nodegroupName, role);
      pools.set(n, [...(pools.get(n) ?? []), g]);
    }
    return [...pools.entries()].map(([name, gs]) => {
      const lineage = role === "aws" ? (chainedPools.some((c) => c.name === name) ? undefined : chainedPools.length === 1 ? chainedPools[0].name : undefined) : undefined;
      return { name, ...(lineage ? { from: lineage } : {}), nodeGroups: gs.map((g) => groupEntry(g, snap, ownedTaintKeys(role, awsPoolTaintKey))) };
    });
  };
  const successors = (key: string, names: string[]): Obj[] => {
    const kept = oldSuccessors(key);
    const out = names.map((n) => kept.get(n) ?? { name: n });
    for (const [n, e] of kept) if (!names.includes(n)) out.push(e);
    return out;
  };

  const awsPools = phase >= 1 && phase <= 5 ? runningPools("aws") : phase === 0 ? successors("awsPools", chainedPools.map((c) => c.name)) : [];
  const ciliumPools = phase >= 4 ? runningPools("cilium") : successors("ciliumPools", phase >= 1 ? awsPools.map((p) => p.name as string) : chainedPools.map((c) => c.name));

  const zones = new Map<string, string[]>();
  const used = new Set(snap.nodeGroups.flatMap((g) => g.subnets));
  for (const s of snap.subnets) if (used.has(s.subnetId)) zones.set(s.availabilityZone, [...(zones.get(s.availabilityZone) ?? []), s.subnetId]);
  const oldCluster = (old("cluster") ?? {}) as Obj;
  const kubeContext = opts.kubeContext ?? (typeof oldCluster.kubeContext === "string" ? oldCluster.kubeContext : undefined);
  const cluster = {
    name: snap.cluster.name,
    region: snap.cluster.region,
    arn: snap.cluster.arn,
    endpoint: snap.cluster.endpoint,
    version: snap.cluster.version,
    ...(kubeContext ? { kubeContext } : {}),
    availabilityZones: [...zones.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, subnetIds]) => ({ name, subnetIds: subnetIds.sort() })),
  };

  const release = snap.helmReleases.find((r) => r.chart === "cilium" && r.status === "deployed");
  if (release?.secretPaths?.length)
    notes.push(
      `the Cilium release's values hold secret material at ${release.secretPaths.join(", ")}: unchain never writes it to a file. Set each with pulumi config set --secret --path '${NAMESPACE}:ciliumRelease.values.<path>' <value> (the import check fails until you do).`,
    );
  const ciliumRelease =
    release && (phase <= 1 || phase >= 4)
      ? { name: release.name, namespace: release.namespace, chartVersion: release.chartVersion, values: withSecretPlaceholders(release.values, release.secretPaths ?? []), ...(release.caSecret && phase <= 1 ? { caSecret: release.caSecret } : {}) }
      : undefined;

  const addon = snap.addons.vpcCni;
  const oldVpcCni = (old("vpcCni") ?? {}) as Obj;
  const vpcCni = addon
    ? {
        addonVersion: addon.addonVersion,
        ...(addon.configurationValues !== undefined ? { configurationValues: addon.configurationValues } : {}),
        ...(addon.serviceAccountRoleArn ? { serviceAccountRoleArn: addon.serviceAccountRoleArn } : {}),
        ...(Object.keys(addon.tags).filter((t) => !t.startsWith("aws:")).length ? { tags: Object.fromEntries(Object.entries(addon.tags).filter(([t]) => !t.startsWith("aws:"))) } : {}),
        ...(oldVpcCni.resolveConflictsOnUpdate ? { resolveConflictsOnUpdate: oldVpcCni.resolveConflictsOnUpdate } : {}),
      }
    : undefined;

  let operatorRole = old("ciliumOperatorRole") as Obj | undefined;
  if (opts.operatorRoleArn) operatorRole = { roleArn: opts.operatorRoleArn };
  if (!operatorRole && phase < 4) {
    if (opts.oidcIssuer) {
      operatorRole = { create: true, oidcProviderArn: `arn:aws:iam::${snap.cluster.accountId}:oidc-provider/${opts.oidcIssuer.replace(/^https:\/\//, "")}` };
      notes.push(`the cilium-operator's IAM role (phase 4) will be created, trusted by the cluster's OIDC provider; pass --operator-role-arn to use a role you have`);
    } else notes.push(`no IAM role for the cilium-operator (phase 4): pass --operator-role-arn, or set ${k("ciliumOperatorRole")}`);
  }

  const keys: Obj = {
    "aws:region": snap.cluster.region,
    ...(opts.profile ? { "aws:profile": opts.profile } : typeof existing["aws:profile"] === "string" ? { "aws:profile": existing["aws:profile"] } : {}),
    ...(opts.roleArn ? { "aws:assumeRoles": [{ roleArn: opts.roleArn }] } : existing["aws:assumeRoles"] !== undefined ? { "aws:assumeRoles": existing["aws:assumeRoles"] } : {}),
    [k("phase")]: phase,
    [k("adoptedPhase")]: phase,
    [k("cluster")]: cluster,
    ...(chainedPools.length ? { [k("chainedPools")]: chainedPools } : {}),
    ...(awsPools.length ? { [k("awsPools")]: awsPools } : {}),
    [k("ciliumPools")]: ciliumPools,
    ...(snap.inferred.awsPoolTaintKey ? { [k("awsPoolTaintKey")]: snap.inferred.awsPoolTaintKey } : {}),
    ...(release ? { [k("ciliumChartVersion")]: release.chartVersion } : {}),
    ...(ciliumRelease ? { [k("ciliumRelease")]: ciliumRelease } : {}),
    ...(vpcCni ? { [k("vpcCni")]: vpcCni } : {}),
    ...(operatorRole ? { [k("ciliumOperatorRole")]: operatorRole } : {}),
  };
  return { keys, notes };
}

/** Keys adopt owns in a stack file: rewritten by `adopt --write`; every other key is left as it is. */
export const ADOPTED_KEYS = ["aws:region", "aws:profile", "aws:assumeRoles", ...["phase", "adoptedPhase", "cluster", "chainedPools", "awsPools", "ciliumPools", "awsPoolTaintKey", "ciliumChartVersion", "ciliumRelease", "vpcCni", "ciliumOperatorRole"].map((x) => `${NAMESPACE}:${x}`)];

/**
 * The stack file with adopt's keys set. A new file gets a header; an existing one keeps its comments
 * and every key adopt does not own.
 */
export function renderStackFile(current: string | undefined, keys: Obj, header: string): string {
  const doc: Document = current ? parseDocument(current) : parseDocument(`${header}config: {}\n`);
  if (!doc.has("config") || !isMap(doc.get("config"))) doc.set("config", doc.createNode({}));
  const config = doc.get("config") as YAMLMap;
  config.flow = false;
  for (const key of ADOPTED_KEYS) if (!(key in keys) && config.has(key)) config.delete(key);
  for (const [key, value] of Object.entries(keys)) {
    const node = doc.createNode(value);
    styleNode(node, 1);
    config.set(key, node);
  }
  // Keys in the order the README's table gives them (the AWS provider's first); others keep theirs, after.
  const order = ["aws:region", "aws:profile", "aws:assumeRoles", ...KEY_NAMES.map((x) => `${NAMESPACE}:${x}`)];
  const rank = (item: unknown) => {
    const i = order.indexOf(String((item as { key: { value?: unknown } }).key?.value ?? (item as { key: unknown }).key));
    return i < 0 ? order.length : i;
  };
  config.items = config.items.map((item, i) => ({ item, i })).sort((a, b) => rank(a.item) - rank(b.item) || a.i - b.i).map((x) => x.item);
  return doc.toString({ lineWidth: 0 });
}

export function stackFileHeader(snap: Snapshot): string {
  return `# ${snap.stack}: cluster ${snap.cluster.name} (${snap.cluster.region}, account ${snap.cluster.accountId}), adopted at phase ${snap.inferred.phase}.\n# Written by unchain adopt from what runs; what it read is in ${SNAPSHOT_DIR}/${snap.stack}.yaml.\n`;
}

