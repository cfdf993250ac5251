/**
 * The world of the walk (test/walk.test.ts): one cluster on the real engine, with the real Kubernetes half: the real
 * pulumi-kubernetes provider and real Helm releases against a real API server. The AWS half (node
 * groups, the add-on, the operator role) is the simulation of test/fixtures/simProgram.ts, which does
 * to the API server what EKS would (nodes join and leave, aws-node follows the add-on's affinity);
 * test/kubeControllers.ts plays the controllers and kubelets the API server lacks.
 *
 * As a team would have it: the chained release installed with `helm install`, then `unchain adopt`
 * (real AWS SDK against test/fakeAws.ts, real Kubernetes reads), then `unchain advance` phase by phase.
 * After each phase the live objects are held to what unchain computed offline.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as k8s from "@kubernetes/client-node";
import { stringify } from "yaml";
import { loadStack } from "../config/load";
import { ClusterConfig } from "../config/types";
import { validateStackConfig } from "../config/validate";
import { PhaseState } from "../steps/desired";
import { providersOnNode } from "../steps/invariants";
import { PhaseNumber } from "../steps/phases";
import { ChartRepo, ensureKubernetesProvider, serveCharts } from "./chartRepo";
import { BIN, ensurePulumi, PASSPHRASE, SIM_PROGRAM } from "./driverHarness";
import { FakeAws } from "./fakeAws";
import { driverEnvironment } from "../automation/driver/environment";
import { openStack } from "../automation/driver/stacks";
import { program as simProgram, simEks } from "./fixtures/simProgram";
import { liveCluster, LiveClusterFixture } from "./fixtures/liveClusters";
import { PROJECT } from "./helpers";
import { StandInControllers } from "./kubeControllers";
import { ApiServer, startApiServer } from "./kubeHarness";
import { fits } from "./scheduling";

const STACK = "walk-eu-west-1";
const ACCOUNT = "210987654321";
const KEYS = { AKIAWALK000000000001: { account: ACCOUNT, secret: "walk-secret" } };
const OPERATOR_ROLE = `arn:aws:iam::${ACCOUNT}:role/walk-cilium-operator`;
/** What the team set beyond the runbook: every one must survive every phase that does not own it. */
const TEAM_VALUES = { cluster: { name: "walk", id: 7 }, hubble: { enabled: true, relay: { enabled: true } }, encryption: { enabled: true, type: "wireguard" } };
const TEAM_ADDON = { env: { ENABLE_PREFIX_DELEGATION: "true", WARM_PREFIX_TARGET: "1" } };

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export interface WalkWorld {
  api: ApiServer;
  repo: ChartRepo;
  aws: FakeAws;
  controllers: StandInControllers;
  dir: string;
  live: LiveClusterFixture;
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

/** Runs bin/unchain.js in the walk's project, asynchronously (the AWS endpoint and the controllers answer from this process). */
export function unchainIn(world: WalkWorld, args: string[], extra: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) =>
    execFile(process.execPath, [BIN, ...args, "-C", world.dir], { env: { ...world.env, ...extra }, encoding: "utf8", maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

export function advance(world: WalkWorld, to: number, extra: NodeJS.ProcessEnv = {}): Promise<Run> {
  return unchainIn(world, ["advance", "-s", STACK, "--to", String(to), "--yes", "--json", "--skip-health-gates", "--program", SIM_PROGRAM], extra);
}

/** `unchain advance` as a person runs it: the plain report, not JSON lines. */
export function advancePlain(world: WalkWorld, to: number, extra: NodeJS.ProcessEnv = {}): Promise<Run> {
  return unchainIn(world, ["advance", "-s", STACK, "--to", String(to), "--yes", "--skip-health-gates", "--program", SIM_PROGRAM], extra);
}

/** Runs `fn` while the stack's kubeconfig (the file the program's provider reads) says something else. */
export async function withKubeconfig<T>(world: WalkWorld, edit: (kc: KubeconfigFile) => void, fn: () => Promise<T>): Promise<T> {
  const file = path.join(world.dir, "kubeconfig");
  const original = fs.readFileSync(file, "utf8");
  const kc = JSON.parse(original) as KubeconfigFile;
  edit(kc);
  fs.writeFileSync(file, JSON.stringify(kc));
  try {
    return await fn();
  } finally {
    fs.writeFileSync(file, original);
  }
}

export interface KubeconfigFile {
  clusters: Array<{ name: string; cluster: { server: string } }>;
  users: Array<{ name: string; user: Record<string, string> }>;
}

/**
 * A token for ServiceAccount default/deployer, which may do anything in namespace `default` and
 * nothing in kube-system: credentials scoped to the wrong namespace.
 */
export async function namespaceScopedToken(kc: k8s.KubeConfig): Promise<string> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  await core.createNamespacedServiceAccount({ namespace: "default", body: { metadata: { name: "deployer" } } });
  await rbac.createNamespacedRole({ namespace: "default", body: { metadata: { name: "deployer" }, rules: [{ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }] } });
  await rbac.createNamespacedRoleBinding({
    namespace: "default",
    body: { metadata: { name: "deployer" }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "deployer" }, subjects: [{ kind: "ServiceAccount", name: "deployer", namespace: "default" }] },
  });
  const t = await core.createNamespacedServiceAccountToken({ name: "deployer", namespace: "default", body: { spec: { audiences: [], expirationSeconds: 3600 } } });
  return t.status!.token;
}

/**
 * Marks the latest Helm record of `release` as `pending-upgrade`, as an upgrade killed half-way leaves
 * it (Helm's Secret driver: label `status`, and the release JSON gzipped and base64-encoded inside the
 * Secret's `release` key). Returns what puts the record back.
 */
export async function markPendingUpgrade(kc: k8s.KubeConfig, release: string, namespace: string): Promise<() => Promise<void>> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const records = (await core.listNamespacedSecret({ namespace, labelSelector: `owner=helm,name=${release}` })).items;
  const latest = records.sort((a, b) => Number(b.metadata!.labels!.version) - Number(a.metadata!.labels!.version))[0];
  const zlib = await import("node:zlib");
  const decode = (data: string) => JSON.parse(zlib.gunzipSync(Buffer.from(Buffer.from(data, "base64").toString("utf8"), "base64")).toString("utf8")) as { info: { status: string } };
  const encode = (r: unknown) => Buffer.from(zlib.gzipSync(Buffer.from(JSON.stringify(r))).toString("base64")).toString("base64");
  const original = { data: latest.data!.release, status: latest.metadata!.labels!.status };
  const rel = decode(original.data);
  rel.info.status = "pending-upgrade";
  const name = latest.metadata!.name!;
  const put = (data: string, status: string) =>
    core.patchNamespacedSecret({ name, namespace, body: { metadata: { labels: { status } }, data: { release: data } } }, k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch));
  await put(encode(rel), "pending-upgrade");
  return async () => {
    await put(original.data, original.status);
  };
}

