import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { PoolState } from "../steps/desired";
import { NODE_GROUP_IGNORE_CHANGES, nodeGroupArgs } from "./args";

export interface NodePoolArgs {
  clusterName: pulumi.Input<string>;
  /** Node role of groups that name none (a sandbox's, created with its cluster). */
  nodeRoleArn?: pulumi.Input<string>;
  /** The node groups of this pool in this phase: one per AZ for pools unchain creates, as they run for adopted ones. */
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
 * never a replacement). Groups that run already are imported, declared exactly as they run.
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
          nodeGroupArgs(g, args.clusterName, args.nodeRoleArn, args.subnetsByAz ? g.availabilityZones.flatMap((az) => args.subnetsByAz?.[az] ?? []) : g.subnetIds),
          {
            parent: this,
            dependsOn: args.after ?? [],
            ...(g.importId ? { import: g.importId } : {}),
            protect: g.protect,
            ignoreChanges: [...NODE_GROUP_IGNORE_CHANGES],
          },
        ),
    );
    this.nodeGroupNames = pulumi.output(this.nodeGroups.map((n) => n.nodeGroupName));
    this.registerOutputs({ nodeGroupNames: this.nodeGroupNames });
  }
}
