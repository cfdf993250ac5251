/**
 * Turns the raw `unchain:*` config of one stack into a ClusterConfig, or reports every problem at
 * once. Shapes come from the schema (config/schema.ts); the rules here relate keys to each other.
 * Pure: the Pulumi program (reading the runtime config) and `unchain plan` (reading the YAML files)
 * both call it, so a mistake reads the same wherever it is found.
 */
import { ownedValueOverrides } from "./owned";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { Taint } from "../steps/affinity";
import { AWS_POOL_TAINT_KEY, ownedTaintKeys, PHASES, PhaseNumber, STARTUP_TAINT, TaintTemplate } from "../steps/phases";
import { AGENT_NOT_READY_TAINT_KEY, CNI_LABEL, PoolRole } from "../steps/roles";
import { amiArchitecture, amiTypeFor, Architecture, DEFAULT_AMI_ARCHITECTURE, EKS_TAINTS_PER_NODE_GROUP, instanceArchitecture, placementProblems } from "./limits";
import { Problem } from "./problems";
import { AMI_TYPES, ChainedPoolInput, DEFAULTS, Hint, hints, KEY_NAMES, LiveNodeGroupInput, MOVED_KEYS, NewPoolInput, NodeGroupShapeInput, RawConfig, STACK_KEYS, StackKey } from "./schema";
import {
  AvailabilityZone,
  AwsAccess,
  CiliumConfig,
  ClusterConfig,
  LiveRelease,
  NodeAgentConfig,
  NodeGroupSpec,
  OperatorRoleConfig,
  PoolConfig,
  VpcCniConfig,
} from "./types";

export const NAMESPACE = "unchain";

/** Keys read as plain strings even when they look like numbers (e.g. a chart version `1.16`). */
export const STRING_KEYS: ReadonlySet<string> = new Set(KEY_NAMES.filter((k) => (STACK_KEYS[k] as { string?: boolean }).string));

