/**
 * EKS's and Kubernetes's own limits on what unchain declares, each with its source, so that a stack
 * file EKS or the API server would refuse halfway through a phase is refused before anything runs:
 * - node group labels and taints as EKS counts them (the whole key, prefix included);
 * - the architecture of EC2 instance types and of EKS AMI types;
 * - the shape of Kubernetes placement (affinity, nodeSelector, tolerations) in Helm values and in
 *   the vpc-cni add-on's configurationValues, which the phases read and rewrite.
 */

// --- Kubernetes names and values ----------------------------------------------------------------

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const NAME_PART = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/**
 * A Kubernetes qualified name (label and taint keys), as `IsQualifiedName` checks it: an optional
 * DNS-subdomain prefix of at most 253 characters and a `/`, then a name of at most 63 characters of
 * `[-A-Za-z0-9_.]` starting and ending alphanumeric. Source: kubernetes/kubernetes
 * `staging/src/k8s.io/apimachinery/pkg/util/validation/validation.go` (`IsQualifiedName`, now
 * `k8s.io/apimachinery/pkg/api/validate/content.IsLabelKey`). Returns what is wrong, or undefined.
 */
export function qualifiedNameProblem(key: string): string | undefined {
  const parts = key.split("/");
  if (parts.length > 2) return "has more than one '/'";
  const name = parts[parts.length - 1];
  if (parts.length === 2) {
    const prefix = parts[0];
    if (prefix.length === 0 || prefix.length > 253) return "has a prefix that is empty or longer than 253 characters";
    if (!DNS_SUBDOMAIN.test(prefix)) return `has prefix "${prefix}", which is not a lowercase DNS subdomain`;
  }
  if (name.length === 0 || name.length > 63) return "has a name part that is empty or longer than 63 characters";
  if (!NAME_PART.test(name)) return `has name "${name}", which must start and end with a letter or digit and hold only letters, digits, '-', '_' and '.'`;
  return undefined;
}

/**
 * A label value, as `IsValidLabelValue` checks it (same file): at most 63 characters of
 * `[-A-Za-z0-9_.]`, starting and ending alphanumeric, or empty. Kubernetes checks a taint's value the
 * same way (`pkg/apis/core/validation/validation.go`, `validateNodeTaints`).
 */
export function labelValueProblem(v: string): string | undefined {
  if (v.length > 63) return "is longer than 63 characters";
  if (v !== "" && !NAME_PART.test(v)) return "must start and end with a letter or digit and hold only letters, digits, '-', '_' and '.'";
  return undefined;
}

// --- EKS node groups ----------------------------------------------------------------------------
// The EKS API model (botocore `data/eks/2017-11-01/service-2.json`; the API reference pages
// https://docs.aws.amazon.com/eks/latest/APIReference/API_Taint.html and API_UpdateLabelsPayload.html
// say the same) bounds keys and values of node group labels and taints as whole strings: a prefix
// counts towards the 63 characters, although Kubernetes itself would allow 253 more.

/** Shape `taintKey`: min 1, max 63 (API_Taint: "Length Constraints: Minimum length of 1. Maximum length of 63."). */
export const EKS_TAINT_KEY_MAX = 63;
/** Shape `taintValue`: min 0, max 63: a taint value may be empty. */
export const EKS_TAINT_VALUE_MAX = 63;
/** Shape `labelKey`: min 1, max 63 (API_UpdateLabelsPayload, CreateNodegroup `labels`). */
export const EKS_LABEL_KEY_MAX = 63;
/**
 * Shape `labelValue`: min 1, max 63. EKS refuses an empty label value that Kubernetes would take
 * ("InvalidParameterException: Invalid value: : field must consist of alphanumeric characters…",
 * aws-controllers-k8s/community#2208).
 */
