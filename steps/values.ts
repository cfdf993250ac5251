/**
 * What unchain hands to others, as pure functions: the Cilium chart's Helm values for the chained and
 * the ENI release, and the vpc-cni add-on's configurationValues. User overrides are merged over ours;
 * affinities are then narrowed to the phase's roles, so an override can add to them but never drop
 * the role pin. The invariants read the placement back out of these final values.
 */
import { ClusterConfig } from "../config/types";
import { Affinity, pinToRoles, Placement, Toleration } from "./affinity";
import { CiliumRelease, PhaseSpec } from "./phases";
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

/** Keys unchain sets that the current chart schema no longer has, with the reason they are still set. */
export const KEYS_FOR_OLDER_CHARTS: Readonly<Record<string, string>> = {
  egressMasqueradeInterfaces:
    "ENI mode on charts before 1.18 masquerades egress only through the interfaces named here (docs: eth+); the key was removed from the chart after masquerading became off by default with ENI in 1.18.",
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

/** What unchain itself sets in a release it installs (a sandbox's chained release; the ENI release). */
export function ourReleaseValues(release: CiliumRelease, chartVersion: string, subnetIds: string[], operatorRoleArn: string | undefined): Values {
  return release === "chained"
    ? {
        // https://docs.cilium.io/en/stable/installation/cni-chaining-aws-cni/
        cni: { chainingMode: "aws-cni", exclusive: false },
        enableIPv4Masquerade: false,
        routingMode: "native",
      }
    : {
        // https://docs.cilium.io/en/stable/network/concepts/ipam/eni/
        eni: { enabled: true, subnetIDsFilter: subnetIds, ...(operatorRoleArn ? { iamRole: operatorRoleArn } : {}) },
        ipam: { mode: "eni" },
        routingMode: "native",
        ...(chartAtLeast(chartVersion, 1, 18) ? {} : { egressMasqueradeInterfaces: "eth+" }),
      };
}

/**
 * What a phase owns in a Cilium release: where its agent and cilium-envoy run (both narrowed to the
 * phase's roles, whatever else the affinity says) and the unmanaged-pod watcher.
 */
export function withPhaseSettings(values: Values, roles: PoolRole[], unmanagedPodWatcherRestart: boolean): Values {
  const operator = isPlainObject(values.operator) ? values.operator : {};
  const watcher = isPlainObject(operator.unmanagedPodWatcher) ? operator.unmanagedPodWatcher : {};
  const envoy = isPlainObject(values.envoy) ? values.envoy : {};
  return {
    ...values,
    operator: { ...operator, unmanagedPodWatcher: { ...watcher, restart: unmanagedPodWatcherRestart } },
    affinity: pinToRoles((values.affinity as Affinity | undefined) ?? CILIUM_AGENT_DEFAULT_AFFINITY, roles),
    envoy: { ...envoy, affinity: pinToRoles((envoy.affinity as Affinity | undefined) ?? CILIUM_ENVOY_DEFAULT_AFFINITY, roles) },
  };
}

/**
 * The Helm values of the phase's Cilium release.
 * - A release that ran when the cluster was adopted: exactly the values Helm recorded in the phase it
 *   was adopted at (so its import reads back what is declared); in later phases, those values with
 *   what the phase owns.
 * - A release unchain installs: unchain's values, then the stack's `ciliumValues` (common, then per
 *   release), then what the phase owns.
 */
export function ciliumReleaseValues(config: ClusterConfig, spec: PhaseSpec, operatorRoleArn: string | undefined): Values {
  if (spec.cilium.release === "none") return {};
  const { release, roles, unmanagedPodWatcherRestart } = spec.cilium;
  const live = config.cilium.live?.mode === release ? config.cilium.live : undefined;
  if (live) return spec.phase === config.adoptedPhase ? live.values : withPhaseSettings(live.values, roles, unmanagedPodWatcherRestart);
  const ours = ourReleaseValues(release, config.cilium.chartVersion, config.availabilityZones.flatMap((a) => a.subnetIds), operatorRoleArn);
  const o = config.cilium.values;
  return withPhaseSettings(deepMerge(deepMerge(ours, o.common), release === "chained" ? o.chained : o.eni), roles, unmanagedPodWatcherRestart);
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
