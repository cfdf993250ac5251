/**
 * A real Kubernetes API server for the health-gate tests, the way envtest provides one: etcd and
 * kube-apiserver (from KUBEBUILDER_ASSETS, or built once by scripts/ensure-k8s.sh) on loopback, with
 * the server's own self-signed certificate, a static admin token, and the Cilium CRDs the gates read.
 * No controllers and no kubelets run: tests play their part (PDB status, pods leaving after eviction).
 */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as k8s from "@kubernetes/client-node";
import { PROJECT } from "./helpers";

let assets: string | undefined;
export function ensureKubeAssets(): string {
  if (!assets) assets = execFileSync(path.join(PROJECT, "scripts", "ensure-k8s.sh"), { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], timeout: 60 * 60_000 }).trim();
  return assets;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

export interface ApiServer {
  kubeconfig: k8s.KubeConfig;
  /** A kubeconfig file for the CLI (`unchain check --kubeconfig`). */
  kubeconfigFile: string;
  token: string;
  stop(): Promise<void>;
}

async function waitReady(kc: k8s.KubeConfig, proc: ChildProcess, log: () => string): Promise<void> {
  const api = kc.makeApiClient(k8s.CoreV1Api);
  const end = Date.now() + 120_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`kube-apiserver exited ${proc.exitCode}:\n${log().slice(-3000)}`);
    try {
      await api.listNamespace({ limit: 1 });
      await api.readNamespacedServiceAccount({ name: "default", namespace: "default" }).catch(() => undefined);
      return;
    } catch {
      if (Date.now() > end) throw new Error(`kube-apiserver not ready after 120 s:\n${log().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

const CRDS = [
  { plural: "ciliumendpoints", kind: "CiliumEndpoint", scope: "Namespaced", short: "cep" },
  { plural: "ciliumnodes", kind: "CiliumNode", scope: "Cluster", short: "cn" },
  { plural: "ciliumnetworkpolicies", kind: "CiliumNetworkPolicy", scope: "Namespaced", short: "cnp" },
  { plural: "ciliumclusterwidenetworkpolicies", kind: "CiliumClusterwideNetworkPolicy", scope: "Cluster", short: "ccnp" },
];

async function installCiliumCrds(kc: k8s.KubeConfig): Promise<void> {
  const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
  for (const c of CRDS) {
    await ext.createCustomResourceDefinition({
      body: {
        apiVersion: "apiextensions.k8s.io/v1",
        kind: "CustomResourceDefinition",
        metadata: { name: `${c.plural}.cilium.io` },
        spec: {
          group: "cilium.io",
          scope: c.scope,
          names: { plural: c.plural, singular: c.kind.toLowerCase(), kind: c.kind, shortNames: [c.short] },
          versions: [{ name: "v2", served: true, storage: true, schema: { openAPIV3Schema: { type: "object", x_kubernetes_preserve_unknown_fields: true } } }],
        },
      },
    });
  }
  const end = Date.now() + 30_000;
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  for (const c of CRDS) {
    for (;;) {
      try {
        await custom.listClusterCustomObject({ group: "cilium.io", version: "v2", plural: c.plural });
        break;
      } catch (e) {
        if (Date.now() > end) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
}

interface Proc {
  proc: ChildProcess;
  log: () => string;
}

function startProcess(cmd: string, args: string[]): Proc {
  let log = "";
  const proc = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  proc.stdout!.on("data", (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
  proc.stderr!.on("data", (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
  return { proc, log: () => log };
}

async function stopProcess(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null) return;
  const gone = new Promise((r) => p.once("exit", r));
  p.kill("SIGTERM");
  await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
  if (p.exitCode === null) p.kill("SIGKILL");
}

async function startEtcd(dir: string): Promise<{ url: string; etcd: Proc }> {
  const bin = ensureKubeAssets();
  const [etcdClient, etcdPeer] = [await freePort(), await freePort()];
  const etcd = startProcess(path.join(bin, "etcd"), [
    `--data-dir=${path.join(dir, "etcd")}`,
    `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
    `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
    `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
    `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
    "--unsafe-no-fsync",
    "--log-level=warn",
  ]);
  return { url: `http://127.0.0.1:${etcdClient}`, etcd };
}

/** One kube-apiserver on an etcd, its objects under `prefix` (several servers share one etcd this way). */
async function startServer(dir: string, etcdUrl: string, prefix: string, etcdLog: () => string, opts: { crds: boolean }): Promise<ApiServer & { proc: ChildProcess }> {
  const bin = ensureKubeAssets();
  fs.mkdirSync(dir, { recursive: true });
  const securePort = await freePort();
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048, publicKeyEncoding: { type: "spki", format: "pem" }, privateKeyEncoding: { type: "pkcs8", format: "pem" } });
  fs.writeFileSync(path.join(dir, "sa.key"), privateKey);
  fs.writeFileSync(path.join(dir, "sa.pub"), publicKey);
  const token = randomBytes(24).toString("hex");
  fs.writeFileSync(path.join(dir, "tokens.csv"), `${token},admin,admin,system:masters\n`);
  const certDir = path.join(dir, "certs");
  const apiserver = startProcess(path.join(bin, "kube-apiserver"), [
    `--etcd-servers=${etcdUrl}`,
    `--etcd-prefix=${prefix}`,
    `--cert-dir=${certDir}`,
    `--secure-port=${securePort}`,
    "--bind-address=127.0.0.1",
    "--advertise-address=127.0.0.1",
    // The kubernetes Service endpoint may not be a loopback address; nothing here needs it.
    "--endpoint-reconciler-type=none",
    `--token-auth-file=${path.join(dir, "tokens.csv")}`,
    "--authorization-mode=RBAC",
    `--service-account-key-file=${path.join(dir, "sa.pub")}`,
    `--service-account-signing-key-file=${path.join(dir, "sa.key")}`,
    "--service-account-issuer=https://unchain.test",
    "--service-cluster-ip-range=10.0.0.0/24",
    "--allow-privileged=true",
    // No controller manager creates the default ServiceAccount that this plugin demands of every pod.
    "--disable-admission-plugins=ServiceAccount",
    "--storage-media-type=application/json",
  ]);
  // The server writes its self-signed certificate into cert-dir at start.
  const crt = path.join(certDir, "apiserver.crt");
  const deadline = Date.now() + 60_000;
  while (!fs.existsSync(crt)) {
    if (apiserver.proc.exitCode !== null || Date.now() > deadline) throw new Error(`kube-apiserver did not start:\n${apiserver.log().slice(-3000)}\netcd:\n${etcdLog().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const kubeconfigFile = path.join(dir, "kubeconfig");
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "test", cluster: { server: `https://127.0.0.1:${securePort}`, "certificate-authority-data": fs.readFileSync(crt).toString("base64") } }],
    users: [{ name: "admin", user: { token } }],
    contexts: [{ name: "test", context: { cluster: "test", user: "admin" } }],
    "current-context": "test",
  };
  fs.writeFileSync(kubeconfigFile, JSON.stringify(config));
  const kubeconfig = new k8s.KubeConfig();
  kubeconfig.loadFromFile(kubeconfigFile);
  await waitReady(kubeconfig, apiserver.proc, apiserver.log);
  if (opts.crds) await installCiliumCrds(kubeconfig);
  return { kubeconfig, kubeconfigFile, token, proc: apiserver.proc, stop: () => stopProcess(apiserver.proc) };
}

