/**
 * What `unchain adopt` read from a live cluster: the EKS cluster, its node groups and their launch
 * templates, its subnets, the vpc-cni add-on (AWS SDK), the Cilium Helm release as Helm recorded it
 * and the nodes of each group (Kubernetes API). Kept beside the stack file (`adopted/<stack>.yaml`)
 * and committed with it, so that `unchain plan` can hold every import against what runs, offline.
 *
 * Shapes follow the EKS and EC2 APIs (field names as the AWS SDK returns them), so the provider's
 * read-back rules (live/readback.ts) apply to them as they apply to the real responses. Nothing
 * secret is kept: Helm values that look like key material are replaced by their digest.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { Document, parse } from "yaml";
import { styleNode } from "./yamlStyle";
import { UserError } from "../config/problems";
import { PhaseNumber } from "../steps/phases";

export const SNAPSHOT_VERSION = 1;
/** Where snapshots live in a project directory. */
export const SNAPSHOT_DIR = "adopted";

export interface LiveCluster {
  name: string;
  arn: string;
  endpoint: string;
  region: string;
  /** Kubernetes version. */
  version: string;
  status: string;
  accountId: string;
  /** The subnets and VPC the control plane uses. */
  vpcId?: string;
}

export interface LiveSubnet {
  subnetId: string;
  availabilityZone: string;
  vpcId?: string;
  cidrBlock?: string;
}

export type EksTaintEffect = "NO_SCHEDULE" | "NO_EXECUTE" | "PREFER_NO_SCHEDULE";

/** DescribeNodegroup's `nodegroup`, the fields the provider reads. */
export interface LiveNodeGroup {
  nodegroupName: string;
  status: string;
  nodeRole: string;
  subnets: string[];
  scalingConfig: { minSize: number; maxSize: number; desiredSize: number };
  instanceTypes?: string[];
  amiType?: string;
  capacityType?: string;
  diskSize?: number;
  releaseVersion?: string;
  version?: string;
  launchTemplate?: { id?: string; name?: string; version?: string };
  remoteAccess?: { ec2SshKey?: string; sourceSecurityGroups?: string[] };
  updateConfig?: { maxUnavailable?: number; maxUnavailablePercentage?: number };
  labels: Record<string, string>;
  taints: Array<{ key: string; value?: string; effect: EksTaintEffect }>;
  tags: Record<string, string>;
}

/** A launch template version a node group uses (DescribeLaunchTemplateVersions). */
export interface LiveLaunchTemplate {
  id: string;
  name: string;
  version: string;
  instanceType?: string;
  imageId?: string;
  securityGroupIds: string[];
  /** Digest of the user data (the script itself may hold anything). */
  userData?: string;
  httpTokens?: string;
  httpPutResponseHopLimit?: number;
}

/** DescribeAddon's `addon`. */
export interface LiveAddon {
  addonName: string;
  addonVersion: string;
  status: string;
  configurationValues?: string;
  serviceAccountRoleArn?: string;
  tags: Record<string, string>;
}

/** A Helm release as Helm recorded it (the latest revision's record). */
export interface LiveHelmRelease {
  name: string;
  namespace: string;
  revision: number;
  status: string;
  chart: string;
  chartVersion: string;
  appVersion?: string;
  /** The values the team supplied (`config` of the record); secrets replaced by their digest. */
  values: Record<string, unknown>;
  /** Paths of values replaced by a digest. */
  secretPaths?: string[];
  /** The chart's CA Secret (`cilium-ca`), where this release made it (Helm's ownership metadata): its name only. */
  caSecret?: string;
}

/** The nodes of one node group, as the Kubernetes API shows them. */
export interface LiveNodes {
  nodeGroup: string;
  count: number;
  ready: number;
  /** The `cni` label values the nodes carry. */
  cniLabels: string[];
  /** Taints the nodes carry (key=value:Effect), the union over the group. */
  taints: string[];
}

export interface InferredPhase {
  /** Undefined: the cluster matches no phase. */
  phase?: PhaseNumber;
  /** Why this phase, or, where none matches, what stands in the way of the nearest ones. */
  reasons: string[];
  /** The taint key that closes aws pools, where a phase-5 cluster shows it. */
  awsPoolTaintKey?: string;
}

