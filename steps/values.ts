/**
 * What unchain hands to others, as pure functions: the Cilium chart's Helm values for the chained and
 * the ENI release, and the vpc-cni add-on's configurationValues. User overrides are merged over ours;
 * affinities are then narrowed to the phase's roles, so an override can add to them but never drop
 * the role pin. The invariants read the placement back out of these final values.
 */
import { ClusterConfig } from "../config/types";
import { Affinity, pinToRoles, Placement, Toleration } from "./affinity";
import { CiliumRelease, PHASES, PhaseNumber, PhaseSpec } from "./phases";
import { PoolRole } from "./roles";

export type Values = Record<string, unknown>;

const isPlainObject = (v: unknown): v is Values => typeof v === "object" && v !== null && !Array.isArray(v);

/** Deep merge, `over` winning; lists are replaced, not concatenated (as Helm does with values files). */
export function deepMerge(base: Values, over: Values): Values {
  const out: Values = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = isPlainObject(v) && isPlainObject(out[k]) ? deepMerge(out[k] as Values, v) : v;
  }
  return out;
}

/** The chart's default agent affinity: one agent per node. Setting `affinity` replaces it, so keep it. */
export const CILIUM_AGENT_DEFAULT_AFFINITY: Affinity = {
  podAntiAffinity: {
    requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: { "k8s-app": "cilium" } } }],
  },
};

/** The chart's default cilium-envoy affinity (1.16+): beside an agent, once per node, not on no-schedule nodes. */
export const CILIUM_ENVOY_DEFAULT_AFFINITY: Affinity = {
  podAntiAffinity: {
    requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: { "k8s-app": "cilium-envoy" } } }],
  },
  podAffinity: {
    requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: { "k8s-app": "cilium" } } }],
  },
  nodeAffinity: {
    requiredDuringSchedulingIgnoredDuringExecution: {
      nodeSelectorTerms: [{ matchExpressions: [{ key: "cilium.io/no-schedule", operator: "NotIn", values: ["true"] }] }],
    },
  },
};

/** Agent, envoy and aws-node tolerate every taint by default: affinity alone keeps them to their pools. */
export const TOLERATE_ALL: Toleration[] = [{ operator: "Exists" }];

/**
 * The vpc-cni chart's default aws-node affinity (v1.18). Setting `affinity` in configurationValues
 * replaces it, so unchain keeps these terms and adds `cni In [aws]`.
 */
export const AWS_NODE_DEFAULT_AFFINITY: Affinity = {
  nodeAffinity: {
    requiredDuringSchedulingIgnoredDuringExecution: {
      nodeSelectorTerms: [
        {
          matchExpressions: [
            { key: "kubernetes.io/os", operator: "In", values: ["linux"] },
            { key: "kubernetes.io/arch", operator: "In", values: ["amd64", "arm64"] },
            { key: "eks.amazonaws.com/compute-type", operator: "NotIn", values: ["fargate"] },
          ],
        },
      ],
    },
  },
};

function chartAtLeast(version: string, major: number, minor: number): boolean {
  const [a, b] = version.split(".").map((x) => Number.parseInt(x, 10));
  return a > major || (a === major && b >= minor);
}

/**
 * Keys unchain sets that the chart's values schema (1.20-dev) does not list, each with why it is set
 * all the same. The chart reads both with `hasKey` in `templates/cilium-configmap.yaml`.
 */
export const KEYS_OUTSIDE_SCHEMA: Readonly<Record<string, string>> = {
  egressMasqueradeInterfaces:
    "ENI mode on charts before 1.18 masquerades egress only through the interfaces named here (docs: eth+); the key was removed from the chart after masquerading became off by default with ENI in 1.18.",
  policyAuditMode:
    "policy audit while pool roles are mixed (Cilium's migration guide does the same); the chart turns it into policy-audit-mode in cilium-config, though neither values.yaml nor its schema documents the key.",
};

