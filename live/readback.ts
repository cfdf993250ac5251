/**
 * The providers' import rules, emulated offline: what an import reads back from a live object, and
 * whether the declared inputs match it. The engine reads the live resource, runs the provider's diff
 * of the declared inputs against it, and any difference is a warning in `preview` and an error in
 * `up` ("inputs to import do not match the existing resource"; pulumi/pulumi
 * `pkg/resource/deploy/step.go`, `ImportStep.Apply`). `unchain plan` applies the same rule to the
 * snapshot, so that a mismatch is found in review, not half-way through a phase.
 *
 * The rules per property come from the providers' sources:
 * - node groups: hashicorp/terraform-provider-aws `internal/service/eks/node_group.go`
 *   (`resourceNodeGroup` schema, `resourceNodeGroupRead`), which pulumi-aws wraps;
 * - add-ons: the same provider's `internal/service/eks/addon.go` and `addon_test.go`
 *   (`ImportStateVerifyIgnore: resolve_conflicts_on_create, resolve_conflicts_on_update, preserve`);
 * - tags: pulumi-aws `provider/tags.go` (`tagsAll` is output-only; `aws:` tags are AWS's own);
 * - Helm releases: pulumi/pulumi-kubernetes `provider/pkg/provider/helm_release.go` (Read on import
 *   rebuilds name, namespace, version and the user-supplied values, the chart as `<repository>/<chart>`
 *   of the locally configured repository that holds it (`importRelease`), and `timeout` defaults to
 *   300; nothing else is read back).
 * Each rule says how the live value is read and whether a property the program leaves out is kept
 * from the live object (Optional + Computed in the provider's schema) or differs from it.
 */
import { deepEqual } from "../steps/values";
import { chartReference } from "./chartRepository";
import { LiveAddon, LiveHelmRelease, LiveNodeGroup, Snapshot } from "./snapshot";

/** What an import reads back besides the live object: the chart repository of the stack's Helm environment. */
export interface ImportContext {
  chartRepository?: string;
}

type Obj = Record<string, unknown>;

interface PropertyRule {
  /** The value an import reads back; undefined: nothing. */
  read: (live: never, snap: Snapshot, ctx: ImportContext) => unknown;
  /**
   * - `computed`: Optional + Computed, so leaving it out keeps the live value (no diff);
   * - `optional`: left out, a live value differs (it would be removed);
   * - `never`: import never reads it back, so declaring it is a difference;
   * - `dropped`: the provider's Check drops it before the diff (an input only the SDK sends).
   */
  absent: "computed" | "optional" | "never" | "dropped";
  /**
   * How values compare: exactly; as sets (order does not matter); or, for a block whose fields are
   * Optional + Computed, on the fields declared only.
   */
  compare?: "exact" | "set" | "declaredFields";
}

const emptyToUndefined = (v: unknown): unknown => (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0 ? undefined : Array.isArray(v) && v.length === 0 ? undefined : v);
const noAwsTags = (tags: Record<string, string>): Record<string, string> => Object.fromEntries(Object.entries(tags).filter(([k]) => !k.startsWith("aws:")));

const NODE_GROUP: Record<string, PropertyRule> = {
  clusterName: { read: (_: LiveNodeGroup, s) => s.cluster.name, absent: "optional" },
  nodeGroupName: { read: (g: LiveNodeGroup) => g.nodegroupName, absent: "computed" },
  nodeRoleArn: { read: (g: LiveNodeGroup) => g.nodeRole, absent: "optional" },
  subnetIds: { read: (g: LiveNodeGroup) => g.subnets, absent: "optional", compare: "set" },
  scalingConfig: { read: (g: LiveNodeGroup) => ({ desiredSize: g.scalingConfig.desiredSize, maxSize: g.scalingConfig.maxSize, minSize: g.scalingConfig.minSize }), absent: "optional" },
  instanceTypes: { read: (g: LiveNodeGroup) => g.instanceTypes, absent: "computed" },
  amiType: { read: (g: LiveNodeGroup) => g.amiType, absent: "computed" },
  capacityType: { read: (g: LiveNodeGroup) => g.capacityType, absent: "computed" },
  diskSize: { read: (g: LiveNodeGroup) => g.diskSize, absent: "computed" },
  releaseVersion: { read: (g: LiveNodeGroup) => g.releaseVersion, absent: "computed" },
  version: { read: (g: LiveNodeGroup) => g.version, absent: "computed" },
  labels: { read: (g: LiveNodeGroup) => emptyToUndefined(g.labels), absent: "optional" },
  // `flattenTaints`: a taint without a value reads back with value "".
  taints: { read: (g: LiveNodeGroup) => emptyToUndefined(g.taints.map((t) => ({ key: t.key, value: t.value ?? "", effect: t.effect }))), absent: "optional", compare: "set" },
  // The block is Optional; its id and name are Optional + Computed (declare either), its version Required.
  launchTemplate: { read: (g: LiveNodeGroup) => g.launchTemplate, absent: "optional", compare: "declaredFields" },
  // `flattenRemoteAccessConfig`: ec2SshKey reads back as "" where none is set.
  remoteAccess: {
    read: (g: LiveNodeGroup) => (g.remoteAccess ? { ec2SshKey: g.remoteAccess.ec2SshKey ?? "", sourceSecurityGroupIds: g.remoteAccess.sourceSecurityGroups ?? [] } : undefined),
    absent: "optional",
  },
  updateConfig: { read: (g: LiveNodeGroup) => g.updateConfig, absent: "computed" },
  tags: { read: (g: LiveNodeGroup) => emptyToUndefined(noAwsTags(g.tags)), absent: "optional" },
  forceUpdateVersion: { read: () => undefined, absent: "never" },
};

