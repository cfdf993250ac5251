import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { RELEASE_IGNORE_CHANGES, releaseArgs } from "./args";
import type { CiliumReleaseSpec } from "./halves";

export interface CiliumReleaseArgs extends CiliumReleaseSpec {
  /** What must be in place first: the operator role, the CA restored for the release to reuse. */
  after?: pulumi.Resource[];
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
      dependsOn: args.after ?? [],
      protect: args.state.protect,
      ignoreChanges: [...RELEASE_IGNORE_CHANGES],
      ...(args.state.importId ? { import: args.state.importId } : {}),
    });
    this.status = this.release.status.apply((s) => s?.status ?? "unknown");
    this.registerOutputs({ status: this.status });
  }
}
