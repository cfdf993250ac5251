/**
 * Turns the raw `unchain:*` config of one stack into a ClusterConfig, or reports every problem.
 * Pure: the Pulumi program (reading the runtime config) and `unchain plan` (reading the YAML files)
 * both call it, so a mistake reads the same wherever it is found.
 */
import { Taint, TaintEffect } from "../steps/affinity";
import { isPhaseNumber } from "../steps/phases";
import { AGENT_NOT_READY_TAINT_KEY, CNI_LABEL, POOL_ROLES, PoolRole } from "../steps/roles";
import { Problem } from "./problems";
import {
  AvailabilityZone,
  CapacityType,
  ChainedPoolConfig,
  CiliumConfig,
  ClusterConfig,
  NewPoolConfig,
  NodeAgentConfig,
  OperatorRoleConfig,
  PoolSize,
  ResolveConflicts,
  VpcCniConfig,
} from "./types";

export const NAMESPACE = "unchain";

/** Every key unchain reads, with the shape expected (shown when a key is unknown or mistyped). */
export const CONFIG_KEYS: Readonly<Record<string, string>> = {
  phase: "the phase this stack is at, an integer 0-6",
  cluster: "{ name, region, availabilityZones: [{ name, subnetIds }], nodeRoleArn, kubeContext? }",
  chainedPools: "[{ name, nodeGroupName?, importId?, instanceTypes, size: { min, desired, max }, availabilityZones?, subnetIds?, labels?, taints? }]",
  awsPools: "[{ name, instanceTypes, sizePerAz: { min, desired, max }, availabilityZones? }]",
  ciliumPools: "[{ name, instanceTypes, sizePerAz: { min, desired, max }, availabilityZones? }]",
  awsPoolTaintKey: "taint key that closes aws pools in phase 5, e.g. example.com/cni",
  minSchedulableNodesPerAz: "nodes open to workloads each AZ keeps in every phase, an integer >= 0",
  ciliumChartVersion: "Cilium Helm chart version, e.g. 1.16.6",
  ciliumRepository: "Cilium Helm repository URL",
  ciliumValues: "{ common?: {...}, chained?: {...}, eni?: {...} } Helm values merged over unchain's",
  ciliumOperatorRole: "{ roleArn } to use a role, or { create: true, oidcProviderArn } to have unchain create it",
  vpcCniVersion: "vpc-cni add-on version, e.g. v1.18.3-eksbuild.1",
  vpcCniConfigurationValues: "object merged into the add-on's configurationValues",
  vpcCniResolveConflicts: "OVERWRITE | PRESERVE | NONE",
  nodeAgents: "[{ name, chart, version, repository, namespace?, values?, roles: [chained|aws|cilium] }]",
  sandbox: "true to create the VPC and EKS cluster too (rehearsal accounts only)",
  kubernetesVersion: "Kubernetes version of a sandbox cluster, e.g. 1.31",
};

/** Keys read as plain strings even when they look like numbers (e.g. a chart version `1.16`). */
export const STRING_KEYS = new Set(["awsPoolTaintKey", "ciliumChartVersion", "ciliumRepository", "vpcCniVersion", "vpcCniResolveConflicts", "kubernetesVersion"]);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const describe = (v: unknown): string => (v === undefined ? "missing" : v === null ? "null" : Array.isArray(v) ? "a list" : typeof v === "object" ? "an object" : `${typeof v} ${JSON.stringify(v)}`);

const EKS_NAME = /^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$/;
const POOL_NAME = /^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$/;
const REGION = /^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$/;
const SUBNET = /^subnet-[0-9a-f]{8,17}$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@\/-]+$/;
const OIDC_ARN = /^arn:aws[a-z-]*:iam::\d{12}:oidc-provider\/.+$/;
const SEMVER = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;
const ADDON_VERSION = /^v\d+\.\d+\.\d+-eksbuild\.\d+$/;
const INSTANCE_TYPE = /^[a-z][a-z0-9-]*\.[a-z0-9]+$/;
const K8S_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const AMI_TYPES = ["AL2_x86_64", "AL2_ARM_64", "AL2023_x86_64_STANDARD", "AL2023_ARM_64_STANDARD", "BOTTLEROCKET_x86_64", "BOTTLEROCKET_ARM_64", "CUSTOM"];
const TAINT_EFFECTS: TaintEffect[] = ["NoSchedule", "NoExecute", "PreferNoSchedule"];

