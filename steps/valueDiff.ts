/**
 * Where two declarations differ, property path by property path: what the plan shows, what the
 * preview gate holds against what a phase owns, and what invariant 8 checks.
 */
export interface PropertyChange {
  path: string;
  kind: "add" | "delete" | "update";
  before?: unknown;
  after?: unknown;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

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

