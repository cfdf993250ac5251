import * as path from "node:path";
import { loadStack } from "../config/load";
import { ClusterConfig } from "../config/types";
import { validateStackConfig } from "../config/validate";
import { CapturedResource, evaluateProgram, Evaluation } from "../automation/plan/evaluate";
import { clusterProgram } from "../components/program";

/** The project directory (tests run from dist/test). */
export const PROJECT = path.resolve(__dirname, "..", "..");

export function fleetConfig(stack: string): ClusterConfig {
  const src = loadStack(PROJECT, stack);
  const { config, problems } = validateStackConfig(stack, src.raw);
  if (!config) throw new Error(problems.map((p) => `${p.key}: ${p.message}`).join("\n"));
  return config;
}

/** The real program for `stack` of the example fleet at `phase`, with config overrides (`unchain:` keys). */
export async function evaluateStack(stack: string, phase: number, overrides: Record<string, unknown> = {}): Promise<Evaluation> {
  const src = loadStack(PROJECT, stack);
  const config: Record<string, string> = { ...src.pulumiConfig, "unchain:phase": String(phase) };
  for (const [k, v] of Object.entries(overrides)) config[`unchain:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
  return evaluateProgram(stack, config, clusterProgram);
}

export const ofType = (ev: Evaluation, type: string): CapturedResource[] => ev.resources.filter((r) => r.type === type);
export const nodeGroups = (ev: Evaluation) => ofType(ev, "aws:eks/nodeGroup:NodeGroup");
export const releases = (ev: Evaluation) => ofType(ev, "kubernetes:helm.sh/v3:Release");
export const addons = (ev: Evaluation) => ofType(ev, "aws:eks/addon:Addon");

export const labelOf = (r: CapturedResource) => ((r.inputs.labels ?? {}) as Record<string, string>).cni;
export const taintsOf = (r: CapturedResource) => ((r.inputs.taints ?? []) as Array<{ key: string; value?: string; effect: string }>).map((t) => `${t.key}=${t.value ?? ""}:${t.effect}`).sort();

type Obj = Record<string, unknown>;
/** The `cni` values a DaemonSet affinity requires, per term. */
export function cniRequirement(affinity: unknown): string[][] {
  const terms = (((affinity as Obj | undefined)?.nodeAffinity as Obj | undefined)?.requiredDuringSchedulingIgnoredDuringExecution as Obj | undefined)?.nodeSelectorTerms as
    | Array<{ matchExpressions?: Array<{ key: string; operator: string; values?: string[] }> }>
    | undefined;
  return (terms ?? []).map((t) => (t.matchExpressions ?? []).filter((e) => e.key === "cni" && e.operator === "In").flatMap((e) => e.values ?? []));
}

export function get(o: unknown, p: string): unknown {
  return p.split(".").reduce<unknown>((acc, k) => (acc === undefined || acc === null ? undefined : (acc as Obj)[k]), o);
}
