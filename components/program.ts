/**
 * The Pulumi program: one cluster at the phase its stack config names. `index.ts` runs it for
 * `pulumi up`; `unchain plan` runs the very same function under mocks for every phase.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { formatProblems } from "../config/problems";
import { runtimeAwsKeys, runtimeConfig } from "../config/runtime";
import { AwsAccess, ClusterConfig } from "../config/types";
import { loadStack } from "../config/load";
import { secureLeafKeys, validateStackConfig } from "../config/validate";
import { desiredWalk } from "../steps/desired";
import { isPhaseNumber } from "../steps/phases";
import { describeReverse, describeStage, goingBackOutput, goingBackRefusal, isGoingBack, GoingBack } from "../steps/reverse";
import { checkWalk, describeViolation, Violation } from "../steps/invariants";
import { helmSettingsOf, prepareHelmEnvironment } from "../live/chartRepository";
import { ClusterAtPhase } from "./cluster";
import { awsHalf, kubernetesHalf } from "./halves";
import { Sandbox } from "./sandbox";

export interface StackOutputs {
  clusterName: pulumi.Output<string>;
  /** The phase this stack's last successful `pulumi up` applied (resolved only once all its resources are). The driver reads it from the backend. */
  appliedPhase: pulumi.Output<number>;
  /** A reverse step applied half-way: its stage last applied (steps/reverse.ts). */
  goingBack?: GoingBack;
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

/**
 * Validates the stack's config and the whole walk 0-6; throws a RunError (no stack trace) if either
 * fails. The engine hands the program secure values decrypted; which leaves were `secure:` the stack
 * file in `projectDir` says, so that they stay secret in the resources they reach.
 */
