import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { AwsNodeState } from "../steps/desired";
import { addonArgs } from "./args";

export interface VpcCniAddonArgs {
  clusterName: pulumi.Input<string>;
  /** The add-on in this phase (steps/desired.ts). */
  state: AwsNodeState;
  /** Resources the add-on waits for. */
  after?: pulumi.Resource[];
}

/**
 * The EKS-managed vpc-cni add-on (aws-node). Placement goes through `configurationValues.affinity`
 * (the add-on schema has no nodeSelector). Removed in phase 6 without `preserve`, so the aws-node
 * DaemonSet goes with it once no pool uses it.
 */
export class VpcCniAddon extends pulumi.ComponentResource {
  public readonly addon: aws.eks.Addon;

  constructor(name: string, args: VpcCniAddonArgs, opts?: pulumi.ComponentResourceOptions) {
    super("unchain:index:VpcCniAddon", name, {}, opts);
    this.addon = new aws.eks.Addon(`${name}-addon`, addonArgs(args.state, args.clusterName), { parent: this, dependsOn: args.after ?? [], protect: args.state.protect, ...(args.state.importId ? { import: args.state.importId } : {}) });
    this.registerOutputs({ addonVersion: this.addon.addonVersion });
  }
}