export interface Snapshot {
  version: number;
  stack: string;
  readAt: string;
  /** How it was read: the region, and the profile or role (never credentials). */
  source: { region: string; profile?: string; roleArn?: string; kubeContext?: string };
  cluster: LiveCluster;
  subnets: LiveSubnet[];
  nodeGroups: LiveNodeGroup[];
  launchTemplates: LiveLaunchTemplate[];
  addons: { vpcCni?: LiveAddon };
  helmReleases: LiveHelmRelease[];
  nodes: LiveNodes[];
  /** `namespace/name` of the SecurityGroupPolicy objects (Security Groups for Pods), which do not work on cilium pools. */
  securityGroupPolicies?: string[];
  inferred: InferredPhase;
}

export function snapshotPath(projectDir: string, stack: string): string {
  return path.join(projectDir, SNAPSHOT_DIR, `${stack}.yaml`);
}

const HEADER = (s: Snapshot) =>
  `# What \`unchain adopt\` read from cluster ${s.cluster.name} (${s.cluster.region}) for stack ${s.stack}.\n` +
  `# unchain plan holds every import against it. Written by unchain adopt; do not edit by hand.\n`;

export function renderSnapshot(s: Snapshot): string {
  const doc = new Document(s, { aliasDuplicateObjects: false });
  styleNode(doc.contents, 0);
  return HEADER(s) + doc.toString({ lineWidth: 0 });
}

export function writeSnapshot(projectDir: string, s: Snapshot): string {
  const file = snapshotPath(projectDir, s.stack);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, renderSnapshot(s));
  fs.renameSync(tmp, file);
  return file;
}

/** The stack's snapshot, or undefined when it was never adopted. */
export function readSnapshot(projectDir: string, stack: string): Snapshot | undefined {
  const file = snapshotPath(projectDir, stack);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  let s: Snapshot;
  try {
    s = parse(text, { maxAliasCount: 0 }) as Snapshot;
  } catch (e) {
    throw new UserError(`${path.relative(projectDir, file)}: ${(e as Error).message.split("\n")[0]}; run unchain adopt -s ${stack} --write to read the cluster again`);
  }
  if (!s || typeof s !== "object" || s.version !== SNAPSHOT_VERSION || !s.cluster)
    throw new UserError(`${path.relative(projectDir, file)} is not an unchain snapshot of version ${SNAPSHOT_VERSION}; run unchain adopt -s ${stack} --write to read the cluster again`);
  return s;
}

// --- secrets ------------------------------------------------------------------------------------

const SECRET_KEY = /(passw(or)?d|secret|token|private[-_]?key|^key$|\.key$|Key$|credentials?)$/i;
const PEM = /-----BEGIN [A-Z ]*(PRIVATE KEY|CERTIFICATE)-----/;

export function digest(value: unknown): string {
  return `sha256:${createHash("sha256").update(typeof value === "string" ? value : JSON.stringify(value)).digest("hex").slice(0, 16)}`;
}

/** Whether a value at `key` holds secret material (a key-like name with a non-empty string, or a PEM block). */
export function looksSecret(key: string, value: unknown): boolean {
  if (typeof value !== "string" || value === "") return false;
  return PEM.test(value) || (SECRET_KEY.test(key) && !/^(true|false|auto|helm|cronJob|certmanager|none|\d+)$/i.test(value) && value.length >= 8);
}

/** `values` with every secret replaced by its digest, and the paths replaced. */
export function scrubValues(values: Record<string, unknown>): { values: Record<string, unknown>; paths: string[] } {
  const paths: string[] = [];
  const walk = (v: unknown, p: string, key: string): unknown => {
    if (looksSecret(key, v)) {
      paths.push(p);
      return digest(v);
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, `${p}[${i}]`, key));
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, walk(x, p ? `${p}.${k}` : k, k)]));
    return v;
  };
  return { values: walk(values, "", "") as Record<string, unknown>, paths };
}
