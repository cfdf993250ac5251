import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

/** EC2 calls the cilium-operator makes in ENI IPAM mode (Cilium ENI docs, "Required Privileges"). */
export const CILIUM_OPERATOR_EC2_ACTIONS = [
  "ec2:CreateNetworkInterface",
  "ec2:AttachNetworkInterface",
  "ec2:DeleteNetworkInterface",
  "ec2:ModifyNetworkInterfaceAttribute",
  "ec2:AssignPrivateIpAddresses",
  "ec2:UnassignPrivateIpAddresses",
  "ec2:CreateTags",
  "ec2:DescribeInstances",
  "ec2:DescribeInstanceTypes",
  "ec2:DescribeNetworkInterfaces",
  "ec2:DescribeSubnets",
  "ec2:DescribeVpcs",
  "ec2:DescribeRouteTables",
  "ec2:DescribeSecurityGroups",
  "ec2:DescribeTags",
  "ec2:DescribeManagedPrefixLists",
  "ec2:GetManagedPrefixListEntries",
];

export interface CiliumOperatorRoleArgs {
  /** ARN of the cluster's IAM OIDC provider (IRSA). */
  oidcProviderArn: pulumi.Input<string>;
  namespace?: string;
  serviceAccount?: string;
}

/** `arn:aws:iam::123:oidc-provider/oidc.eks.x.amazonaws.com/id/ABC` → `oidc.eks.x.amazonaws.com/id/ABC`. */
export function oidcIssuerOf(providerArn: string): string {
  const i = providerArn.indexOf(":oidc-provider/");
  return i < 0 ? providerArn : providerArn.slice(i + ":oidc-provider/".length);
}

export function operatorTrustPolicy(providerArn: string, namespace: string, serviceAccount: string): string {
  const issuer = oidcIssuerOf(providerArn);
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Federated: providerArn },
        Action: "sts:AssumeRoleWithWebIdentity",
        Condition: { StringEquals: { [`${issuer}:sub`]: `system:serviceaccount:${namespace}:${serviceAccount}`, [`${issuer}:aud`]: "sts.amazonaws.com" } },
      },
    ],
  });
}

/** The IAM role the cilium-operator assumes (IRSA) to manage ENIs and their IPs. */
export class CiliumOperatorRole extends pulumi.ComponentResource {
  public readonly role: aws.iam.Role;
  public readonly arn: pulumi.Output<string>;

  constructor(name: string, args: CiliumOperatorRoleArgs, opts?: pulumi.ComponentResourceOptions) {
    super("unchain:index:CiliumOperatorRole", name, {}, opts);
    const namespace = args.namespace ?? "kube-system";
    const serviceAccount = args.serviceAccount ?? "cilium-operator";
    this.role = new aws.iam.Role(
      `${name}-role`,
      { assumeRolePolicy: pulumi.output(args.oidcProviderArn).apply((arn) => operatorTrustPolicy(arn, namespace, serviceAccount)), description: "cilium-operator ENI IPAM (unchain)" },
      { parent: this },
    );
    const policy = new aws.iam.Policy(
      `${name}-policy`,
      { policy: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: CILIUM_OPERATOR_EC2_ACTIONS, Resource: "*" }] }) },
      { parent: this },
    );
    new aws.iam.RolePolicyAttachment(`${name}-attach`, { role: this.role.name, policyArn: policy.arn }, { parent: this });
    this.arn = this.role.arn;
    this.registerOutputs({ arn: this.arn });
  }
}
