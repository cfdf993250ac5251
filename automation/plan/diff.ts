/**
 * Resource-by-resource, property-by-property difference between two evaluations of the program
 * (phase N and phase N+1 of one stack), each change classified and held against the phase's rules.
 */
import { allowedBy, classify, Classified } from "../../steps/classify";
import { ChangeOp, PhaseSpec } from "../../steps/phases";
import { replacingProperties } from "../../steps/replacement";
import { diffValues, PropertyChange } from "../../steps/valueDiff";
import { CapturedResource, Evaluation } from "./evaluate";

export { diffValues } from "../../steps/valueDiff";
export type { PropertyChange } from "../../steps/valueDiff";

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
  /** A node group's desired size, for the nodes a step adds or removes. */
  desiredNodes?: number;
}


/** Properties holding JSON text (the add-on's configurationValues, whatever backs the add-on) are compared as the JSON they hold. */
export function normalise(type: string, inputs: Record<string, unknown>): Record<string, unknown> {
  if (typeof inputs.configurationValues === "string") {
    try {
      return { ...inputs, configurationValues: JSON.parse(inputs.configurationValues) };
    } catch {
      return inputs;
    }
  }
  return inputs;
}

export function diffEvaluations(from: Evaluation | undefined, to: Evaluation, spec: PhaseSpec, sandbox: boolean): ResourceChange[] {
  const before = new Map((from?.resources ?? []).map((r) => [r.urn, r]));
  const after = new Map(to.resources.map((r) => [r.urn, r]));
  const out: ResourceChange[] = [];
  const judge = (r: CapturedResource, op: ChangeOp, properties: PropertyChange[], replacedBy: string[], inputs: Record<string, unknown>) => {
    const cls = classify(r.urn, r.type, inputs);
    const paths = [...new Set(properties.map((p) => p.path))];
    const verdict = allowedBy(spec, { ...cls, op, properties: paths }, sandbox);
    const shown = (op === "create" || op === "import") && ["nodePool", "ciliumRelease", "vpcCniAddon"].includes(cls.kind);
    const size = Number((inputs.scalingConfig as { desiredSize?: unknown } | undefined)?.desiredSize);
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
      ...(cls.kind === "nodePool" && Number.isFinite(size) ? { desiredNodes: size } : {}),
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
    // As the engine does: an ignored property keeps the value it had.
    const inputs = { ...r.inputs };
    for (const p of r.ignoreChanges) if (!p.includes(".") && p in prev.inputs) inputs[p] = prev.inputs[p];
    const properties = diffValues(normalise(r.type, prev.inputs), normalise(r.type, inputs));
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
