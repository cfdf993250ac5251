/**
 * Resource-by-resource, property-by-property difference between two evaluations of the program
 * (phase N and phase N+1 of one stack), each change classified and held against the phase's rules.
 */
import { allowedBy, classify, Classified } from "../../steps/classify";
import { ChangeOp, PhaseSpec } from "../../steps/phases";
import { replacingProperties } from "../../steps/replacement";
import { CapturedResource, Evaluation } from "./evaluate";

export interface PropertyChange {
  path: string;
  kind: "add" | "delete" | "update";
  before?: unknown;
  after?: unknown;
}

export interface ResourceChange extends Classified {
  op: ChangeOp;
  urn: string;
  type: string;
  name: string;
  properties: PropertyChange[];
  /** Properties whose change forces a replacement. */
  replacedBy: string[];
  allowed: boolean;
  reason?: string;
  /** Inputs of a created or adopted pool, release or add-on (never of providers, which hold credentials). */
  inputs?: Record<string, unknown>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Properties holding JSON text (the add-on's configurationValues) are compared as the JSON they hold. */
function normalise(type: string, inputs: Record<string, unknown>): Record<string, unknown> {
  if (type === "aws:eks/addon:Addon" && typeof inputs.configurationValues === "string") {
    try {
      return { ...inputs, configurationValues: JSON.parse(inputs.configurationValues) };
    } catch {
      return inputs;
    }
  }
  return inputs;
}

/** Leaf differences. Lists are compared as sets of items (taints, subnets, instance types). */
/** Affinities are read as a whole (their requirements), not leaf by leaf. */
const isAtomic = (v: unknown) => isObject(v) && ("nodeAffinity" in v || "podAntiAffinity" in v || "podAffinity" in v);

export function diffValues(before: unknown, after: unknown, path = ""): PropertyChange[] {
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  // A settings object appearing or going is shown setting by setting.
  if (before === undefined && isObject(after) && !isAtomic(after)) return diffValues({}, after, path);
  if (after === undefined && isObject(before) && !isAtomic(before)) return diffValues(before, {}, path);
  // A list appearing or going is shown item by item (taints, tags left out when empty).
  if (before === undefined && Array.isArray(after)) return diffValues([], after, path);
  if (after === undefined && Array.isArray(before)) return diffValues(before, [], path);
  if (isObject(before) && isObject(after) && !isAtomic(before) && !isAtomic(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => diffValues(before[k], after[k], path ? `${path}.${k}` : k));
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    const b = before.map((x) => JSON.stringify(x));
    const a = after.map((x) => JSON.stringify(x));
    const removed = before.filter((_, i) => !a.includes(b[i])).map((x) => ({ path, kind: "delete" as const, before: x }));
    const added = after.filter((_, i) => !b.includes(a[i])).map((x) => ({ path, kind: "add" as const, after: x }));
    return removed.length + added.length ? [...removed, ...added] : [{ path, kind: "update", before, after }];
  }
  if (before === undefined) return [{ path, kind: "add", after }];
  if (after === undefined) return [{ path, kind: "delete", before }];
  return [{ path, kind: "update", before, after }];
}

export function diffEvaluations(from: Evaluation | undefined, to: Evaluation, spec: PhaseSpec, sandbox: boolean): ResourceChange[] {
  const before = new Map((from?.resources ?? []).map((r) => [r.urn, r]));
  const after = new Map(to.resources.map((r) => [r.urn, r]));
  const out: ResourceChange[] = [];
  const judge = (r: CapturedResource, op: ChangeOp, properties: PropertyChange[], replacedBy: string[], inputs: Record<string, unknown>) => {
    const cls = classify(r.urn, r.type, inputs);
    const top = [...new Set(properties.map((p) => p.path.split(/[.[]/)[0]))];
    const verdict = allowedBy(spec, { ...cls, op, properties: top }, sandbox);
    const shown = (op === "create" || op === "import") && ["nodePool", "ciliumRelease", "vpcCniAddon"].includes(cls.kind);
    out.push({
      ...cls,
      op,
      urn: r.urn,
      type: r.type,
      name: r.name,
      properties,
      replacedBy,
      allowed: verdict.allowed,
      ...(verdict.reason ? { reason: verdict.reason } : {}),
      ...(shown ? { inputs } : {}),
    });
  };
  for (const [urn, r] of after) {
    if (!r.custom && !before.has(urn)) continue; // components: not cloud resources
    const prev = before.get(urn);
    if (!prev) {
      judge(r, r.importId ? "import" : "create", [], [], r.inputs);
      continue;
    }
    if (!r.custom) continue;
    const properties = diffValues(normalise(r.type, prev.inputs), normalise(r.type, r.inputs));
    if (properties.length === 0) continue;
    const replacedBy = replacingProperties(r.type, properties.map((p) => p.path));
    judge(r, replacedBy.length ? "replace" : "update", properties, replacedBy, r.inputs);
  }
  for (const [urn, r] of before) {
    if (after.has(urn) || !r.custom) continue;
    judge(r, "delete", [], [], r.inputs);
  }
  const order: Record<string, number> = { replace: 0, delete: 1, create: 2, import: 3, update: 4, same: 5 };
  return out.sort((a, b) => order[a.op] - order[b.op] || a.urn.localeCompare(b.urn));
}

export function countOps(changes: ResourceChange[]): Record<"create" | "update" | "delete" | "replace", number> {
  const c = { create: 0, update: 0, delete: 0, replace: 0 };
  for (const ch of changes) {
    if (ch.kind === "provider" || ch.kind === "component") continue;
    if (ch.op === "create" || ch.op === "import") c.create++;
    else if (ch.op === "update") c.update++;
    else if (ch.op === "delete") c.delete++;
    else if (ch.op === "replace") c.replace++;
  }
  return c;
}