const ADDON: Record<string, PropertyRule> = {
  clusterName: { read: (_: LiveAddon, s) => s.cluster.name, absent: "optional" },
  addonName: { read: (a: LiveAddon) => a.addonName, absent: "optional" },
  addonVersion: { read: (a: LiveAddon) => a.addonVersion, absent: "computed" },
  // No DiffSuppressFunc: the string is compared as it is, not as the JSON it holds.
  configurationValues: { read: (a: LiveAddon) => a.configurationValues, absent: "computed" },
  serviceAccountRoleArn: { read: (a: LiveAddon) => a.serviceAccountRoleArn, absent: "optional" },
  tags: { read: (a: LiveAddon) => emptyToUndefined(noAwsTags(a.tags)), absent: "optional" },
  resolveConflictsOnCreate: { read: () => undefined, absent: "never" },
  resolveConflictsOnUpdate: { read: () => undefined, absent: "never" },
  preserve: { read: () => undefined, absent: "never" },
};

/** `helm.v3.Release` settings that exist only on Pulumi's side; import rebuilds none of them. */
const RELEASE_ENGINE_SIDE = ["repositoryOpts", "maxHistory", "atomic", "cleanupOnFail", "skipAwait", "waitForJobs", "createNamespace", "dependencyUpdate", "description", "devel", "disableCRDHooks", "disableOpenapiValidation", "disableWebhooks", "forceUpdate", "keyring", "lint", "manifest", "postrender", "recreatePods", "renderSubchartNotes", "replace", "resetValues", "reuseValues", "skipCrds", "verify", "valueYamlFiles", "allowNullValues"];

const RELEASE: Record<string, PropertyRule> = {
  name: { read: (r: LiveHelmRelease) => r.name, absent: "optional" },
  namespace: { read: (r: LiveHelmRelease) => r.namespace, absent: "optional" },
  // Import reads the chart back through the locally configured repositories (live/chartRepository.ts).
  chart: { read: (r: LiveHelmRelease, _s: Snapshot, ctx: ImportContext) => (ctx.chartRepository ? chartReference(ctx.chartRepository, r.chart) : r.chart), absent: "optional" },
  version: { read: (r: LiveHelmRelease) => r.chartVersion, absent: "computed" },
  values: { read: (r: LiveHelmRelease) => emptyToUndefined(r.values), absent: "optional" },
  // Read on import carries the Release struct's zero `timeout: 0` (setDefaults fills in 300 only where
  // the key is missing); Check of inputs without it sets 300, which differs.
  timeout: { read: () => 0, absent: "optional" },
  ...Object.fromEntries(RELEASE_ENGINE_SIDE.map((p) => [p, { read: () => undefined, absent: "never" } satisfies PropertyRule])),
  // The SDK sends `compat: "true"` with every Release; Check decodes the inputs into the provider's
  // Release struct, which has no such field, so it never reaches the diff.
  compat: { read: () => undefined, absent: "dropped" },
};

export const READ_BACK_RULES: Readonly<Record<string, Record<string, PropertyRule>>> = {
  "aws:eks/nodeGroup:NodeGroup": NODE_GROUP,
  "aws:eks/addon:Addon": ADDON,
  "kubernetes:helm.sh/v3:Release": RELEASE,
};

/** A resource as the program declares it (what `unchain plan` captures under mocks). */
export interface DeclaredResource {
  name: string;
  type: string;
  importId?: string;
  inputs: Record<string, unknown>;
  ignoreChanges: string[];
}

export interface ImportMismatch {
  /** The Pulumi resource name. */
  resource: string;
  type: string;
  importId: string;
  property: string;
  declared: unknown;
  live: unknown;
  message: string;
}