export const EKS_LABEL_VALUE_MIN = 1;
export const EKS_LABEL_VALUE_MAX = 63;
/**
 * Taints per node group, counting the ones unchain adds in a phase: hashicorp/terraform-provider-aws
 * `internal/service/eks/node_group.go` (`taint`: MaxItems 50), which pulumi-aws wraps ("Maximum of 50
 * taints per node group", NodeGroup.taints).
 */
export const EKS_TAINTS_PER_NODE_GROUP = 50;
/** Node group names: terraform-provider-aws `node_group_name` (`StringLenBetween(0, 63)`), same file. */
export const EKS_NODE_GROUP_NAME_MAX = 63;

/** A node group label key EKS accepts: a qualified name, at most 63 characters with its prefix. */
export function eksLabelKeyProblem(key: string): string | undefined {
  if (key.length > EKS_LABEL_KEY_MAX) return `is ${key.length} characters long; EKS allows at most ${EKS_LABEL_KEY_MAX} for a node group label key, prefix included`;
  return qualifiedNameProblem(key);
}

/** A node group label value EKS accepts: a label value, not empty. */
export function eksLabelValueProblem(v: string): string | undefined {
  if (v.length < EKS_LABEL_VALUE_MIN) return "is empty; EKS needs at least one character in a node group label value";
  if (v.length > EKS_LABEL_VALUE_MAX) return `is ${v.length} characters long; EKS allows at most ${EKS_LABEL_VALUE_MAX} for a label value`;
  return labelValueProblem(v);
}

/** A node group taint key EKS accepts: a qualified name, at most 63 characters with its prefix. */
export function eksTaintKeyProblem(key: string): string | undefined {
  if (key.length > EKS_TAINT_KEY_MAX) return `is ${key.length} characters long; EKS allows at most ${EKS_TAINT_KEY_MAX} for a taint key, prefix included`;
  return qualifiedNameProblem(key);
}

/** A node group taint value EKS accepts: a label value (may be empty). */
export function eksTaintValueProblem(v: string): string | undefined {
  if (v.length > EKS_TAINT_VALUE_MAX) return `is ${v.length} characters long; EKS allows at most ${EKS_TAINT_VALUE_MAX} for a taint value`;
  return labelValueProblem(v);
}

// --- architecture -------------------------------------------------------------------------------

export type Architecture = "x86_64" | "arm64";

/**
 * The architecture of an EC2 instance type, from its name, or undefined where the name says nothing
 * unchain can rely on. The naming convention (https://docs.aws.amazon.com/ec2/latest/instancetypes/instance-type-names.html):
 * family letters, generation digit(s), then the processor family and capabilities, e.g. `c7gn`:
 * `c`, `7`, `g` (AWS Graviton), `n` (network). So:
 * - a `g` right after the generation digit is AWS Graviton, arm64: m6g, c6gn, t4g, x2gd, im4gn,
 *   is4gen, g5g, hpc7g, r8g (aws/aws-graviton-getting-started lists C6g[d], M6g[d], R6g[d], T4g,
 *   X2gd, C6gn, I4g, Im4gn, Is4gen, G5g, C7g[d][n], M7g[d], R7g[d], R8g);
 * - `a1`, the first Graviton generation, is arm64;
 * - every other family is Intel or AMD, x86_64 (`g` as the family letter is a GPU: g4dn, g5, g6e);
 * - Mac families (`mac…`) and names without a generation digit (`u-6tb1`) are not classified: EKS
 *   managed node groups do not run macOS.
 */
export function instanceArchitecture(instanceType: string): Architecture | undefined {
  const m = /^([a-z]+)(\d+)([a-z0-9-]*)\.[a-z0-9]+$/.exec(instanceType);
  if (!m) return undefined;
  const [, family, generation, rest] = m;
  if (family === "mac") return undefined;
  if (family === "a" && generation === "1") return "arm64";
  return rest.startsWith("g") ? "arm64" : "x86_64";
}

