import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { NodeAgentConfig } from "../config/types";
import { PoolRole } from "../steps/roles";
import { pinDaemonSets } from "./daemonSetAffinity";

export interface NodeAgentArgs {
  agent: NodeAgentConfig;
  /** Roles with pools in this phase that the agent follows. */
  roles: PoolRole[];
  after?: pulumi.Resource[];
}

/**
 * A chart of node agents that must follow the CNI (e.g. node-local DNS built for iptables on aws
 * pools and for a Local Redirect Policy on cilium pools). Rendered with `helm.v4.Chart` so its
 * DaemonSets are Pulumi resources, placed by the `pinDaemonSets` transform.
 */
export class NodeAgent extends pulumi.ComponentResource {
  public readonly chart: k8s.helm.v4.Chart;

  constructor(name: string, args: NodeAgentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("unchain:index:NodeAgent", name, {}, opts);
    this.chart = new k8s.helm.v4.Chart(
      `${name}-chart`,
      {
        chart: args.agent.chart,
        version: args.agent.version,
        repositoryOpts: { repo: args.agent.repository },
        namespace: args.agent.namespace,
        values: args.agent.values,
      },
      { parent: this, dependsOn: args.after ?? [], transforms: [pinDaemonSets(args.roles)] },
    );
    this.registerOutputs({});
  }
}