/**
 * Checks a Kubernetes label/taint key as EKS and the API server do: an optional DNS-subdomain prefix
 * (≤ 253) and `/`, then a name of ≤ 63 alphanumerics, `-`, `_`, `.`, starting and ending alphanumeric.
 * Returns what is wrong, or undefined.
 */
export function qualifiedNameProblem(key: string): string | undefined {
  const parts = key.split("/");
  if (parts.length > 2) return "has more than one '/'";
  const name = parts[parts.length - 1];
  if (parts.length === 2) {
    const prefix = parts[0];
    if (prefix.length === 0 || prefix.length > 253) return "has a prefix that is empty or longer than 253 characters";
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(prefix)) return `has prefix "${prefix}", which is not a lowercase DNS subdomain`;
  }
  if (name.length === 0 || name.length > 63) return "has a name part that is empty or longer than 63 characters";
  if (!/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(name)) return `has name "${name}", which must start and end with a letter or digit and hold only letters, digits, '-', '_' and '.'`;
  return undefined;
}

function labelValueProblem(v: string): string | undefined {
  if (v.length > 63) return "is longer than 63 characters";
  if (v !== "" && !/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(v)) return "must start and end with a letter or digit and hold only letters, digits, '-', '_' and '.'";
  return undefined;
}

/** Levenshtein distance, for "did you mean" on unknown keys. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length][b.length];
}

function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const dd = distance(word.toLowerCase(), c.toLowerCase());
    if (dd < bestD) [best, bestD] = [c, dd];
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

class Checker {
  readonly problems: Problem[] = [];
  constructor(private readonly origin: (key: string) => string | undefined) {}

  add(path: string, message: string, fix: string): void {
    const top = path.split(/[.[]/)[0];
    this.problems.push({ key: path, message, fix, file: this.origin(top) });
  }

  str(v: unknown, path: string, opts: { re?: RegExp; example: string; required?: boolean }): string | undefined {
    if (v === undefined && opts.required === false) return undefined;
    if (typeof v !== "string" || v === "") {
      this.add(path, `must be a string, is ${describe(v)}`, `set ${path} to a value like ${opts.example}`);
      return undefined;
    }
    if (opts.re && !opts.re.test(v)) {
      this.add(path, `"${v}" is not valid`, `write it like ${opts.example}`);
      return undefined;
    }
    return v;
  }

  int(v: unknown, path: string, opts: { min?: number; max?: number; example: string; required?: boolean }): number | undefined {
    if (v === undefined && opts.required === false) return undefined;
    if (typeof v !== "number" || !Number.isInteger(v)) {
      this.add(path, `must be an integer, is ${describe(v)}`, `set ${path} to an integer like ${opts.example}`);
      return undefined;
    }
    if ((opts.min !== undefined && v < opts.min) || (opts.max !== undefined && v > opts.max)) {
      const range = opts.max !== undefined ? `${opts.min ?? "-∞"} to ${opts.max}` : `at least ${opts.min}`;
      this.add(path, `${v} is out of range`, `use an integer from ${range}`);
      return undefined;
    }
    return v;
  }

  obj(v: unknown, path: string, example: string, required = true): Obj | undefined {
    if (v === undefined && !required) return undefined;
    if (!isObj(v)) {
      this.add(path, `must be an object, is ${describe(v)}`, `set ${path} to ${example}`);
      return undefined;
    }
    return v;
  }

  list(v: unknown, path: string, example: string, opts: { nonEmpty?: boolean; required?: boolean } = {}): unknown[] | undefined {
    if (v === undefined && opts.required === false) return undefined;
    if (!Array.isArray(v)) {
      this.add(path, `must be a list, is ${describe(v)}`, `set ${path} to a list like ${example}`);
      return undefined;
    }
    if (opts.nonEmpty && v.length === 0) {
      this.add(path, "is empty", `list at least one, like ${example}`);
      return undefined;
    }
    return v;
  }

  strings(v: unknown, path: string, opts: { re?: RegExp; example: string; nonEmpty?: boolean; required?: boolean }): string[] | undefined {
    const l = this.list(v, path, `[${opts.example}]`, { nonEmpty: opts.nonEmpty ?? true, required: opts.required });
    if (!l) return undefined;
    const out = l.map((x, i) => this.str(x, `${path}[${i}]`, { re: opts.re, example: opts.example }));
    return out.every((x): x is string => x !== undefined) ? out : undefined;
  }

  unknownKeys(o: Obj, path: string, known: string[]): void {
    for (const k of Object.keys(o)) {
      if (known.includes(k)) continue;
      const guess = closest(k, known);
      this.add(`${path}.${k}`, "is not a setting unchain knows", guess ? `did you mean ${path}.${guess}?` : `remove it; known settings: ${known.join(", ")}`);
    }
  }

  labels(v: unknown, path: string): Record<string, string> {
    const o = this.obj(v, path, "{ team: payments }", false);
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(o ?? {})) {
      const kp = qualifiedNameProblem(k);
      if (kp) this.add(`${path}.${k}`, `label key ${kp}`, "use a key like example.com/team");
      else if (k === CNI_LABEL) this.add(`${path}.${k}`, "is set by unchain from the pool's role", `remove ${path}.${k}`);
      else if (typeof val !== "string") this.add(`${path}.${k}`, `label value must be a string, is ${describe(val)}`, `quote it: "${String(val)}"`);
      else {
        const vp = labelValueProblem(val);
        if (vp) this.add(`${path}.${k}`, `label value ${vp}`, "use a value like payments");
        else out[k] = val;
      }
    }
    return out;
  }

  taint(v: unknown, path: string): Taint | undefined {
    const o = this.obj(v, path, "{ key: example.com/dedicated, value: batch, effect: NoSchedule }");
    if (!o) return undefined;
    this.unknownKeys(o, path, ["key", "value", "effect"]);
    const key = this.str(o.key, `${path}.key`, { example: "example.com/dedicated" });
    let ok = key !== undefined;
    if (key) {
      const p = qualifiedNameProblem(key);
      if (p) {
        this.add(`${path}.key`, `taint key "${key}" ${p}; EKS would reject it`, "use a key like example.com/dedicated");
        ok = false;
      }
    }
    const value = o.value === undefined ? undefined : this.str(o.value, `${path}.value`, { example: "batch" });
    if (value !== undefined && labelValueProblem(value)) {
      this.add(`${path}.value`, `taint value "${value}" ${labelValueProblem(value)}`, "use a value like batch");
      ok = false;
    }
    const effect = o.effect;
    if (!TAINT_EFFECTS.includes(effect as TaintEffect)) {
      const eks: Record<string, TaintEffect> = { NO_SCHEDULE: "NoSchedule", NO_EXECUTE: "NoExecute", PREFER_NO_SCHEDULE: "PreferNoSchedule" };
      const hint = typeof effect === "string" && eks[effect] ? `write ${eks[effect]} (unchain takes the Kubernetes spelling and converts it for EKS)` : `use one of ${TAINT_EFFECTS.join(", ")}`;
      this.add(`${path}.effect`, `${describe(effect)} is not a taint effect`, hint);
      ok = false;
    }
    return ok && key ? { key, ...(value !== undefined ? { value } : {}), effect: effect as TaintEffect } : undefined;
  }

  size(v: unknown, path: string): PoolSize | undefined {
    const o = this.obj(v, path, "{ min: 2, desired: 3, max: 6 }");
    if (!o) return undefined;
    this.unknownKeys(o, path, ["min", "desired", "max"]);
    const min = this.int(o.min, `${path}.min`, { min: 0, example: "2" });
    const desired = this.int(o.desired, `${path}.desired`, { min: 0, example: "3" });
    const max = this.int(o.max, `${path}.max`, { min: 1, example: "6" });
    if (min === undefined || desired === undefined || max === undefined) return undefined;
    if (!(min <= desired && desired <= max)) {
      this.add(path, `needs min <= desired <= max, has min ${min}, desired ${desired}, max ${max}`, "reorder the numbers so that min <= desired <= max");
      return undefined;
    }
    return { min, desired, max };
  }

  azList(v: unknown, path: string, known: string[]): string[] | undefined {
    if (v === undefined) return undefined;
    const l = this.strings(v, path, { example: known[0] ?? "eu-central-1a" });
    if (!l) return undefined;
    let ok = true;
    l.forEach((az, i) => {
      if (!known.includes(az)) {
        this.add(`${path}[${i}]`, `"${az}" is not one of the cluster's availability zones (${known.join(", ")})`, `use one of ${known.join(", ")}, or add it to unchain:cluster.availabilityZones`);
        ok = false;
      }
    });
    return ok ? l : undefined;
  }
}

/**
 * Validates the raw config of one stack.
 * @param raw keys without the `unchain:` namespace → values (objects already parsed).
 * @param origin which file each key came from (stack file or Pulumi.yaml), for messages.
 */
