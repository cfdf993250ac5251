/**
 * Properties whose change makes the provider replace a resource (Terraform `ForceNew` in the AWS
 * provider's schema, Helm release identity). Offline, this table is how the plan tells an update from
 * a replace; the driver's preview gate gets the same verdict from the engine itself.
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
  ],
  "aws:eks/addon:Addon": ["addonName", "clusterName"],
  "kubernetes:helm.sh/v3:Release": ["name", "namespace"],
  "aws:iam/role:Role": ["name", "namePrefix", "path"],
  "aws:iam/policy:Policy": ["name", "namePrefix", "path", "description"],
  "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ["role", "policyArn"],
};

export function replacingProperties(type: string, changed: string[]): string[] {
  const forcing = REPLACE_ON_CHANGE[type] ?? [];
  return changed.filter((p) => forcing.includes(p.split(/[.[]/)[0]));
}
