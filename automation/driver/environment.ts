/**
 * Where the driver's stacks live and how the Pulumi CLI is run: the backend (a local file backend
 * inside the project unless PULUMI_BACKEND_URL says otherwise), the passphrase, the CLI binary, and
 * the driver's own folder `.unchain/` (locks, audit log, saved update plans, the pause switch).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PulumiCommand } from "@pulumi/pulumi/automation";
import { parse } from "yaml";
import { listStacks, parseYaml } from "../../config/load";
import { EnvironmentError, UserError } from "../../config/problems";
import { stackFilePath } from "./stackFile";

/** The pulumi version scripts/ensure-pulumi.sh builds when no CLI is installed. */
export const PINNED_PULUMI_VERSION = "v3.274.1";

/** This package's root (the driver runs from dist/automation/driver). */
export const PACKAGE_ROOT = path.resolve(__dirname, "..", "..", "..");

export interface DriverEnvironment {
  projectDir: string;
  projectName: string;
  /** The backend, as the CLI is given it (a relative file:// URL made absolute against the project). */
  backendUrl: string;
  /** Where it is declared: Pulumi.yaml's `backend.url` (what `pulumi` by hand reads too), or PULUMI_BACKEND_URL, which wins for both. */
  backendFrom: "Pulumi.yaml" | "PULUMI_BACKEND_URL";
  /** For file backends: the folder that holds `.pulumi/` (stacks, locks). */
  backendPath?: string;
  /** The driver's folder inside the project. */
  stateDir: string;
  /** Empty when the command needs no CLI (status on a file backend). */
  pulumiBinary: string;
  /** Environment of every CLI process the driver starts (never printed: it may hold the passphrase). */
  envVars: Record<string, string>;
  operator: string;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/**
 * The pulumi CLI: UNCHAIN_PULUMI, else `pulumi` on PATH, else the one scripts/ensure-pulumi.sh
 * built into the cache. The same order as the script, which the tests and CI run first.
 */
export function findPulumi(env: NodeJS.ProcessEnv = process.env): string {
  if (env.UNCHAIN_PULUMI) {
    if (!isExecutable(env.UNCHAIN_PULUMI)) throw new EnvironmentError(`UNCHAIN_PULUMI=${env.UNCHAIN_PULUMI} is not an executable file`);
    return path.resolve(env.UNCHAIN_PULUMI);
  }
  for (const dir of (env.PATH ?? "").split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, "pulumi"))) return path.join(dir, "pulumi");
  }
  const cache = env.UNCHAIN_CACHE ?? path.join(os.homedir(), ".cache", "unchain");
  const built = path.join(cache, "pulumi", env.UNCHAIN_PULUMI_VERSION ?? PINNED_PULUMI_VERSION, "bin", "pulumi");
  if (isExecutable(built)) return built;
  throw new EnvironmentError(
    [
      "no pulumi CLI found.",
      "  Install it so that `pulumi` is on PATH (https://www.pulumi.com/docs/install/),",
      "  or set UNCHAIN_PULUMI=/path/to/pulumi,",
      `  or run scripts/ensure-pulumi.sh, which builds ${PINNED_PULUMI_VERSION} from the Go module proxy into ${built}.`,
    ].join("\n"),
  );
}

export function projectName(projectDir: string): string {
  const file = path.join(projectDir, "Pulumi.yaml");
  let name: unknown;
  try {
    name = (parse(fs.readFileSync(file, "utf8")) as { name?: unknown } | null)?.name;
  } catch (e) {
    throw new UserError(`${file}: ${(e as Error).message.split("\n")[0]}`);
  }
  if (typeof name !== "string" || !name) throw new UserError(`${file}: no project name (name: unchain)`);
  return name;
}

/** The backend Pulumi.yaml declares (`backend.url`), as written. */
export function projectBackend(projectDir: string): string | undefined {
  try {
    const url = (parse(fs.readFileSync(path.join(projectDir, "Pulumi.yaml"), "utf8")) as { backend?: { url?: unknown } } | null)?.backend?.url;
    return typeof url === "string" && url ? url : undefined;
  } catch {
    return undefined;
  }
}