/** Where the AWS provider's own config keys (`aws:*`) of a stack say to reach AWS. */
export interface AwsKeys {
  region?: unknown;
  profile?: unknown;
  assumeRoles?: unknown;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
export const describeValue = (v: unknown): string =>
  v === undefined ? "missing" : v === null ? "null" : Array.isArray(v) ? "a list" : typeof v === "object" ? "an object" : `${typeof v} ${JSON.stringify(v)}`;

/** Levenshtein distance, for "did you mean" on unknown keys. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length][b.length];
}

export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const dd = distance(word.toLowerCase(), c.toLowerCase());
    if (dd < bestD) [best, bestD] = [c, dd];
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

// --- schema issues → problems -------------------------------------------------------------------

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  innerType?: z.ZodType;
  valueType?: z.ZodType;
  options?: z.ZodType[];
  in?: z.ZodType;
}
const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** The schema node and its hint at `path` below `root` (through lists, records, optionals, defaults). */
function schemaPath(root: z.ZodType, path: PropertyKey[]): z.ZodType[] {
  const out: z.ZodType[] = [root];
  let s: z.ZodType | undefined = root;
  const unwrap = (x: z.ZodType): z.ZodType => {
    const d = defOf(x);
    if (d.innerType) return unwrap(d.innerType);
    if (d.type === "pipe" && d.in) return unwrap(d.in);
    return x;
  };
  for (const key of path) {
    if (!s) break;
    const d = defOf(unwrap(s));
    if (d.type === "object" && d.shape) s = d.shape[String(key)];
    else if (d.type === "array") s = d.element;
    else if (d.type === "record") s = d.valueType;
    else if (d.type === "union") s = d.options?.find((o) => defOf(unwrap(o)).type === "object");
    else s = undefined;
    if (s) out.push(s);
  }
  return out;
}

function hintAt(root: z.ZodType, path: PropertyKey[]): Hint | undefined {
  const chain = schemaPath(root, path);
  // The hint of the node itself (or of what it wraps), else the nearest one above it.
  for (let i = chain.length - 1; i >= 0; i--) {
    const h = hints.get(chain[i]) ?? (defOf(chain[i]).innerType ? hints.get(defOf(chain[i]).innerType!) : undefined);
    if (h && h.description) return h;
    if (i === chain.length - 1 && chain.length - 1 < path.length) break;
  }
  return undefined;
}

function shapeKeysAt(root: z.ZodType, path: PropertyKey[]): string[] {
  const chain = schemaPath(root, path);
  if (chain.length - 1 < path.length) return [];
  let s = chain[chain.length - 1];
  for (;;) {
    const d = defOf(s);
    if (d.innerType) s = d.innerType;
    else if (d.type === "pipe" && d.in) s = d.in;
    else break;
  }
  const d = defOf(s);
  return d.type === "object" && d.shape ? Object.keys(d.shape) : [];
}

export function keyPath(top: string, path: PropertyKey[]): string {
  return path.reduce<string>((acc, k) => (typeof k === "number" ? `${acc}[${k}]` : `${acc}.${String(k)}`), `${NAMESPACE}:${top}`);
}

type Issue = z.core.$ZodIssue & { input?: unknown; params?: { fix?: string } };

function issueProblems(top: StackKey, root: z.ZodType, issue: Issue): Problem[] {
  const path = issue.path;
  const key = keyPath(top, path);
  const h = hintAt(root, path);
  const fix = issue.params?.fix ?? h?.fix ?? (h?.example ? `write it like ${h.example}` : "see the README's configuration table");
  switch (issue.code) {
    case "unrecognized_keys": {
      const known = shapeKeysAt(root, path);
      return issue.keys.map((k) => {
        const guess = closest(k, known);
        return { key: `${key}.${k}`, message: "is not a setting unchain knows", fix: guess ? `did you mean ${key}.${guess}?` : `remove it; known settings here: ${known.join(", ")}` };
      });
    }
    case "invalid_type": {
      const what = issue.expected === "object" || issue.expected === "record" ? "an object" : issue.expected === "array" ? "a list" : `a ${issue.expected}`;
      if (issue.input === undefined) return [{ key, message: "is missing", fix: h?.example ? `set it, like ${h.example}` : fix }];
      return [{ key, message: `must be ${what}, is ${describeValue(issue.input)}`, fix }];
    }
    case "invalid_format":
      return [{ key, message: `"${String(issue.input)}" is not valid${h ? ` ${h.description}` : ""}`, fix }];
    case "too_small":
    case "too_big": {
      const bound = issue.code === "too_small" ? `at least ${String(issue.minimum)}` : `at most ${String(issue.maximum)}`;
      if (issue.origin === "array") return [{ key, message: `has ${(issue.input as unknown[] | undefined)?.length ?? 0} item(s), needs ${bound}`, fix }];
      if (issue.origin === "string") return [{ key, message: `"${String(issue.input)}" must be ${bound} characters long`, fix }];
      return [{ key, message: `${String(issue.input)} is out of range: must be ${bound}`, fix }];
    }
    case "invalid_value":
      return [{ key, message: `${describeValue(issue.input)} is not one of ${issue.values.map((v) => String(v)).join(", ")}`, fix: h?.fix ?? `use one of ${issue.values.map((v) => String(v)).join(", ")}` }];
    case "invalid_union":
      return [{ key, message: `${describeValue(issue.input)} is not ${h ? h.description : "valid"}`, fix }];
    case "invalid_key":
      return issue.issues.flatMap((i) => issueProblems(top, root, { ...(i as Issue), path: [...path, ...i.path] }));
    case "invalid_element":
      return issue.issues.flatMap((i) => issueProblems(top, root, { ...(i as Issue), path: [...path, ...i.path] }));
    default:
      return [{ key, message: issue.message, fix }];
  }
}

// --- rules between keys ---------------------------------------------------------------------------

class Rules {
  readonly problems: Problem[] = [];
  constructor(private readonly origin: (key: string) => string | undefined) {}
  add(key: string, message: string, fix: string): void {
    const top = key.replace(`${NAMESPACE}:`, "").split(/[.[]/)[0];
    this.problems.push({ key, message, fix, file: this.origin(top) });
  }
}

function parseConfigurationValues(v: string | Obj | undefined): { text?: string; values: Obj; error?: string } {
  if (v === undefined) return { values: {} };
  if (isObj(v)) return { text: JSON.stringify(v), values: v };
  try {
    const parsed = /^\s*[{[]/.test(v) ? (JSON.parse(v) as unknown) : (parseYaml(v) as unknown);
    if (parsed === null || parsed === undefined) return { text: v, values: {} };
    if (!isObj(parsed)) return { values: {}, error: "is not a JSON or YAML object" };
    return { text: v, values: parsed };
  } catch (e) {
    return { values: {}, error: `is not valid JSON or YAML (${(e as Error).message.split("\n")[0]})` };
  }
}

/** The release mode its values say: aws-cni chaining, or ENI IPAM. */
export function releaseMode(values: Obj): "chained" | "eni" | undefined {
  const cni = isObj(values.cni) ? values.cni : {};
  const ipam = isObj(values.ipam) ? values.ipam : {};
  if (cni.chainingMode === "aws-cni") return "chained";
  if (ipam.mode === "eni") return "eni";
  return undefined;
}

function awsAccess(r: Rules, aws: AwsKeys, region: string | undefined): AwsAccess | undefined {
  let ok = true;
  if (aws.region !== undefined && region !== undefined && aws.region !== region) {
    r.add("aws:region", `is ${JSON.stringify(aws.region)}, but the cluster is in ${region} (unchain:cluster.region)`, `set aws:region to ${region}, or correct unchain:cluster.region`);
    ok = false;
  }
  if (aws.profile !== undefined && (typeof aws.profile !== "string" || aws.profile === "")) {
    r.add("aws:profile", `must be a profile name, is ${describeValue(aws.profile)}`, "write the name of a profile in ~/.aws/config, like prod-admin");
    ok = false;
  }
  const roles: AwsAccess["assumeRoles"] = [];
  if (aws.assumeRoles !== undefined) {
    const list = Array.isArray(aws.assumeRoles) ? aws.assumeRoles : undefined;
    if (!list) {
      r.add("aws:assumeRoles", `must be a list, is ${describeValue(aws.assumeRoles)}`, "write it like [{ roleArn: arn:aws:iam::123456789012:role/unchain }]");
      ok = false;
    } else
      list.forEach((item, i) => {
        const o = isObj(item) ? item : {};
        if (typeof o.roleArn !== "string" || !/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/.test(o.roleArn)) {
          r.add(`aws:assumeRoles[${i}].roleArn`, `must be an IAM role ARN, is ${describeValue(o.roleArn)}`, "write it like arn:aws:iam::123456789012:role/unchain");
          ok = false;
        } else
          roles.push({
            roleArn: o.roleArn,
            ...(typeof o.sessionName === "string" ? { sessionName: o.sessionName } : {}),
            ...(typeof o.externalId === "string" ? { externalId: o.externalId } : {}),
          });
      });
  }
  if (!ok || region === undefined) return undefined;
  return { region, ...(typeof aws.profile === "string" ? { profile: aws.profile } : {}), assumeRoles: roles };
}

function azSuffix(az: string, region: string): string {
  return az.startsWith(region) ? az.slice(region.length).replace(/^-/, "") || az : az;
}

/**
 * Validates the raw config of one stack.
 * @param raw keys without the `unchain:` namespace → values (objects already parsed).
 * @param origin which file each key came from (stack file or Pulumi.yaml), for messages.
 * @param aws the stack's `aws:*` keys (region, profile, assumeRoles).
 */
/** What a `secure:` value stands for offline: its plaintext is never known here (plan and review print this). */
export const OPAQUE_SECRET = "[secret]";

/** `{ secure: <ciphertext> }`, a Pulumi secret in a stack file, at any depth of a structured value. */
function isSecureLeaf(v: unknown): v is { secure: string } {
  return isObj(v) && Object.keys(v).length === 1 && typeof v.secure === "string";
}

/** The keys of the secure leaves of a stack's raw `unchain:*` config (`unchain:ciliumValues.common.x`). */
export function secureLeafKeys(raw: Record<string, unknown>): string[] {
  const found: string[] = [];
  openSecrets(raw, "", found);
  return found;
}

/** The config with every secure leaf replaced by OPAQUE_SECRET, and the keys where they were. */
function openSecrets(v: unknown, key: string, found: string[]): unknown {
  if (isSecureLeaf(v)) {
    found.push(key);
    return OPAQUE_SECRET;
  }
  if (Array.isArray(v)) return v.map((x, i) => openSecrets(x, `${key}[${i}]`, found));
  if (isObj(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, openSecrets(x, key ? `${key}.${k}` : `${NAMESPACE}:${k}`, found)]));
  return v;
}

/**
 * Validates a stack's `unchain:*` config. A `secure:` value is accepted wherever `pulumi up` would
 * accept its plaintext: offline it is an opaque secret (OPAQUE_SECRET), never printed; where unchain
 * must read the value itself offline (a name, an ARN, a taint) it says so.
 */
export function validateStackConfig(
  stack: string,
  raw: Record<string, unknown>,
  origin: (key: string) => string | undefined = () => undefined,
  aws: AwsKeys = {},
): { config?: ClusterConfig; problems: Problem[] } {
  const secrets: string[] = [];
  const opened = openSecrets(raw, "", secrets) as Record<string, unknown>;
  const out = validateOpen(stack, opened, origin, aws);
  if (out.config) out.config.secretKeys = secrets;
  const secretAt = (key: string) => secrets.find((s) => key === s || key.startsWith(`${s}.`) || key.startsWith(`${s}[`));
  return {
    ...out,
    problems: out.problems.map((p) =>
      secretAt(p.key)
        ? { ...p, message: `is a secret (secure:), which unchain cannot read offline, and this setting must be checked before anything runs (${p.message})`, fix: "write it in plain text: it names something in the cluster or the account, not a credential" }
        : p,
    ),
  };
}

function validateOpen(
  stack: string,
  raw: Record<string, unknown>,
  origin: (key: string) => string | undefined,
  aws: AwsKeys,
): { config?: ClusterConfig; problems: Problem[] } {
  const r = new Rules(origin);
  const k = (key: string) => `${NAMESPACE}:${key}`;

  for (const key of Object.keys(raw)) {
    if ((KEY_NAMES as string[]).includes(key)) continue;
    if (MOVED_KEYS[key]) {
      r.add(k(key), `has moved to ${MOVED_KEYS[key]}`, `write it as ${MOVED_KEYS[key]} (unchain adopt writes the add-on as it runs)`);
      continue;
    }
    const guess = closest(key, KEY_NAMES);
    r.add(k(key), "is not a setting unchain knows", guess ? `did you mean ${k(guess)}?` : `remove it; unchain reads ${KEY_NAMES.map(k).join(", ")}`);
  }

  // Shapes, key by key: a key that fails does not hide the problems of the others.
  const parsed: RawConfig = {};
  for (const key of KEY_NAMES) {
    const schema = STACK_KEYS[key].schema;
    if (raw[key] === undefined) continue;
    const res = schema.safeParse(raw[key], { reportInput: true });
    if (res.success) (parsed as Record<string, unknown>)[key] = res.data;
    else for (const issue of res.error.issues) for (const p of issueProblems(key, schema, issue as Issue)) r.add(p.key, p.message, p.fix);
  }
  const shapeOk = (key: StackKey) => raw[key] === undefined || parsed[key] !== undefined;

  if (raw.phase === undefined) r.add(k("phase"), "is missing", `set ${k("phase")} to the phase this cluster is at, e.g. 0 for a cluster not yet migrated`);
  const sandbox = parsed.sandbox ?? false;
  const phase = parsed.phase as PhaseNumber | undefined;
  const adoptedPhase = (parsed.adoptedPhase ?? 0) as PhaseNumber;
  if (sandbox && parsed.adoptedPhase !== undefined) r.add(k("adoptedPhase"), "is set on a sandbox, which adopts nothing", `remove ${k("adoptedPhase")}`);
  if (phase !== undefined && phase < adoptedPhase)
    r.add(k("phase"), `is ${phase}, before the phase the cluster was adopted at (${k("adoptedPhase")}: ${adoptedPhase})`, `set ${k("phase")} to ${adoptedPhase} or later`);

  // cluster
  if (raw.cluster === undefined) r.add(k("cluster"), "is missing", `set it, like ${hints.get(STACK_KEYS.cluster.schema)?.example ?? "{ name, region, availabilityZones }"}`);
  const cl = parsed.cluster;
  const region = cl?.region;
  const azs: AvailabilityZone[] = [];
  const subnetAz = new Map<string, string>();
  if (cl) {
    cl.availabilityZones.forEach((az, i) => {
      const p = `${k("cluster")}.availabilityZones[${i}]`;
      if (!new RegExp(`^${cl.region}[a-z]$`).test(az.name)) r.add(`${p}.name`, `"${az.name}" is not an availability zone of region ${cl.region}`, `use an AZ of ${cl.region}, like ${cl.region}a`);
      else if (azs.some((a) => a.name === az.name)) r.add(`${p}.name`, `"${az.name}" is listed twice`, "list each availability zone once, with all its subnets");
      else if (az.subnetIds === undefined && !sandbox) r.add(`${p}.subnetIds`, "is missing", "list the subnets of this AZ that node groups use (unchain adopt reads them)");
      else {
        azs.push({ name: az.name, subnetIds: az.subnetIds ?? [] });
        for (const s of az.subnetIds ?? []) {
          if (subnetAz.has(s)) r.add(`${p}.subnetIds`, `${s} is listed under ${subnetAz.get(s)} too`, "a subnet is in one AZ: list it once");
          subnetAz.set(s, az.name);
        }
      }
    });
  }
  const azNames = azs.map((a) => a.name);
  const access = awsAccess(r, aws, region);

  // --- node groups ---
  const nodeRoleDefault = cl?.nodeRoleArn;
  const groupNames = new Map<string, string>();
  /** Pulumi resource names of aws and cilium groups (steps/desired.ts groupId): the group's name, prefixed with the role unless it already is. */
  const resourceNames = new Map<string, { name: string; where: string }>();
  /** `created`: the name unchain gives a group of the pool at `where` (`<role>-<pool>-<az>`). */
  const claimName = (name: string, where: string, role: PoolRole, created = false) => {
    const prev = groupNames.get(name);
    if (prev) {
      const fix = created
        ? `rename the pool (unchain names its node groups ${role}-<pool>-<az>), or remove the node group ${name} listed at ${prev}`
        : "list each node group once: one pool adopts a node group, and EKS names node groups uniquely per cluster";
      r.add(where, `node group name "${name}" is also used by ${prev}; EKS names node groups uniquely per cluster`, fix);
      return;
    }
    groupNames.set(name, where);
    if (role === "chained") return;
    const id = name.startsWith(`${role}-`) ? name : `${role}-${name}`;
    const other = resourceNames.get(id);
    if (other)
      r.add(
        where,
        `node group "${name}" and node group "${other.name}" (${other.where}) would both be the Pulumi resource ${id}: unchain names a ${role} group's resource after the group, with the role in front`,
        `adopt one of them in another pool role, or rename the pool that creates one of them; two ${role} groups may not be named x and ${role}-x`,
      );
    else resourceNames.set(id, { name, where });
  };

  /** Where each node group came from in the stack file, for the rules that look at groups as EKS will hold them. */
  const groupOrigin = new Map<NodeGroupSpec, { taintsPath: string; inheritedFrom?: string }>();

  /**
   * Instance types of one architecture, the one of the AMI type (EKS's default, x86_64, where none is
   * set; config/limits.ts). Checked once per pool (`p`). `typesKey`/`amiKey`: where the two were
   * written, undefined where inherited; `inherited`: what of the two is inherited, and from where.
   */
  const archChecked = new Set<string>();
  const checkArchitecture = (p: string, g: { instanceTypes?: string[]; amiType?: string }, typesKey: string | undefined, amiKey: string | undefined, inherited?: string) => {
    if (!g.instanceTypes || archChecked.has(p)) return;
    archChecked.add(p);
    const archOf = g.instanceTypes.map((t) => ({ t, arch: instanceArchitecture(t) }));
    const known = archOf.filter((x): x is { t: string; arch: Architecture } => x.arch !== undefined);
    const archs = [...new Set(known.map((x) => x.arch))];
    const from = inherited ? ` (${inherited})` : "";
    if (archs.length > 1) {
      r.add(
        typesKey ?? amiKey ?? p,
        `mixes architectures: ${known.map((x) => `${x.t} is ${x.arch}`).join(", ")}${from}; the nodes of a node group boot one AMI, of one architecture`,
        `list instance types of one architecture in ${typesKey ?? `${p}.instanceTypes`}, and make a pool per architecture if you need both`,
      );
      return;
    }
    const ami = g.amiType === undefined ? DEFAULT_AMI_ARCHITECTURE : amiArchitecture(g.amiType);
    if (archs.length === 0 || ami === undefined || archs[0] === ami) return;
    const want = archs[0];
    const amiSays = g.amiType === undefined ? `no amiType is set, and EKS then boots an ${ami} AMI (AL2023_x86_64_STANDARD from Kubernetes 1.30)` : `amiType ${g.amiType} is ${ami}`;
    const match = amiTypeFor(g.amiType, want, AMI_TYPES);
    r.add(
      typesKey ?? amiKey ?? `${p}.amiType`,
      `instance types ${known.map((x) => x.t).join(", ")} are ${want}${from}, but ${amiSays}; EKS would refuse the node group`,
      `${match ? `set ${amiKey ?? `${p}.amiType`}: ${match}, or ` : ""}use ${ami} instance types in ${typesKey ?? `${p}.instanceTypes`}`,
    );
  };

  /** The AZs given, if all are the cluster's; else each unknown one is a problem. */
  const knownAzs = (p: string, given: string[]): string[] | undefined => {
    given.forEach((az, i) => {
      if (!azNames.includes(az)) r.add(`${p}[${i}]`, `"${az}" is not one of the cluster's availability zones (${azNames.join(", ")})`, `use one of ${azNames.join(", ")}, or add it to unchain:cluster.availabilityZones`);
    });
    return given.every((az) => azNames.includes(az)) ? given : undefined;
  };

  /** AZs of a group: given, else those of its subnets, else every AZ of the cluster. */
  const groupAzs = (p: string, given: string[] | undefined, subnets: string[] | undefined): string[] | undefined => {
    if (given) return knownAzs(`${p}.availabilityZones`, given);
    if (subnets) {
      const unknown = subnets.filter((s) => !subnetAz.has(s));
      if (unknown.length) {
        r.add(`${p}.subnetIds`, `${unknown.join(", ")} ${unknown.length === 1 ? "is" : "are"} in no AZ of unchain:cluster.availabilityZones`, "list every subnet of the node groups under its AZ in unchain:cluster.availabilityZones");
        return undefined;
      }
      return [...new Set(subnets.map((s) => subnetAz.get(s)!))].sort();
    }
    return azNames;
  };

  const checkLabelsAndTaints = (p: string, g: NodeGroupShapeInput, role: PoolRole) => {
    if (g.labels && CNI_LABEL in g.labels) r.add(`${p}.labels.${CNI_LABEL}`, "is set by unchain from the pool's role", `remove ${p}.labels.${CNI_LABEL}`);
    const owned = ownedTaintKeys(role, parsed.awsPoolTaintKey ?? DEFAULTS.awsPoolTaintKey);
    (g.taints ?? []).forEach((t, j) => {
      if (owned.includes(t.key)) r.add(`${p}.taints[${j}]`, `is a taint unchain sets and lifts on ${role} pools per phase`, `remove it from ${p}.taints`);
    });
    const seen = new Set<string>();
    (g.taints ?? []).forEach((t, j) => {
      const id = `${t.key}:${t.effect}`;
      if (seen.has(id)) r.add(`${p}.taints[${j}]`, `repeats key ${t.key} with effect ${t.effect}; EKS keeps one taint per key and effect`, "keep one of them");
      seen.add(id);
    });
  };

  /** A group that exists, exactly as given. */
  const liveGroup = (p: string, g: LiveNodeGroupInput | ChainedPoolInput, name: string, role: PoolRole): NodeGroupSpec | undefined => {
    const azList = groupAzs(p, g.availabilityZones, g.subnetIds);
    const subnets = g.subnetIds ?? (azList ? azs.filter((a) => azList.includes(a.name)).flatMap((a) => a.subnetIds) : undefined);
    const role_ = g.nodeRoleArn ?? nodeRoleDefault;
    if (!role_ && !sandbox) r.add(`${p}.nodeRoleArn`, "is missing", "set the node group's IAM role (unchain adopt reads it), or unchain:cluster.nodeRoleArn for all");
    checkLabelsAndTaints(p, g, role);
    // A group that runs is imported as EKS describes it; a sandbox creates its chained groups.
    if (sandbox) checkArchitecture(p, g, g.instanceTypes ? `${p}.instanceTypes` : undefined, g.amiType ? `${p}.amiType` : undefined);
    if (g.launchTemplate && g.remoteAccess) r.add(`${p}.remoteAccess`, "is set together with launchTemplate; EKS refuses remote access on a node group with a launch template", "put the SSH key in the launch template and remove remoteAccess");
    claimName(name, p, role);
    if (!azList || !subnets || (!role_ && !sandbox)) return undefined;
    const group = spec(g, name, azList, subnets, role_);
    groupOrigin.set(group, { taintsPath: `${p}.taints` });
    return group;
  };

  type Shape = Partial<Omit<NodeGroupSpec, "nodeGroupName" | "availabilityZones" | "subnetIds" | "nodeRoleArn" | "importId">> & Pick<NodeGroupSpec, "size">;
  const spec = (g: Shape, name: string, azList: string[], subnets: string[], roleArn: string | undefined): NodeGroupSpec => ({
    nodeGroupName: name,
    availabilityZones: azList,
    subnetIds: subnets,
    ...(roleArn ? { nodeRoleArn: roleArn } : {}),
    size: g.size,
    ...(g.instanceTypes ? { instanceTypes: g.instanceTypes } : {}),
    ...(g.amiType ? { amiType: g.amiType } : {}),
    ...(g.capacityType ? { capacityType: g.capacityType } : {}),
    ...(g.diskSize !== undefined ? { diskSize: g.diskSize } : {}),
    ...(g.releaseVersion ? { releaseVersion: g.releaseVersion } : {}),
    ...(g.version ? { version: g.version } : {}),
    ...(g.launchTemplate ? { launchTemplate: g.launchTemplate } : {}),
    ...(g.remoteAccess ? { remoteAccess: g.remoteAccess } : {}),
    ...(g.updateConfig ? { updateConfig: g.updateConfig } : {}),
    labels: g.labels ?? {},
    taints: g.taints ?? [],
    tags: g.tags ?? {},
  });

  const pools: PoolConfig[] = [];
  /** Pools unchain creates, with the config they came from: their groups are resolved from their lineage below. */
  const toCreate = new Map<PoolConfig, { input: NewPoolInput; path: string }>();
  const cluster = cl?.name;

  // chained pools: each one adopted group
  const chainedInput = parsed.chainedPools ?? [];
  const chainedNeeded = !sandbox ? adoptedPhase <= 1 : true;
  if (chainedNeeded && raw.chainedPools === undefined) r.add(k("chainedPools"), "is missing", "list the node groups that run chained Cilium today (unchain adopt writes them)");
  else if (chainedNeeded && shapeOk("chainedPools") && chainedInput.length === 0) r.add(k("chainedPools"), "is empty", "list at least one chained pool");
  else if (!chainedNeeded && chainedInput.length > 0)
    r.add(k("chainedPools"), `lists pools, but the cluster was adopted at phase ${adoptedPhase}, after the chained pools were removed`, `remove ${k("chainedPools")}`);
  const poolNames = new Map<string, string>();
  /** Node group names carry the role (aws-general-a), so pool names need only be unique within a role. */
  const claimPool = (role: PoolRole, name: string, p: string) => {
    const prev = poolNames.get(`${role}/${name}`);
    if (prev) r.add(`${p}.name`, `pool name "${name}" is already used by ${prev}`, `give every ${role} pool its own name`);
    else poolNames.set(`${role}/${name}`, p);
  };
  chainedInput.forEach((c, i) => {
    const p = `${k("chainedPools")}[${i}]`;
    claimPool("chained", c.name, p);
    const ngName = c.nodeGroupName ?? c.name;
    const g = liveGroup(p, c, ngName, "chained");
    // The import reads back the group it names: another one would be adopted under this pool's name.
    if (c.importId !== undefined && cluster && !sandbox && c.importId !== `${cluster}:${ngName}`)
      r.add(`${p}.importId`, `is "${c.importId}", but this pool's node group is ${cluster}:${ngName}`, `remove importId (unchain imports <cluster>:<nodeGroupName>), or set nodeGroupName to the group this pool adopts`);
    if (!g || !cluster) return;
    if (!sandbox) g.importId = c.importId ?? `${cluster}:${ngName}`;
    pools.push({ role: "chained", name: c.name, lineage: c.name, groups: [g] });
  });

  // aws and cilium pools: adopted groups as given, or one group per AZ from the pool they succeed
  const roleAppears: Record<"aws" | "cilium", PhaseNumber> = { aws: 1, cilium: 4 };
  const roleGone: Record<"aws" | "cilium", PhaseNumber> = { aws: 6, cilium: 7 as PhaseNumber };
  for (const role of ["aws", "cilium"] as const) {
    const key = role === "aws" ? "awsPools" : "ciliumPools";
    const list = (parsed[key] ?? []) as NewPoolInput[];
    // Where chained pools are listed, invariant 10 names each one left without a successor.
    const needed = adoptedPhase < roleGone[role] && chainedInput.length === 0;
    if (needed && raw[key] === undefined) r.add(k(key), "is missing", `list the ${role} pools, each naming the pool it succeeds: [{ name: general, from: general }]`);
    else if (needed && shapeOk(key) && list.length === 0) r.add(k(key), "is empty", `list at least one ${role} pool`);
    else if (adoptedPhase >= roleGone[role] && list.length > 0) r.add(k(key), `lists pools, but the cluster was adopted at phase ${adoptedPhase}, after the ${role} pools were removed`, `remove ${k(key)}`);
    list.forEach((np, i) => {
      const p = `${k(key)}[${i}]`;
      claimPool(role, np.name, p);
      const exists = adoptedPhase >= roleAppears[role] && !sandbox;
      if (np.nodeGroups) {
        if (!exists) {
          r.add(`${p}.nodeGroups`, `lists running node groups, but ${role} pools appear in phase ${roleAppears[role]} and the cluster was adopted at phase ${adoptedPhase}`, `remove ${p}.nodeGroups; unchain creates the pool's node groups in phase ${roleAppears[role]}`);
          return;
        }
        const shaped = (Object.keys(np) as Array<keyof NewPoolInput>).filter((x) => !["name", "from", "nodeGroups"].includes(x));
        for (const x of shaped) r.add(`${p}.${x}`, "applies only to node groups unchain creates, and this pool's groups already run", `describe the running groups in ${p}.nodeGroups`);
        const groups = np.nodeGroups.map((g, j) => {
          const gp = `${p}.nodeGroups[${j}]`;
          const spec_ = liveGroup(gp, g, g.nodeGroupName, role);
          if (spec_ && cluster) spec_.importId = `${cluster}:${g.nodeGroupName}`;
          return spec_;
        });
        // Its lineage: the chained pool it succeeds, where chained pools still run.
        const chainedSource = role === "aws" ? pools.find((x) => x.role === "chained" && x.name === (np.from ?? np.name)) : undefined;
        if (role === "aws" && np.from && !chainedSource && chainedInput.length)
          r.add(`${p}.from`, `names no chained pool ("${np.from}")`, `set it to one of: ${chainedInput.map((c) => c.name).join(", ")}`);
        if (groups.every((g): g is NodeGroupSpec => g !== undefined)) pools.push({ role, name: np.name, lineage: chainedSource?.lineage, groups });
        return;
      }
      if (exists) {
        r.add(`${p}.nodeGroups`, `is missing: ${role} pools appear in phase ${roleAppears[role]}, and the cluster was adopted at phase ${adoptedPhase}, so this pool already runs`, `run unchain adopt -s ${stack} --write, which lists its node groups`);
        return;
      }
      const pool: PoolConfig = { role, name: np.name, lineage: undefined, groups: [] };
      pools.push(pool);
      toCreate.set(pool, { input: np, path: p });
    });
  }

  // Lineage: each created pool takes the shape of the pool it succeeds, per AZ.
  const byRoleName = (role: PoolRole, name: string) => pools.find((x) => x.role === role && x.name === name);
  const resolved = new Set<PoolConfig>();
  const resolve = (pool: PoolConfig): void => {
    const pending = toCreate.get(pool);
    if (resolved.has(pool) || !pending || !cluster || region === undefined) return;
    resolved.add(pool);
    const { input: np, path: p } = pending;
    const givenAzs = np.availabilityZones ? knownAzs(`${p}.availabilityZones`, np.availabilityZones) : undefined;
    if (np.availabilityZones && !givenAzs) return;
    const sourceRoles: PoolRole[] = pool.role === "aws" ? ["chained"] : ["aws", "chained"];
    const fromName = np.from ?? np.name;
    const source = sourceRoles.map((sr) => byRoleName(sr, fromName)).find((x) => x !== undefined);
    if (!source) {
      const candidates = pools.filter((x) => sourceRoles.includes(x.role)).map((x) => `${x.role} ${x.name}`);
      r.add(
        np.from ? `${p}.from` : `${p}.name`,
        `${pool.role} pool "${np.name}" succeeds ${np.from ? `"${np.from}", which is` : "no pool: there is"} no ${sourceRoles.join(" or ")} pool of that name`,
        candidates.length ? `set ${p}.from to one of: ${candidates.join(", ")}` : `list the ${sourceRoles.join(" and ")} pools first`,
      );
      return;
    }
    resolve(source);
    pool.lineage = source.lineage;
    const base = source.groups[0];
    if (!base) return;
    const azList = givenAzs ?? [...new Set(source.groups.flatMap((g) => g.availabilityZones))].sort();
    checkLabelsAndTaints(p, np, pool.role);
    // Sizes per AZ: given, else the source's sizes split over its AZs (rounded up, so no AZ loses room).
    const perAz = (g: NodeGroupSpec) => {
      const n = g.availabilityZones.length;
      return { min: Math.ceil(g.size.min / n), desired: Math.ceil(g.size.desired / n), max: Math.max(1, Math.ceil(g.size.max / n)) };
    };
    for (const az of azList) {
      const from = source.groups.find((g) => g.availabilityZones.includes(az)) ?? base;
      const subnetsHere = from.subnetIds.filter((s) => subnetAz.get(s) === az);
      const subnets = subnetsHere.length ? subnetsHere : (azs.find((a) => a.name === az)?.subnetIds ?? []);
      if (subnets.length === 0 && !sandbox) {
        r.add(`${p}.availabilityZones`, `${az} has no subnets in unchain:cluster.availabilityZones`, `list the subnets of ${az}`);
        continue;
      }
      const launchTemplate = np.launchTemplate ?? from.launchTemplate;
      const inherited: Shape = {
        size: np.sizePerAz ?? perAz(from),
        instanceTypes: np.instanceTypes ?? (np.launchTemplate ? undefined : from.instanceTypes),
        amiType: np.amiType ?? from.amiType,
        capacityType: np.capacityType ?? from.capacityType,
        diskSize: np.diskSize ?? (launchTemplate ? undefined : from.diskSize),
        releaseVersion: np.releaseVersion,
        version: np.version,
        launchTemplate,
        remoteAccess: np.remoteAccess ?? (launchTemplate ? undefined : from.remoteAccess),
        updateConfig: np.updateConfig ?? from.updateConfig,
        labels: { ...from.labels, ...(np.labels ?? {}) },
        // Dedicated taints follow the workloads; Cilium's startup taint does not (no Cilium lifts it on aws pools).
        taints: np.taints ?? from.taints.filter((t) => t.key !== AGENT_NOT_READY_TAINT_KEY),
        // Tags of tools that name a node group (eksctl) would be wrong on another group; AWS's own are not ours to set.
        tags: { ...Object.fromEntries(Object.entries(from.tags).filter(([t]) => !/^(eksctl\.|alpha\.eksctl\.io\/|aws:)/.test(t))), ...(np.tags ?? {}), "unchain/role": pool.role, "unchain/pool": np.name },
      };
      const inheritedFrom = `${source.role} pool ${source.name}`;
      // Instance types and AMI type both inherited are a pair EKS already runs, or one checked where it was set.
      if (np.instanceTypes || np.amiType) {
        const note = np.instanceTypes && np.amiType ? undefined : `${np.instanceTypes ? "AMI type" : "instance types"} inherited from ${inheritedFrom}`;
        checkArchitecture(p, inherited, np.instanceTypes ? `${p}.instanceTypes` : undefined, np.amiType ? `${p}.amiType` : undefined, note);
      }
      const name = `${pool.role}-${np.name}-${azSuffix(az, region)}`;
      claimName(name, p, pool.role, true);
      const group = spec(inherited, name, [az], subnets, np.nodeRoleArn ?? from.nodeRoleArn ?? nodeRoleDefault);
      groupOrigin.set(group, { taintsPath: `${p}.taints`, ...(np.taints ? {} : { inheritedFrom }) });
      pool.groups.push(group);
    }
  };
  for (const pool of toCreate.keys()) resolve(pool);

  // Taints as EKS will hold them in each phase of the walk (steps/desired.ts poolsOf): the group's
  // own, Cilium's startup taint on a group unchain creates, and what the phase sets on the role.
  if (shapeOk("awsPoolTaintKey")) {
    const awsKey = parsed.awsPoolTaintKey ?? DEFAULTS.awsPoolTaintKey;
    const resolveTaint = (t: TaintTemplate): Taint => ({ key: t.key === AWS_POOL_TAINT_KEY ? awsKey : t.key, value: t.value, effect: t.effect });
    const fmt = (t: Taint) => `${t.key}=${t.value ?? ""}:${t.effect}`;
    const firstPhase = sandbox ? 0 : adoptedPhase;
    for (const pool of pools)
      for (const g of pool.groups) {
        const origin = groupOrigin.get(g);
        // One problem per taint list: a list already refused is not counted again.
        if (!origin || r.problems.some((x) => x.key.startsWith(origin.taintsPath))) continue;
        const startup = g.importId === undefined ? STARTUP_TAINT[pool.role] : undefined;
        const own = origin.inheritedFrom ? `inherited from ${origin.inheritedFrom}` : "of its own";
        const fixList = origin.inheritedFrom ? `set ${origin.taintsPath} to the taints this pool needs` : undefined;
        for (const phase of PHASES) {
          const rolePools = phase.pools[pool.role];
          if (phase.phase < firstPhase || !rolePools) continue;
          const added = [...(startup ? [resolveTaint(startup)] : []), ...rolePools.taints.map(resolveTaint)];
          const total = g.taints.length + added.length;
          if (total > EKS_TAINTS_PER_NODE_GROUP) {
            r.add(
              origin.taintsPath,
              `node group ${g.nodeGroupName} would carry ${total} taints in phase ${phase.phase} (${phase.title}): ${g.taints.length} ${own} and ${added.length} that unchain adds (${added.map(fmt).join(", ")}); EKS allows at most ${EKS_TAINTS_PER_NODE_GROUP} per node group`,
              fixList ?? `remove ${total - EKS_TAINTS_PER_NODE_GROUP} of the taints in ${origin.taintsPath}`,
            );
            break;
          }
          const clash = added.map((a) => ({ a, t: g.taints.find((t) => t.key === a.key && t.effect === a.effect) })).find((x) => x.t !== undefined);
          if (clash) {
            const { a } = clash;
            r.add(
              origin.taintsPath,
              `node group ${g.nodeGroupName} has a taint ${a.key} with effect ${a.effect} (${own}), and unchain sets ${fmt(a)} on it in phase ${phase.phase} (${phase.title}); Kubernetes keeps one taint per key and effect, so EKS would refuse the node group`,
              fixList ??
                (pool.role === "aws" && a.key === awsKey
                  ? `remove it from ${origin.taintsPath}, or set unchain:awsPoolTaintKey to a key no pool uses`
                  : `remove it from ${origin.taintsPath}; unchain sets ${fmt(a)} itself`),
            );
            break;
          }
        }
      }
  }

  if (parsed.awsPoolTaintKey && (parsed.awsPoolTaintKey === CNI_LABEL || parsed.awsPoolTaintKey === AGENT_NOT_READY_TAINT_KEY))
    r.add(k("awsPoolTaintKey"), `"${parsed.awsPoolTaintKey}" is a taint key unchain already uses for another purpose`, "use your organisation's key, like example.com/cni");

  // cilium
  const cvRaw = parsed.ciliumChartVersion;
  if (cvRaw) {
    const [maj, min] = cvRaw.split(".").map(Number);
    if (maj < 1 || (maj === 1 && min < 14)) r.add(k("ciliumChartVersion"), `${cvRaw} is older than 1.14, which unchain's values (routingMode) need`, "upgrade the chained release to 1.14 or later first, then set that version here");
  }
  let live: LiveRelease | undefined;
  const releaseRuns = adoptedPhase <= 1 || adoptedPhase >= 4;
  if (parsed.ciliumRelease) {
    const rel = parsed.ciliumRelease;
    const mode = releaseMode(rel.values);
    const expected = adoptedPhase <= 1 ? "chained" : "eni";
    if (sandbox) r.add(k("ciliumRelease"), "is set on a sandbox, which installs its own release", `remove ${k("ciliumRelease")}`);
    else if (!releaseRuns) r.add(k("ciliumRelease"), `describes a running release, but at phase ${adoptedPhase} (adoptedPhase) no Cilium release runs`, `remove ${k("ciliumRelease")}, or correct ${k("adoptedPhase")}`);
    else if (mode !== expected)
      r.add(
        `${k("ciliumRelease")}.values`,
        `say ${mode === undefined ? "neither aws-cni chaining (cni.chainingMode) nor ENI IPAM (ipam.mode)" : `${mode} mode`}, but a cluster at phase ${adoptedPhase} runs the ${expected} release`,
        "copy the values Helm recorded (helm get values <release> -n <namespace>), or run unchain adopt again",
      );
    else live = { name: rel.name, namespace: rel.namespace, chartVersion: rel.chartVersion, values: rel.values, mode, ...(rel.caSecret ? { caSecret: rel.caSecret } : {}) };
  } else if (!sandbox && releaseRuns && raw.ciliumRelease === undefined)
    r.add(k("ciliumRelease"), `is missing: at phase ${adoptedPhase} (adoptedPhase) a Cilium release runs, and it is adopted exactly as Helm recorded it`, `run unchain adopt -s ${stack} --write, which reads it`);

  // Helm values unchain adds apply only to a release unchain installs: a running one is adopted as it runs.
  const vals = parsed.ciliumValues ?? {};
  if (live?.mode === "chained" && vals.chained && Object.keys(vals.chained).length)
    r.add(`${k("ciliumValues")}.chained`, "applies only where unchain installs the chained release (a sandbox); the running one is adopted as Helm recorded it", "change the running release with helm, then unchain adopt --write; or remove ciliumValues.chained");
  if (live?.mode === "eni")
    for (const part of ["common", "eni"] as const)
      if (vals[part] && Object.keys(vals[part]!).length)
        r.add(`${k("ciliumValues")}.${part}`, `applies to an ENI release unchain installs, but the cluster was adopted with its ENI release running (phase ${adoptedPhase})`, `remove ciliumValues.${part}; the running release is adopted as Helm recorded it`);
  // What decides whether and how Cilium runs is unchain's (config/owned.ts); placement the team narrows reaches the invariants.
  for (const part of ["common", "chained", "eni"] as const)
    for (const o of ownedValueOverrides(vals[part])) r.add(`${k("ciliumValues")}.${part}.${o.path}`, `is unchain's to set: it ${o.why}`, o.fix);
  // One egress interface pattern for every cilium pool on charts before 1.18 (eth+ on AL2, ens+ on AL2023).
  const cvVersion = parsed.ciliumChartVersion ?? DEFAULTS.ciliumChartVersion;
  const [cvMaj, cvMin] = cvVersion.split(".").map(Number);
  if (live?.mode !== "eni" && (cvMaj < 1 || (cvMaj === 1 && cvMin < 18))) {
    const families = new Set(pools.filter((p) => p.role === "cilium").flatMap((p) => p.groups.map((g) => (g.amiType?.startsWith("AL2_") ? "Amazon Linux 2 (eth+)" : "Amazon Linux 2023 or Bottlerocket (ens+)"))));
    if (families.size > 1)
      r.add(k("ciliumPools"), `mix ${[...families].join(" and ")}: Cilium ${cvVersion} in ENI mode masquerades through one interface pattern (egressMasqueradeInterfaces)`, "give every cilium pool the same AMI family (amiType), or use a Cilium chart of 1.18 or later");
  }

  let operatorRole: OperatorRoleConfig | undefined;
  const op = parsed.ciliumOperatorRole;
  if (op) {
    const p = k("ciliumOperatorRole");
    if (op.roleArn !== undefined && op.create !== undefined) r.add(p, "sets both roleArn and create", "keep roleArn to use an existing role, or create: true to have unchain make one");
    else if (op.roleArn !== undefined) operatorRole = { kind: "existing", roleArn: op.roleArn };
    else if (op.create === true) {
      if (!op.oidcProviderArn && !sandbox) r.add(`${p}.oidcProviderArn`, "is missing", "set the ARN of the cluster's IAM OIDC provider, like arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-central-1.amazonaws.com/id/EXAMPLE");
      else operatorRole = { kind: "create", ...(op.oidcProviderArn ? { oidcProviderArn: op.oidcProviderArn } : {}) };
    } else r.add(p, "says neither roleArn nor create: true", "set roleArn to an existing role with the EC2 permissions, or create: true with oidcProviderArn");
  } else if (sandbox) operatorRole = { kind: "create" };
  else if (adoptedPhase < 4 && raw.ciliumOperatorRole === undefined)
    r.add(k("ciliumOperatorRole"), "is missing: the ENI release of phase 4 needs an IAM role for the cilium-operator", "set { roleArn: <a role with the EC2 permissions> } or { create: true, oidcProviderArn: <the cluster's OIDC provider> }");

  // vpc-cni
  const vc = parsed.vpcCni ?? (STACK_KEYS.vpcCni.schema.parse({}) as NonNullable<RawConfig["vpcCni"]>);
  const cv = parseConfigurationValues(vc.configurationValues);
  if (cv.error) r.add(`${k("vpcCni")}.configurationValues`, cv.error, "write the configurationValues EKS holds for the add-on (aws eks describe-addon … configurationValues)");
  if (cv.values.nodeSelector !== undefined)
    r.add(`${k("vpcCni")}.configurationValues.nodeSelector`, "is not accepted by the vpc-cni add-on (its schema has no nodeSelector)", "remove it; unchain places aws-node with affinity");

  // Placement (affinity, nodeSelector, tolerations) wherever Helm values or the add-on's configuration
  // hold it: the phases read and narrow it, so a wrong shape is refused here (config/limits.ts).
  const placement: Array<[string, unknown]> = [
    [`${k("ciliumRelease")}.values`, parsed.ciliumRelease?.values],
    ...(["common", "chained", "eni"] as const).map((part): [string, unknown] => [`${k("ciliumValues")}.${part}`, vals[part]]),
    [`${k("vpcCni")}.configurationValues`, cv.values],
    ...(parsed.nodeAgents ?? []).map((a, i): [string, unknown] => [`${k("nodeAgents")}[${i}].values`, a.values]),
  ];
  for (const [path, v] of placement) for (const sp of placementProblems(path, v)) r.add(sp.path, sp.message, sp.fix);

  const nodeAgents: NodeAgentConfig[] = [];
  const agentNames = new Set<string>();
  (parsed.nodeAgents ?? []).forEach((a, i) => {
    if (agentNames.has(a.name)) r.add(`${k("nodeAgents")}[${i}].name`, `node agent "${a.name}" is listed twice`, "give each node agent its own name");
    agentNames.add(a.name);
    nodeAgents.push({ name: a.name, chart: a.chart, version: a.version, repository: a.repository, namespace: a.namespace, values: a.values, roles: [...new Set(a.roles)] });
  });

  if (r.problems.length > 0 || !cl || phase === undefined || !access) return { problems: r.problems };

  const cilium: CiliumConfig = {
    chartVersion: parsed.ciliumChartVersion ?? DEFAULTS.ciliumChartVersion,
    repository: parsed.ciliumRepository ?? DEFAULTS.ciliumRepository,
    ...(live ? { live } : {}),
    values: { common: vals.common ?? {}, chained: vals.chained ?? {}, eni: vals.eni ?? {} },
    ...(operatorRole ? { operatorRole } : {}),
  };
  const vpcCni: VpcCniConfig = {
    addonVersion: vc.addonVersion,
    ...(cv.text !== undefined ? { configurationValuesText: cv.text } : {}),
    configurationValues: cv.values,
    ...(vc.serviceAccountRoleArn ? { serviceAccountRoleArn: vc.serviceAccountRoleArn } : {}),
    tags: vc.tags ?? {},
    resolveConflictsOnUpdate: vc.resolveConflictsOnUpdate,
  };
  return {
    problems: [],
    config: {
      stack,
      phase,
      adoptedPhase: sandbox ? 0 : adoptedPhase,
      clusterName: cl.name,
      region: cl.region,
      availabilityZones: azs,
      ...(cl.kubeContext ? { kubeContext: cl.kubeContext } : {}),
      ...(cl.arn ? { clusterArn: cl.arn } : {}),
      ...(cl.endpoint ? { endpoint: cl.endpoint } : {}),
      aws: access,
      pools,
      awsPoolTaintKey: parsed.awsPoolTaintKey ?? DEFAULTS.awsPoolTaintKey,
      minSchedulableNodesPerAz: parsed.minSchedulableNodesPerAz ?? DEFAULTS.minSchedulableNodesPerAz,
      cilium,
      vpcCni,
      nodeAgents,
      sandbox,
      kubernetesVersion: parsed.kubernetesVersion ?? DEFAULTS.kubernetesVersion,
      secretKeys: [],
    },
  };
}
