/**
 * Health gates around a phase's `up`, and how unchain reaches a cluster's API server.
 *
 * Before phase N's up the cluster must be settled in phase N-1 (its `after` checks) and pass phase
 * N's own `before` checks; after the up it must pass phase N's `after` checks. Running the previous
 * phase's `after` checks again before each phase makes a resumed run check what a crash may have
 * skipped.
 */
import * as fs from "node:fs";
import * as k8s from "@kubernetes/client-node";
import { whereOf, withCluster } from "./access";
import { EnvironmentError, UserError } from "../../config/problems";
import { ClusterConfig } from "../../config/types";
import { desiredState, PhaseState } from "../../steps/desired";
import { GateStep, PHASES, PhaseNumber } from "../../steps/phases";
import { CheckResult, describeResults, gatePassed, runChecks } from "./checks";
import { readCluster } from "./cluster";

export interface KubeAccess {
  /** A kubeconfig file; default: KUBECONFIG, else ~/.kube/config. */
  kubeconfig?: string;
  /** Overrides the stack's context. */
  context?: string;
}

/**
 * The API server of a stack's cluster: the context `--context` names, else `unchain:cluster.kubeContext`,
 * else a context named after the cluster (`aws eks update-kubeconfig --name <cluster> --alias <cluster>`).
 * Never the kubeconfig's current context: that may be another cluster.
 */
export function kubeConfigFor(stack: string, config: ClusterConfig, access: KubeAccess = {}): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  const file = access.kubeconfig;
  if (file && !fs.existsSync(file)) throw new UserError(`--kubeconfig ${file}: no such file`);
  try {
    if (file) kc.loadFromFile(file);
    else kc.loadFromDefault();
  } catch (e) {
    const which = file ?? process.env.KUBECONFIG ?? "~/.kube/config";
    throw new EnvironmentError(`stack ${stack}: cannot read the kubeconfig ${which}: ${(e as Error).message.split("\n")[0]}. Point --kubeconfig or KUBECONFIG at a readable file.`);
  }
  const context = access.context ?? config.kubeContext ?? config.clusterName;
  if (!kc.getContextObject(context)) {
    const known = kc.getContexts().map((c) => c.name);
    throw new EnvironmentError(
      `stack ${stack}: no context "${context}" in the kubeconfig${file ? ` ${file}` : ""} (contexts: ${known.join(", ") || "none"}). ` +
        `Run aws eks update-kubeconfig --name ${config.clusterName} --region ${config.region} --alias ${context}, or set unchain:cluster.kubeContext in Pulumi.${stack}.yaml, or pass --context.`,
    );
  }
  kc.setCurrentContext(context);
  // The identity of the cluster the context reaches must be the stack's, as adopt read it (its endpoint).
  const server = kc.getCurrentCluster()?.server;
  const norm = (u: string) => u.trim().toLowerCase().replace(/:443(?=\/|$)/, "").replace(/\/+$/, "");
  if (config.endpoint && server && norm(server) !== norm(config.endpoint))
    throw new EnvironmentError(
      `stack ${stack}: context ${context} points at ${server}, but the stack's cluster ${config.clusterArn ?? config.clusterName} has the endpoint ${config.endpoint}: that is another cluster, and nothing was read. ` +
        `Use the context of ${config.clusterName} (aws eks update-kubeconfig --name ${config.clusterName} --region ${config.region} --alias ${context}), or run unchain adopt -s ${stack} if the cluster's endpoint changed.`,
    );
  return kc;
}

export type GateWhen = "before" | "after";

/** The checks of a gate, without its drains; before phase N also phase N-1's settled checks. */
export function gateSteps(phase: PhaseNumber, when: GateWhen): { steps: GateStep[]; statePhase: PhaseNumber } {
  if (when === "after" || phase === 0) return { steps: when === "after" ? PHASES[phase].after : PHASES[0].before, statePhase: phase };
  const prev = (phase - 1) as PhaseNumber;
  return { steps: mergeGateSteps(PHASES[prev].after, PHASES[phase].before), statePhase: prev };
}

/** The settled checks of where the cluster stands, then a step's own before checks, each once, in order. */
export function mergeGateSteps(settled: GateStep[], before: GateStep[]): GateStep[] {
  const steps: GateStep[] = [];
  const key = (s: GateStep) => (s.kind === "check" ? `${s.check}:${s.role ?? ""}` : `drain:${s.role}`);
  for (const s of [...settled, ...before]) if (!steps.some((x) => key(x) === key(s))) steps.push(s);
  return steps;
}

export interface GateRun {
  passed: boolean;
  results: CheckResult[];
  text: string;
}

/** Runs the checks of `steps` (drain steps only mark which role goes next) against the cluster now, in the state of a phase (or of a reverse step's stage). */
export async function runGateSteps(kc: k8s.KubeConfig, config: ClusterConfig, state: PhaseNumber | PhaseState, steps: GateStep[]): Promise<GateRun> {
  const snap = await withCluster(kc, `health gate of ${config.stack}`, () => readCluster(kc));
  const results = runChecks(snap, typeof state === "number" ? desiredState(config, state) : state, steps, config.awsPoolTaintKey);
  const { context, server } = whereOf(kc);
  return { passed: gatePassed(results), results, text: `cluster: context ${context}, server ${server}\n${describeResults(results)}` };
}

export async function runHealthGate(kc: k8s.KubeConfig, config: ClusterConfig, phase: PhaseNumber, when: GateWhen): Promise<GateRun> {
  const { steps, statePhase } = gateSteps(phase, when);
  return runGateSteps(kc, config, statePhase, steps);
}
