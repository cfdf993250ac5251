/**
 * The Cilium chart repository as Helm on this machine sees it: a Helm environment of the stack's own
 * (`.unchain/helm/<stack>/`: a repositories.yaml naming one repository, and that repository's index
 * in the cache, as `helm repo add` and `helm repo update` leave them), which the stack's Kubernetes
 * provider uses (`helmReleaseSettings`).
 *
 * Why: a Helm release records its chart's name and version, never where the chart came from. When
 * the provider imports a running release it looks for that chart in the locally configured
 * repositories and reads the chart back as `<repository name>/<chart>` (pulumi-kubernetes
 * `provider/pkg/provider/helm_release.go`, `importRelease` and `searchHelmRepositories`); an import
 * whose declared chart differs fails, and `repositoryOpts` is never read back at all, so the
 * engine's Check of the read-back inputs cannot find the chart ("non-absolute URLs should be in form
 * of repo_name/path_to_chart"; pulumi/pulumi-kubernetes issue 3502). With one repository in the
 * stack's environment the import reads back exactly the reference the program declares, in the
 * adopting step and every later one.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as path from "node:path";
import { parse, stringify } from "yaml";

/** Paths as the provider's `helmReleaseSettings` takes them, relative to the project (the provider's working directory). */
export function helmSettingsOf(stack: string): { repositoryConfigPath: string; repositoryCache: string } {
  const base = path.posix.join(".unchain", "helm", stack);
  return { repositoryConfigPath: path.posix.join(base, "repositories.yaml"), repositoryCache: path.posix.join(base, "cache") };
}

/**
 * The name the stack's Helm environment gives the repository: its host and path, readable in a
 * preview (`helm.cilium.io/cilium`), with a short digest where the URL has more than Helm allows in a name.
 */
export function repositoryName(url: string): string {
  const u = new URL(url);
  const plain = `${u.host}${u.pathname}`.replace(/\/+$/, "").replace(/[^A-Za-z0-9._-]+/g, "_");
  return plain.length <= 48 ? plain : `${plain.slice(0, 39)}-${createHash("sha256").update(url).digest("hex").slice(0, 8)}`;
}

/** The chart reference the release declares and an import reads back. */
export function chartReference(repositoryUrl: string, chart = "cilium"): string {
  return `${repositoryName(repositoryUrl)}/${chart}`;
}

function get(url: string, redirects = 5): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const client = url.startsWith("https:") ? https : http;
    const req = client.get(url, { timeout: 30_000 }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location && redirects > 0) {
        res.resume();
        get(new URL(res.headers.location, url).toString(), redirects - 1).then(resolve, reject);
        return;
      }
      if (status !== 200) {
        res.resume();
        reject(new Error(`HTTP ${status}`));
        return;
      }
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve(Buffer.concat(chunks)));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("no answer in 30 s")));
    req.on("error", reject);
  });
}

export interface HelmEnvironment {
  repositoryName: string;
  /** Absolute paths of what was written. */
  repositoryConfig: string;
  index: string;
  /** Set where the index could not be fetched and the one fetched before is used. */
  stale?: string;
}

/**
 * Writes the stack's Helm environment and fetches the repository's index (`<url>/index.yaml`, as
 * `helm repo update` does). A repository that cannot be reached is an error, unless an index was
 * fetched before: then that one serves, and the caller is told.
 */
export async function prepareHelmEnvironment(projectDir: string, stack: string, repositoryUrl: string): Promise<HelmEnvironment> {
  if (repositoryUrl.startsWith("oci://")) throw new Error(`the Cilium chart repository ${repositoryUrl} is an OCI registry; unchain adopts releases from HTTP(S) chart repositories only (set unchain:ciliumRepository)`);
  const settings = helmSettingsOf(stack);
  const name = repositoryName(repositoryUrl);
  const config = path.join(projectDir, settings.repositoryConfigPath);
  const cache = path.join(projectDir, settings.repositoryCache);
  const index = path.join(cache, `${name}-index.yaml`);
  fs.mkdirSync(cache, { recursive: true });
  const wanted = [{ name, url: repositoryUrl }];
  const current = fs.existsSync(config) ? (parse(fs.readFileSync(config, "utf8")) as { repositories?: unknown } | null) : null;
  if (JSON.stringify(current?.repositories) !== JSON.stringify(wanted)) fs.writeFileSync(config, stringify({ apiVersion: "", generated: new Date().toISOString(), repositories: wanted }));
  const indexUrl = `${repositoryUrl.replace(/\/+$/, "")}/index.yaml`;
  try {
    const body = await get(indexUrl);
    fs.writeFileSync(`${index}.tmp`, body);
    fs.renameSync(`${index}.tmp`, index);
    return { repositoryName: name, repositoryConfig: config, index };
  } catch (e) {
    const why = `cannot fetch ${indexUrl}: ${(e as Error).message}`;
    if (fs.existsSync(index)) return { repositoryName: name, repositoryConfig: config, index, stale: why };
    throw new Error(`${why}. The Cilium chart repository (unchain:ciliumRepository) must answer from this machine: the Kubernetes provider reads the chart from it`);
  }
}
