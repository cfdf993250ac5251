import * as pulumi from "@pulumi/pulumi";
import { ClusterConfig } from "../config/types";
import { desiredState, PhaseState, PoolState } from "../steps/desired";
import { Values } from "../steps/values";
import { PhaseNumber } from "../steps/phases";
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

    if (state.cilium) {
      // The values depend on the operator role's ARN when unchain creates it; recompute them from the
      // same desired state once the ARN is known, so there is one builder of values.
      const values: pulumi.Input<Values> =
        this.operatorRole && state.cilium.release === "eni"
          ? this.operatorRole.arn.apply((arn) => desiredState(config, config.phase, { operatorRoleArn: arn }).cilium!.values)
          : state.cilium.values;
      this.cilium = new CiliumRelease(
        `${name}-cilium-${state.cilium.release}`,
        { state: state.cilium, repository: config.cilium.repository, values },
        { ...child, ...(this.operatorRole ? { dependsOn: [this.operatorRole] } : {}) },
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
    for (const [key, groups] of byPool) {
      const role = groups[0].role;
      if (role === "cilium") continue;
      const adopted = groups.every((g) => g.importId !== undefined);
      this.pools.push(make(key, groups, adopted ? [] : role === "aws" ? [...placement, ...ciliumPools] : placement));
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
      ...this.agents.map((a) => a.chart.resources),
    ];
    this.applied = pulumi.all(done).apply(() => state.phase);
    this.registerOutputs({});
  }
}