/** Structural equality of plain data (JSON values). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => deepEqual(a[k], b[k]));
  }
  return false;
}

/**
 * What a masquerading ENI agent must be told of the node's interfaces on charts before 1.18: `eth+`
 * on Amazon Linux 2, `ens+` on Amazon Linux 2023 and Bottlerocket (Cilium 1.16/1.17 ENI install docs).
 */
export function egressInterfacesOf(amiTypes: Array<string | undefined>): string {
  return amiTypes.every((t) => t !== undefined && t.startsWith("AL2_")) ? "eth+" : "ens+";
}

/** A Cilium cluster name from an EKS one: lowercase letters, digits and '-', at most 32 (Cilium's `cluster.name` rule). */
export function ciliumClusterName(eksName: string): string {
  return (
    eksName
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, "-")
      .replace(/^-+/, "")
      .slice(0, 32)
      .replace(/-+$/, "") || "default"
  );
}

export interface OurValuesInput {
  release: CiliumRelease;
  chartVersion: string;
  /** Subnets the ENI IPAM may allocate from (pinned, per the Cilium ENI docs). */
  subnetIds: string[];
  /** IRSA role of the operator, annotated on its service account. */
  operatorRoleArn?: string;
  /** AMI types of the cilium pools' node groups (for `egressMasqueradeInterfaces`). */
  amiTypes: Array<string | undefined>;
  clusterName: string;
}

/** What unchain itself sets in a release it installs (a sandbox's chained release; the ENI release). */
export function ourReleaseValues(input: OurValuesInput): Values {
  return input.release === "chained"
    ? {
        // https://docs.cilium.io/en/stable/installation/cni-chaining-aws-cni/
        cni: { chainingMode: "aws-cni", exclusive: false },
        enableIPv4Masquerade: false,
        routingMode: "native",
      }
    : {
        // https://docs.cilium.io/en/stable/network/concepts/ipam/eni/
        eni: { enabled: true, subnetIDsFilter: input.subnetIds, ...(input.operatorRoleArn ? { iamRole: input.operatorRoleArn } : {}) },
        ipam: { mode: "eni" },
        routingMode: "native",
        ...(chartAtLeast(input.chartVersion, 1, 18) ? {} : { egressMasqueradeInterfaces: egressInterfacesOf(input.amiTypes) }),
        // Without it the operator may garbage-collect ENIs of other Cilium clusters in the account (pkg/ipam/allocator/aws).
        cluster: { name: ciliumClusterName(input.clusterName) },
      };
}

/**
 * Keys of the chained release that belong to chaining on aws-cni (or to where the chained agent
 * runs), not to the cluster: they are not carried to the ENI release, which sets its own.
 */
export const CHAINING_ONLY_KEYS: readonly string[] = [
  "cni.chainingMode",
  "cni.chainingTarget",
  "cni.exclusive",
  "enableIPv4Masquerade",
  "endpointRoutes",
  "tunnel",
  "tunnelProtocol",
  "routingMode",
  "autoDirectNodeRoutes",
  "ipam",
  "eni",
  "egressMasqueradeInterfaces",
  "affinity",
  "envoy.affinity",
  "operator.unmanagedPodWatcher",
  "operator.rollOutPods",
  "rollOutCiliumPods",
  "policyAuditMode",
];

/** The chained release's values without what belongs to chaining: what the ENI release carries (cluster name and id, Hubble, encryption, ClusterMesh, ...). */
export function carriedValues(chained: Values): Values {
  const out = JSON.parse(JSON.stringify(chained)) as Values;
  for (const path of CHAINING_ONLY_KEYS) {
    const parts = path.split(".");
    let o: unknown = out;
    for (const p of parts.slice(0, -1)) o = isPlainObject(o) ? o[p] : undefined;
    if (isPlainObject(o)) delete o[parts[parts.length - 1]];
  }
  // Emptied sections (`cni: {}`) say nothing.
  for (const k of Object.keys(out)) if (isPlainObject(out[k]) && Object.keys(out[k] as Values).length === 0) delete out[k];
  return out;
}

