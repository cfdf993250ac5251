import * as pulumi from "@pulumi/pulumi";
import { ClusterConfig } from "../config/types";
import { CREATED_OPERATOR_ROLE, desiredState, PhaseState, PoolState } from "../steps/desired";
import { Values } from "../steps/values";
import { PhaseNumber } from "../steps/phases";
import { CarriedSecret } from "./carriedSecret";
import { CiliumRelease } from "./ciliumRelease";
import { NodeAgent } from "./nodeAgent";
import { NodePool } from "./nodePool";
import { CiliumOperatorRole } from "./operatorRole";
import { VpcCniAddon } from "./vpcCniAddon";

export interface ClusterAtPhaseArgs {
  config: ClusterConfig;
  clusterName: pulumi.Input<string>;
  /** Node role of groups that name none (a sandbox's). */
  nodeRoleArn?: pulumi.Input<string>;
  /** For a created operator role: the cluster's IAM OIDC provider. */
  oidcProviderArn?: pulumi.Input<string>;
  subnetsByAz?: Record<string, pulumi.Input<string>[]>;
}

/**
 * One cluster at the phase its config names: node pools, the vpc-cni add-on, the Cilium release and
 * what they need, all derived from `desiredState(config, phase)`.
 *
 * Ordering the invariants rely on (steps/invariants.ts):
 * - pools unchain creates depend on the Cilium release and the add-on, so their nodes come up under
 *   the phase's DaemonSet placement and unmanaged-pod watcher setting;
 * - aws pools depend on cilium pools, so in phase 5 aws pools close only after cilium pools opened.
 */
export class ClusterAtPhase extends pulumi.ComponentResource {
  public readonly state: PhaseState;
  public readonly pools: NodePool[] = [];
  public readonly cilium?: CiliumRelease;
  public readonly vpcCni?: VpcCniAddon;
  public readonly operatorRole?: CiliumOperatorRole;
  public readonly carriedCa?: CarriedSecret;
  public readonly agents: NodeAgent[] = [];
  /**
   * The phase, once every resource of it is in place: the stack output `appliedPhase` is this, so a
   * failed or interrupted update never records the phase as applied.
   */
  public readonly applied: pulumi.Output<PhaseNumber>;

  constructor(name: string, args: ClusterAtPhaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("unchain:index:ClusterAtPhase", name, {}, opts);
    const { config } = args;
    const state = desiredState(config, config.phase);
    this.state = state;
    const child = { parent: this };

    // A role unchain creates (an existing one's ARN is in the values already).
    const role = config.cilium.operatorRole;
    if (role?.kind === "create" && state.operatorRole) {
      const oidc = role.oidcProviderArn ?? args.oidcProviderArn;
      if (!oidc) throw new pulumi.RunError(`stack ${config.stack}: unchain:ciliumOperatorRole says create, but no OIDC provider ARN is known; set unchain:ciliumOperatorRole.oidcProviderArn`);
      this.operatorRole = new CiliumOperatorRole(`${name}-cilium-operator`, { oidcProviderArn: oidc }, child);
    }

    if (state.awsNode) {
      this.vpcCni = new VpcCniAddon(`${name}-vpc-cni`, { clusterName: args.clusterName, state: state.awsNode }, child);
    }

    if (state.carriedCa) this.carriedCa = new CarriedSecret(`${name}-cilium-ca`, state.carriedCa, child);

    if (state.cilium) {
      // An Output only at the leaf that holds it (the ARN of a role created in the same phase): it is
      // unknown in a preview, and the rest of the values can still be read and gated.
      const values = withLeaves(state.cilium.values, [[["eni", "iamRole"], CREATED_OPERATOR_ROLE, this.operatorRole?.arn]]);
      this.cilium = new CiliumRelease(
        `${name}-cilium-${state.cilium.release}`,
        { state: state.cilium, repository: config.cilium.repository, values },
        { ...child, dependsOn: [...(this.operatorRole ? [this.operatorRole] : []), ...(this.carriedCa?.restored ? [this.carriedCa.restored] : [])] },
      );
    }

    const byPool = new Map<string, PoolState[]>();
    for (const p of state.pools) byPool.set(`${p.role}-${p.pool}`, [...(byPool.get(`${p.role}-${p.pool}`) ?? []), p]);
    const placement = [this.cilium, this.vpcCni].filter((r): r is CiliumRelease | VpcCniAddon => r !== undefined);
    const make = (key: string, groups: PoolState[], after: pulumi.Resource[]) =>
      new NodePool(`${name}-${key}`, { clusterName: args.clusterName, ...(args.nodeRoleArn ? { nodeRoleArn: args.nodeRoleArn } : {}), groups, subnetsByAz: args.subnetsByAz, after }, child);
    const ciliumPools: NodePool[] = [];
    for (const [key, groups] of byPool) {
      if (groups[0].role !== "cilium") continue;
      ciliumPools.push(make(key, groups, placement));
    }
    // Every pool depends on the placement: new groups come up under it, and where both go in one phase
    // (chained pools and the chained release in 2, aws pools and the add-on in 6) Pulumi deletes the
    // dependents first, so the node groups go before what runs on them.
    for (const [key, groups] of byPool) {
      const role = groups[0].role;
      if (role === "cilium") continue;
      this.pools.push(make(key, groups, role === "aws" ? [...placement, ...ciliumPools] : placement));
    }
    this.pools.push(...ciliumPools);

    for (const agent of state.nodeAgents) {
      const agentConfig = config.nodeAgents.find((a) => a.name === agent.name)!;
      this.agents.push(new NodeAgent(`${name}-${agent.name}`, { agent: agentConfig, roles: agent.roles }, child));
    }
    const done: pulumi.Input<unknown>[] = [
      ...this.pools.flatMap((p) => p.nodeGroups.map((n) => n.id)),
      ...(this.vpcCni ? [this.vpcCni.addon.id] : []),
      ...(this.cilium ? [this.cilium.release.id] : []),
      ...(this.operatorRole ? [this.operatorRole.arn] : []),
      ...(this.carriedCa ? [this.carriedCa.copy.id, ...(this.carriedCa.restored ? [this.carriedCa.restored.id] : [])] : []),
      ...this.agents.map((a) => a.chart.resources),
    ];
    this.applied = pulumi.all(done).apply(() => state.phase);
    this.registerOutputs({});
  }
}

/** `values` with each placeholder at its path replaced by the Output that holds the real value (where there is one). */
function withLeaves(values: Values, leaves: Array<[string[], string, pulumi.Output<string> | undefined]>): pulumi.Input<Values> {
  const out = JSON.parse(JSON.stringify(values)) as Record<string, unknown>;
  for (const [path, placeholder, output] of leaves) {
    if (!output) continue;
    let o: Record<string, unknown> | undefined = out;
    for (const p of path.slice(0, -1)) o = o && typeof o[p] === "object" && o[p] !== null ? (o[p] as Record<string, unknown>) : undefined;
    if (o && o[path[path.length - 1]] === placeholder) o[path[path.length - 1]] = output;
  }
  return out;
}