export function validateStackConfig(
  stack: string,
  raw: Record<string, unknown>,
  origin: (key: string) => string | undefined = () => undefined,
): { config?: ClusterConfig; problems: Problem[] } {
  const c = new Checker((top) => origin(top.replace(`${NAMESPACE}:`, "")));
  const k = (key: string) => `${NAMESPACE}:${key}`;

  for (const key of Object.keys(raw)) {
    if (CONFIG_KEYS[key] !== undefined) continue;
    const guess = closest(key, Object.keys(CONFIG_KEYS));
    c.add(k(key), "is not a setting unchain knows", guess ? `did you mean ${k(guess)}?` : `remove it; unchain reads ${Object.keys(CONFIG_KEYS).map(k).join(", ")}`);
  }

  const phaseRaw = raw.phase;
  let phase: ClusterConfig["phase"] | undefined;
  if (isPhaseNumber(phaseRaw)) phase = phaseRaw;
  else c.add(k("phase"), phaseRaw === undefined ? "is missing" : `must be an integer from 0 to 6, is ${describe(phaseRaw)}`, `set ${k("phase")} to the phase this cluster is at, e.g. 0 for a cluster not yet migrated`);

  const sandbox = raw.sandbox === undefined ? false : raw.sandbox;
  if (typeof sandbox !== "boolean") c.add(k("sandbox"), `must be true or false, is ${describe(sandbox)}`, `set ${k("sandbox")}: true only for rehearsal stacks`);
  const isSandbox = sandbox === true;

  // cluster
  const cl = c.obj(raw.cluster, k("cluster"), CONFIG_KEYS.cluster);
  let clusterName: string | undefined;
  let region: string | undefined;
  let azs: AvailabilityZone[] | undefined;
  let nodeRoleArn: string | undefined;
  let kubeContext: string | undefined;
  if (cl) {
    const p = k("cluster");
    c.unknownKeys(cl, p, ["name", "region", "availabilityZones", "nodeRoleArn", "kubeContext"]);
    clusterName = c.str(cl.name, `${p}.name`, { re: EKS_NAME, example: "prod-eu-1 (letters, digits, - and _, up to 100)" });
    region = c.str(cl.region, `${p}.region`, { re: REGION, example: "eu-central-1" });
    nodeRoleArn = c.str(cl.nodeRoleArn, `${p}.nodeRoleArn`, { re: ROLE_ARN, example: "arn:aws:iam::123456789012:role/eks-nodes", required: !isSandbox });
    kubeContext = c.str(cl.kubeContext, `${p}.kubeContext`, { example: "prod-eu-1", required: false });
    const list = c.list(cl.availabilityZones, `${p}.availabilityZones`, "[{ name: eu-central-1a, subnetIds: [subnet-0a1b2c3d] }]", { nonEmpty: true });
    if (list) {
      const out: AvailabilityZone[] = [];
      list.forEach((az, i) => {
        const ap = `${p}.availabilityZones[${i}]`;
        const o = c.obj(az, ap, "{ name: eu-central-1a, subnetIds: [subnet-0a1b2c3d] }");
        if (!o) return;
        c.unknownKeys(o, ap, ["name", "subnetIds"]);
        const name = c.str(o.name, `${ap}.name`, { example: `${region ?? "eu-central-1"}a` });
        if (name && region && !new RegExp(`^${region}[a-z]$`).test(name)) {
          c.add(`${ap}.name`, `"${name}" is not an availability zone of region ${region}`, `use an AZ of ${region}, like ${region}a`);
        } else if (name && out.some((a) => a.name === name)) {
          c.add(`${ap}.name`, `"${name}" is listed twice`, "list each availability zone once, with all its subnets");
        }
        // A sandbox makes its own subnets (one private subnet per AZ of its VPC).
        const subnets = c.strings(o.subnetIds, `${ap}.subnetIds`, { re: SUBNET, example: "subnet-0a1b2c3d4e5f60718", required: !isSandbox });
        if (name && (subnets || (isSandbox && o.subnetIds === undefined))) out.push({ name, subnetIds: subnets ?? [] });
      });
      if (out.length === list.length) azs = out;
    }
  }
  const azNames = azs?.map((a) => a.name) ?? [];
  const subnetsOf = (names: string[]) => (azs ?? []).filter((a) => names.includes(a.name)).flatMap((a) => a.subnetIds);

  // pools
  const poolNames = new Map<string, string>();
  // Node group names carry the role (aws-general-a), so names need only be unique within a role.
  const uniqueName = (role: PoolRole, name: string, path: string) => {
    const prev = poolNames.get(`${role}/${name}`);
    if (prev) c.add(`${path}.name`, `pool name "${name}" is already used by ${prev}`, `give every ${role} pool its own name`);
    else poolNames.set(`${role}/${name}`, path);
  };

  const chainedPools: ChainedPoolConfig[] = [];
  const chainedList = c.list(raw.chainedPools, k("chainedPools"), CONFIG_KEYS.chainedPools, { nonEmpty: true });
  chainedList?.forEach((v, i) => {
    const p = `${k("chainedPools")}[${i}]`;
    const o = c.obj(v, p, CONFIG_KEYS.chainedPools);
    if (!o) return;
    c.unknownKeys(o, p, ["name", "nodeGroupName", "importId", "availabilityZones", "subnetIds", "instanceTypes", "size", "amiType", "capacityType", "diskSize", "labels", "taints"]);
    const name = c.str(o.name, `${p}.name`, { re: POOL_NAME, example: "general (lowercase letters, digits and -, up to 32)" });
    if (name) uniqueName("chained", name, p);
    const nodeGroupName = o.nodeGroupName === undefined ? name : c.str(o.nodeGroupName, `${p}.nodeGroupName`, { re: EKS_NAME, example: "general-20230101" });
    const importId = o.importId === undefined ? (clusterName && nodeGroupName ? `${clusterName}:${nodeGroupName}` : undefined) : c.str(o.importId, `${p}.importId`, { re: /^[^:]+:[^:]+$/, example: `${clusterName ?? "prod-eu-1"}:${nodeGroupName ?? "general"}` });
    const poolAzs = o.availabilityZones === undefined ? azNames : c.azList(o.availabilityZones, `${p}.availabilityZones`, azNames);
    const subnetIds = o.subnetIds === undefined ? (poolAzs ? subnetsOf(poolAzs) : undefined) : c.strings(o.subnetIds, `${p}.subnetIds`, { re: SUBNET, example: "subnet-0a1b2c3d4e5f60718" });
    const instanceTypes = c.strings(o.instanceTypes, `${p}.instanceTypes`, { re: INSTANCE_TYPE, example: "m5.xlarge" });
    const size = c.size(o.size, `${p}.size`);
    const common = poolExtras(c, o, p);
    const labels = c.labels(o.labels, `${p}.labels`);
    const taintList = c.list(o.taints, `${p}.taints`, "[{ key: example.com/dedicated, value: batch, effect: NoSchedule }]", { required: false }) ?? [];
    const taints = taintList.map((t, j) => c.taint(t, `${p}.taints[${j}]`)).filter((t): t is Taint => t !== undefined);
    taints.forEach((t, j) => {
      if (t.key === AGENT_NOT_READY_TAINT_KEY) c.add(`${p}.taints[${j}]`, "is set by unchain on every chained pool", `remove it from ${p}.taints`);
    });
    if (name && nodeGroupName && importId && poolAzs && subnetIds && instanceTypes && size && common)
      chainedPools.push({ name, nodeGroupName, importId, availabilityZones: poolAzs, subnetIds, instanceTypes, size, labels, taints, ...common });
  });

  const newPools = (key: "awsPools" | "ciliumPools"): NewPoolConfig[] => {
    const out: NewPoolConfig[] = [];
    const list = c.list(raw[key], k(key), CONFIG_KEYS[key], { nonEmpty: true });
    list?.forEach((v, i) => {
      const p = `${k(key)}[${i}]`;
      const o = c.obj(v, p, CONFIG_KEYS[key]);
      if (!o) return;
      c.unknownKeys(o, p, ["name", "instanceTypes", "sizePerAz", "availabilityZones", "amiType", "capacityType", "diskSize", "labels"]);
      const name = c.str(o.name, `${p}.name`, { re: POOL_NAME, example: "general (lowercase letters, digits and -, up to 32)" });
      if (name) uniqueName(key === "awsPools" ? "aws" : "cilium", name, p);
      const instanceTypes = c.strings(o.instanceTypes, `${p}.instanceTypes`, { re: INSTANCE_TYPE, example: "m6i.xlarge" });
      const sizePerAz = c.size(o.sizePerAz, `${p}.sizePerAz`);
      const poolAzs = o.availabilityZones === undefined ? azNames : c.azList(o.availabilityZones, `${p}.availabilityZones`, azNames);
      const common = poolExtras(c, o, p);
      const labels = c.labels(o.labels, `${p}.labels`);
      if (name && instanceTypes && sizePerAz && poolAzs && common) out.push({ name, instanceTypes, sizePerAz, availabilityZones: poolAzs, labels, ...common });
    });
    return out;
  };
  const awsPools = newPools("awsPools");
  const ciliumPools = newPools("ciliumPools");

  const awsPoolTaintKey = c.str(raw.awsPoolTaintKey, k("awsPoolTaintKey"), { example: "example.com/cni" });
  if (awsPoolTaintKey) {
    const p = qualifiedNameProblem(awsPoolTaintKey);
    if (p) c.add(k("awsPoolTaintKey"), `taint key "${awsPoolTaintKey}" ${p}; EKS would reject it`, "use a key like example.com/cni");
    else if (awsPoolTaintKey === CNI_LABEL || awsPoolTaintKey === AGENT_NOT_READY_TAINT_KEY)
      c.add(k("awsPoolTaintKey"), `"${awsPoolTaintKey}" is a taint key unchain already uses for another purpose`, "use your organisation's key, like example.com/cni");
  }
  const minSchedulableNodesPerAz = c.int(raw.minSchedulableNodesPerAz, k("minSchedulableNodesPerAz"), { min: 0, max: 10000, example: "2" });

  // cilium
  const chartVersion = c.str(raw.ciliumChartVersion, k("ciliumChartVersion"), { re: SEMVER, example: "1.16.6" });
  if (chartVersion) {
    const [maj, min] = chartVersion.split(".").map(Number);
    if (maj < 1 || (maj === 1 && min < 14)) c.add(k("ciliumChartVersion"), `${chartVersion} is older than 1.14, which unchain's values (routingMode) need`, "upgrade the chained release to 1.14 or later first, then set that version here");
  }
  const repository = c.str(raw.ciliumRepository, k("ciliumRepository"), { re: /^(https?|oci):\/\/\S+$/, example: "https://helm.cilium.io" });
  const valuesRaw = c.obj(raw.ciliumValues, k("ciliumValues"), "{ common: {}, chained: {}, eni: {} }", false) ?? {};
  c.unknownKeys(valuesRaw, k("ciliumValues"), ["common", "chained", "eni"]);
  const values = {
    common: c.obj(valuesRaw.common, `${k("ciliumValues")}.common`, "{ hubble: { enabled: true } }", false) ?? {},
    chained: c.obj(valuesRaw.chained, `${k("ciliumValues")}.chained`, "{ endpointRoutes: { enabled: true } }", false) ?? {},
    eni: c.obj(valuesRaw.eni, `${k("ciliumValues")}.eni`, "{ eni: { awsEnablePrefixDelegation: true } }", false) ?? {},
  };
  let operatorRole: OperatorRoleConfig | undefined;
  const opRaw = raw.ciliumOperatorRole;
  if (opRaw === undefined && isSandbox) operatorRole = { kind: "create" };
  else {
    const o = c.obj(opRaw, k("ciliumOperatorRole"), "{ roleArn: arn:aws:iam::123456789012:role/cilium-operator } or { create: true, oidcProviderArn: arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-central-1.amazonaws.com/id/EXAMPLE }");
    if (o) {
      const p = k("ciliumOperatorRole");
      c.unknownKeys(o, p, ["roleArn", "create", "oidcProviderArn"]);
      if (o.roleArn !== undefined && o.create !== undefined) c.add(p, "sets both roleArn and create", "keep roleArn to use an existing role, or create: true to have unchain make one");
      else if (o.roleArn !== undefined) {
        const arn = c.str(o.roleArn, `${p}.roleArn`, { re: ROLE_ARN, example: "arn:aws:iam::123456789012:role/cilium-operator" });
        if (arn) operatorRole = { kind: "existing", roleArn: arn };
      } else if (o.create === true) {
        const oidc = c.str(o.oidcProviderArn, `${p}.oidcProviderArn`, { re: OIDC_ARN, example: "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-central-1.amazonaws.com/id/EXAMPLE", required: !isSandbox });
        if (oidc || isSandbox) operatorRole = { kind: "create", ...(oidc ? { oidcProviderArn: oidc } : {}) };
      } else c.add(p, "says neither roleArn nor create: true", "set roleArn to an existing role with the EC2 permissions, or create: true with oidcProviderArn");
    }
  }

  // vpc-cni
  const addonVersion = c.str(raw.vpcCniVersion, k("vpcCniVersion"), { re: ADDON_VERSION, example: "v1.18.3-eksbuild.1" });
  const cniValues = c.obj(raw.vpcCniConfigurationValues, k("vpcCniConfigurationValues"), "{ env: { WARM_IP_TARGET: \"5\" } }", false) ?? {};
  if (cniValues.nodeSelector !== undefined)
    c.add(`${k("vpcCniConfigurationValues")}.nodeSelector`, "is not accepted by the vpc-cni add-on (its schema has no nodeSelector)", "remove it; unchain places aws-node with affinity");
  const resolve = raw.vpcCniResolveConflicts;
  if (!["OVERWRITE", "PRESERVE", "NONE"].includes(resolve as string)) c.add(k("vpcCniResolveConflicts"), `must be OVERWRITE, PRESERVE or NONE, is ${describe(resolve)}`, "use OVERWRITE so hand edits to aws-node cannot keep it on the wrong pools");

  // node agents
  const nodeAgents: NodeAgentConfig[] = [];
  const agentList = c.list(raw.nodeAgents, k("nodeAgents"), CONFIG_KEYS.nodeAgents, { required: false }) ?? [];
  const agentNames = new Set<string>();
  agentList.forEach((v, i) => {
    const p = `${k("nodeAgents")}[${i}]`;
    const o = c.obj(v, p, CONFIG_KEYS.nodeAgents);
    if (!o) return;
    c.unknownKeys(o, p, ["name", "chart", "version", "repository", "namespace", "values", "roles"]);
    const name = c.str(o.name, `${p}.name`, { re: K8S_NAME, example: "node-local-dns" });
    if (name && agentNames.has(name)) c.add(`${p}.name`, `node agent "${name}" is listed twice`, "give each node agent its own name");
    if (name) agentNames.add(name);
    const chart = c.str(o.chart, `${p}.chart`, { example: "node-local-dns" });
    const version = c.str(o.version, `${p}.version`, { re: SEMVER, example: "2.1.0" });
    const repository = c.str(o.repository, `${p}.repository`, { re: /^(https?|oci):\/\/\S+$/, example: "https://charts.example.com" });
    const namespace = o.namespace === undefined ? "kube-system" : c.str(o.namespace, `${p}.namespace`, { re: K8S_NAME, example: "kube-system" });
    const agentValues = c.obj(o.values, `${p}.values`, "{}", false) ?? {};
    const roles = c.strings(o.roles, `${p}.roles`, { example: "aws" });
    const badRole = roles?.find((r) => !POOL_ROLES.includes(r as PoolRole));
    if (badRole) c.add(`${p}.roles`, `"${badRole}" is not a pool role`, `use roles from ${POOL_ROLES.join(", ")}`);
    if (name && chart && version && repository && namespace && roles && !badRole)
      nodeAgents.push({ name, chart, version, repository, namespace, values: agentValues, roles: roles as PoolRole[] });
  });

  const kubernetesVersion = raw.kubernetesVersion === undefined ? "1.31" : c.str(raw.kubernetesVersion, k("kubernetesVersion"), { re: /^1\.\d+$/, example: "1.31" });

  if (c.problems.length > 0) return { problems: c.problems };
  const cilium: CiliumConfig = { chartVersion: chartVersion!, repository: repository!, values, operatorRole: operatorRole! };
  const vpcCni: VpcCniConfig = { addonVersion: addonVersion!, configurationValues: cniValues, resolveConflicts: resolve as ResolveConflicts };
  return {
    problems: [],
    config: {
      stack,
      phase: phase!,
      clusterName: clusterName!,
      region: region!,
      availabilityZones: azs!,
      ...(nodeRoleArn ? { nodeRoleArn } : {}),
      ...(kubeContext ? { kubeContext } : {}),
      chainedPools,
      awsPools,
      ciliumPools,
      awsPoolTaintKey: awsPoolTaintKey!,
      minSchedulableNodesPerAz: minSchedulableNodesPerAz!,
      cilium,
      vpcCni,
      nodeAgents,
      sandbox: isSandbox,
      kubernetesVersion: kubernetesVersion!,
    },
  };
}

function poolExtras(c: Checker, o: Obj, p: string): { amiType?: string; capacityType?: CapacityType; diskSize?: number } | undefined {
  let ok = true;
  const out: { amiType?: string; capacityType?: CapacityType; diskSize?: number } = {};
  if (o.amiType !== undefined) {
    if (AMI_TYPES.includes(o.amiType as string)) out.amiType = o.amiType as string;
    else {
      c.add(`${p}.amiType`, `${describe(o.amiType)} is not an EKS AMI type`, `use one of ${AMI_TYPES.join(", ")}`);
      ok = false;
    }
  }
  if (o.capacityType !== undefined) {
    if (o.capacityType === "ON_DEMAND" || o.capacityType === "SPOT") out.capacityType = o.capacityType;
    else {
      c.add(`${p}.capacityType`, `${describe(o.capacityType)} is not a capacity type`, "use ON_DEMAND or SPOT");
      ok = false;
    }
  }
  if (o.diskSize !== undefined) {
    const d = c.int(o.diskSize, `${p}.diskSize`, { min: 1, max: 16384, example: "50" });
    if (d === undefined) ok = false;
    else out.diskSize = d;
  }
  return ok ? out : undefined;
}
