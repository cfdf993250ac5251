import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { CarriedCaState } from "../steps/desired";

/**
 * The Cilium CA carried from the chained release to the ENI release (steps/desired.ts
 * CarriedCaState): a copy taken in phase 1 (read from the release's Secret; from phase 2 on, when
 * that is gone, the copy keeps its data: `ignoreChanges`), and from phase 4 the CA back under its
 * own name, owned (Helm's metadata) by the ENI release, which looks it up and reuses it. Kept in the
 * cluster if unchain ever stops declaring them (`retainOnDelete`).
 */
export class CarriedSecret extends pulumi.ComponentResource {
  public readonly copy: k8s.core.v1.Secret;
  public readonly restored?: k8s.core.v1.Secret;

  constructor(name: string, args: { state: CarriedCaState; after?: pulumi.Resource[] }, opts?: pulumi.ComponentResourceOptions) {
    super("unchain:index:CarriedSecret", name, {}, opts);
    const { state } = args;
    const after = args.after ?? [];
    const source = state.source ? k8s.core.v1.Secret.get(`${name}-source`, `${state.namespace}/${state.source}`, { parent: this }) : undefined;
    this.copy = new k8s.core.v1.Secret(
      `${name}-copy`,
      {
        metadata: { name: state.copy, namespace: state.namespace, labels: { "app.kubernetes.io/managed-by": "unchain" } },
        type: "Opaque",
        data: source ? source.data : {},
      },
      { parent: this, dependsOn: after, retainOnDelete: true, ...(source ? {} : { ignoreChanges: ["data"] }) },
    );
    if (state.restore)
      this.restored = new k8s.core.v1.Secret(
        `${name}-restored`,
        {
          metadata: {
            name: state.restore.name,
            namespace: state.namespace,
            // Helm adopts an object whose ownership metadata names the release being installed.
            labels: { "app.kubernetes.io/managed-by": "Helm" },
            annotations: { "meta.helm.sh/release-name": state.restore.release, "meta.helm.sh/release-namespace": state.namespace },
          },
          type: "Opaque",
          data: this.copy.data,
        },
        { parent: this, dependsOn: after, retainOnDelete: true },
      );
    this.registerOutputs({});
  }
}
