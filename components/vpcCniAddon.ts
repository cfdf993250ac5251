import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { ResolveConflicts } from "../config/types";
import { Values } from "../steps/values";

export interface VpcCniAddonArgs {
  clusterName: pulumi.Input<string>;
  addonVersion: string;
  /** steps/values.ts `vpcCniConfigurationValues`: the default affinity kept, narrowed per phase. */
  configurationValues: Values;
  resolveConflictsOnUpdate: ResolveConflicts;
  /** Adopt the add-on EKS already runs (`<cluster>:vpc-cni`). */
  importId?: string;
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
    const hasValues = Object.keys(args.configurationValues).length > 0;
    this.addon = new aws.eks.Addon(
      `${name}-addon`,
      {
        clusterName: args.clusterName,
        addonName: "vpc-cni",
        addonVersion: args.addonVersion,
        ...(hasValues ? { configurationValues: JSON.stringify(args.configurationValues) } : {}),
        resolveConflictsOnCreate: "OVERWRITE",
        resolveConflictsOnUpdate: args.resolveConflictsOnUpdate,
        preserve: false,
      },
      { parent: this, ...(args.importId ? { import: args.importId } : {}) },
    );
    this.registerOutputs({ addonVersion: this.addon.addonVersion });
  }
}
