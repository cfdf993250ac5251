/**
 * Where the driver keeps its own state — locks, the pause switch, the audit trail, saved plans —
 * beside the Pulumi state, in the same backend: a file backend's folder, or the bucket and prefix of
 * an S3 backend. Every operator and CI runner that shares the backend shares this too.
 *
 * The two primitives locks need are atomic on both: `createExclusive` (a file hard-linked into place;
 * S3 PutObject with `If-None-Match: *`) and `replaceIf` (compare-and-swap on a version: a take-over
 * marker and a re-read on files; S3 PutObject with `If-Match: <etag>`). S3 answers 412
 * PreconditionFailed where the condition fails (docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html).
 */
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { S3Client } from "@aws-sdk/client-s3";
import { EnvironmentError, UserError } from "../../config/problems";
import { pidAlive } from "./locks";
import { crash, failpointHit } from "./failpoint";

export interface StoredObject {
  body: string;
  /** An opaque version: `replaceIf` succeeds only while the object still has it. */
  version: string;
  modified: Date;
}

export interface StateStore {
  /** Where it is, for people: `file:///…/.unchain` or `s3://bucket/prefix/.unchain`. */
  readonly where: string;
  get(key: string): Promise<StoredObject | undefined>;
  /** Writes `body` only if `key` does not exist; false if it does. Never leaves a partial object. */
  createExclusive(key: string, body: string): Promise<boolean>;
  /** Replaces `key` only if it still has `version`; false if it changed or went. */
  replaceIf(key: string, body: string, version: string): Promise<boolean>;
  put(key: string, body: string): Promise<void>;
  delete(key: string): Promise<void>;
  /** Keys under `prefix`, in name order. */
  list(prefix: string): Promise<string[]>;
  /** Adds one record (a JSON line) to the log `name`; records are read back in the order they were added. */
  appendRecord(name: string, line: string): Promise<void>;
  readRecords(name: string): Promise<string[]>;
}

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

/** Operations on the driver's stores in this process and the time they took (the backend benchmark prints them). */
export const storeStats = { operations: 0, ms: 0 };

/** `store` with every operation counted and timed into storeStats. */
function timed<T extends StateStore>(store: T): T {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof v !== "function" || prop === "constructor") return v;
      return async (...args: unknown[]) => {
        const t0 = performance.now();
        try {
          return await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } finally {
          storeStats.operations++;
          storeStats.ms += performance.now() - t0;
        }
      };
    },
  });
}

/** Creates `file` holding `text` only if it does not exist: written to a private temporary file, then hard-linked to its name. */
export function createFileExclusive(file: string, text: string): boolean {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  fs.writeFileSync(tmp, text, { flag: "wx" });
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** The driver's folder in a file backend (or, for a backend elsewhere, in the project). */
export class FileStore implements StateStore {
  constructor(readonly root: string) {}

  get where(): string {
    return `file://${this.root}`;
  }

  private file(key: string): string {
    return path.join(this.root, ...key.split("/"));
  }

  /** Removes temporary files of writers that are gone (a kill between writing and linking). */
  private sweep(dir: string): void {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names) {
      const m = /\.(\d+)\.[0-9a-f]+\.tmp$/.exec(n);
      if (m && !pidAlive(Number(m[1]))) fs.rmSync(path.join(dir, n), { force: true });
    }
  }

  async get(key: string): Promise<StoredObject | undefined> {
    try {
      const f = this.file(key);
      const body = fs.readFileSync(f, "utf8");
      return { body, version: sha(body), modified: fs.statSync(f).mtime };
    } catch {
      return undefined;
    }
  }

  async createExclusive(key: string, body: string): Promise<boolean> {
    const f = this.file(key);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    this.sweep(path.dirname(f));
    return createFileExclusive(f, body);
  }

  /**
   * Compare-and-swap under an exclusive marker (`<key>.cas`): of two runs replacing the same
   * version, one holds the marker and the other gets false; the object is read again under the
   * marker, so a version that changed meanwhile is never replaced. A marker whose writer is gone is removed.
   */
  async replaceIf(key: string, body: string, version: string): Promise<boolean> {
    const f = this.file(key);
    const marker = `${f}.cas`;
    const mark = JSON.stringify({ pid: process.pid });
    if (!createFileExclusive(marker, mark)) {
      try {
        const { pid } = JSON.parse(fs.readFileSync(marker, "utf8")) as { pid: number };
        if (!pidAlive(pid)) fs.rmSync(marker, { force: true });
      } catch {
        /* gone meanwhile */
      }
      return false;
    }
    try {
      const now = await this.get(key);
      if (!now || now.version !== version) return false;
      const tmp = `${f}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
      fs.writeFileSync(tmp, body);
      fs.renameSync(tmp, f);
      return true;
    } finally {
      fs.rmSync(marker, { force: true });
    }
  }

  async put(key: string, body: string): Promise<void> {
    const f = this.file(key);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    const tmp = `${f}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
    fs.writeFileSync(tmp, body);
    fs.renameSync(tmp, f);
  }

  async delete(key: string): Promise<void> {
    fs.rmSync(this.file(key), { force: true });
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    const walk = (dir: string, rel: string) => {
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const k = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) walk(path.join(dir, e.name), k);
        else if (k.startsWith(prefix) && !e.name.endsWith(".tmp") && !e.name.endsWith(".cas")) out.push(k);
      }
    };
    walk(this.root, "");
    return out.sort();
  }

  /** One line appended with O_APPEND; a line a kill cut short is ended first, so the next record starts on its own. */
  async appendRecord(name: string, line: string): Promise<void> {
    appendLineSync(this.file(`${name}.jsonl`), line);
  }

  async readRecords(name: string): Promise<string[]> {
    try {
      return fs.readFileSync(this.file(`${name}.jsonl`), "utf8").split("\n").filter((l) => l.trim());
    } catch {
      return [];
    }
  }
}