export interface PhaseSettings {
  roles: PoolRole[];
  unmanagedPodWatcherRestart: boolean;
  policyAuditMode: boolean;
}

/**
 * What a phase owns in a Cilium release (steps/phases.ts RELEASE_*): where its agent and
 * cilium-envoy run (both narrowed to the phase's roles, whatever else the affinity says), the
 * unmanaged-pod watcher, policy audit mode, and rolling the operator and the agents on a change of
 * their ConfigMap: they read it at start, so without the roll the running operator would keep the
 * old watcher setting (chart `operator.rollOutPods`, `rollOutCiliumPods`, default false).
 */
export function withPhaseSettings(values: Values, s: PhaseSettings): Values {
  const operator = isPlainObject(values.operator) ? values.operator : {};
  const watcher = isPlainObject(operator.unmanagedPodWatcher) ? operator.unmanagedPodWatcher : {};
  const envoy = isPlainObject(values.envoy) ? values.envoy : {};
  return {
    ...values,
    operator: { ...operator, rollOutPods: true, unmanagedPodWatcher: { ...watcher, restart: s.unmanagedPodWatcherRestart } },
    rollOutCiliumPods: true,
    policyAuditMode: s.policyAuditMode,
    affinity: pinToRoles((values.affinity as Affinity | undefined) ?? CILIUM_AGENT_DEFAULT_AFFINITY, s.roles),
    envoy: { ...envoy, affinity: pinToRoles((envoy.affinity as Affinity | undefined) ?? CILIUM_ENVOY_DEFAULT_AFFINITY, s.roles) },
  };
}

/**
 * The Helm values of the phase's Cilium release.
 * - A release that ran when the cluster was adopted: exactly the values Helm recorded in the phase it
 *   was adopted at (so its import reads back what is declared); in later phases, those values with
 *   what the phase owns.
 * - A release unchain installs: for the ENI release, what still applies of the chained release's
 *   values (`carriedValues`); then unchain's values, the stack's `ciliumValues` (common, then per
 *   release), and what the phase owns.
 */
export function ciliumReleaseValues(config: ClusterConfig, spec: PhaseSpec, operatorRoleArn: string | undefined): Values {
  if (spec.cilium.release === "none") return {};
  const { release, roles, unmanagedPodWatcherRestart, policy } = spec.cilium;
  const live = config.cilium.live?.mode === release ? config.cilium.live : undefined;
  // Where one role remains, enforcement returns: the team's own audit setting where it shows (a release
  // adopted where one role ran: phase 0), else off. A release adopted in a mixed phase audits because the runbook says so.
  const teamAudit = config.adoptedPhase === 0 && config.cilium.live?.values.policyAuditMode === true;
  const settings: PhaseSettings = { roles, unmanagedPodWatcherRestart, policyAuditMode: policy === "audit" ? true : teamAudit };
  // Each phase after the release appeared changes what it owns of it, and nothing else.
  const settingsAt = (q: PhaseNumber): PhaseSettings => {
    const c = PHASES[q].cilium;
    if (c.release === "none") return settings;
    return { roles: c.roles, unmanagedPodWatcherRestart: c.unmanagedPodWatcherRestart, policyAuditMode: c.policy === "audit" ? true : teamAudit };
  };
  const laterPhases = (from: number, base: Values): Values => {
    let v = base;
    for (let q = from + 1; q <= spec.phase; q++) {
      const owns = PHASES[q].allowed.filter((a) => a.kind === "ciliumRelease" && a.release === release && a.ops.includes("update")).flatMap((a) => a.owns ?? []);
      if (owns.length) v = withOwned(v, withPhaseSettings(v, settingsAt(q as PhaseNumber)), owns);
    }
    return v;
  };
  if (live) return laterPhases(config.adoptedPhase, live.values);
  const created = PHASES.find((p) => p.phase >= config.adoptedPhase && p.cilium.release === release)!.phase;
  const carried = release === "eni" && config.cilium.live?.mode === "chained" ? carriedValues(config.cilium.live.values) : {};
  const ours = ourReleaseValues({
    release,
    chartVersion: config.cilium.chartVersion,
    subnetIds: config.availabilityZones.flatMap((a) => a.subnetIds),
    ...(operatorRoleArn ? { operatorRoleArn } : {}),
    amiTypes: config.pools.filter((p) => p.role === "cilium").flatMap((p) => p.groups.map((g) => g.amiType)),
    clusterName: config.clusterName,
  });
  // A cluster name the team gave stays (ClusterMesh knows the cluster by it).
  const withName = isPlainObject(carried.cluster) && (carried.cluster as Values).name !== undefined ? deepMerge(ours, { cluster: carried.cluster as Values }) : ours;
  const o = config.cilium.values;
  const atCreation = withPhaseSettings(deepMerge(deepMerge(deepMerge(carried, withName), o.common), release === "chained" ? o.chained : o.eni), settingsAt(created));
  return laterPhases(created, atCreation);
}

