import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { CiliumState } from "../steps/desired";
import { Values } from "../steps/values";
import { releaseArgs } from "./args";

export interface CiliumReleaseArgs {
  /** The release of this phase (steps/desired.ts): name, namespace, chart version, import id, values. */
  state: CiliumState;
  repository: string;
  /** Final Helm values; an Output only where they hold the ARN of a role unchain creates. */
  values: pulumi.Input<Values>;
}

/**
 * One Cilium Helm release: chained (on top of aws-cni) or ENI mode, never both at once (invariant 2).
 * A real Helm release (`helm.v3.Release`): upgrades happen in place with Helm's hooks, and the chart's
 * CRDs are created by the operator at run time, not by Helm, so uninstalling the chained release in
 * phase 2 keeps CiliumEndpoints, identities and policies.
 */
export class CiliumRelease extends pulumi.ComponentResource {
  public readonly release: k8s.helm.v3.Release;
  public readonly status: pulumi.Output<string>;

  constructor(name: string, args: CiliumReleaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("unchain:index:CiliumRelease", name, {}, opts);
    this.release = new k8s.helm.v3.Release(`${name}-release`, releaseArgs(args.state, args.repository, args.values), {
      parent: this,
      protect: args.state.protect,
      ...(args.state.importId ? { import: args.state.importId } : {}),
    });
    this.status = this.release.status.apply((s) => s?.status ?? "unknown");
    this.registerOutputs({ status: this.status });
  }
}
