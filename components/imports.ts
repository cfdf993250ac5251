/**
 * What the program declares for every resource it imports in the phase the cluster was adopted at,
 * computed with the same builders the components use (nodeGroupArgs, addonArgs, releaseArgs), without
 * running the program: `unchain plan` holds these against the snapshot even where the walk breaks an
 * invariant (the program then refuses to run at all), so that every problem shows at once.
 */
import { ClusterConfig } from "../config/types";
import { DeclaredResource } from "../live/readback";
import { desiredState } from "../steps/desired";
import { addonArgs, NODE_GROUP_IGNORE_CHANGES, nodeGroupArgs, RELEASE_IGNORE_CHANGES, releaseArgs } from "./args";

/** Declared inputs as a plain record. */
const plain = (args: object): Record<string, unknown> => Object.fromEntries(Object.entries(args));

export function importedResources(config: ClusterConfig): DeclaredResource[] {
  const state = desiredState(config, config.adoptedPhase);
  const out: DeclaredResource[] = [];
  for (const g of state.pools)
    if (g.importId) out.push({ name: g.id, type: "aws:eks/nodeGroup:NodeGroup", importId: g.importId, inputs: plain(nodeGroupArgs(g, config.clusterName, undefined, g.subnetIds)), ignoreChanges: [...NODE_GROUP_IGNORE_CHANGES] });
  if (state.awsNode?.importId)
    out.push({ name: `${config.clusterName}-vpc-cni-addon`, type: "aws:eks/addon:Addon", importId: state.awsNode.importId, inputs: plain(addonArgs(state.awsNode, config.clusterName)), ignoreChanges: [] });
  if (state.cilium?.importId)
    out.push({
      name: `${config.clusterName}-cilium-${state.cilium.release}-release`,
      type: "kubernetes:helm.sh/v3:Release",
      importId: state.cilium.importId,
      inputs: plain(releaseArgs(state.cilium, config.cilium.repository, state.cilium.values)),
      ignoreChanges: [...RELEASE_IGNORE_CHANGES],
    });
  return out;
}

/**
 * The ID the provider gives a resource of the program, where its inputs fix it (the import IDs of
 * terraform-provider-aws's `id.go` and pulumi-kubernetes's Helm release): what a killed update's
 * pending create is adopted under when the driver resumes. IAM roles and policies are auto-named.
 */
export function resourceId(type: string, inputs: Record<string, unknown>): string | undefined {
  const s = (k: string) => (typeof inputs[k] === "string" ? (inputs[k] as string) : undefined);
  switch (type) {
    case "aws:eks/nodeGroup:NodeGroup":
      return s("clusterName") && s("nodeGroupName") ? `${s("clusterName")}:${s("nodeGroupName")}` : undefined;
    case "aws:eks/addon:Addon":
      return s("clusterName") && s("addonName") ? `${s("clusterName")}:${s("addonName")}` : undefined;
    case "kubernetes:helm.sh/v3:Release":
      return s("name") ? `${s("namespace") ?? "default"}/${s("name")}` : undefined;
    default:
      return undefined;
  }
}
