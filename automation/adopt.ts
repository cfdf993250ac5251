/**
 * `unchain adopt`: read a live cluster (AWS SDK and Kubernetes API), infer the phase it is at, and
 * write its stack file and snapshot so that every import matches what runs. On a stack that was
 * adopted before, it shows what drifted since and writes nothing unless told to.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as k8s from "@kubernetes/client-node";
import { parse } from "yaml";
import { loadStackText } from "../config/load";
import { UserError } from "../config/problems";
import { adoptedKeys, renderStackFile, stackFileHeader } from "../live/adopt";
import { AwsRead, readAws } from "../live/aws";
import { inferPhase } from "../live/infer";
import { readHelmReleases, readNodes, readSecurityGroupPolicies } from "../live/kube";
import { readSnapshot, renderSnapshot, Snapshot, SNAPSHOT_DIR, SNAPSHOT_VERSION, writeSnapshot } from "../live/snapshot";
import { PHASES } from "../steps/phases";
import { describeViolation } from "../steps/invariants";
import { diffValues } from "./plan/diff";
import { planStack } from "./plan/plan";
import { fmtValue, importLines } from "./plan/report";

export interface AdoptRequest {
  stack: string;
  cluster: string;
  region: string;
  profile?: string;
  roleArn?: string;
  kubeconfig?: string;
  context?: string;
  operatorRoleArn?: string;
}

export interface AdoptResult {
  stack: string;
  ok: boolean;
  /** Lines for the user, in order. */
  lines: string[];
  /** Files written, relative to the project. */
  written: string[];
  drift: string[];
  phase?: number;
  /** Stack file and snapshot text (dry run). */
  rendered?: { stackFile: string; snapshot: string };
}

/**
 * The kubeconfig adopt reads the cluster through: `--context` (in `--kubeconfig` or the default
 * kubeconfig); else a context named after the cluster, where one exists; else the cluster's endpoint
 * with `aws eks get-token` and the same profile or role as the AWS calls.
 */
export function adoptKubeConfig(req: AdoptRequest, aws: AwsRead): { kc: k8s.KubeConfig; context?: string } {
  const kc = new k8s.KubeConfig();
  const file = req.kubeconfig;
  if (file && !fs.existsSync(file)) throw new UserError(`--kubeconfig ${file}: no such file`);
  try {
    if (file) kc.loadFromFile(file);
    else kc.loadFromDefault();
  } catch (e) {
    if (req.context) throw new UserError(`cannot read the kubeconfig ${file ?? process.env.KUBECONFIG ?? "~/.kube/config"}: ${(e as Error).message.split("\n")[0]}`);
  }
  const wanted = req.context ?? req.cluster;
  if (kc.getContextObject(wanted)) {
    kc.setCurrentContext(wanted);
    return { kc, ...(req.context && req.context !== req.cluster ? { context: req.context } : {}) };
  }
  if (req.context) throw new UserError(`no context "${req.context}" in the kubeconfig${file ? ` ${file}` : ""} (contexts: ${kc.getContexts().map((c) => c.name).join(", ") || "none"})`);
  if (!aws.certificateAuthority) throw new UserError(`cluster ${req.cluster}: DescribeCluster gave no certificate authority, and the kubeconfig has no context named ${req.cluster}; pass --context`);
  const args = ["eks", "get-token", "--cluster-name", req.cluster, "--region", req.region, ...(req.profile ? ["--profile", req.profile] : []), ...(req.roleArn ? ["--role-arn", req.roleArn] : [])];
  const eks = new k8s.KubeConfig();
  eks.loadFromOptions({
    clusters: [{ name: req.cluster, server: aws.cluster.endpoint, caData: aws.certificateAuthority, skipTLSVerify: false }],
    users: [{ name: req.cluster, exec: { apiVersion: "client.authentication.k8s.io/v1beta1", command: "aws", args, interactiveMode: "Never" } }],
    contexts: [{ name: req.cluster, cluster: req.cluster, user: req.cluster }],
    currentContext: req.cluster,
  });
  return { kc: eks };
}

