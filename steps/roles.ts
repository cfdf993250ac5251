/**
 * Pool roles: which CNI a node pool runs for its whole life. A pool never changes role; the
 * migration moves workloads between pools instead (see ../../shared/design/migration.md).
 */
export type PoolRole = "chained" | "aws" | "cilium";

export const POOL_ROLES: readonly PoolRole[] = ["chained", "aws", "cilium"];

/** The node label that says which role a pool has. */
export const CNI_LABEL = "cni";

/** Value of the `cni` label per role (the runbook's own spelling). */
export const ROLE_LABEL: Readonly<Record<PoolRole, string>> = {
  chained: "both",
  aws: "aws",
  cilium: "cilium",
};

/** Which agent hands out pod IPs on a pool of each role. */
export const ROLE_IPAM: Readonly<Record<PoolRole, "aws-node" | "cilium-eni">> = {
  chained: "aws-node",
  aws: "aws-node",
  cilium: "cilium-eni",
};

/** Cilium's own startup taint; the agent (operator) removes it once Cilium is ready on the node. */
export const AGENT_NOT_READY_TAINT_KEY = "node.cilium.io/agent-not-ready";

export function roleOfLabel(value: string | undefined): PoolRole | undefined {
  return POOL_ROLES.find((r) => ROLE_LABEL[r] === value);
}