/**
 * The architecture of an EKS AMI type, or undefined for CUSTOM (the launch template's AMI decides).
 * The AMIType values of the EKS API (botocore `eks/2017-11-01` shape `AMITypes`, e.g.
 * AL2023_ARM_64_STANDARD, AL2_ARM_64, BOTTLEROCKET_ARM_64, BOTTLEROCKET_ARM_64_NVIDIA) name it:
 * `ARM_64` is arm64, `x86_64` is x86_64.
 */
export function amiArchitecture(amiType: string): Architecture | undefined {
  if (amiType.includes("ARM_64")) return "arm64";
  if (amiType.includes("x86_64")) return "x86_64";
  return undefined;
}

/**
 * The architecture of the AMI type EKS picks when a node group names none: x86_64 (AL2_x86_64 up to
 * Kubernetes 1.29, AL2023_x86_64_STANDARD from 1.30: "any newly created managed node groups will
 * automatically default to using AL2023", aws.amazon.com/about-aws/whats-new/2024/05/amazon-eks-distro-kubernetes-version-1-30,
 * quoted in awslabs/cdk-eks-blueprints#1006). EKS refuses Graviton types then: "[t4g.small]
 * is not a valid instance type for requested amiType AL2_x86_64" (ManagedKube/kubernetes-ops#231,
 * eksctl-io/eksctl#7754 for i4g; "… for requested amiType AL2023_x86_64_STANDARD",
 * HHS/simpler-grants-gov#12404).
 */
export const DEFAULT_AMI_ARCHITECTURE: Architecture = "x86_64";

/** The AMI type of the same family for the other architecture (AL2023_x86_64_STANDARD ↔ AL2023_ARM_64_STANDARD), if EKS has one. */
export function amiTypeFor(amiType: string | undefined, arch: Architecture, known: readonly string[]): string | undefined {
  const base = amiType ?? "AL2023_x86_64_STANDARD";
  const other = arch === "arm64" ? base.replace("x86_64", "ARM_64") : base.replace("ARM_64", "x86_64");
  return known.includes(other) && amiArchitecture(other) === arch ? other : undefined;
}

// --- Kubernetes placement in Helm values and add-on configuration --------------------------------
// The phases read and narrow `affinity` (steps/affinity.ts pinToRoles) and judge placement from
// `nodeSelector` and `tolerations`, so their shapes are checked here, as the API server checks them:
// kubernetes/kubernetes `staging/src/k8s.io/api/core/v1/types.go` (Affinity, NodeAffinity,
// NodeSelectorTerm, NodeSelectorRequirement, Toleration) and `pkg/apis/core/validation/validation.go`
// (`ValidateNodeSelectorRequirement`, `ValidateTolerations`).

/** A shape problem at `path` (a dotted path below the config key). */
export interface ShapeProblem {
  path: string;
  message: string;
  fix: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const what = (v: unknown): string =>
  v === null ? "null" : Array.isArray(v) ? "a list" : typeof v === "object" ? "an object" : `${typeof v} ${JSON.stringify(v)}`;

export const SELECTOR_OPERATORS = ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"] as const;
export const TOLERATION_OPERATORS = ["Exists", "Equal"] as const;
export const TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"] as const;

const EXAMPLE = {
  affinity: "affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: example.com/team, operator: In, values: [payments] }] }] } } }",
  terms: "nodeSelectorTerms: [{ matchExpressions: [{ key: example.com/team, operator: In, values: [payments] }] }]",
  requirement: "{ key: example.com/team, operator: In, values: [payments] }",
  nodeSelector: 'nodeSelector: { kubernetes.io/os: linux }',
  tolerations: "tolerations: [{ operator: Exists }]",
  toleration: "{ key: example.com/dedicated, operator: Equal, value: batch, effect: NoSchedule }",
};

class Shapes {
  readonly problems: ShapeProblem[] = [];
  add(path: string, message: string, fix: string): void {
    this.problems.push({ path, message, fix });
  }