/** Reads the cluster: everything a snapshot holds, with the phase inferred. */
export async function readCluster(req: AdoptRequest, now = new Date()): Promise<{ snapshot: Snapshot; aws: AwsRead; context?: string }> {
  const aws = await readAws(req);
  const { kc, context } = adoptKubeConfig(req, aws);
  const [helmReleases, nodes, sgps] = await Promise.all([readHelmReleases(kc), readNodes(kc), readSecurityGroupPolicies(kc)]);
  const snapshot: Snapshot = {
    version: SNAPSHOT_VERSION,
    stack: req.stack,
    readAt: now.toISOString(),
    source: { region: req.region, ...(req.profile ? { profile: req.profile } : {}), ...(req.roleArn ? { roleArn: req.roleArn } : {}), ...(context ? { kubeContext: context } : {}) },
    cluster: aws.cluster,
    subnets: aws.subnets,
    nodeGroups: aws.nodeGroups,
    launchTemplates: aws.launchTemplates,
    addons: aws.vpcCni ? { vpcCni: aws.vpcCni } : {},
    helmReleases,
    nodes,
    ...(sgps.length ? { securityGroupPolicies: sgps } : {}),
    inferred: { reasons: [] },
  };
  snapshot.inferred = inferPhase(snapshot);
  return { snapshot, aws, ...(context ? { context } : {}) };
}

/** What changed between two reads, per resource and property; volatile fields (when, how many nodes now) are left out. */
export function snapshotDrift(before: Snapshot, after: Snapshot): string[] {
  const stable = (s: Snapshot) => ({
    phase: s.inferred.phase,
    cluster: { ...s.cluster },
    nodeGroups: Object.fromEntries(s.nodeGroups.map((g) => [g.nodegroupName, { ...g, status: undefined, scalingConfig: { minSize: g.scalingConfig.minSize, maxSize: g.scalingConfig.maxSize } }])),
    launchTemplates: Object.fromEntries(s.launchTemplates.map((t) => [`${t.id}@${t.version}`, t])),
    vpcCni: s.addons.vpcCni ? { ...s.addons.vpcCni, status: undefined } : undefined,
    releases: Object.fromEntries(s.helmReleases.map((r) => [`${r.namespace}/${r.name}`, { chartVersion: r.chartVersion, status: r.status, values: r.values }])),
  });
  return diffValues(stable(before), stable(after)).map((c) =>
    c.kind === "add" ? `${c.path}: now ${fmtValue(c.after)}` : c.kind === "delete" ? `${c.path}: gone (was ${fmtValue(c.before)})` : `${c.path}: ${fmtValue(c.before)} → ${fmtValue(c.after)}`,
  );
}

function describeRead(s: Snapshot): string {
  const roles = ["both", "aws", "cilium"].map((r) => [r, s.nodeGroups.filter((g) => g.labels.cni === r).length] as const).filter(([, n]) => n > 0);
  const release = s.helmReleases.find((r) => r.status === "deployed");
  const nodes = s.nodes.reduce((n, g) => n + g.count, 0);
  return [
    `${s.nodeGroups.length} node group(s)${roles.length ? ` (${roles.map(([r, n]) => `${n} cni=${r}`).join(", ")})` : ""}`,
    `${s.launchTemplates.length} launch template version(s)`,
    `${s.subnets.length} subnet(s)`,
    s.addons.vpcCni ? `vpc-cni ${s.addons.vpcCni.addonVersion}` : "no vpc-cni add-on",
    release ? `Cilium ${release.namespace}/${release.name} ${release.chartVersion}` : "no Cilium release",
    `${nodes} node(s)`,
  ].join(", ");
}

/** The `unchain:*` and `aws:*` keys of a stack file's text. */
function configOf(text: string | undefined): Record<string, unknown> {
  if (!text) return {};
  const doc = parse(text, { maxAliasCount: 100 }) as { config?: Record<string, unknown> } | null;
  return doc?.config ?? {};
}

