/**
 * The inputs of each resource unchain may import, as pure functions of the desired state: the
 * components declare them, and `unchain plan` holds them against what runs (components/imports.ts)
 * without loading the providers' SDKs.
 */
import type * as aws from "@pulumi/aws";
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { EKS_TAINT_EFFECT } from "../steps/affinity";
import { AwsNodeState, CiliumState, PoolState } from "../steps/desired";
import { Values } from "../steps/values";
import { chartReference } from "../live/chartRepository";

/** Cluster autoscalers move desiredSize; unchain owns min/max, labels and taints. */
export const NODE_GROUP_IGNORE_CHANGES = ["scalingConfig.desiredSize"] as const;

/**
 * The inputs of one EKS node group, declared exactly as the AWS provider reads them back
 * (terraform-provider-aws `internal/service/eks/node_group.go`, `resourceNodeGroupRead`):
 * - properties that are Optional but not Computed in the provider's schema (`labels`, `taints`,
 *   `tags`, `launchTemplate`, `remoteAccess`) are declared exactly as the group runs: left out, the
 *   import would read a value back and differ;
 * - Optional+Computed ones (`instanceTypes`, `amiType`, `capacityType`, `diskSize`, `releaseVersion`,
 *   `version`, `updateConfig`) are declared only where the stack file gives them: left out, the
 *   provider keeps what it reads;
 * - `scalingConfig.desiredSize` belongs to the cluster autoscaler (ignoreChanges);
 * - empty `labels`, `taints` and `tags` are left out, as the provider reads an absent value.
 * Taints go out in the EKS API's spelling (`NO_SCHEDULE`).
 */
export function nodeGroupArgs(g: PoolState, clusterName: pulumi.Input<string>, nodeRoleArn: pulumi.Input<string> | undefined, subnetIds: pulumi.Input<pulumi.Input<string>[]>): aws.eks.NodeGroupArgs {
  // Validation gives every group outside a sandbox its role; a sandbox's comes from the cluster it creates.
  const role = g.nodeRoleArn ?? nodeRoleArn ?? "";
  return {
    clusterName,
    nodeGroupName: g.nodeGroupName,
    nodeRoleArn: role,
    subnetIds,
    scalingConfig: { minSize: g.size.min, desiredSize: g.size.desired, maxSize: g.size.max },
    ...(g.instanceTypes ? { instanceTypes: g.instanceTypes } : {}),
    ...(g.amiType ? { amiType: g.amiType } : {}),
    ...(g.capacityType ? { capacityType: g.capacityType } : {}),
    ...(g.diskSize !== undefined ? { diskSize: g.diskSize } : {}),
    ...(g.releaseVersion ? { releaseVersion: g.releaseVersion } : {}),
    ...(g.version ? { version: g.version } : {}),
    ...(g.launchTemplate ? { launchTemplate: { ...g.launchTemplate } } : {}),
    ...(g.remoteAccess ? { remoteAccess: { ...g.remoteAccess } } : {}),
    ...(g.updateConfig ? { updateConfig: { ...g.updateConfig } } : {}),
    ...(Object.keys(g.labels).length ? { labels: g.labels } : {}),
    ...(g.taints.length ? { taints: g.taints.map((t) => ({ key: t.key, ...(t.value !== undefined ? { value: t.value } : {}), effect: EKS_TAINT_EFFECT[t.effect] })) } : {}),
    ...(Object.keys(g.tags).length ? { tags: g.tags } : {}),
  };
}

/**
 * The inputs of the add-on, as the AWS provider reads them back (terraform-provider-aws
 * `internal/service/eks/addon.go`): `configurationValues` is compared as a string, so the live text
 * is declared until a phase changes it; `resolveConflictsOnCreate`, `resolveConflictsOnUpdate` and
 * `preserve` are never read back (the provider's import test ignores them), so the first is declared
 * only where unchain creates the add-on, the second from the first update on, the third never (its
 * default, false, deletes aws-node with the add-on in phase 6).
 */
export function addonArgs(s: AwsNodeState, clusterName: pulumi.Input<string>): aws.eks.AddonArgs {
  return {
    clusterName,
    addonName: "vpc-cni",
    addonVersion: s.addonVersion,
    ...(s.configurationValuesText !== undefined ? { configurationValues: s.configurationValuesText } : {}),
    ...(s.serviceAccountRoleArn ? { serviceAccountRoleArn: s.serviceAccountRoleArn } : {}),
    ...(Object.keys(s.tags).length ? { tags: s.tags } : {}),
    ...(s.resolveConflictsOnCreate ? { resolveConflictsOnCreate: s.resolveConflictsOnCreate } : {}),
    ...(s.resolveConflictsOnUpdate ? { resolveConflictsOnUpdate: s.resolveConflictsOnUpdate } : {}),
  };
}

/** The Helm release's Pulumi-side settings, declared once the release is upgraded (never in the step that adopts it). */
export const UPGRADE_SETTINGS = { maxHistory: 10, timeout: 900 } as const;

/**
 * The inputs of the release. In the step that adopts a running release only what the import
 * reads back is declared (pulumi-kubernetes `provider/pkg/provider/helm_release.go`, `Read`,
 * `importRelease` and `serializeImportInputs`: name, namespace, the chart as `<repository>/<chart>`
 * found in the locally configured repositories (live/chartRepository.ts), version and the
 * user-supplied values; `timeout` defaults to 300 on both sides). The chart is always named through
 * the stack's own Helm repository, never `repositoryOpts`, which import cannot read back and
 * without which the engine's Check of the read-back inputs cannot find the chart.
 * `timeout`: the read-back inputs carry `timeout: 0` (the provider's Release struct with its zero
 * values; `setDefaults` fills in 300 only where the key is missing), while Check of inputs that
 * leave it out sets 300: the adopting step declares 0, which Helm runs as its 300 s default (seen
 * with pulumi-resource-kubernetes 4.34.2 against a real release). `maxHistory` and `timeout: 900`
 * are declared from the first upgrade on.
 */
export function releaseArgs(state: CiliumState, repository: string, values: pulumi.Input<Values>): k8s.helm.v3.ReleaseArgs {
  return {
    name: state.name,
    namespace: state.namespace,
    chart: chartReference(repository),
    version: state.chartVersion,
    values,
    ...(state.upgradeSettings ? UPGRADE_SETTINGS : state.importId ? { timeout: 0 } : {}),
  };
}

/**
 * Properties of the release the engine holds to their stored value: `checksum`, which Check
 * computes from the chart rendered client-side, where Helm's `lookup` finds nothing and `genCA`
 * makes a new CA each time, so it differs on every preview (pulumi/pulumi-kubernetes issue 2649) and
 * a phase that does not touch Cilium would show the release as updated. Values and the chart
 * version still show every real change.
 */
export const RELEASE_IGNORE_CHANGES = ["checksum"] as const;
