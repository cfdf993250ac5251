/**
 * The test charts (test/fixtures/charts) packaged by the real `helm` and served over HTTP as a chart
 * repository — what `repositoryOpts.repo` of a release names — and a Helm environment of the test's
 * own (HELM_*_HOME), so that nothing touches a user's Helm configuration.
 */
import { execFile, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { PROJECT } from "./helpers";

export const CHARTS = path.join(PROJECT, "test", "fixtures", "charts");

let helmBinary: string | undefined;
/** The helm CLI, from scripts/ensure-helm.sh: on PATH, or built once into the cache. */
export function ensureHelm(): string {
  if (!helmBinary) helmBinary = execFileSync(path.join(PROJECT, "scripts", "ensure-helm.sh"), { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], timeout: 30 * 60_000 }).trim();
  return helmBinary;
}

let providerDir: string | undefined;
/** The folder holding pulumi-resource-kubernetes, from scripts/ensure-k8s-provider.sh. */
export function ensureKubernetesProvider(): string {
  if (!providerDir) providerDir = execFileSync(path.join(PROJECT, "scripts", "ensure-k8s-provider.sh"), { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], timeout: 60 * 60_000 }).trim();
  return providerDir;
}

export interface ChartRepo {
  url: string;
  /** HELM_* variables of a Helm home of the test's own. */
  env: Record<string, string>;
  /** `helm <args>` in that environment, asynchronously (the repository is served from this process); rejects with helm's stderr. */
  helm(args: string[], extraEnv?: Record<string, string>): Promise<string>;
  stop(): Promise<void>;
}

export async function serveCharts(): Promise<ChartRepo> {
  const helm = ensureHelm();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-charts-"));
  const repoDir = path.join(dir, "repo");
  fs.mkdirSync(repoDir);
  const env = {
    HELM_CACHE_HOME: path.join(dir, "cache"),
    HELM_CONFIG_HOME: path.join(dir, "config"),
    HELM_DATA_HOME: path.join(dir, "data"),
  };
  const run = (args: string[], extraEnv: Record<string, string> = {}) => {
    try {
      return execFileSync(helm, args, { encoding: "utf8", env: { ...process.env, ...env, ...extraEnv }, stdio: ["ignore", "pipe", "pipe"] });
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new Error(`helm ${args.join(" ")}: ${err.stderr || err.message}`);
    }
  };
  for (const chart of fs.readdirSync(CHARTS).filter((c) => fs.existsSync(path.join(CHARTS, c, "Chart.yaml")))) run(["package", path.join(CHARTS, chart), "--destination", repoDir]);
  const runAsync = (args: string[], extraEnv: Record<string, string> = {}) =>
    new Promise<string>((resolve, reject) =>
      execFile(helm, args, { encoding: "utf8", env: { ...process.env, ...env, ...extraEnv } }, (err, stdout, stderr) => (err ? reject(new Error(`helm ${args.join(" ")}: ${stderr || err.message}`)) : resolve(stdout))),
    );

  const server = http.createServer((req, res) => {
    const file = path.join(repoDir, path.basename(decodeURIComponent((req.url ?? "/").split("?")[0])));
    if (!fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "Content-Type": file.endsWith(".yaml") ? "application/yaml" : "application/gzip" });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  run(["repo", "index", repoDir, "--url", url]);
  return {
    url,
    env,
    helm: runAsync,
    stop: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