/** The live object an import id names, in the snapshot. */
export function liveObject(type: string, importId: string, snap: Snapshot): unknown {
  switch (type) {
    case "aws:eks/nodeGroup:NodeGroup": {
      const [cluster, name] = importId.split(":");
      return cluster === snap.cluster.name ? snap.nodeGroups.find((g) => g.nodegroupName === name) : undefined;
    }
    case "aws:eks/addon:Addon": {
      const [cluster, name] = importId.split(":");
      return cluster === snap.cluster.name && name === "vpc-cni" ? snap.addons.vpcCni : undefined;
    }
    case "kubernetes:helm.sh/v3:Release": {
      const [namespace, name] = importId.split("/");
      return snap.helmReleases.find((r) => r.namespace === namespace && r.name === name);
    }
    default:
      return undefined;
  }
}

/** Drop what the provider never stores: null values in Helm values (unless allowNullValues), undefined everywhere. */
function normalise(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(normalise);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v as Obj).filter(([, x]) => x !== undefined && x !== null).map(([k, x]) => [k, normalise(x)]));
  return v;
}

function setEqual(a: unknown, b: unknown): boolean {
  if (!Array.isArray(a) || !Array.isArray(b)) return deepEqual(a, b);
  const key = (x: unknown) => JSON.stringify(normalise(x), Object.keys((x as Obj) ?? {}).sort());
  const sa = a.map(key).sort();
  const sb = b.map(key).sort();
  return sa.length === sb.length && sa.every((x, i) => x === sb[i]);
}

/** Taints declared without a value compare equal to a live value of "". */
function withTaintValues(v: unknown): unknown {
  return Array.isArray(v) ? v.map((t) => ({ value: "", ...(t as Obj) })) : v;
}

/** Ignored paths (`ignoreChanges`) take the live value before the diff, as the engine does. */
function applyIgnores(property: string, declared: unknown, live: unknown, ignore: string[]): unknown {
  const inner = ignore.filter((p) => p.startsWith(`${property}.`)).map((p) => p.slice(property.length + 1));
  if (!inner.length || !declared || typeof declared !== "object" || !live || typeof live !== "object") return declared;
  const out = { ...(declared as Obj) };
  for (const p of inner) if (!p.includes(".")) out[p] = (live as Obj)[p];
  return out;
}

/**
 * The differences an import of `r` would find against the live object in `snap`: every declared
 * property that differs from what the provider reads back, every live property the program leaves
 * out where the provider does not keep it, and every declared property import never reads back.
 */
export function importMismatches(r: DeclaredResource, snap: Snapshot, ctx: ImportContext = {}): ImportMismatch[] {
  const rules = READ_BACK_RULES[r.type];
  if (!rules || !r.importId) return [];
  const base = { resource: r.name, type: r.type, importId: r.importId };
  const live = liveObject(r.type, r.importId, snap);
  if (live === undefined)
    return [{ ...base, property: "(the resource)", declared: r.importId, live: undefined, message: `nothing named ${r.importId} runs in the cluster as adopt read it: the import would fail` }];
  const out: ImportMismatch[] = [];
  const declaredProps = Object.keys(r.inputs).filter((k) => !k.startsWith("__") && r.inputs[k] !== undefined);
  for (const prop of new Set([...Object.keys(rules), ...declaredProps])) {
    if (r.ignoreChanges.includes(prop)) continue;
    const rule = rules[prop];
    const declared = normalise(r.inputs[prop]);
    if (!rule) {
      out.push({ ...base, property: prop, declared, live: undefined, message: `${prop} is not a property the provider reads back on import` });
      continue;
    }
    if (rule.absent === "dropped") continue;
    const liveValue = normalise((rule.read as (l: unknown, s: Snapshot, c: ImportContext) => unknown)(live, snap, ctx));
    if (declared === undefined || emptyToUndefined(declared) === undefined) {
      if (rule.absent === "optional" && liveValue !== undefined) out.push({ ...base, property: prop, declared: undefined, live: liveValue, message: `${prop} is left out, but the live object has it: the import would read it back and differ` });
      continue;
    }
    if (rule.absent === "never") {
      out.push({ ...base, property: prop, declared, live: undefined, message: `${prop} is declared, but an import never reads it back: declare it only after the adopting phase` });
      continue;
    }
    const want = applyIgnores(prop, declared, liveValue, r.ignoreChanges);
    const same =
      rule.compare === "set"
        ? setEqual(prop === "taints" ? withTaintValues(want) : want, liveValue)
        : rule.compare === "declaredFields"
          ? liveValue !== undefined && Object.entries(want as Obj).every(([k, v]) => deepEqual(v, (liveValue as Obj)[k]))
          : deepEqual(prop === "remoteAccess" ? { ec2SshKey: "", sourceSecurityGroupIds: [], ...(want as Obj) } : want, liveValue);
    if (!same) out.push({ ...base, property: prop, declared: want, live: liveValue, message: `${prop} is declared as ${show(want)}, but runs as ${show(liveValue)}` });
  }
  return out;
}

export function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? "nothing" : s.length > 160 ? `${s.slice(0, 157)}...` : s;
}
