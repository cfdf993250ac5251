import * as pulumi from "@pulumi/pulumi";
import { ClusterConfig } from "../config/types";
import { CREATED_OPERATOR_ROLE, PhaseState, PoolState } from "../steps/desired";
import { appliedPhaseFor, programState } from "../steps/reverse";
import { PhaseNumber } from "../steps/phases";
import { Values } from "../steps/values";
import { AwsHalf, KubernetesHalf, Made } from "./halves";

export interface ClusterAtPhaseArgs {
  config: ClusterConfig;
  /** The AWS half: node groups, the add-on, the operator role (components/halves.ts). */
  aws: AwsHalf;
  /** The Kubernetes half: the Cilium release, its CA, the node agents. */
  kubernetes: KubernetesHalf;
  /** For a created operator role: the cluster's IAM OIDC provider. */
  oidcProviderArn?: pulumi.Input<string>;
}

/**
 * One cluster at the phase its config names: node pools, the vpc-cni add-on, the Cilium release and
 * what they need, all derived from `desiredState(config, phase)`, each made by the half whose API
 * holds it.
 *
 * Ordering the invariants rely on (steps/invariants.ts), across the halves:
 * - the operator role before the ENI release that names it; the CA restored before the ENI release
 *   that reuses it;
 * - pools unchain creates depend on the Cilium release and the add-on, so their nodes come up under
 *   the phase's DaemonSet placement and unmanaged-pod watcher setting;
 * - aws pools depend on cilium pools, so in phase 5 aws pools close only after cilium pools opened
 *   (going back, the other way round: in 5→4 aws pools reopen before cilium pools close);
 * - every pool depends on the placement: where both go in one phase (chained pools and the chained
 *   release in 2, aws pools and the add-on in 6) Pulumi deletes dependents first, so the node groups
 *   go before what runs on them.
 */
export class ClusterAtPhase extends pulumi.ComponentResource {
  public readonly state: PhaseState;
  /** Names of the node groups the phase declares. */
  public readonly nodeGroupNames: pulumi.Output<string[]>;
  /**
   * The phase, once every resource of it is in place: the stack output `appliedPhase` is this, so a
   * failed or interrupted update never records the phase as applied.
   */
  public readonly applied: pulumi.Output<PhaseNumber>;

