/**
 * A real S3-compatible server on loopback for the shared-backend tests: the Versity S3 Gateway
 * (`versitygw`, from UNCHAIN_S3_SERVER or built once by scripts/ensure-s3.sh) serving a temp folder
 * through its posix backend, with SigV4 authentication and a bucket made for the test. It implements
 * conditional writes (PutObject with If-None-Match: * or If-Match: <etag> → 412 PreconditionFailed),
 * which driver locks rely on.
 */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CreateBucketCommand, ListBucketsCommand, S3Client } from "@aws-sdk/client-s3";
import { PROJECT } from "./helpers";
import { AuditEntry, readAudit } from "../automation/driver/audit";
import { parseS3Url, S3Store } from "../automation/driver/store";
import { simProject, SimProject, WaveSpec } from "./driverHarness";
import { freePort } from "./kubeHarness";

let serverBinary: string | undefined;
/** The versitygw binary, from scripts/ensure-s3.sh (UNCHAIN_S3_SERVER, or built once into the cache). */
export function ensureS3Server(): string {
  if (!serverBinary) {
    serverBinary = execFileSync(path.join(PROJECT, "scripts", "ensure-s3.sh"), { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], timeout: 30 * 60_000 }).trim();
  }
  return serverBinary;
}

export interface S3Server {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  bucket: string;
  /** The server's temp folder: objects under `data/<bucket>/`, their metadata under `meta/`. */
  dir: string;
  region: string;
  /** The root account's keys: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for a client of this server. */
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** The `pulumi login` URL of a backend in this bucket (gocloud.dev s3blob options for a local endpoint). */
  pulumiBackendUrl: string;
  /** An SDK client for this server (path-style addressing, the server's keys). */
  client(): S3Client;
  /** The server's recent output, for error messages. */
  log(): string;
  stop(): Promise<void>;
}

async function stopProcess(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise((r) => p.once("exit", r));
  p.kill("SIGTERM");
  await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
  if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
}

async function waitReady(client: S3Client, proc: ChildProcess, log: () => string): Promise<void> {
  const end = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`versitygw exited ${proc.exitCode}:\n${log().slice(-3000)}`);
    try {
      await client.send(new ListBucketsCommand({}));
      return;
    } catch (e) {
      if (Date.now() > end) throw new Error(`versitygw not answering after 30 s (${e instanceof Error ? e.message : String(e)}):\n${log().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function startOnce(bin: string, dir: string, bucket: string): Promise<S3Server> {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const region = "us-east-1";
  const credentials = { accessKeyId: `unchain${randomBytes(6).toString("hex")}`, secretAccessKey: randomBytes(24).toString("hex") };
  const data = path.join(dir, "data");
  const meta = path.join(dir, "meta");
  fs.mkdirSync(data, { recursive: true });
  fs.mkdirSync(meta, { recursive: true });
  let out = "";
  // Metadata (ETags among it) in a sidecar folder rather than in extended attributes: works on any
  // file system, tmpfs included.
  const proc = spawn(bin, ["--port", `127.0.0.1:${port}`, "--region", region, "--quiet", "posix", "--sidecar", meta, data], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ROOT_ACCESS_KEY_ID: credentials.accessKeyId, ROOT_SECRET_ACCESS_KEY: credentials.secretAccessKey },
  });
  proc.stdout!.on("data", (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  proc.stderr!.on("data", (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  const log = () => out;
  const client = () => new S3Client({ endpoint, region, forcePathStyle: true, credentials });
  try {
    const c = client();
    await waitReady(c, proc, log);
    await c.send(new CreateBucketCommand({ Bucket: bucket }));
    c.destroy();
  } catch (e) {
    await stopProcess(proc);
    throw e;
  }
  const pulumiBackendUrl = `s3://${bucket}?endpoint=127.0.0.1:${port}&disableSSL=true&s3ForcePathStyle=true&region=${region}`;
  return { endpoint, bucket, dir, region, credentials, pulumiBackendUrl, client, log, stop: () => stopProcess(proc) };
}

/**
 * Starts versitygw on a free loopback port with a new temp folder, waits until it answers, and creates
 * `bucket`. `stop()` ends the server and removes the folder.
 */
export async function startS3Server(opts: { bucket?: string } = {}): Promise<S3Server> {
  const bin = ensureS3Server();
  const bucket = opts.bucket ?? "unchain-state";
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-s3-"));
  try {
    // A free port can be taken between finding it and binding it: try again once, on an empty folder.
    const server = await startOnce(bin, dir, bucket).catch(() => {
      for (const sub of ["data", "meta"]) fs.rmSync(path.join(dir, sub), { recursive: true, force: true });
      return startOnce(bin, dir, bucket);
    });
    return {
      ...server,
      stop: async () => {
        await server.stop();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/** A project of driver test stacks (see simProject) whose Pulumi.yaml declares the server's bucket as its backend. */
export function s3Project(s3: S3Server, waves: WaveSpec[]): SimProject {
  const p = simProject(waves);
  const file = path.join(p.dir, "Pulumi.yaml");
  fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace(/^backend:\n  url: .*$/m, `backend:\n  url: "${s3.pulumiBackendUrl}"`));
  return p;
}

/** The environment a process needs to reach the server: its keys and region. */
export function s3Env(s3: S3Server): Record<string, string> {
  return { AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey, AWS_REGION: s3.region };
}

/** The driver's audit trail in the server's bucket (`.unchain/` beside the Pulumi state), read with the server's keys. */
export async function s3Audit(s3: S3Server): Promise<AuditEntry[]> {
  const saved = { ...process.env };
  Object.assign(process.env, s3Env(s3));
  try {
    return await readAudit(new S3Store({ ...parseS3Url(s3.pulumiBackendUrl), prefix: ".unchain" }));
  } finally {
    process.env = saved;
  }
}