/** Appends one line (O_APPEND, one write), first ending a line that a kill left without its newline. */
export function appendLineSync(file: string, line: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  let torn = false;
  try {
    const fd = fs.openSync(file, "r");
    try {
      const size = fs.fstatSync(fd).size;
      if (size > 0) {
        const b = Buffer.alloc(1);
        fs.readSync(fd, b, 0, 1, size - 1);
        torn = b[0] !== 0x0a;
      }
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    /* no file yet */
  }
  const text = (torn ? "\n" : "") + line.replace(/\n*$/, "\n");
  if (failpointHit("audit")) {
    // A kill in the middle of the write: half a line, no newline.
    fs.appendFileSync(file, text.slice(0, Math.ceil(text.length / 2)));
    crash();
  }
  fs.appendFileSync(file, text);
}

/** The parts of an `s3://bucket/prefix?…` backend URL (gocloud.dev s3blob's query options). */
export interface S3Location {
  bucket: string;
  prefix: string;
  region?: string;
  endpoint?: string;
  forcePathStyle: boolean;
  profile?: string;
}

export function parseS3Url(url: string): S3Location {
  const u = new URL(url);
  if (u.protocol !== "s3:") throw new UserError(`${url} is not an s3:// URL`);
  const q = u.searchParams;
  const endpointRaw = q.get("endpoint") ?? undefined;
  const insecure = q.get("disableSSL") === "true" || q.get("disable_https") === "true";
  const endpoint = endpointRaw ? (/^https?:\/\//.test(endpointRaw) ? endpointRaw : `${insecure ? "http" : "https"}://${endpointRaw}`) : undefined;
  return {
    bucket: u.hostname,
    prefix: u.pathname.replace(/^\/+|\/+$/g, ""),
    ...(q.get("region") ? { region: q.get("region")! } : {}),
    ...(endpoint ? { endpoint } : {}),
    forcePathStyle: q.get("s3ForcePathStyle") === "true" || q.get("use_path_style") === "true",
    ...(q.get("profile") ? { profile: q.get("profile")! } : {}),
  };
}

function statusOf(e: unknown): number | undefined {
  return (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

/**
 * The driver's folder in an S3 backend's bucket, beside `.pulumi/`: `<prefix>/<key>`. Locks use
 * conditional writes; the audit trail is one object per record (S3 has no append), named by time,
 * run and sequence so that a listing reads it back in order.
 */
export class S3Store implements StateStore {
  private client?: S3Client;
  private seq = 0;
  constructor(readonly loc: S3Location) {}

  get where(): string {
    return `s3://${this.loc.bucket}/${this.loc.prefix ? `${this.loc.prefix}/` : ""}`;
  }

  private key(k: string): string {
    return this.loc.prefix ? `${this.loc.prefix}/${k}` : k;
  }

  private async s3(): Promise<{ client: S3Client; sdk: typeof import("@aws-sdk/client-s3") }> {
    const sdk = await import("@aws-sdk/client-s3");
    if (!this.client) {
      const { fromIni } = await import("@aws-sdk/credential-providers");
      this.client = new sdk.S3Client({
        ...(this.loc.region ? { region: this.loc.region } : {}),
        ...(this.loc.endpoint ? { endpoint: this.loc.endpoint } : {}),
        forcePathStyle: this.loc.forcePathStyle,
        ...(this.loc.profile ? { credentials: fromIni({ profile: this.loc.profile }) } : {}),
      });
    }
    return { client: this.client, sdk };
  }

  private explain(e: unknown, what: string): Error {
    const status = statusOf(e);
    const msg = e instanceof Error ? e.message : String(e);
    if (status === 403 || /credential|AccessDenied|Forbidden/i.test(msg))
      return new EnvironmentError(`the driver's state in ${this.where} cannot be ${what}: ${msg}. It needs s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket on that prefix, with the credentials pulumi uses for the backend.`);
    return new EnvironmentError(`the driver's state in ${this.where} cannot be ${what}: ${msg}`);
  }

  async get(key: string): Promise<StoredObject | undefined> {
    const { client, sdk } = await this.s3();
    try {
      const r = await client.send(new sdk.GetObjectCommand({ Bucket: this.loc.bucket, Key: this.key(key) }));
      const body = (await r.Body?.transformToString("utf8")) ?? "";
      return { body, version: r.ETag ?? sha(body), modified: r.LastModified ?? new Date(0) };
    } catch (e) {
      if (statusOf(e) === 404 || (e as { name?: string }).name === "NoSuchKey") return undefined;
      throw this.explain(e, "read");
    }
  }

  private async conditionalPut(key: string, body: string, condition: { IfNoneMatch: string } | { IfMatch: string }): Promise<boolean> {
    const { client, sdk } = await this.s3();
    try {
      await client.send(new sdk.PutObjectCommand({ Bucket: this.loc.bucket, Key: this.key(key), Body: body, ContentType: "application/json", ...condition }));
      return true;
    } catch (e) {
      // 412: the condition failed; 409: a concurrent conditional write to the same key won (AWS may answer either).
      const s = statusOf(e);
      if (s === 412 || s === 409 || (s === 404 && "IfMatch" in condition)) return false;
      throw this.explain(e, "written");
    }
  }

  createExclusive(key: string, body: string): Promise<boolean> {
    return this.conditionalPut(key, body, { IfNoneMatch: "*" });
  }

  replaceIf(key: string, body: string, version: string): Promise<boolean> {
    return this.conditionalPut(key, body, { IfMatch: version });
  }

  async put(key: string, body: string): Promise<void> {
    const { client, sdk } = await this.s3();
    try {
      await client.send(new sdk.PutObjectCommand({ Bucket: this.loc.bucket, Key: this.key(key), Body: body, ContentType: "application/json" }));
    } catch (e) {
      throw this.explain(e, "written");
    }
  }

  async delete(key: string): Promise<void> {
    const { client, sdk } = await this.s3();
    try {
      await client.send(new sdk.DeleteObjectCommand({ Bucket: this.loc.bucket, Key: this.key(key) }));
    } catch (e) {
      if (statusOf(e) !== 404) throw this.explain(e, "deleted");
    }
  }

  async list(prefix: string): Promise<string[]> {
    const { client, sdk } = await this.s3();
    const out: string[] = [];
    let token: string | undefined;
    const strip = this.loc.prefix ? this.loc.prefix.length + 1 : 0;
    try {
      do {
        const r = await client.send(new sdk.ListObjectsV2Command({ Bucket: this.loc.bucket, Prefix: this.key(prefix), ...(token ? { ContinuationToken: token } : {}) }));
        for (const o of r.Contents ?? []) if (o.Key) out.push(o.Key.slice(strip));
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
    } catch (e) {
      throw this.explain(e, "listed");
    }
    return out.sort();
  }

  async appendRecord(name: string, line: string): Promise<void> {
    const parsed = JSON.parse(line) as { time?: string; runId?: string };
    const time = (parsed.time ?? new Date().toISOString()).replace(/[:.]/g, "");
    const key = `${name}/${time}-${parsed.runId ?? "run"}-${process.pid}-${String(this.seq++).padStart(6, "0")}.json`;
    // A kill before S3 has the whole object: the record is not there (a PUT is all or nothing).
    if (failpointHit("audit")) crash();
    await this.put(key, line.replace(/\n*$/, "\n"));
  }

  async readRecords(name: string): Promise<string[]> {
    const keys = (await this.list(`${name}/`)).filter((k) => k.endsWith(".json"));
    const out: string[] = [];
    for (let i = 0; i < keys.length; i += 16) {
      const bodies = await Promise.all(keys.slice(i, i + 16).map((k) => this.get(k)));
      for (const b of bodies) if (b) out.push(b.body.trim());
    }
    return out;
  }
}

/** A backend's root as a store (file backend folder, S3 bucket and prefix); undefined for a backend unchain cannot read directly (Pulumi Cloud). */
export function backendStore(backendUrl: string, backendPath: string | undefined): StateStore | undefined {
  if (backendPath !== undefined) return timed(new FileStore(backendPath));
  if (backendUrl.startsWith("s3://")) return timed(new S3Store(parseS3Url(backendUrl)));
  return undefined;
}

/** The driver's store: `.unchain/` in the backend beside `.pulumi/`; for a backend it cannot write (Pulumi Cloud), `fallbackDir`. */
export function driverStore(backendUrl: string, backendPath: string | undefined, fallbackDir: string): StateStore {
  if (backendPath !== undefined) return timed(new FileStore(path.join(backendPath, ".unchain")));
  if (backendUrl.startsWith("s3://")) {
    const loc = parseS3Url(backendUrl);
    return timed(new S3Store({ ...loc, prefix: loc.prefix ? `${loc.prefix}/.unchain` : ".unchain" }));
  }
  return timed(new FileStore(fallbackDir));
}

/** The driver's store and the backend's root of a driver environment. */
export function storesOf(env: { backendUrl: string; backendPath?: string; stateDir: string }): { store: StateStore; backend?: StateStore } {
  const backend = backendStore(env.backendUrl, env.backendPath);
  return { store: driverStore(env.backendUrl, env.backendPath, env.stateDir), ...(backend ? { backend } : {}) };
}