/** The name of the copy of a release's CA Secret. */
export function carriedCaName(source: string): string {
  return `unchain-carried-${source}`;
}

/** `values` with the `owns` paths (`values.<path>`) taken from `from`. */
export function withOwned(values: Values, from: Values, owns: readonly string[]): Values {
  const out = JSON.parse(JSON.stringify(values)) as Values;
  for (const o of owns) {
    if (!o.startsWith("values.")) continue;
    const parts = o.slice("values.".length).split(".");
    let src: unknown = from;
    for (const p of parts) src = isPlainObject(src) ? src[p] : undefined;
    let dst: Values = out;
    for (const p of parts.slice(0, -1)) {
      if (!isPlainObject(dst[p])) dst[p] = {};
      dst = dst[p] as Values;
    }
    if (src === undefined) delete dst[parts[parts.length - 1]];
    else dst[parts[parts.length - 1]] = src;
  }
  return out;
}

/** The agent's and envoy's placement as the chart would render them from `values`. */
export function ciliumPlacements(values: Values): { agent: Placement; envoy: Placement } {
  const envoy = isPlainObject(values.envoy) ? values.envoy : {};
  const nodeSelector = (v: unknown) => (isPlainObject(v) ? (v as Record<string, string>) : { "kubernetes.io/os": "linux" });
  return {
    agent: {
      affinity: values.affinity as Affinity | undefined,
      nodeSelector: nodeSelector(values.nodeSelector),
      tolerations: (values.tolerations as Toleration[] | undefined) ?? TOLERATE_ALL,
    },
    envoy: {
      affinity: envoy.affinity as Affinity | undefined,
      nodeSelector: nodeSelector(envoy.nodeSelector),
      tolerations: (envoy.tolerations as Toleration[] | undefined) ?? TOLERATE_ALL,
    },
  };
}

export function unmanagedPodWatcherRestart(values: Values): boolean {
  const operator = isPlainObject(values.operator) ? values.operator : {};
  const watcher = isPlainObject(operator.unmanagedPodWatcher) ? operator.unmanagedPodWatcher : {};
  return watcher.restart === undefined ? true : watcher.restart === true;
}

/**
 * configurationValues of the vpc-cni add-on. `roles: "all"` keeps the add-on's default placement
 * (no affinity key at all, as in phases 0-2); a role list writes the default affinity narrowed to it.
 */
export function vpcCniConfigurationValues(roles: "all" | PoolRole[], overrides: Values): Values {
  if (roles === "all") return { ...overrides };
  const base = (overrides.affinity as Affinity | undefined) ?? AWS_NODE_DEFAULT_AFFINITY;
  return { ...overrides, affinity: pinToRoles(base, roles) };
}

export function awsNodePlacement(configurationValues: Values): Placement {
  return {
    affinity: (configurationValues.affinity as Affinity | undefined) ?? AWS_NODE_DEFAULT_AFFINITY,
    tolerations: (configurationValues.tolerations as Toleration[] | undefined) ?? TOLERATE_ALL,
  };
}