  /** Unknown fields: the API server refuses them (or, worse, drops them and the placement means something else). */
  known(path: string, o: Obj, fields: readonly string[], example: string): void {
    for (const k of Object.keys(o)) if (!fields.includes(k)) this.add(`${path}.${k}`, "is not a field Kubernetes knows here", `use ${fields.join(", ")}; like ${example}`);
  }

  affinity(path: string, v: unknown): void {
    if (v === null) return; // Helm: null removes the key
    if (!isObj(v)) return this.add(path, `must be an object (a Kubernetes Affinity), is ${what(v)}`, `write it like ${EXAMPLE.affinity}`);
    this.known(path, v, ["nodeAffinity", "podAffinity", "podAntiAffinity"], EXAMPLE.affinity);
    for (const k of ["podAffinity", "podAntiAffinity"]) if (v[k] !== undefined && v[k] !== null && !isObj(v[k])) this.add(`${path}.${k}`, `must be an object, is ${what(v[k])}`, `write it as Kubernetes' ${k}, or remove it`);
    const na = v.nodeAffinity;
    if (na === undefined || na === null) return;
    const p = `${path}.nodeAffinity`;
    if (!isObj(na)) return this.add(p, `must be an object, is ${what(na)}`, `write it like ${EXAMPLE.affinity}`);
    this.known(p, na, ["requiredDuringSchedulingIgnoredDuringExecution", "preferredDuringSchedulingIgnoredDuringExecution"], EXAMPLE.affinity);
    const req = na.requiredDuringSchedulingIgnoredDuringExecution;
    const rp = `${p}.requiredDuringSchedulingIgnoredDuringExecution`;
    if (req !== undefined && req !== null) {
      if (!isObj(req)) this.add(rp, `must be an object with nodeSelectorTerms, is ${what(req)}`, `write it like { ${EXAMPLE.terms} }`);
      else {
        this.known(rp, req, ["nodeSelectorTerms"], `{ ${EXAMPLE.terms} }`);
        if (req.nodeSelectorTerms === undefined || req.nodeSelectorTerms === null) this.add(`${rp}.nodeSelectorTerms`, "is missing", `write it like ${EXAMPLE.terms}`);
        else this.terms(`${rp}.nodeSelectorTerms`, req.nodeSelectorTerms, true);
      }
    }
    const pref = na.preferredDuringSchedulingIgnoredDuringExecution;
    const pp = `${p}.preferredDuringSchedulingIgnoredDuringExecution`;
    if (pref === undefined || pref === null) return;
    if (!Array.isArray(pref)) return this.add(pp, `must be a list, is ${what(pref)}`, `write it like [{ weight: 50, preference: { matchExpressions: [${EXAMPLE.requirement}] } }]`);
    pref.forEach((item, i) => {
      const ip = `${pp}[${i}]`;
      if (!isObj(item)) return this.add(ip, `must be an object with weight and preference, is ${what(item)}`, `write it like { weight: 50, preference: { matchExpressions: [${EXAMPLE.requirement}] } }`);
      this.known(ip, item, ["weight", "preference"], `{ weight: 50, preference: { matchExpressions: [${EXAMPLE.requirement}] } }`);
      if (typeof item.weight !== "number" || !Number.isInteger(item.weight) || item.weight < 1 || item.weight > 100)
        this.add(`${ip}.weight`, `must be an integer from 1 to 100, is ${what(item.weight)}`, "set a weight from 1 to 100");
      this.term(`${ip}.preference`, item.preference);
    });
  }

  /** A list of node selector terms; `required`: the API server needs at least one. */
  terms(path: string, v: unknown, required: boolean): void {
    if (!Array.isArray(v)) return this.add(path, `must be a list of node selector terms, is ${what(v)}`, `write it like ${EXAMPLE.terms}`);
    if (required && v.length === 0) this.add(path, "is empty: a required node affinity needs at least one term", `list at least one term, like ${EXAMPLE.terms}, or remove requiredDuringSchedulingIgnoredDuringExecution`);
    v.forEach((t, i) => this.term(`${path}[${i}]`, t));
  }