export async function startApiServer(): Promise<ApiServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-kube-"));
  const { url, etcd } = await startEtcd(dir);
  const server = await startServer(path.join(dir, "server"), url, "/registry", etcd.log, { crds: true });
  return {
    ...server,
    stop: async () => {
      await stopProcess(server.proc);
      await stopProcess(etcd.proc);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * `n` API servers on one etcd, each its own cluster (its own etcd prefix): for the fleet, where each
 * of 29 clusters has its own Kubernetes API. Started `width` at a time.
 */
export async function startApiServers(n: number, width = 4): Promise<{ servers: ApiServer[]; stop(): Promise<void> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-kube-"));
  const { url, etcd } = await startEtcd(dir);
  const servers: Array<ApiServer & { proc: ChildProcess }> = new Array(n);
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: Math.min(width, n) }, async () => {
        for (let i = next++; i < n; i = next++) {
          // A free port can be taken between finding it and binding it when servers start side by side: try again once.
          const start = (attempt: number) => startServer(path.join(dir, `server-${i}-${attempt}`), url, `/cluster-${i}`, etcd.log, { crds: false });
          servers[i] = await start(0).catch(() => start(1));
        }
      }),
    );
  } catch (e) {
    await Promise.all(servers.filter(Boolean).map((s) => stopProcess(s.proc)));
    await stopProcess(etcd.proc);
    throw e;
  }
  return {
    servers,
    stop: async () => {
      await Promise.all(servers.map((s) => stopProcess(s.proc)));
      await stopProcess(etcd.proc);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
