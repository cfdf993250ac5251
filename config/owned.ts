/**
 * Helm values of the Cilium releases that unchain owns: the team's overrides (`unchain:ciliumValues`)
 * may not set them, because each decides whether and how Cilium runs, which the phases and the
 * invariants decide. Placement the team may narrow (nodeSelector, tolerations): those reach the
 * invariants, which judge them on every node shape of every pool (steps/invariants.ts).
 */
interface Owned {
  path: string;
  why: string;
  fix: string;
}

const MODE_FIX = "remove it: unchain sets the CNI and IPAM mode of each release (chaining on aws-cni for the chained release, ENI IPAM for the ENI release; steps/values.ts ourReleaseValues)";
const PHASE_FIX = "remove it: each phase sets it (steps/phases.ts); the plan shows where";

/** Value paths unchain owns, with why and what to do instead. Each covers what lies below it. */
export const OWNED_VALUES: readonly Owned[] = [
  { path: "cni.chainingMode", why: "decides whether Cilium chains on aws-cni or owns the CNI", fix: MODE_FIX },
  { path: "cni.chainingTarget", why: "decides which CNI Cilium chains on", fix: MODE_FIX },
  { path: "cni.exclusive", why: "decides whether Cilium removes the other CNI's configuration on the node", fix: MODE_FIX },
  { path: "cni.install", why: "without it the agent writes no CNI configuration and pods get no network", fix: MODE_FIX },
  { path: "ipam.mode", why: "decides who hands out pod IPs, the one thing a role never changes", fix: MODE_FIX },
  { path: "eni.enabled", why: "decides whether the ENI IPAM runs", fix: MODE_FIX },
  { path: "routingMode", why: "ENI mode and chaining route natively; a tunnel would change the datapath of running pods", fix: MODE_FIX },
  { path: "tunnel", why: "a tunnel would change the datapath of running pods", fix: MODE_FIX },
  { path: "tunnelProtocol", why: "a tunnel would change the datapath of running pods", fix: MODE_FIX },
  { path: "agent", why: "false would install no Cilium agent: the pools it serves would have no CNI", fix: "remove it: the agent runs wherever the phase places it" },
  { path: "operator.enabled", why: "false would run no operator: no ENI IPAM, no unmanaged-pod restarts", fix: "remove it: the operator is part of every release unchain runs" },
  { path: "affinity", why: "the agent's placement is the phase's (cni In [roles])", fix: `${PHASE_FIX}; to keep the agent off some nodes of a pool use nodeSelector or tolerations, which the invariants judge` },
  { path: "envoy.affinity", why: "cilium-envoy's placement is the phase's", fix: `${PHASE_FIX}; use envoy.nodeSelector or envoy.tolerations, which the invariants judge` },
  { path: "operator.unmanagedPodWatcher.restart", why: "off while two pool roles share the cluster (invariant 5)", fix: PHASE_FIX },
  { path: "policyAuditMode", why: "audit while two pool roles share the cluster (invariant 7)", fix: PHASE_FIX },
  { path: "operator.rollOutPods", why: "the operator must roll to read the phase's watcher setting", fix: PHASE_FIX },
  { path: "rollOutCiliumPods", why: "the agents must roll to read the phase's settings", fix: PHASE_FIX },
];

function has(values: unknown, path: string): boolean {
  let o: unknown = values;
  for (const part of path.split(".")) {
    if (!o || typeof o !== "object" || Array.isArray(o) || !(part in (o as Record<string, unknown>))) return false;
    o = (o as Record<string, unknown>)[part];
  }
  return true;
}

/** The owned paths `values` sets, each with why and the fix, for a problem at `<at>.<path>`. */
export function ownedValueOverrides(values: unknown): Owned[] {
  return OWNED_VALUES.filter((o) => has(values, o.path));
}