  term(path: string, v: unknown): void {
    if (!isObj(v)) return this.add(path, `must be a node selector term (an object with matchExpressions), is ${what(v)}`, `write it like { matchExpressions: [${EXAMPLE.requirement}] }`);
    this.known(path, v, ["matchExpressions", "matchFields"], `{ matchExpressions: [${EXAMPLE.requirement}] }`);
    for (const k of ["matchExpressions", "matchFields"]) {
      const list = v[k];
      if (list === undefined || list === null) continue;
      if (!Array.isArray(list)) {
        this.add(`${path}.${k}`, `must be a list of requirements, is ${what(list)}`, `write it like ${k}: [${EXAMPLE.requirement}]`);
        continue;
      }
      list.forEach((r, i) => this.requirement(`${path}.${k}[${i}]`, r));
    }
  }

  requirement(path: string, v: unknown): void {
    if (!isObj(v)) return this.add(path, `must be a requirement (key, operator, values), is ${what(v)}`, `write it like ${EXAMPLE.requirement}`);
    this.known(path, v, ["key", "operator", "values"], EXAMPLE.requirement);
    if (typeof v.key !== "string") this.add(`${path}.key`, v.key === undefined ? "is missing" : `must be a label key, is ${what(v.key)}`, `write it like ${EXAMPLE.requirement}`);
    else {
      const p = qualifiedNameProblem(v.key);
      if (p) this.add(`${path}.key`, `label key "${v.key}" ${p}`, "use a label key the nodes carry, like topology.kubernetes.io/zone");
    }
    const op = v.operator;
    if (typeof op !== "string" || !(SELECTOR_OPERATORS as readonly string[]).includes(op)) {
      this.add(`${path}.operator`, op === undefined ? "is missing" : `${what(op)} is not a node selector operator`, `use one of ${SELECTOR_OPERATORS.join(", ")}`);
      return;
    }
    const values = v.values;
    if (values !== undefined && values !== null && (!Array.isArray(values) || values.some((x) => typeof x !== "string"))) {
      this.add(`${path}.values`, `must be a list of strings, is ${Array.isArray(values) ? `a list holding ${what(values.find((x) => typeof x !== "string"))}` : what(values)}`, 'quote each value, like values: ["true", "1"]');
      return;
    }
    const n = Array.isArray(values) ? values.length : 0;
    if ((op === "In" || op === "NotIn") && n === 0) this.add(`${path}.values`, `is empty, but operator ${op} needs at least one value`, "list the values, or use operator Exists");
    if ((op === "Exists" || op === "DoesNotExist") && n > 0) this.add(`${path}.values`, `holds ${n} value(s), but operator ${op} takes none`, "remove values, or use operator In");
    if ((op === "Gt" || op === "Lt") && n !== 1) this.add(`${path}.values`, `holds ${n} value(s), but operator ${op} takes exactly one`, 'give one integer, like values: ["3"]');
  }

  nodeSelector(path: string, v: unknown): void {
    if (v === null) return;
    if (!isObj(v)) return this.add(path, `must be an object of labels (key: value), is ${what(v)}`, `write it like ${EXAMPLE.nodeSelector}`);
    for (const [k, x] of Object.entries(v)) {
      const kp = qualifiedNameProblem(k);
      if (kp) this.add(`${path}.${k}`, `label key "${k}" ${kp}`, "use a label key the nodes carry, like kubernetes.io/os");
      else if (typeof x !== "string") this.add(`${path}.${k}`, `must be a string, is ${what(x)}`, `quote it: ${k}: "${String(x)}"`);
      else {
        const vp = labelValueProblem(x);
        if (vp) this.add(`${path}.${k}`, `label value "${x}" ${vp}`, "use the value the nodes carry");
      }
    }
  }