  constructor(name: string, args: ClusterAtPhaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("unchain:index:ClusterAtPhase", name, {}, opts);
    const { config } = args;
    const state = programState(config);
    this.state = state;
    const at = (after: pulumi.Resource[] = []) => ({ parent: this, after });
    const made: Made[] = [];
    const keep = <T extends Made>(m: T): T => (made.push(m), m);

    // A role unchain creates (an existing one's ARN is in the values already).
    const role = config.cilium.operatorRole;
    let operatorRole: (Made & { arn: pulumi.Output<string> }) | undefined;
    if (role?.kind === "create" && state.operatorRole) {
      const oidc = role.oidcProviderArn ?? args.oidcProviderArn;
      if (!oidc) throw new pulumi.RunError(`stack ${config.stack}: unchain:ciliumOperatorRole says create, but no OIDC provider ARN is known; set unchain:ciliumOperatorRole.oidcProviderArn`);
      operatorRole = keep(args.aws.operatorRole(`${name}-cilium-operator`, oidc, at()));
    }

    const vpcCni = state.awsNode ? keep(args.aws.vpcCni(`${name}-vpc-cni`, state.awsNode, at())) : undefined;

    const ca = state.carriedCa ? args.kubernetes.carriedCa(`${name}-cilium-ca`, state.carriedCa, at()) : undefined;
    if (ca) [ca.copy, ...(ca.restored ? [ca.restored] : [])].forEach(keep);

    let cilium: Made | undefined;
    if (state.cilium) {
      // An Output only at the leaf that holds it (the ARN of a role created in the same phase): it is
      // unknown in a preview, and the rest of the values can still be read and gated.
      const release = state.cilium.release;
      const secret = secretPaths(config.secretKeys, [/^unchain:ciliumRelease\.values\./, new RegExp(`^unchain:ciliumValues\\.(common|${release})\\.`)]);
      const values = asSecretAt(withLeaves(state.cilium.values, [[["eni", "iamRole"], CREATED_OPERATOR_ROLE, operatorRole?.arn]]) as Values, secret);
      cilium = keep(
        args.kubernetes.ciliumRelease(
          `${name}-cilium-${state.cilium.release}`,
          { state: state.cilium, repository: config.cilium.repository, values },
          at([...(operatorRole?.resources ?? []), ...(ca?.restored?.resources ?? [])]),
        ),
      );
    }

    const byPool = new Map<string, PoolState[]>();
    for (const p of state.pools) byPool.set(`${p.role}-${p.pool}`, [...(byPool.get(`${p.role}-${p.pool}`) ?? []), p]);
    const placement = [...(cilium?.resources ?? []), ...(vpcCni?.resources ?? [])];
    const pools: Array<Made & { nodeGroupNames: pulumi.Output<string[]> }> = [];
    // Forward, cilium pools change first, so that in phase 5 aws pools close only after cilium pools
    // opened; going back (5→4) the other way round: aws pools reopen before cilium pools close.
    const first = config.goingBack ? "aws" : "cilium";
    const firstPools: pulumi.Resource[] = [];
    for (const [key, groups] of byPool) {
      if (groups[0].role !== first) continue;
      const p = keep(args.aws.nodePool(`${name}-${key}`, groups, at(placement)));
      pools.push(p);
      firstPools.push(...p.resources);
    }
    for (const [key, groups] of byPool) {
      const role = groups[0].role;
      if (role === first) continue;
      pools.push(keep(args.aws.nodePool(`${name}-${key}`, groups, at(role === "aws" || role === "cilium" ? [...placement, ...firstPools] : placement))));
    }

    for (const agent of state.nodeAgents) {
      const i = config.nodeAgents.findIndex((a) => a.name === agent.name);
      const own = config.nodeAgents[i];
      const agentConfig = { ...own, values: asSecretAt(own.values, secretPaths(config.secretKeys, [new RegExp(`^unchain:nodeAgents\\[${i}\\]\\.values\\.`)])) as Values };
      keep(args.kubernetes.nodeAgent(`${name}-${agent.name}`, agentConfig, agent.roles, at()));
    }
    this.nodeGroupNames = pulumi.all(pools.map((p) => p.nodeGroupNames)).apply((n) => n.flat());
    const applied = appliedPhaseFor(config);
    this.applied = pulumi.all(made.flatMap((m) => m.done)).apply(() => applied);
    this.registerOutputs({});
  }
}

/** The value paths (`["hubble", "tls", "key"]`) of the secret keys under one of `prefixes`. */
export function secretPaths(keys: string[], prefixes: RegExp[]): string[][] {
  return keys.flatMap((k) => {
    const p = prefixes.find((re) => re.test(k));
    return p ? [k.replace(p, "").split(/\.|\[(\d+)\]/).filter((x) => x !== undefined && x !== "")] : [];
  });
}

/**
 * `values` with the leaf at each path made a Pulumi secret: the engine encrypts it in the state and
 * shows `[secret]` in previews and update plans, and the rest of the values stay readable to the gate.
 */
export function asSecretAt(values: Values, paths: string[][]): Values {
  return paths.reduce<Values>((v, p) => replaceAt(v, p, (leaf) => pulumi.secret(leaf)) as Values, values);
}

/** `values` with each placeholder at its path replaced by the Output that holds the real value (where there is one). */
function withLeaves(values: Values, leaves: Array<[string[], string, pulumi.Output<string> | undefined]>): pulumi.Input<Values> {
  return leaves.reduce<Values>((v, [path, placeholder, output]) => (output ? (replaceAt(v, path, (leaf) => (leaf === placeholder ? output : leaf)) as Values) : v), values);
}

/**
 * `o` with the leaf at `path` replaced by `f(leaf)`, copied along the path only: other leaves may be
 * Outputs already (a created role's ARN). Where the path does not lead to a leaf, `o` as it is.
 */
function replaceAt(o: unknown, path: string[], f: (leaf: unknown) => unknown): unknown {
  if (!path.length) return f(o);
  if (typeof o !== "object" || o === null || !(path[0] in o)) return o;
  const copy: Record<string, unknown> = Array.isArray(o) ? ([...o] as unknown as Record<string, unknown>) : { ...(o as Record<string, unknown>) };
  copy[path[0]] = replaceAt(copy[path[0]], path.slice(1), f);
  return copy;
}