export function configOf(world: WalkWorld, phase?: number): ClusterConfig {
  const { config, problems } = validateStackConfig(STACK, loadStack(world.dir, STACK).raw);
  if (!config) throw new Error(JSON.stringify(problems));
  return phase === undefined ? config : { ...config, phase: phase as PhaseNumber };
}

/**
 * The cluster as a team runs it before unchain: chained node groups whose nodes joined, aws-node from
 * the add-on, the chained release installed with `helm install`, Cilium's CRDs and a policy; then
 * adopted with `unchain adopt`, two node agents added to the stack file, and the simulated EKS
 * holding the adopted node groups and add-on.
 */
export async function walkWorld(): Promise<WalkWorld> {
  const pulumi = ensurePulumi();
  const providerDir = ensureKubernetesProvider();
  const repo = await serveCharts();
  const api = await startApiServer();
  const aws = new FakeAws({ keys: KEYS, roles: {}, clusters: [] });
  await aws.start();
  const controllers = new StandInControllers(api.kubeconfig);
  controllers.start();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-walk-"));
  const stop = async () => {
    await controllers.stop();
    await api.stop();
    await aws.stop();
    await repo.stop();
    if (!process.env.UNCHAIN_KEEP_WALK) fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const live = liveCluster({
      name: STACK,
      region: "eu-west-1",
      account: ACCOUNT,
      azs: ["a", "b"],
      phase: 0,
      style: "terraform",
      chained: [{ name: "general", instanceTypes: ["m6i.xlarge"], size: [2, 4, 6] }],
      chartVersion: "1.16.6",
      values: TEAM_VALUES,
      addonConfig: TEAM_ADDON,
    });
    aws.world.clusters = [live.aws];
    fs.copyFileSync(path.join(PROJECT, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
    fs.writeFileSync(path.join(dir, "waves.yaml"), stringify({ waves: [{ name: "walk", stacks: [STACK], concurrency: 1, onFailure: "stop" }] }));
    const kc = JSON.parse(fs.readFileSync(api.kubeconfigFile, "utf8"));
    kc.contexts[0].name = STACK;
    kc["current-context"] = STACK;
    const kubeconfig = path.join(dir, "kubeconfig");
    fs.writeFileSync(kubeconfig, JSON.stringify(kc));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...aws.env("AKIAWALK000000000001"),
      ...repo.env,
      AWS_CONFIG_FILE: path.join(dir, "aws-config"),
      AWS_SHARED_CREDENTIALS_FILE: path.join(dir, "aws-credentials"),
      AWS_PROFILE: "",
      KUBECONFIG: kubeconfig,
      UNCHAIN_PULUMI: pulumi,
      PULUMI_CONFIG_PASSPHRASE: PASSPHRASE,
      PULUMI_HOME: path.join(dir, ".pulumi-home"),
      PULUMI_SKIP_UPDATE_CHECK: "true",
      // The real provider, found on PATH (an ambient plugin); nothing is downloaded.
      PATH: [providerDir, process.env.PATH].join(path.delimiter),
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      UNCHAIN_OPERATOR: "test-operator",
      UNCHAIN_SIM_LEDGER: path.join(dir, "ledger.jsonl"),
      UNCHAIN_SIM_KUBECONFIG: kubeconfig,
      UNCHAIN_SIM_EKS_KUBECONFIG: api.kubeconfigFile,
      CI: "1",
    };
    delete env.PULUMI_BACKEND_URL;
    const world: WalkWorld = { api, repo, aws, controllers, dir, live, env, stop };

    // What EKS made: the chained groups' nodes (with Cilium's startup taint, which the agent lifts) and aws-node.
    const g = live.aws.nodeGroups[0];
    const zones = g.subnets.map((s) => live.aws.subnets.find((x) => x.subnetId === s)!.availabilityZone);
    await simEks(kubeconfig, "create", { stack: STACK, kind: "nodeGroup", nodeGroupName: g.nodegroupName, labels: g.labels, taints: g.taints, availabilityZones: zones, desiredSize: g.scalingConfig.desiredSize, amiType: g.amiType, capacityType: g.capacityType, instanceTypes: g.instanceTypes });
    await simEks(kubeconfig, "create", { stack: STACK, kind: "addon", addonVersion: live.aws.addon!.addonVersion, configurationValues: live.aws.addon!.configurationValues });
    // The team's release, installed by hand.
    const valuesFile = path.join(dir, "team-values.json");
    fs.writeFileSync(valuesFile, JSON.stringify(live.release!.values));
    await repo.helm(["install", "cilium", "cilium", "--repo", repo.url, "--version", "1.16.6", "--namespace", "kube-system", "--values", valuesFile, "--kubeconfig", kubeconfig, "--wait", "--timeout", "3m"]);
    const custom = api.kubeconfig.makeApiClient(k8s.CustomObjectsApi);
    await custom.createNamespacedCustomObject({
      group: "cilium.io",
      version: "v2",
      namespace: "default",
      plural: "ciliumnetworkpolicies",
      body: { apiVersion: "cilium.io/v2", kind: "CiliumNetworkPolicy", metadata: { name: "dns-egress" }, spec: { endpointSelector: {}, egress: [{ toEndpoints: [{ matchLabels: { "k8s:io.kubernetes.pod.namespace": "kube-system", "k8s-app": "kube-dns" } }] }] } },
    });

    const adopted = await unchainIn(world, ["adopt", "--cluster", STACK, "--region", "eu-west-1", "--operator-role-arn", OPERATOR_ROLE]);
    if (adopted.code !== 0) throw new Error(`unchain adopt failed:\n${adopted.stdout}\n${adopted.stderr}`);
    const file = path.join(dir, `Pulumi.${STACK}.yaml`);
    const agents = [
      { name: "node-cache", chart: "node-agent", version: "0.3.0", repository: repo.url, namespace: "kube-system", roles: ["chained", "aws"] },
      { name: "node-cache-lrp", chart: "node-agent", version: "0.3.0", repository: repo.url, namespace: "kube-system", values: { metrics: { enabled: false } }, roles: ["cilium"] },
    ];
    // Where the team's Cilium chart comes from (the test's chart repository), and two node agents.
    fs.appendFileSync(file, `  unchain:ciliumRepository: ${repo.url}\n  unchain:nodeAgents:\n${stringify(agents).replace(/^(?=.)/gm, "    ")}`);

    await seedSimulatedAws(world);
    return world;
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * What the simulated EKS holds of the adopted cluster, put into the stack's state (simProgram.ts,
 * UNCHAIN_SIM_SEED): dynamic resources cannot be imported, so the adopted node groups and add-on are
 * created under the names the program gives them, and phase 0's `import` of them is a no-op.
 */
async function seedSimulatedAws(world: WalkWorld): Promise<void> {
  const env = driverEnvironment(world.dir, world.env);
  const forCli = Object.fromEntries(Object.entries(world.env).filter(([k, v]) => v !== undefined && /^(PULUMI_|UNCHAIN_|KUBECONFIG$|HELM_|NODE_PATH$)/.test(k))) as Record<string, string>;
  const program = async () => {
    process.env.UNCHAIN_SIM_SEED = "1";
    try {
      return await simProgram({ projectDir: world.dir });
    } finally {
      delete process.env.UNCHAIN_SIM_SEED;
    }
  };
  const stack = await openStack({ ...env, envVars: { ...env.envVars, ...forCli, UNCHAIN_SIM_SEED: "1" } }, STACK, program);
  await stack.up();
}

// ---- reading the live cluster ----

export interface LiveView {
  nodes: k8s.V1Node[];
  daemonSets: k8s.V1DaemonSet[];
  pods: k8s.V1Pod[];
  ciliumConfig?: Record<string, string>;
}

export async function liveView(kc: k8s.KubeConfig): Promise<LiveView> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const [nodes, daemonSets, pods, cm] = await Promise.all([
    core.listNode(),
    apps.listDaemonSetForAllNamespaces(),
    core.listPodForAllNamespaces(),
    core.readNamespacedConfigMap({ name: "cilium-config", namespace: "kube-system" }).catch(() => undefined),
  ]);
  return { nodes: nodes.items, daemonSets: daemonSets.items, pods: pods.items, ...(cm ? { ciliumConfig: cm.data ?? {} } : {}) };
}

/** The IPAM providers whose DaemonSet's pod the scheduler's rules put on `node`. */
export function liveProviders(v: LiveView, node: k8s.V1Node): string[] {
  const on = v.pods.filter((p) => p.spec?.nodeName === node.metadata!.name);
  const out: string[] = [];
  const ds = (name: string) => v.daemonSets.find((d) => d.metadata!.namespace === "kube-system" && d.metadata!.name === name);
  // As the DaemonSet controller asks it: the other pods on the node, not the DaemonSet's own.
  const places = (d: k8s.V1DaemonSet) => fits(d.spec!.template.spec!, "kube-system", node, on.filter((p) => !(p.metadata?.ownerReferences ?? []).some((o) => o.uid === d.metadata!.uid)), { daemonSet: true });
  const awsNode = ds("aws-node");
  if (awsNode && places(awsNode)) out.push("aws-node");
  const cilium = ds("cilium");
  if (cilium && v.ciliumConfig?.ipam === "eni" && places(cilium)) out.push("cilium-eni");
  return out;
}

/** Per node: [what the live DaemonSets give it, what the invariants computed offline for its pool]. */
export function ipamByNode(v: LiveView, state: PhaseState): Array<{ node: string; live: string[]; offline: string[] | undefined }> {
  return v.nodes.map((n) => {
    const pool = state.pools.find((p) => p.nodeGroupName === n.metadata!.labels!["eks.amazonaws.com/nodegroup"]);
    // Offline, for a node of exactly this one's labels (its AZ, instance type, …) in its pool.
    return { node: n.metadata!.name!, live: liveProviders(v, n), offline: pool ? providersOnNode({ labels: n.metadata!.labels ?? {}, taints: pool.taints }, state) : undefined };
  });
}