  tolerations(path: string, v: unknown): void {
    if (v === null) return;
    if (!Array.isArray(v)) return this.add(path, `must be a list of tolerations, is ${what(v)}`, `write it like ${EXAMPLE.tolerations}`);
    v.forEach((t, i) => {
      const p = `${path}[${i}]`;
      if (!isObj(t)) return this.add(p, `must be a toleration (an object), is ${what(t)}`, `write it like ${EXAMPLE.toleration}`);
      this.known(p, t, ["key", "operator", "value", "effect", "tolerationSeconds"], EXAMPLE.toleration);
      for (const k of ["key", "value"]) if (t[k] !== undefined && t[k] !== null && typeof t[k] !== "string") this.add(`${p}.${k}`, `must be a string, is ${what(t[k])}`, `quote it: ${k}: "${String(t[k])}"`);
      const keyProblem = typeof t.key === "string" && t.key !== "" ? qualifiedNameProblem(t.key) : undefined;
      if (keyProblem) this.add(`${p}.key`, `taint key "${String(t.key)}" ${keyProblem}`, "use the key of the taint to tolerate, like example.com/dedicated");
      const op = t.operator ?? "Equal";
      if (typeof op !== "string" || !(TOLERATION_OPERATORS as readonly string[]).includes(op)) this.add(`${p}.operator`, `${what(op)} is not a toleration operator`, `use ${TOLERATION_OPERATORS.join(" or ")}`);
      else if (op === "Exists" && typeof t.value === "string" && t.value !== "") this.add(`${p}.value`, `is "${t.value}", but operator Exists takes no value`, "remove value, or use operator Equal");
      else if (op === "Equal" && (t.key === undefined || t.key === "")) this.add(`${p}.key`, "is missing, but operator Equal needs a key", "give the taint key, or use operator Exists to tolerate every taint");
      const effect = t.effect;
      if (effect !== undefined && effect !== null && effect !== "" && !(typeof effect === "string" && (TAINT_EFFECTS as readonly string[]).includes(effect)))
        this.add(`${p}.effect`, `${what(effect)} is not a taint effect`, `use one of ${TAINT_EFFECTS.join(", ")}, or leave it out to match every effect`);
      const secs = t.tolerationSeconds;
      if (secs !== undefined && secs !== null) {
        if (typeof secs !== "number" || !Number.isInteger(secs)) this.add(`${p}.tolerationSeconds`, `must be a whole number of seconds, is ${what(secs)}`, "write a number, like 300");
        else if (effect !== "NoExecute") this.add(`${p}.tolerationSeconds`, "is set, but only a NoExecute toleration can have it", "set effect: NoExecute, or remove tolerationSeconds");
      }
    });
  }

  /** Every placement key anywhere below `path`: Helm charts take them at many levels (agent, envoy, operator, …). */
  walk(path: string, v: unknown): void {
    if (Array.isArray(v)) return v.forEach((x, i) => this.walk(`${path}[${i}]`, x));
    if (!isObj(v)) return;
    for (const [k, x] of Object.entries(v)) {
      const p = `${path}.${k}`;
      if (k === "affinity") this.affinity(p, x);
      else if (k === "nodeSelector") this.nodeSelector(p, x);
      else if (k === "tolerations") this.tolerations(p, x);
      else if (k === "nodeSelectorTerms") this.terms(p, x, false);
      else this.walk(p, x);
    }
  }
}

/**
 * The placement keys (`affinity`, `nodeSelector`, `tolerations`, `nodeSelectorTerms`) anywhere in
 * Helm values or add-on configuration, held to Kubernetes' shapes. `path` names the config key.
 */
export function placementProblems(path: string, values: unknown): ShapeProblem[] {
  const s = new Shapes();
  s.walk(path, values);
  return s.problems;
}