export function loadCheckedConfig(projectDir?: string, goingBack?: GoingBack): ClusterConfig {
  const stack = pulumi.getStack();
  const { config, problems } = validateStackConfig(stack, runtimeConfig(), undefined, runtimeAwsKeys());
  if (!config) throw new pulumi.RunError(formatProblems(stack, `Pulumi.${stack}.yaml`, problems));
  if (projectDir && fs.existsSync(path.join(projectDir, `Pulumi.${stack}.yaml`))) config.secretKeys = secureLeafKeys(loadStack(projectDir, stack).raw);
  const violations = checkWalk(desiredWalk(config));
  if (violations.length) throw new pulumi.RunError(refusal(stack, violations));
  return goingBack ? { ...config, goingBack } : config;
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

/**
 * The Kubernetes provider of the stack's cluster: a kubeconfig (a sandbox's, or one through `aws eks
 * get-token`), else the stack's `cluster.kubeContext` in the ambient kubeconfig (KUBECONFIG). Helm
 * releases find their chart through the stack's Helm environment, which the driver (or index.ts)
 * prepares before the engine runs.
 */
export function kubernetesProvider(config: ClusterConfig, kubeconfig?: pulumi.Input<string>): k8s.Provider {
  return new k8s.Provider("k8s", {
    ...(kubeconfig !== undefined ? { kubeconfig } : {}),
    ...(config.kubeContext ? { context: config.kubeContext } : {}),
    enableServerSideApply: true,
    // The stack's own Helm environment (live/chartRepository.ts): where the chart is found, and what an import reads back.
    helmReleaseSettings: helmSettingsOf(config.stack),
  });
}

/**
 * Prepares the stack's Helm environment before any Helm release is declared (live/chartRepository.ts):
 * the provider finds the chart there, and an import reads the chart back from it.
 */
export async function withHelmEnvironment(config: ClusterConfig, projectDir: string): Promise<void> {
  try {
    const helm = await prepareHelmEnvironment(projectDir, config.stack, config.cilium.repository);
    if (helm.stale) await pulumi.log.warn(`${helm.stale}; using the index fetched before`);
  } catch (e) {
    throw new pulumi.RunError(`stack ${config.stack}: ${(e as Error).message}`);
  }
}

export interface ProgramOptions {
  /**
   * The project directory (where Pulumi.yaml is, the providers' working directory), for a run of
   * the engine with real providers (index.ts, the driver): the stack's Helm environment is prepared
   * there first. Without it (under mocks: `unchain plan`, tests) nothing is fetched or written.
   */
  projectDir?: string;
  /** The stage of a reverse step to run instead of the stack's phase (the driver's `advance --rollback`). */
  goingBack?: GoingBack;
}

/**
 * Refuses to run a phase below the one the stack's backend says is applied (its own `appliedPhase`
 * output, read through a StackReference to itself): running an earlier phase is no way back (a
 * `pulumi up` of phase 4 on a phase-5 cluster puts NoExecute back on populated cilium pools and
 * evicts all their pods at once), whether a merged pull request lowered `unchain:phase` or someone
 * ran `pulumi up` by hand. The one way back is a reverse step, stage by stage with its drains, which
 * only the driver asks for (`unchain advance --rollback`, `config.goingBack`). Only with the real
 * engine (`projectDir` given): the offline plan has no backend.
 */
export async function refuseGoingBack(config: ClusterConfig): Promise<void> {
  const self = new pulumi.StackReference(`${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`);
  const applied: unknown = await self.getOutputValue("appliedPhase");
  const halfRaw: unknown = await self.getOutputValue("goingBack");
  const half = isGoingBack(halfRaw) ? halfRaw : undefined;
  if (!isPhaseNumber(applied)) return;
  const why = goingBackRefusal(config, applied, half);
  if (!why) {
    if (half && !config.goingBack)
      await pulumi.log.warn(`${describeStage(half)} was applied and the step not finished: this up applies phase ${config.phase} as it is, undoing that step (unchain advance --rollback finishes the step instead)`);
    return;
  }
  if (config.goingBack) throw new pulumi.RunError(`stack ${config.stack}: ${why}; nothing was changed.`);
  // The one way past: the cluster was taken back by hand, step by step, and the stack is to record it.
  const ack = `${config.stack}:${config.phase}`;
  if (process.env.UNCHAIN_ROLLED_BACK === ack) {
    await pulumi.log.warn(`UNCHAIN_ROLLED_BACK=${ack}: phase ${config.phase} is applied on a stack that was at ${applied}, as the cluster was taken back by hand`);
    return;
  }
  throw new pulumi.RunError(
    [
      `stack ${config.stack}: Pulumi.${config.stack}.yaml says unchain:phase ${config.phase}, but phase ${applied} is applied (the backend's state). Running phase ${config.phase} would not undo phase ${applied}; nothing was changed.`,
      describeReverse(applied, config.phase),
      `To go back, run unchain advance -s ${config.stack} --to ${config.phase} --rollback (it takes each step above with its drains and gates), or put unchain:phase back to ${applied}. See "Going back" in the README. Only if the cluster was taken back to phase ${config.phase} by hand, step by step as above, run again with UNCHAIN_ROLLED_BACK=${ack} so that the stack records it.`,
    ].join("\n"),
  );
}

export async function clusterProgram(opts: ProgramOptions = {}): Promise<StackOutputs> {
  const config = loadCheckedConfig(opts.projectDir, opts.goingBack);
  if (opts.projectDir) await refuseGoingBack(config);
  if (opts.projectDir) await withHelmEnvironment(config, opts.projectDir);
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
  const k8sProvider = kubernetesProvider(config, kubeconfig);

  const cluster = new ClusterAtPhase(
    config.clusterName,
    {
      config,
      aws: awsHalf({ clusterName, ...(nodeRoleArn ? { nodeRoleArn } : {}), ...(subnetsByAz ? { subnetsByAz } : {}) }),
      kubernetes: kubernetesHalf(),
      ...(oidcProviderArn ? { oidcProviderArn } : {}),
    },
    { providers: { aws: awsProvider, kubernetes: k8sProvider } },
  );
  return {
    clusterName: pulumi.output(clusterName),
    appliedPhase: cluster.applied,
    ...(goingBackOutput(config) ? { goingBack: goingBackOutput(config)! } : {}),
    nodeGroups: cluster.nodeGroupNames,
    ciliumRelease: cluster.state.cilium?.release ?? "none",
    awsNode: cluster.state.awsNode ? "present" : "absent",
  };
}
