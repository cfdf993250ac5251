#!/usr/bin/env node
// Benchmark of the driver's state on an S3 backend against a file backend: the same run (N simulated
// stacks, one phase each, `unchain advance` at concurrency 4, every resource operation waiting
// --latency-ms like a cloud call) with the backend declared in Pulumi.yaml as a local folder, then as
// a bucket on a real S3 server on loopback (versitygw, scripts/ensure-s3.sh). Prints wall time, and
// the driver's own store operations (locks, pause checks, audit records) and the time they took.
// Pulumi's state moves to the bucket too, so the wall time includes the CLI's S3 traffic.
// Usage: npm run bench:backend [-- --stacks 10 --latency-ms 500]
"use strict";
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const h = require("../dist/test/driverHarness.js");
const { startS3Server } = require("../dist/test/s3Harness.js");

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const n = arg("stacks", 10);
const latencyMs = arg("latency-ms", 500);
const root = path.resolve(__dirname, "..");

function run(p, env) {
  // The driver in-process, printing its store figures at exit.
  const code = `process.on("exit", () => process.stderr.write("\\nBENCH " + JSON.stringify(require(${JSON.stringify(path.join(root, "dist/automation/driver/store.js"))}).storeStats) + "\\n"));
    require(${JSON.stringify(path.join(root, "dist/automation/cli.js"))}).main(process.argv.slice(1)).then((c) => { process.exitCode = c; });`;
  const args = ["-e", code, "advance", "--all", "--to", "0", "--yes", "--json", "--skip-health-gates", "--concurrency", "4", "-C", p.dir, "--program", h.SIM_PROGRAM];
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (c) => {
      const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
      if (c !== 0) return reject(new Error(`exit ${c}:\n${stdout.slice(-2000)}\n${stderr.slice(-2000)}`));
      resolve({ wallS, store: JSON.parse(/BENCH (.*)/.exec(stderr)[1]) });
    });
  });
}

function project(backendUrl) {
  const names = Array.from({ length: n }, (_, i) => `bench-${String(i).padStart(2, "0")}`);
  const p = h.simProject([{ name: "all", stacks: names, concurrency: 4 }]);
  if (backendUrl) {
    const file = path.join(p.dir, "Pulumi.yaml");
    fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace(/^backend:\n  url: .*$/m, `backend:\n  url: "${backendUrl}"`));
  }
  return p;
}

(async () => {
  h.ensurePulumi();
  const s3 = await startS3Server();
  try {
    const cpu = os.cpus()[0]?.model ?? "?";
    console.log(`backend benchmark: ${n} stacks, one phase each, concurrency 4, ${latencyMs} ms per resource operation`);
    console.log(`machine: ${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}; S3: versitygw on loopback\n`);
    const aws = { AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey, AWS_REGION: s3.region };
    const results = [];
    for (const [name, url] of [
      ["file backend (file://.)", undefined],
      ["S3 backend (versitygw)", s3.pulumiBackendUrl],
    ]) {
      const p = project(url);
      const r = await run(p, h.driverEnv(p, { latencyMs, extra: aws }));
      results.push(r);
      console.log(`${name.padEnd(26)} ${r.wallS.toFixed(1).padStart(7)} s   driver store: ${String(r.store.operations).padStart(4)} operations, ${(r.store.ms / 1000).toFixed(2).padStart(6)} s in all (${(r.store.ms / Math.max(r.store.operations, 1)).toFixed(1)} ms each)`);
    }
    const [file, s3r] = results;
    console.log(`\nS3 / file wall time: ${(s3r.wallS / file.wallS).toFixed(2)}×; the driver's own store time on S3: ${((s3r.store.ms / 1000 / s3r.wallS) * 100).toFixed(1)} % of the run`);
  } finally {
    await s3.stop();
  }
})().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
