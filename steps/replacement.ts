/**
 * Properties whose change makes the provider replace a resource (Terraform `ForceNew` in the AWS
 * provider's schema, Helm release identity). Offline, this table is how the plan tells an update from
 * a replace; the driver's preview gate gets the same verdict from the engine itself.
 *
 * Node groups: hashicorp/terraform-provider-aws `internal/service/eks/node_group.go` marks these
 * ForceNew; `launch_template.version`, `labels`, `taint`, `scaling_config`, `update_config`, `tags`,
 * `version` and `release_version` update in place. Add-ons: `internal/service/eks/addon.go`. Helm
 * releases: pulumi-kubernetes `helm_release.go` (`forceNewFields`: name, namespace).
 */
export const REPLACE_ON_CHANGE: Readonly<Record<string, readonly string[]>> = {
  "aws:eks/nodeGroup:NodeGroup": [
    "clusterName",
    "nodeGroupName",
    "nodeGroupNamePrefix",
    "nodeRoleArn",
    "subnetIds",
    "instanceTypes",
    "amiType",
    "capacityType",
    "diskSize",
    "remoteAccess",
    "launchTemplate.id",
    "launchTemplate.name",
  ],
  "aws:eks/addon:Addon": ["addonName", "clusterName"],
  "kubernetes:helm.sh/v3:Release": ["name", "namespace"],
  "aws:iam/role:Role": ["name", "namePrefix", "path"],
  "aws:iam/policy:Policy": ["name", "namePrefix", "path", "description"],
  "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ["role", "policyArn"],
};

/** Whether a change at `path` (e.g. `launchTemplate.version`, `subnetIds`) touches the forcing property `forcing`. */
function touches(path: string, forcing: string): boolean {
  return path === forcing || path.startsWith(`${forcing}.`) || path.startsWith(`${forcing}[`) || forcing.startsWith(`${path}.`);
}

export function replacingProperties(type: string, changed: string[]): string[] {
  const forcing = REPLACE_ON_CHANGE[type] ?? [];
  return changed.filter((p) => forcing.some((f) => touches(p, f)));
}