export async function adoptStack(dir: string, req: AdoptRequest, opts: { write: boolean; dryRun: boolean; now?: Date }): Promise<AdoptResult> {
  const stackFile = `Pulumi.${req.stack}.yaml`;
  const full = path.join(dir, stackFile);
  const current = fs.existsSync(full) ? fs.readFileSync(full, "utf8") : undefined;
  const previous = current ? readSnapshot(dir, req.stack) : undefined;
  const { snapshot, aws, context } = await readCluster(req, opts.now);
  const who = [req.profile ? `profile ${req.profile}` : undefined, req.roleArn ? `role ${req.roleArn}` : undefined].filter(Boolean).join(", ");
  const lines = [`${req.stack}: cluster ${snapshot.cluster.name} in ${snapshot.cluster.region} (account ${snapshot.cluster.accountId}${who ? `, ${who}` : ""})`, `  read: ${describeRead(snapshot)}`];
  const phase = snapshot.inferred.phase;
  if (phase === undefined) {
    lines.push("  matches no phase, so nothing was written:", ...snapshot.inferred.reasons.map((r) => `    - ${r}`));
    return { stack: req.stack, ok: false, lines, written: [], drift: [] };
  }
  lines.push(`  at phase ${phase} (${PHASES[phase].title}): ${snapshot.inferred.reasons.join("; ")}`);

  const existing = configOf(current);
  const { keys, notes } = adoptedKeys(snapshot, { stack: req.stack, ...(req.profile ? { profile: req.profile } : {}), ...(req.roleArn ? { roleArn: req.roleArn } : {}), ...(context ? { kubeContext: context } : {}), ...(req.operatorRoleArn ? { operatorRoleArn: req.operatorRoleArn } : {}), ...(aws.oidcIssuer ? { oidcIssuer: aws.oidcIssuer } : {}) }, existing);
  const text = renderStackFile(current, keys, stackFileHeader(snapshot));
  const snapText = renderSnapshot(snapshot);
  for (const n of notes) lines.push(`  note: ${n}`);

  // What changed since it was adopted: the cluster, and what the stack file says about it.
  const drift: string[] = [];
  if (current) {
    if (previous) drift.push(...snapshotDrift(previous, snapshot).map((d) => `cluster: ${d}`));
    else drift.push(`cluster: no snapshot yet (${SNAPSHOT_DIR}/${req.stack}.yaml)`);
    const after = configOf(text);
    for (const c of diffValues(existing, after)) drift.push(`${stackFile}: ${c.path}: ${c.kind === "add" ? `+ ${fmtValue(c.after)}` : c.kind === "delete" ? `- ${fmtValue(c.before)}` : `${fmtValue(c.before)} → ${fmtValue(c.after)}`}`);
  }

  // The plan of what would be written: imports against the snapshot, the config, the invariants.
  const source = loadStackText(dir, req.stack, stackFile, text);
  const plan = await planStack(dir, req.stack, { from: phase }, undefined, { source, snapshot });
  const problems = [
    ...plan.problems.map((p) => `${p.key}: ${p.message} (fix: ${p.fix})`),
    ...plan.violations.map(describeViolation),
    ...importLines(plan, "").filter((l) => !l.startsWith("note:")),
    ...plan.steps.flatMap((st) => [...(st.error ? [`step ${st.from}→${st.to}: the program refused: ${st.error}`] : []), ...st.changes.filter((c) => !c.allowed).map((c) => `step ${st.from}→${st.to}: ${c.op} ${c.name}: ${c.reason ?? "not allowed"}`)]),
  ];
  const planOk = plan.ok;

  const write = !opts.dryRun && (current === undefined || opts.write);
  const written: string[] = [];
  if (write) {
    const tmp = `${full}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, full);
    written.push(stackFile, path.relative(dir, writeSnapshot(dir, snapshot)));
  }
  if (current && drift.length) {
    lines.push(`  ${previous ? `drift since ${SNAPSHOT_DIR}/${req.stack}.yaml was read (${previous.readAt})` : "differences from the stack file"}:`, ...drift.map((d) => `    ${d}`));
    if (!write) lines.push(`  nothing written${opts.dryRun ? " (dry run)" : `; run again with --write to take the cluster as it runs now`}`);
  } else if (current && !drift.length) lines.push("  no drift: the stack file and its snapshot say what runs");
  if (written.length) lines.push(`  wrote ${written.join(" and ")}`);
  else if (opts.dryRun && !current) lines.push("  dry run: nothing written");
  if (planOk) lines.push(`  plan: ${plan.imports ? `the ${plan.imports.checked} imports match what runs` : "imports not checked"}, the invariants hold; next: unchain plan -s ${req.stack}`);
  else lines.push(`  plan: ${problems.length} problem(s) to fix before the first phase:`, ...problems.map((p) => `    - ${p.split("\n").join("\n      ")}`));
  const ok = planOk && (drift.length === 0 || write);
  return { stack: req.stack, ok, lines, written, drift, phase, ...(opts.dryRun ? { rendered: { stackFile: text, snapshot: snapText } } : {}) };
}
