import * as aws from "@pulumi/aws";
import * as awsx from "@pulumi/awsx";
import * as eks from "@pulumi/eks";
import * as pulumi from "@pulumi/pulumi";

export interface SandboxArgs {
  clusterName: string;
  availabilityZones: string[];
  kubernetesVersion: string;
}

/**
 * A throwaway VPC and EKS cluster to rehearse all seven phases (`unchain:sandbox: true`). Production
 * stacks reference clusters that exist; nothing here runs for them.
 */
export class Sandbox extends pulumi.ComponentResource {
  public readonly clusterName: pulumi.Output<string>;
  public readonly kubeconfig: pulumi.Output<string>;
  public readonly nodeRoleArn: pulumi.Output<string>;
  public readonly oidcProviderArn: pulumi.Output<string>;
  /** Private subnet of each AZ (awsx lays subnets out in the order of `availabilityZoneNames`). */
  public readonly subnetsByAz: Record<string, pulumi.Output<string>[]>;

  constructor(name: string, args: SandboxArgs, opts?: pulumi.ComponentResourceOptions) {
    super("unchain:index:Sandbox", name, {}, opts);
    const vpc = new awsx.ec2.Vpc(`${name}-vpc`, { availabilityZoneNames: args.availabilityZones, natGateways: { strategy: "Single" } }, { parent: this });
    const nodeRole = new aws.iam.Role(
      `${name}-nodes`,
      { assumeRolePolicy: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }] }) },
      { parent: this },
    );
    ["AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly"].forEach(
      (policy) => new aws.iam.RolePolicyAttachment(`${name}-nodes-${policy}`, { role: nodeRole.name, policyArn: `arn:aws:iam::aws:policy/${policy}` }, { parent: this }),
    );
    const cluster = new eks.Cluster(
      `${name}-eks`,
      {
        name: args.clusterName,
        version: args.kubernetesVersion,
        vpcId: vpc.vpcId,
        privateSubnetIds: vpc.privateSubnetIds,
        publicSubnetIds: vpc.publicSubnetIds,
        skipDefaultNodeGroup: true,
        createOidcProvider: true,
        // unchain manages the vpc-cni add-on itself (aws.eks.Addon), as on production clusters.
        useDefaultVpcCni: true,
        authenticationMode: eks.AuthenticationMode.Api,
      },
      { parent: this },
    );
    this.clusterName = cluster.eksCluster.apply((c) => c?.name ?? args.clusterName);
    this.kubeconfig = cluster.kubeconfigJson;
    this.nodeRoleArn = nodeRole.arn;
    this.oidcProviderArn = cluster.oidcProviderArn;
    this.subnetsByAz = Object.fromEntries(args.availabilityZones.map((az, i) => [az, [vpc.privateSubnetIds.apply((ids) => (ids ?? [])[i])]]));
    this.registerOutputs({ clusterName: this.clusterName, nodeRoleArn: this.nodeRoleArn });
  }
}
