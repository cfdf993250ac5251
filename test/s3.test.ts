/**
 * The S3 server the shared-backend tests run against (test/s3Harness.ts: versitygw on loopback), and
 * the semantics unchain relies on, checked with the real AWS SDK and the real pulumi CLI:
 * - a create-only PutObject (If-None-Match: *) succeeds once per key; every later one, and every
 *   concurrent loser, gets 412 PreconditionFailed and leaves the object as it was;
 * - a compare-and-swap PutObject (If-Match: <etag>) with a stale ETag gets 412;
 * - Pulumi's own S3 backend (`pulumi login s3://…`) keeps its state in the bucket.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expect } from "chai";
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, S3ServiceException } from "@aws-sdk/client-s3";
import { ensurePulumi, PASSPHRASE } from "./driverHarness";
import { PROJECT } from "./helpers";
import { S3Server, startS3Server } from "./s3Harness";

/** The HTTP status and S3 error code a call failed with; throws if it succeeded. */
async function failure(call: Promise<unknown>): Promise<{ status: number | undefined; code: string }> {
  try {
    await call;
  } catch (e) {
    if (e instanceof S3ServiceException) return { status: e.$metadata.httpStatusCode, code: e.name };
    throw e;
  }
  throw new Error("expected the call to fail");
}

async function read(client: S3Client, bucket: string, key: string): Promise<string> {
  const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return got.Body!.transformToString();
}

describe("S3 server for the shared backend (versitygw)", function () {
  let s3: S3Server;
  let client: S3Client;

  before(async function () {
    this.timeout(40 * 60_000); // a first run builds versitygw (scripts/ensure-s3.sh)
    s3 = await startS3Server();
    client = s3.client();
  });
  after(async () => {
    client?.destroy();
    await s3?.stop();
  });

  it("create-only PutObject (If-None-Match: *): the first succeeds, a second gets 412 and changes nothing", async () => {
    const key = "locks/create-only";
    const first = await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: "holder-a", IfNoneMatch: "*" }));
    expect(first.ETag).to.match(/^"[0-9a-f]+"$/);
    const second = await failure(client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: "holder-b", IfNoneMatch: "*" })));
    expect(second).to.deep.equal({ status: 412, code: "PreconditionFailed" });
    expect(await read(client, s3.bucket, key)).to.equal("holder-a");
  });

  it("compare-and-swap PutObject (If-Match): the current ETag wins once, a stale one gets 412, a missing key 404", async () => {
    const key = "locks/cas";
    const v1 = await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: "v1" }));
    const v2 = await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: "v2", IfMatch: v1.ETag }));
    expect(v2.ETag).to.not.equal(v1.ETag);
    const stale = await failure(client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: "v3", IfMatch: v1.ETag })));
    expect(stale).to.deep.equal({ status: 412, code: "PreconditionFailed" });
    expect(await read(client, s3.bucket, key)).to.equal("v2");
    // As on AWS: If-Match on a key that does not exist is NoSuchKey, not a precondition failure.
    const missing = await failure(client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: "locks/none", Body: "x", IfMatch: v2.ETag })));
    expect(missing).to.deep.equal({ status: 404, code: "NoSuchKey" });
  });

  it("concurrent create-only PutObjects of one key: exactly one wins, the rest get 412", async () => {
    const key = "locks/race";
    const writers = 12;
    const results = await Promise.allSettled(
      Array.from({ length: writers }, (_, i) => client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: `writer-${i}`, IfNoneMatch: "*" }))),
    );
    const won = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
    const lost = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
    expect(won).to.have.length(1);
    for (const e of lost) {
      expect(e).to.be.instanceOf(S3ServiceException);
      expect((e as S3ServiceException).$metadata.httpStatusCode).to.equal(412);
    }
    expect(await read(client, s3.bucket, key)).to.equal(`writer-${won[0]}`);
  });

  it("pulumi reads it as the project's backend (Pulumi.yaml backend.url), and the stacks' state lands in the bucket", async function () {
    this.timeout(40 * 60_000); // a first run may build pulumi (scripts/ensure-pulumi.sh)
    const pulumi = ensurePulumi();
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-s3-login-"));
    try {
      // The backend declared once, in the project: what pulumi by hand and the driver both read.
      const project = fs.readFileSync(path.join(PROJECT, "Pulumi.yaml"), "utf8").replace(/^backend:\n  url: .*$/m, `backend:\n  url: "${s3.pulumiBackendUrl}"`);
      expect(project, "the example project declares its backend").to.contain(s3.pulumiBackendUrl);
      fs.writeFileSync(path.join(work, "Pulumi.yaml"), project);
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        PULUMI_HOME: path.join(work, ".pulumi-home"),
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_CONFIG_PASSPHRASE: PASSPHRASE,
        AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
        AWS_REGION: s3.region,
      };
      for (const name of ["PULUMI_BACKEND_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"]) delete env[name];
      const run = (...args: string[]) => execFileSync(pulumi, [...args, "--non-interactive"], { cwd: work, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 120_000 });

      expect(run("stack", "ls")).to.match(/^NAME\s+LAST UPDATE/);
      run("stack", "init", "s3-check");
      expect(run("stack", "ls")).to.match(/^s3-check\*?\s/m);

      const listed = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: ".pulumi/" }));
      const keys = (listed.Contents ?? []).map((o) => o.Key);
      expect(keys).to.include(".pulumi/meta.yaml");
      expect(keys).to.include(".pulumi/stacks/unchain/s3-check.json");
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
});
