/**
 * Reading a cluster through its Kubernetes API: the Cilium Helm release as Helm recorded it, and the
 * nodes of each node group.
 *
 * Helm 3 keeps each revision of a release in a Secret (or a ConfigMap, with HELM_DRIVER=configmap)
 * named `sh.helm.release.v1.<release>.v<revision>` in the release's namespace, labelled
 * `owner=helm`, `name=<release>`, `version=<revision>`, `status=<status>`; its `release` key holds the
 * release as gzipped JSON, base64-encoded (inside the Secret's own base64). The JSON's `config` is
 * what the team supplied (`helm get values`), `chart.metadata` names the chart and its version.
 * helm/helm `pkg/storage/driver/secrets.go`, `util.go` (`encodeRelease`), `pkg/release/release.go`.
 */
import { gunzipSync, gzipSync } from "node:zlib";
import * as k8s from "@kubernetes/client-node";
import { UserError } from "../config/problems";
import { listAll } from "../automation/health/cluster";
import { LiveHelmRelease, LiveNodes, scrubValues } from "./snapshot";

/** What a Helm release record holds, the fields unchain reads. */
export interface ReleaseRecord {
  name?: string;
  namespace?: string;
  version?: number;
  info?: { status?: string };
  chart?: { metadata?: { name?: string; version?: string; appVersion?: string } };
  config?: Record<string, unknown> | null;
}

/** The release JSON from a record's `release` value (base64 of gzip, or of plain JSON). */
export function decodeRelease(encoded: string): ReleaseRecord {
  const raw = Buffer.from(encoded, "base64");
  const json = raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw;
  return JSON.parse(json.toString("utf8")) as ReleaseRecord;
}

/** A release as Helm would store it (for tests and fixtures that stage a release by hand). */
export function encodeRelease(r: ReleaseRecord): string {
  return gzipSync(Buffer.from(JSON.stringify(r))).toString("base64");
}

export const HELM_DRIVER_LABELS = { owner: "helm" } as const;

/** A failure of the Kubernetes API as a message that names the context, the server and the fix. */
export function kubeError(e: unknown, kc: k8s.KubeConfig, action: string): UserError {
  const ctx = kc.getCurrentContext();
  const server = kc.getCurrentCluster()?.server ?? "?";
  const err = e as { code?: number | string; message?: string; body?: unknown; cause?: { code?: string } };
  const status = typeof err.code === "number" ? err.code : undefined;
  const where = `${action} through context ${ctx} (${server})`;
  if (status === 401) return new UserError(`${where}: unauthorized (401); the credentials of the context were refused. Log in again (aws sso login, or aws eks update-kubeconfig) and run again.`);
  if (status === 403) return new UserError(`${where}: forbidden (403): ${String((err.body as { message?: string } | undefined)?.message ?? err.message)}. adopt needs list on secrets and nodes (cluster-wide).`);
  const text = `${err.cause?.code ?? ""} ${err.message ?? ""}`;
  if (/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|certificate|self-signed/i.test(text)) return new UserError(`${where}: cannot reach the API server (${(err.message ?? "").split("\n")[0]}). Check the VPN, the endpoint and the context.`);
  return new UserError(`${where}: ${(err.message ?? String(e)).split("\n")[0]}`);
}

