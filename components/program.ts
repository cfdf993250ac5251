/**
 * The Pulumi program: one cluster at the phase its stack config names. `index.ts` runs it for
 * `pulumi up`; `unchain plan` runs the very same function under mocks for every phase.
 */
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { formatProblems } from "../config/problems";
import { runtimeAwsKeys, runtimeConfig } from "../config/runtime";
import { AwsAccess, ClusterConfig } from "../config/types";
import { validateStackConfig } from "../config/validate";
import { desiredWalk } from "../steps/desired";
import { checkWalk, describeViolation, Violation } from "../steps/invariants";
import { ClusterAtPhase } from "./cluster";
import { Sandbox } from "./sandbox";

export interface StackOutputs {
  clusterName: pulumi.Output<string>;
  /** The phase this stack's last successful `pulumi up` applied (resolved only once all its resources are). The driver reads it from the backend. */
  appliedPhase: pulumi.Output<number>;
  nodeGroups: pulumi.Output<string[]>;
  ciliumRelease: string;
  awsNode: string;
}

export function refusal(stack: string, violations: Violation[]): string {
  return [
    `stack ${stack}: the migration plan breaks ${violations.length} safety invariant${violations.length === 1 ? "" : "s"}; nothing was changed.`,
    ...violations.map((v) => `  - ${describeViolation(v)}`),
  ].join("\n");
}

/** Validates the stack's config and the whole walk 0-6; throws a RunError (no stack trace) if either fails. */
export function loadCheckedConfig(): ClusterConfig {
  const stack = pulumi.getStack();
  const { config, problems } = validateStackConfig(stack, runtimeConfig(), undefined, runtimeAwsKeys());
  if (!config) throw new pulumi.RunError(formatProblems(stack, `Pulumi.${stack}.yaml`, problems));
  const violations = checkWalk(desiredWalk(config));
  if (violations.length) throw new pulumi.RunError(refusal(stack, violations));
  return config;
}

/**
 * A kubeconfig that reaches the cluster through its endpoint and `aws eks get-token`, with the
 * stack's profile or role: the token must come from the same account as the provider's calls.
 */
export function eksKubeconfig(name: string, access: AwsAccess, endpoint: string, caData: string): string {
  const role = access.assumeRoles[access.assumeRoles.length - 1];
  const args = ["eks", "get-token", "--cluster-name", name, "--region", access.region, ...(access.profile ? ["--profile", access.profile] : []), ...(role ? ["--role-arn", role.roleArn] : [])];
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name, cluster: { server: endpoint, "certificate-authority-data": caData } }],
    contexts: [{ name, context: { cluster: name, user: name } }],
    "current-context": name,
    users: [
      {
        name,
        user: {
          exec: { apiVersion: "client.authentication.k8s.io/v1beta1", command: "aws", args, interactiveMode: "Never" },
        },
      },
    ],
  });
}

export async function clusterProgram(): Promise<StackOutputs> {
  const config = loadCheckedConfig();
  // An explicit provider does not read the stack's aws:* keys (pulumi-aws issue 1307): hand them over.
  const awsProvider = new aws.Provider("aws", {
    region: config.region as aws.Region,
    ...(config.aws.profile ? { profile: config.aws.profile } : {}),
    ...(config.aws.assumeRoles.length ? { assumeRoles: config.aws.assumeRoles } : {}),
  });

  let clusterName: pulumi.Input<string> = config.clusterName;
  let nodeRoleArn: pulumi.Input<string> | undefined;
  let kubeconfig: pulumi.Input<string> | undefined;
  let oidcProviderArn: pulumi.Input<string> | undefined;
  let subnetsByAz: Record<string, pulumi.Input<string>[]> | undefined;
  if (config.sandbox) {
    const sandbox = new Sandbox(
      "sandbox",
      { clusterName: config.clusterName, availabilityZones: config.availabilityZones.map((a) => a.name), kubernetesVersion: config.kubernetesVersion },
      { providers: { aws: awsProvider } },
    );
    clusterName = sandbox.clusterName;
    nodeRoleArn = sandbox.nodeRoleArn;
    kubeconfig = sandbox.kubeconfig;
    oidcProviderArn = sandbox.oidcProviderArn;
    subnetsByAz = sandbox.subnetsByAz;
  } else if (!config.kubeContext) {
    const eksCluster = aws.eks.getClusterOutput({ name: config.clusterName }, { provider: awsProvider });
    kubeconfig = pulumi
      .all([eksCluster.endpoint, eksCluster.certificateAuthorities])
      .apply(([endpoint, cas]) => eksKubeconfig(config.clusterName, config.aws, endpoint, cas[0]?.data ?? ""));
  }
  const k8sProvider = new k8s.Provider("k8s", {
    ...(kubeconfig !== undefined ? { kubeconfig } : {}),
    ...(config.kubeContext ? { context: config.kubeContext } : {}),
    enableServerSideApply: true,
  });

  const cluster = new ClusterAtPhase(
    config.clusterName,
    { config, clusterName, ...(nodeRoleArn ? { nodeRoleArn } : {}), ...(oidcProviderArn ? { oidcProviderArn } : {}), ...(subnetsByAz ? { subnetsByAz } : {}) },
    { providers: { aws: awsProvider, kubernetes: k8sProvider } },
  );
  return {
    clusterName: pulumi.output(clusterName),
    appliedPhase: cluster.applied,
    nodeGroups: pulumi.all(cluster.pools.map((p) => p.nodeGroupNames)).apply((n) => n.flat()),
    ciliumRelease: cluster.state.cilium?.release ?? "none",
    awsNode: cluster.state.awsNode ? "present" : "absent",
  };
}
