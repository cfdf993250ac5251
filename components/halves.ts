/**
 * A cluster has two halves, behind two APIs: the AWS half (node groups, the vpc-cni add-on, the
 * operator's IAM role: the EKS and IAM APIs, through the AWS provider) and the Kubernetes half (the
 * Cilium release, the CA it carries, the node agents: the API server, through the Kubernetes
 * provider). `ClusterAtPhase` (components/cluster.ts) decides what each phase declares and in which
 * order; a half only makes the resources, each under its own component type.
 *
 * The halves are values so that each can be backed by what can reach its API: the program uses
 * `awsHalf` and `kubernetesHalf`; where AWS cannot be reached (unchain's own tests), the AWS half is a
 * simulation while the Kubernetes half stays the real one, against a real API server.
 */
import * as pulumi from "@pulumi/pulumi";
import { NodeAgentConfig } from "../config/types";
import { AwsNodeState, CarriedCaState, CiliumState, PoolState } from "../steps/desired";
import { PoolRole } from "../steps/roles";
import { Values } from "../steps/values";
import { CarriedSecret } from "./carriedSecret";
import { CiliumRelease } from "./ciliumRelease";
import { NodeAgent } from "./nodeAgent";
import { NodePool } from "./nodePool";
import { CiliumOperatorRole } from "./operatorRole";
import { VpcCniAddon } from "./vpcCniAddon";

/** What a half made: the resources later ones wait for, and what resolves once they are in place. */
export interface Made {
  resources: pulumi.Resource[];
  done: pulumi.Input<unknown>[];
}

/** Options every maker takes: the parent, and what must be in place before the new resources change. */
export interface MakeOptions {
  parent: pulumi.Resource;
  /** Passed to every resource made, not only to a component: children do not inherit a component's dependsOn. */
  after: pulumi.Resource[];
}

export interface AwsHalf {
  operatorRole(name: string, oidcProviderArn: pulumi.Input<string>, o: MakeOptions): Made & { arn: pulumi.Output<string> };
  vpcCni(name: string, state: AwsNodeState, o: MakeOptions): Made;
  nodePool(name: string, groups: PoolState[], o: MakeOptions): Made & { nodeGroupNames: pulumi.Output<string[]> };
}

export interface CiliumReleaseSpec {
  state: CiliumState;
  repository: string;
  /** Final Helm values; an Output only at the leaf that holds the ARN of a role unchain creates. */
  values: pulumi.Input<Values>;
}

export interface KubernetesHalf {
  carriedCa(name: string, state: CarriedCaState, o: MakeOptions): { copy: Made; restored?: Made };
  ciliumRelease(name: string, spec: CiliumReleaseSpec, o: MakeOptions): Made;
  nodeAgent(name: string, agent: NodeAgentConfig, roles: PoolRole[], o: MakeOptions): Made;
}

export interface AwsHalfArgs {
  clusterName: pulumi.Input<string>;
  /** Node role of groups that name none (a sandbox's). */
  nodeRoleArn?: pulumi.Input<string>;
  subnetsByAz?: Record<string, pulumi.Input<string>[]>;
}

/** The AWS half through the AWS provider (the parent's `aws` provider). */
export function awsHalf(args: AwsHalfArgs): AwsHalf {
  return {
    operatorRole(name, oidcProviderArn, o) {
      const r = new CiliumOperatorRole(name, { oidcProviderArn }, { parent: o.parent, dependsOn: o.after });
      return { resources: [r], done: [r.arn], arn: r.arn };
    },
    vpcCni(name, state, o) {
      const a = new VpcCniAddon(name, { clusterName: args.clusterName, state, after: o.after }, { parent: o.parent });
      return { resources: [a], done: [a.addon.id] };
    },
    nodePool(name, groups, o) {
      const p = new NodePool(name, { clusterName: args.clusterName, ...(args.nodeRoleArn ? { nodeRoleArn: args.nodeRoleArn } : {}), groups, subnetsByAz: args.subnetsByAz, after: o.after }, { parent: o.parent });
      return { resources: [p], done: p.nodeGroups.map((n) => n.id), nodeGroupNames: p.nodeGroupNames };
    },
  };
}

/** The Kubernetes half through the Kubernetes provider (the parent's `kubernetes` provider). */
export function kubernetesHalf(): KubernetesHalf {
  return {
    carriedCa(name, state, o) {
      const s = new CarriedSecret(name, { state, after: o.after }, { parent: o.parent });
      return {
        copy: { resources: [s.copy], done: [s.copy.id] },
        ...(s.restored ? { restored: { resources: [s.restored], done: [s.restored.id] } } : {}),
      };
    },
    ciliumRelease(name, spec, o) {
      const r = new CiliumRelease(name, { ...spec, after: o.after }, { parent: o.parent });
      return { resources: [r.release], done: [r.release.id] };
    },
    nodeAgent(name, agent, roles, o) {
      const a = new NodeAgent(name, { agent, roles, after: o.after }, { parent: o.parent });
      return { resources: [a.chart], done: [a.chart.resources] };
    },
  };
}