/** The backend as people see it: the URL and where it was declared. */
export function describeBackend(env: Pick<DriverEnvironment, "backendUrl" | "backendFrom">): string {
  return `${env.backendUrl} (${env.backendFrom === "Pulumi.yaml" ? "Pulumi.yaml backend.url" : "PULUMI_BACKEND_URL"})`;
}

function isCloudBackend(url: string): boolean {
  return /^https?:\/\//.test(url);
}

export function operatorName(env: NodeJS.ProcessEnv = process.env): string {
  if (env.UNCHAIN_OPERATOR) return env.UNCHAIN_OPERATOR;
  let user = "unknown";
  try {
    user = os.userInfo().username;
  } catch {
    /* no passwd entry (containers): keep "unknown" */
  }
  return `${user}@${os.hostname()}`;
}

/**
 * How a stack keeps its secrets, as its file says: the top-level `secretsprovider:` key (`passphrase`,
 * or a key service: awskms://, gcpkms://, azurekeyvault://, hashivault://; `default`: Pulumi Cloud),
 * else what the CLI uses without one (the passphrase on a self-managed backend, Pulumi Cloud's keys there).
 */
export function secretsProviderOf(projectDir: string, stack: string, backendUrl: string): { provider: string; passphrase: boolean; declared: boolean } {
  const file = stackFilePath(projectDir, stack);
  const doc = parseYaml(fs.readFileSync(file, "utf8"), path.basename(file), stack) as { secretsprovider?: unknown } | null;
  const declared = typeof doc?.secretsprovider === "string" && doc.secretsprovider !== "";
  const provider = declared ? String(doc!.secretsprovider) : isCloudBackend(backendUrl) ? "default" : "passphrase";
  return { provider, passphrase: provider === "passphrase", declared };
}

/**
 * The passphrase, where a selected stack keeps its secrets with one: PULUMI_CONFIG_PASSPHRASE, else
 * the file PULUMI_CONFIG_PASSPHRASE_FILE names. Stacks on a key service (awskms://, gcpkms://,
 * azurekeyvault://, hashivault://) or Pulumi Cloud need none. An empty PULUMI_CONFIG_PASSPHRASE (what
 * a CI workflow gets when its secret is not set) is refused, unless the file is given: the CLI would
 * take the empty one before the file, so the driver's CLI processes get the file's passphrase.
 * Returns what the CLI processes' environment needs; throws a UserError (nothing has run) otherwise.
 */
export function passphraseFor(projectDir: string, stacks: string[], backendUrl: string, env: NodeJS.ProcessEnv): Record<string, string> {
  const users = stacks.map((s) => ({ stack: s, ...secretsProviderOf(projectDir, s, backendUrl) })).filter((s) => s.passphrase);
  if (!users.length) return {};
  const names = users.map((u) => u.stack);
  const which = `${names.length === 1 ? `stack ${names[0]} keeps its` : `stacks ${names.join(", ")} keep their`} secrets with a passphrase (${
    users.every((u) => u.declared) ? "secretsprovider: passphrase" : `no secretsprovider: in ${users.filter((u) => !u.declared).map((u) => path.basename(stackFilePath(projectDir, u.stack))).join(", ")}, so the passphrase of backend ${backendUrl}`
  })`;
  const file = env.PULUMI_CONFIG_PASSPHRASE_FILE;
  if (env.PULUMI_CONFIG_PASSPHRASE) return {};
  if (file) {
    let text: string;
    try {
      text = fs.readFileSync(path.resolve(file), "utf8");
    } catch (e) {
      throw new EnvironmentError(`PULUMI_CONFIG_PASSPHRASE_FILE=${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); ${which}. Point it at the file that holds the passphrase. Nothing was changed.`);
    }
    if (!text.trim()) throw new EnvironmentError(`PULUMI_CONFIG_PASSPHRASE_FILE=${file} is empty; ${which}. Write the passphrase into it. Nothing was changed.`);
    return env.PULUMI_CONFIG_PASSPHRASE === "" ? { PULUMI_CONFIG_PASSPHRASE: text.trim() } : {};
  }
  if (env.PULUMI_CONFIG_PASSPHRASE === "")
    throw new EnvironmentError(
      `PULUMI_CONFIG_PASSPHRASE is set but empty (what a CI workflow gets when its secret is not set); ${which}. Set PULUMI_CONFIG_PASSPHRASE to the passphrase, or PULUMI_CONFIG_PASSPHRASE_FILE to a file that holds it, and run again. Nothing was changed.`,
    );
  throw new EnvironmentError(`${which}; set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE and run again. Nothing was changed.`);
}