/** The latest revision of every release of chart `chart` (default: cilium), from the Secret and ConfigMap drivers. */
export async function readHelmReleases(kc: k8s.KubeConfig, chart = "cilium"): Promise<LiveHelmRelease[]> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const selector = "owner=helm";
  let records: Array<{ data?: Record<string, string>; labels: Record<string, string>; kind: "secret" | "configmap" }>;
  try {
    const secrets = await listAll((cont) => core.listSecretForAllNamespaces({ labelSelector: selector, limit: 500, ...(cont ? { _continue: cont } : {}) }));
    const maps = await listAll((cont) => core.listConfigMapForAllNamespaces({ labelSelector: selector, limit: 500, ...(cont ? { _continue: cont } : {}) }));
    records = [
      ...secrets.map((s) => ({ ...(s.data ? { data: s.data } : {}), labels: s.metadata?.labels ?? {}, kind: "secret" as const })),
      // A ConfigMap holds the same base64 text, not base64 of it.
      ...maps.map((m) => ({ ...(m.data?.release ? { data: { release: Buffer.from(m.data.release).toString("base64") } } : {}), labels: m.metadata?.labels ?? {}, kind: "configmap" as const })),
    ];
  } catch (e) {
    throw kubeError(e, kc, "reading the Helm releases");
  }
  const latest = new Map<string, ReleaseRecord>();
  for (const r of records) {
    const b64 = r.data?.release;
    if (!b64) continue;
    let rel: ReleaseRecord;
    try {
      // Secret data arrives base64-encoded by Kubernetes; inside is Helm's own base64 text.
      rel = decodeRelease(Buffer.from(b64, "base64").toString("utf8"));
    } catch {
      continue;
    }
    if (rel.chart?.metadata?.name !== chart) continue;
    const key = `${rel.namespace}/${rel.name}`;
    if ((latest.get(key)?.version ?? -1) < (rel.version ?? 0)) latest.set(key, rel);
  }
  const caOf = async (rel: ReleaseRecord): Promise<string | undefined> => {
    // The chart's CA Secret (templates/cilium-ca-secret.yaml, "cilium.ca.setup"); this release's when Helm's ownership metadata says so.
    const ca = await core.readNamespacedSecret({ name: "cilium-ca", namespace: rel.namespace ?? "kube-system" }).catch((e: { code?: number }) => {
      if (e.code === 404) return undefined;
      throw kubeError(e, kc, "reading the Cilium CA Secret");
    });
    const a = ca?.metadata?.annotations ?? {};
    return ca && a["meta.helm.sh/release-name"] === rel.name && a["meta.helm.sh/release-namespace"] === rel.namespace ? "cilium-ca" : undefined;
  };
  const cas = new Map<ReleaseRecord, string | undefined>();
  for (const rel of latest.values()) cas.set(rel, await caOf(rel));
  return [...latest.values()]
    .map((rel) => {
      const { values, paths } = scrubValues(rel.config ?? {});
      return {
        name: rel.name ?? "",
        namespace: rel.namespace ?? "",
        revision: rel.version ?? 0,
        status: rel.info?.status ?? "unknown",
        chart: rel.chart?.metadata?.name ?? chart,
        chartVersion: rel.chart?.metadata?.version ?? "",
        ...(rel.chart?.metadata?.appVersion ? { appVersion: rel.chart.metadata.appVersion } : {}),
        values,
        ...(paths.length ? { secretPaths: paths } : {}),
        ...(cas.get(rel) ? { caSecret: cas.get(rel) } : {}),
      };
    })
    .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
}

/** Per node group (label eks.amazonaws.com/nodegroup): how many nodes, how many Ready, their cni labels and taints. */
export async function readNodes(kc: k8s.KubeConfig): Promise<LiveNodes[]> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  let nodes: k8s.V1Node[];
  try {
    nodes = await listAll((cont) => core.listNode({ limit: 2000, ...(cont ? { _continue: cont } : {}) }));
  } catch (e) {
    throw kubeError(e, kc, "listing the nodes");
  }
  const groups = new Map<string, LiveNodes>();
  for (const n of nodes) {
    const group = n.metadata?.labels?.["eks.amazonaws.com/nodegroup"];
    if (!group) continue;
    const g = groups.get(group) ?? { nodeGroup: group, count: 0, ready: 0, cniLabels: [], taints: [] };
    g.count++;
    if (n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")) g.ready++;
    const cni = n.metadata?.labels?.cni;
    if (cni !== undefined && !g.cniLabels.includes(cni)) g.cniLabels.push(cni);
    for (const t of n.spec?.taints ?? []) {
      const s = `${t.key}${t.value ? `=${t.value}` : ""}:${t.effect}`;
      if (!g.taints.includes(s)) g.taints.push(s);
    }
    groups.set(group, g);
  }
  return [...groups.values()].map((g) => ({ ...g, cniLabels: g.cniLabels.sort(), taints: g.taints.sort() })).sort((a, b) => a.nodeGroup.localeCompare(b.nodeGroup));
}

/** `namespace/name` of every SecurityGroupPolicy (the VPC resource controller's CRD; none where it is not installed). */
export async function readSecurityGroupPolicies(kc: k8s.KubeConfig): Promise<string[]> {
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  try {
    const items = await listAll((cont) => custom.listClusterCustomObject({ group: "vpcresources.k8s.aws", version: "v1beta1", plural: "securitygrouppolicies", limit: 500, ...(cont ? { _continue: cont } : {}) }) as Promise<{ items: Array<{ metadata: { namespace?: string; name: string } }>; metadata?: { continue?: string } }>);
    return items.map((p) => `${p.metadata.namespace}/${p.metadata.name}`).sort();
  } catch (e) {
    if ((e as { code?: number }).code === 404) return [];
    throw kubeError(e, kc, "listing SecurityGroupPolicies");
  }
}
