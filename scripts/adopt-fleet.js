#!/usr/bin/env node
// The example fleet (test/fixtures/fleet.ts), served as it runs: the local AWS endpoint (the real AWS
// SDK talks to it through AWS_ENDPOINT_URL) and one real kube-apiserver per cluster (scripts/ensure-k8s.sh),
// then adopted with `unchain adopt --clusters` in one run, each cluster with its account's profile or role.
//
//   npm run bench:adopt                 # benchmark: adopt the 29 clusters into an empty project; prints figures
//   npm run bench:adopt -- --runs 3     # median of 3
//   node scripts/adopt-fleet.js --write # adopt into this checkout: rewrites the example stack files and adopted/
"use strict";
const { execFile } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { stringify } = require("yaml");
const { FakeAws } = require("../dist/test/fakeAws.js");
const { FLEET, ACCOUNTS } = require("../dist/test/fixtures/fleet.js");
const { liveCluster, stageKube } = require("../dist/test/fixtures/liveClusters.js");
const { startApiServers } = require("../dist/test/kubeHarness.js");

const ROOT = path.resolve(__dirname, "..");
const write = process.argv.includes("--write");
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const runs = write ? 1 : arg("runs", 1);
const concurrency = arg("concurrency", 4);

function run(cmd, args, env) {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, encoding: "utf8", maxBuffer: 64 << 20 }, (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }));
  });
}

(async () => {
  const lives = FLEET.map(liveCluster);
  // Keys per account; the payments account is reached by assuming a role with the operator's own keys.
  const keys = {
    AKIASTAGING0000000001: { account: ACCOUNTS.STAGING.id, secret: "staging-secret" },
    AKIAPROD00000000000001: { account: ACCOUNTS.PROD.id, secret: "prod-secret" },
    AKIAPLATFORM000000001: { account: ACCOUNTS.PLATFORM.id, secret: "platform-secret" },
    AKIAOPERATOR000000001: { account: "999999999999", secret: "operator-secret" },
  };
  const aws = new FakeAws({ keys, roles: { [ACCOUNTS.PAYMENTS.roleArn]: ACCOUNTS.PAYMENTS.id }, clusters: lives.map((l) => l.aws) });
  await aws.start();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-adopt-fleet-"));
  const profiles = { staging: "AKIASTAGING0000000001", prod: "AKIAPROD00000000000001", platform: "AKIAPLATFORM000000001" };
  fs.writeFileSync(path.join(work, "aws-config"), Object.keys(profiles).map((p) => `[profile ${p}]\nregion = us-east-1\n`).join("\n"));
  fs.writeFileSync(path.join(work, "aws-credentials"), Object.entries(profiles).map(([p, k]) => `[${p}]\naws_access_key_id = ${k}\naws_secret_access_key = ${keys[k].secret}\n`).join("\n"));

  process.stderr.write(`starting ${lives.length} kube-apiservers (one per cluster, on one etcd)...\n`);
  const t0 = Date.now();
  const kube = await startApiServers(lives.length);
  const startS = (Date.now() - t0) / 1000;
  const kubeconfig = { apiVersion: "v1", kind: "Config", clusters: [], users: [], contexts: [], "current-context": lives[0].spec.name };
  for (let i = 0; i < lives.length; i++) {
    await stageKube(kube.servers[i].kubeconfig, lives[i]);
    const kc = JSON.parse(fs.readFileSync(kube.servers[i].kubeconfigFile, "utf8"));
    const name = lives[i].spec.name;
    kubeconfig.clusters.push({ name, cluster: kc.clusters[0].cluster });
    kubeconfig.users.push({ name, user: kc.users[0].user });
    kubeconfig.contexts.push({ name, context: { cluster: name, user: name } });
  }
  fs.writeFileSync(path.join(work, "kubeconfig"), JSON.stringify(kubeconfig));
  const list = lives.map((l) => {
    const account = Object.values(ACCOUNTS).find((a) => a.id === l.spec.account);
    return { stack: l.spec.name, cluster: l.spec.name, region: l.spec.region, ...(account.profile ? { profile: account.profile } : { roleArn: account.roleArn }) };
  });
  fs.writeFileSync(path.join(work, "clusters.yaml"), stringify(list));
  const env = {
    ...process.env,
    ...aws.env(),
    AWS_ACCESS_KEY_ID: "AKIAOPERATOR000000001",
    AWS_SECRET_ACCESS_KEY: keys.AKIAOPERATOR000000001.secret,
    AWS_CONFIG_FILE: path.join(work, "aws-config"),
    AWS_SHARED_CREDENTIALS_FILE: path.join(work, "aws-credentials"),
    KUBECONFIG: path.join(work, "kubeconfig"),
  };

  const results = [];
  try {
    for (let r = 0; r < runs; r++) {
      const project = write ? ROOT : fs.mkdtempSync(path.join(work, "project-"));
      if (!write) fs.copyFileSync(path.join(ROOT, "Pulumi.yaml"), path.join(project, "Pulumi.yaml"));
      aws.requests.length = 0;
      const started = Date.now();
      const out = await run("/usr/bin/time", ["-f", "%M", process.execPath, path.join(ROOT, "bin", "unchain.js"), "adopt", "--clusters", path.join(work, "clusters.yaml"), "--write", "--concurrency", String(concurrency), "-C", project], env);
      const wall = (Date.now() - started) / 1000;
      const rssKb = Number(out.stderr.trim().split("\n").pop());
      if (out.code !== 0) {
        process.stdout.write(out.stdout + out.stderr);
        throw new Error(`adopt exited ${out.code}`);
      }
      results.push({ wall, rssMiB: rssKb / 1024, calls: aws.requests.length });
      if (write) process.stdout.write(out.stdout);
    }
  } finally {
    await kube.stop();
    await aws.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
  const groups = lives.reduce((n, l) => n + l.aws.nodeGroups.length, 0);
  const nodes = lives.reduce((n, l) => n + l.aws.nodeGroups.reduce((m, g) => m + g.scalingConfig.desiredSize, 0), 0);
  const sorted = [...results].sort((a, b) => a.wall - b.wall);
  const med = sorted[Math.floor(sorted.length / 2)];
  console.log(`\nadopt of the example fleet: ${lives.length} clusters, ${groups} node groups, ${nodes} nodes; ${os.cpus().length} cores (${os.cpus()[0].model}), Node ${process.version}`);
  console.log(`  API servers started in ${startS.toFixed(1)} s (not counted)`);
  console.log(`  runs: ${results.map((x) => `${x.wall.toFixed(1)} s`).join(", ")}; median ${med.wall.toFixed(1)} s (${((med.wall * 1000) / lives.length).toFixed(0)} ms per cluster at concurrency ${concurrency}), peak RSS ${med.rssMiB.toFixed(0)} MiB, ${med.calls} AWS calls`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
