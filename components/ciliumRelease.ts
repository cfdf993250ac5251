import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { CiliumRelease as ReleaseKind } from "../steps/phases";
import { Values } from "../steps/values";

export interface CiliumReleaseArgs {
  release: ReleaseKind;
  chartVersion: string;
  repository: string;
  /** Final Helm values (steps/values.ts `ciliumValues`), agent and envoy affinity included. */
  values: pulumi.Input<Values>;
  /** Adopt a release Helm already installed (`<namespace>/<name>`). */
  importId?: string;
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
    this.release = new k8s.helm.v3.Release(
      `${name}-release`,
      {
        name: "cilium",
        namespace: "kube-system",
        chart: "cilium",
        version: args.chartVersion,
        repositoryOpts: { repo: args.repository },
        values: args.values,
        maxHistory: 10,
        timeout: 900,
        // A failed upgrade must not roll back half-applied pools silently; Pulumi reports it and the
        // driver stops the cluster.
        atomic: false,
        cleanupOnFail: false,
      },
      { parent: this, ...(args.importId ? { import: args.importId } : {}) },
    );
    this.status = this.release.status.apply((s) => s?.status ?? "unknown");
    this.registerOutputs({ status: this.status });
  }
}
