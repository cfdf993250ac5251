/**
 * The preview gate: every step of a real `pulumi preview`, from the engine's events, held against
 * what the phase allows (steps/phases.ts, through steps/classify.ts — the same rules the offline
 * plan applies). A step the phase does not call for — above all a replace or delete of a node group
 * or of the Cilium release — fails the gate, and `up` does not run.
 */
import type { OpType, StepEventMetadata } from "@pulumi/pulumi/automation";
import { allowedBy, classify, Classified, typeChain } from "../../steps/classify";
import { ChangeOp, PhaseSpec } from "../../steps/phases";
import { diffValues, normalise } from "../plan/diff";

export interface EngineStep {
  op: OpType;
  urn: string;
  type: string;
  inputs: Record<string, unknown>;
  /** Property paths that differ (updates). */
  diffs: string[];
}

/**
 * One engine step. An update's changed properties are the paths where its old and new inputs differ
 * (as the offline plan computes them: JSON held in a string, like the add-on's configurationValues,
 * compared as the JSON it holds), so that the gate holds each path against what the phase owns; where
 * the engine gives no inputs, the paths of its own diff.
 */
export function engineStep(m: StepEventMetadata): EngineStep {
  const inputs = (m.new?.inputs ?? m.old?.inputs ?? {}) as Record<string, unknown>;
  const strip = (o: Record<string, unknown> | undefined) => Object.fromEntries(Object.entries(o ?? {}).filter(([k]) => !k.startsWith("__")));
  let paths: string[];
  if (m.old?.inputs && m.new?.inputs) paths = diffValues(normalise(m.type, strip(m.old.inputs)), normalise(m.type, strip(m.new.inputs))).map((c) => c.path);
  else paths = [...(m.diffs ?? []), ...Object.keys(m.detailedDiff ?? {})];
  const diffs = [...new Set(paths.filter((k) => k && !k.startsWith("__")))];
  return { op: m.op, urn: m.urn, type: m.type, inputs, diffs };
}

export interface ChangeCounts {
  create: number;
  update: number;
  delete: number;
  replace: number;
  import: number;
  same: number;
}

export const NO_CHANGES: ChangeCounts = { create: 0, update: 0, delete: 0, replace: 0, import: 0, same: 0 };

export interface GatedStep extends Classified {
  op: ChangeOp;
  urn: string;
  /** The resource's type as the engine reports it (`kubernetes:helm.sh/v3:Release`). */
  type: string;
  name: string;
  properties: string[];
  allowed: boolean;
  reason?: string;
}

export interface GateVerdict {
  passed: boolean;
  counts: ChangeCounts;
  /** Every change (not the unchanged), in engine order. */
  steps: GatedStep[];
  refused: GatedStep[];
}

/** The operation a step stands for, seen from the user's side: the three steps of a replace are one replace. */
function changeOp(op: OpType): ChangeOp | "same" | undefined {
  switch (op) {
    case "create":
    case "import":
    case "update":
    case "delete":
    case "replace":
      return op;
    case "create-replacement":
    case "delete-replaced":
    case "import-replacement":
      return "replace";
    case "same":
      return "same";
    default:
      return undefined; // reads, refreshes, discards: no change to any resource
  }
}

export function resourceName(urn: string): string {
  const parts = urn.split("::");
  return parts[parts.length - 1] ?? urn;
}

export function countsOf(steps: Array<{ op: ChangeOp | "same" }>): ChangeCounts {
  const c = { ...NO_CHANGES };
  for (const s of steps) c[s.op]++;
  return c;
}

export function hasChanges(c: ChangeCounts): boolean {
  return c.create + c.update + c.delete + c.replace + c.import > 0;
}

export function describeCounts(c: ChangeCounts): string {
  const parts = (["create", "update", "replace", "delete", "import"] as const).filter((k) => c[k] > 0).map((k) => `${c[k]} to ${k}`);
  return parts.length ? parts.join(", ") : "no changes";
}

/** A diagnostic of the engine during preview (`diagnosticEvent`). */
export interface EngineDiagnostic {
  severity: string;
  message: string;
  urn?: string;
}

/**
 * The engine's warning that an import would fail. In preview it is only a warning ("inputs to import
 * do not match the existing resource; importing this resource will fail"); in `up` it is an error,
 * after other resources of the phase may already have changed. The gate stops the phase on it.
 * pulumi/pulumi `pkg/resource/deploy/step.go`, `ImportStep.Apply`.
 */
export const IMPORT_MISMATCH = "inputs to import do not match the existing resource";

export function gate(spec: PhaseSpec, events: EngineStep[], sandbox: boolean, diagnostics: EngineDiagnostic[] = []): GateVerdict {
  const byUrn = new Map<string, { op: ChangeOp | "same"; step: EngineStep }>();
  for (const e of events) {
    const op = changeOp(e.op);
    if (op === undefined) continue;
    const seen = byUrn.get(e.urn);
    // A replace shows as replace, create-replacement and delete-replaced: keep one, as a replace.
    if (seen && (seen.op === "replace" || op === "same")) continue;
    byUrn.set(e.urn, { op, step: e });
  }
  const steps: GatedStep[] = [];
  const all: Array<{ op: ChangeOp | "same" }> = [];
  for (const [urn, { op, step }] of byUrn) {
    // The stack resource itself is no infrastructure; its outputs change with every phase.
    if (step.type === "pulumi:pulumi:Stack") continue;
    all.push({ op });
    if (op === "same") continue;
    const cls = classify(urn, step.type, step.inputs);
    const verdict = allowedBy(spec, { ...cls, op, properties: step.diffs }, sandbox);
    steps.push({ ...cls, op, urn, type: step.type, name: resourceName(urn), properties: step.diffs, allowed: verdict.allowed, ...(verdict.reason ? { reason: verdict.reason } : {}) });
  }
  for (const d of diagnostics) {
    if (!d.message.includes(IMPORT_MISMATCH)) continue;
    const urn = d.urn ?? "";
    const detail = d.message.replace(/\x1b\[[0-9;]*m/g, "").trim();
    const existing = steps.find((s) => s.urn === urn);
    const reason = `the declared inputs do not match the live resource, so its import would fail in up (${detail}); make the stack file say what runs (unchain adopt shows how it runs)`;
    if (existing) Object.assign(existing, { allowed: false, reason });
    else steps.push({ kind: "component", op: "import", urn, type: typeChain(urn).pop() ?? "", name: resourceName(urn), properties: [], allowed: false, reason });
  }
  const refused = steps.filter((s) => !s.allowed);
  return { passed: refused.length === 0, counts: countsOf(all), steps, refused };
}

export function describeRefusal(stack: string, spec: PhaseSpec, v: GateVerdict): string {
  return [
    `${stack}: the preview of phase ${spec.phase} (${spec.title}) makes ${v.refused.length} change${v.refused.length === 1 ? "" : "s"} the phase does not call for; up did not run:`,
    ...v.refused.map((s) => `  - ${s.op} ${s.name}: ${s.reason ?? "not allowed"}`),
  ].join("\n");
}
