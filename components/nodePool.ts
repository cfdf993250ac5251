import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { EKS_TAINT_EFFECT } from "../steps/affinity";
import { PoolState } from "../steps/desired";

export interface NodePoolArgs {
  clusterName: pulumi.Input<string>;
  nodeRoleArn: pulumi.Input<string>;
  /** The node groups of this pool in this phase: one per AZ for pools unchain creates, one for an adopted group. */
  groups: PoolState[];
  /** Subnets per AZ when they are outputs (sandbox); otherwise each group's own `subnetIds`. */
  subnetsByAz?: Record<string, pulumi.Input<string>[]>;
  /**
   * Resources whose update must land before these node groups are created or changed. Children do
   * not inherit a component's `dependsOn`, so the pool passes it to every node group itself.
   */
  after?: pulumi.Resource[];
}

/**
 * A node pool: EKS managed node groups of one role, one per AZ (or one adopted multi-AZ group).
 * Labels and taints are set through the node group (UpdateNodegroupConfig: applied to running nodes,
 * never a replacement); taints go out in the EKS API's spelling. Adopted groups are imported.
 */
export class NodePool extends pulumi.ComponentResource {
  public readonly nodeGroups: aws.eks.NodeGroup[];
  public readonly nodeGroupNames: pulumi.Output<string[]>;

  constructor(name: string, args: NodePoolArgs, opts?: pulumi.ComponentResourceOptions) {
    super("unchain:index:NodePool", name, {}, opts);
    this.nodeGroups = args.groups.map(
      (g) =>
        new aws.eks.NodeGroup(
          g.id,
          {
            clusterName: args.clusterName,
            nodeGroupName: g.nodeGroupName,
            nodeRoleArn: args.nodeRoleArn,
            subnetIds: args.subnetsByAz ? g.availabilityZones.flatMap((az) => args.subnetsByAz?.[az] ?? []) : g.subnetIds,
            instanceTypes: g.instanceTypes,
            scalingConfig: { minSize: g.size.min, desiredSize: g.size.desired, maxSize: g.size.max },
            ...(g.amiType ? { amiType: g.amiType } : {}),
            ...(g.capacityType ? { capacityType: g.capacityType } : {}),
            ...(g.diskSize ? { diskSize: g.diskSize } : {}),
            labels: g.labels,
            taints: g.taints.map((t) => ({ key: t.key, ...(t.value !== undefined ? { value: t.value } : {}), effect: EKS_TAINT_EFFECT[t.effect] })),
            updateConfig: { maxUnavailable: 1 },
            tags: { "unchain/role": g.role, "unchain/pool": g.pool },
          },
          {
            parent: this,
            dependsOn: args.after ?? [],
            ...(g.importId ? { import: g.importId } : {}),
            // Cluster autoscalers move desiredSize; unchain owns min/max, labels and taints.
            ignoreChanges: ["scalingConfig.desiredSize"],
          },
        ),
    );
    this.nodeGroupNames = pulumi.output(this.nodeGroups.map((n) => n.nodeGroupName));
    this.registerOutputs({ nodeGroupNames: this.nodeGroupNames });
  }
}