/**
 * Everything the driver needs before it touches a stack. Throws a UserError (nothing has run) when
 * the passphrase or the CLI is missing.
 */
export function driverEnvironment(projectDir: string, env: NodeJS.ProcessEnv = process.env, opts: { passphrase: boolean; cli: boolean; stacks?: string[] } = { passphrase: true, cli: true }): DriverEnvironment {
  const name = projectName(projectDir);
  const declared = projectBackend(projectDir);
  const explicit = env.PULUMI_BACKEND_URL;
  if (!explicit && !declared)
    throw new EnvironmentError(
      `${path.join(projectDir, "Pulumi.yaml")} declares no backend and PULUMI_BACKEND_URL is not set: pulumi by hand would use whatever backend its user is logged in to, and a cluster would get a second state. ` +
        `Declare the one backend in Pulumi.yaml (backend: {url: "s3://<bucket>/<prefix>?region=<region>"}, or {url: "file://."} for state in the project folder), then run again. Nothing was changed.`,
    );
  const raw = explicit || declared!;
  let backendPath = raw.startsWith("file://") ? raw.slice("file://".length).replace(/\?.*$/, "").replace(/^~(?=\/|$)/, os.homedir()) : undefined;
  if (backendPath !== undefined && !path.isAbsolute(backendPath)) {
    if (explicit) throw new EnvironmentError(`PULUMI_BACKEND_URL=${raw} is a relative file:// path; use an absolute one (file:///abs/path) so every stack, from any directory, finds the same state`);
    // pulumi resolves a relative file:// URL against its working directory: the project folder, where the driver runs it.
    backendPath = path.resolve(projectDir, backendPath);
  }
  const backendUrl = backendPath !== undefined ? `file://${backendPath}${raw.includes("?") ? raw.slice(raw.indexOf("?")) : ""}` : raw;
  const passphrase = opts.passphrase ? passphraseFor(projectDir, opts.stacks ?? listStacks(projectDir), backendUrl, env) : {};
  // `unchain status` reads a file backend's checkpoints directly and needs no CLI there.
  const pulumiBinary = opts.cli || backendPath === undefined ? findPulumi(env) : "";
  const envVars: Record<string, string> = {
    PULUMI_BACKEND_URL: backendUrl,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    // The dynamic-provider plugin that ships in @pulumi/pulumi resolves the SDK from the working
    // directory; let it find this package's copy whichever project directory the driver runs in.
    NODE_PATH: [path.join(PACKAGE_ROOT, "node_modules"), env.NODE_PATH].filter(Boolean).join(path.delimiter),
    // A CLI built from source has no bundled plugins beside it; @pulumi/pulumi carries that one.
    PATH: [pulumiBinary && path.dirname(pulumiBinary), env.PATH, path.join(PACKAGE_ROOT, "node_modules", "@pulumi", "pulumi")].filter(Boolean).join(path.delimiter),
    ...passphrase,
  };
  // Saved update plans (the CLI reads them from a local file); the driver's shared state is in the backend (store.ts).
  const stateDir = path.join(projectDir, ".unchain");
  return {
    projectDir,
    projectName: name,
    backendUrl,
    backendFrom: explicit ? "PULUMI_BACKEND_URL" : "Pulumi.yaml",
    ...(backendPath !== undefined ? { backendPath } : {}),
    stateDir,
    pulumiBinary,
    envVars,
    operator: operatorName(env),
  };
}

const commands = new Map<string, Promise<PulumiCommand>>();

/** One PulumiCommand per binary: `PulumiCommand.get` runs `pulumi version`, once is enough. */
export function pulumiCommand(binary: string): Promise<PulumiCommand> {
  let c = commands.get(binary);
  if (!c) {
    // PulumiCommand wants the install root and runs <root>/bin/pulumi.
    if (path.basename(path.dirname(binary)) !== "bin") throw new EnvironmentError(`${binary}: the pulumi CLI must sit in a folder named bin (…/bin/pulumi)`);
    c = PulumiCommand.get({ root: path.dirname(path.dirname(binary)) });
    c.catch(() => commands.delete(binary));
    commands.set(binary, c);
  }
  return c;
}

