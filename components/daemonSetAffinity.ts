/**
 * A resource transform that pins every DaemonSet a chart or manifest renders to node pools of some
 * roles, by narrowing its pod template's node affinity (see steps/affinity.ts `pinToRoles`).
 *
 * Where unchain uses it, and where it does not, is deliberate:
 * - Cilium's agent and cilium-envoy are placed through Helm values (`affinity`, `envoy.affinity`):
 *   Cilium is a `helm.v3.Release` (a real Helm release, upgraded in place with its hooks), whose
 *   objects are never Pulumi resources, so no transform can reach them. The chart's own keys are the
 *   supported interface.
 * - aws-node is placed through the vpc-cni add-on's `configurationValues.affinity`: EKS owns the
 *   DaemonSet (server-side apply, field manager `eks`), a patch would be overwritten.
 * - Node agents that must follow the CNI (NodeAgent: node-local DNS, kube-proxy-like agents) are
 *   rendered with `helm.v4.Chart`, whose children are Pulumi resources: this transform places them.
 *   The engine runs transforms for children of remote components (legacy `transformations` do not).
 */
import * as pulumi from "@pulumi/pulumi";
import { Affinity, pinToRoles } from "../steps/affinity";
import { PoolRole } from "../steps/roles";

const DAEMONSET_TYPES = new Set(["kubernetes:apps/v1:DaemonSet", "kubernetes:extensions/v1beta1:DaemonSet", "kubernetes:apps/v1beta2:DaemonSet"]);

interface PodTemplateHolder {
  spec?: { template?: { spec?: { affinity?: Affinity } & Record<string, unknown> } & Record<string, unknown> } & Record<string, unknown>;
}

/** Pure: DaemonSet props with the pod template's affinity pinned to `roles`; other props unchanged. */
export function pinDaemonSetProps<T extends PodTemplateHolder>(props: T, roles: readonly PoolRole[]): T {
  const spec = props.spec ?? {};
  const template = spec.template ?? {};
  const podSpec = template.spec ?? {};
  return {
    ...props,
    spec: { ...spec, template: { ...template, spec: { ...podSpec, affinity: pinToRoles(podSpec.affinity, roles) } } },
  };
}

/** The transform: DaemonSets are pinned to `roles`; every other resource passes through untouched. */
export function pinDaemonSets(roles: readonly PoolRole[]): pulumi.ResourceTransform {
  return (args) => {
    if (!DAEMONSET_TYPES.has(args.type)) return undefined;
    return { props: pinDaemonSetProps(args.props as PodTemplateHolder, roles), opts: args.opts };
  };
}
