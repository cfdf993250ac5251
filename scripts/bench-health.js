#!/usr/bin/env node
// Benchmark of the health gates on a staged cluster of the runbook's size: 300 nodes and 10,000 pods
// (plus DaemonSet pods, CiliumEndpoints, PDBs) in a real kube-apiserver with etcd on loopback
// (scripts/ensure-k8s.sh). Prints the wall time and memory of one full gate run (phase 5's after-
// checks and phase 6's before-checks) and of a drain plan of the aws pools, measured in a process of
// their own.
// Usage: npm run bench:health [-- --nodes 300 --pods 10000 --runs 3]
"use strict";
const os = require("node:os");
const { startApiServer } = require("../dist/test/kubeHarness.js");
const { Stage } = require("../dist/test/kubeStage.js");
const { validateStackConfig } = require("../dist/config/validate.js");
const { projectDefaults } = require("../dist/config/load.js");
const { desiredState } = require("../dist/steps/desired.js");

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const nodeCount = arg("nodes", 300);
const podCount = arg("pods", 10000);
const runs = arg("runs", 3);

async function pool(items, n, fn) {
  let i = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (i < items.length) await fn(items[i++]);
  }));
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

(async () => {
  const defaults = Object.fromEntries(Object.entries(projectDefaults(require("node:path").resolve(__dirname, ".."))).filter(([k]) => k.startsWith("unchain:")).map(([k, v]) => [k.slice(8), v]));
  const { config } = validateStackConfig("bench", {
    ...defaults, phase: 5, sandbox: true, minSchedulableNodesPerAz: 1,
    cluster: { name: "bench", region: "eu-west-1", availabilityZones: [{ name: "eu-west-1a" }, { name: "eu-west-1b" }, { name: "eu-west-1c" }] },
    chainedPools: [{ name: "general", instanceTypes: ["m6i.2xlarge"], size: { min: 1, desired: 1, max: 2 } }],
    awsPools: [{ name: "general", instanceTypes: ["m6i.2xlarge"], sizePerAz: { min: 1, desired: 50, max: 100 } }],
    ciliumPools: [{ name: "general", instanceTypes: ["m6i.2xlarge"], sizePerAz: { min: 1, desired: 50, max: 100 } }],
  });
  const state = desiredState(config, 5);
  const api = await startApiServer();
  const stage = new Stage(api.kubeconfig);
  const t0 = Date.now();
  const nodes = [];
  const perPool = Math.ceil(nodeCount / state.pools.length);
  for (const p of state.pools) for (let i = 0; i < perPool && nodes.length < nodeCount; i++) nodes.push({ name: `${p.nodeGroupName}-${i}`, role: p.role, group: p.nodeGroupName, labels: p.labels, taints: p.taints.filter((t) => t.key !== "node.cilium.io/agent-not-ready").map((t) => ({ key: t.key, value: t.value, effect: t.effect })) });
  await pool(nodes, 16, (n) => stage.node(n));
  for (const [ds, roles] of [["aws-node", ["aws"]], ["cilium", ["cilium"]], ["cilium-envoy", ["cilium"]]]) {
    const on = nodes.filter((n) => roles.includes(n.role));
    await stage.daemonSet(ds, on.length, on.length);
    await pool(on, 16, (n) => stage.pod({ name: `${ds}-${n.name}`, node: n.name, daemonSet: ds, hostNetwork: true }));
  }
  await stage.namespace("apps");
  const pods = Array.from({ length: podCount }, (_, i) => ({ namespace: "apps", name: `app-${i}`, node: nodes[i % nodes.length].name, labels: { app: `app-${i % 700}` } }));
  await pool(pods, 32, async (p) => {
    await stage.pod(p);
    if (nodes[Number(p.name.slice(4)) % nodes.length].role === "cilium") await stage.ciliumEndpoint("apps", p.name);
  });
  for (let i = 0; i < 50; i++) await stage.pdb("apps", `pdb-${i}`, { app: `app-${i}` }, i % 10 === 0 ? 0 : 1);
  await stage.coreDns(2, 2);
  const staged = (Date.now() - t0) / 1000;

  // The gate runs in a process of its own, as `unchain check` would: its memory is the gate's alone.
  const child = `
    const k8s = require("@kubernetes/client-node");
    const { readCluster } = require("./dist/automation/health/cluster.js");
    const { runChecks } = require("./dist/automation/health/checks.js");
    const { drainRole } = require("./dist/automation/health/drain.js");
    const { PHASES } = require("./dist/steps/phases.js");
    const [file, stateJson, key, runs] = process.argv.slice(1);
    const state = JSON.parse(stateJson);
    const kc = new k8s.KubeConfig(); kc.loadFromFile(file);
    (async () => {
      const steps = [...PHASES[5].after, ...PHASES[6].before.filter((s) => s.kind === "check")];
      const gate = [], plan = [];
      let results;
      for (let r = 0; r < Number(runs); r++) {
        let t = process.hrtime.bigint();
        results = runChecks(await readCluster(kc), state, steps, key);
        gate.push(Number(process.hrtime.bigint() - t) / 1e9);
        t = process.hrtime.bigint();
        await drainRole(kc, { role: "aws", apply: false, nodesAtOnce: 1, perNodeTimeoutMs: 1000, say: () => undefined });
        plan.push(Number(process.hrtime.bigint() - t) / 1e9);
      }
      console.log(JSON.stringify({ gate, plan, steps: steps.length, maxRssKiB: process.resourceUsage().maxRSS, results }));
    })();`;
  const { execFileSync } = require("node:child_process");
  const out = JSON.parse(execFileSync(process.execPath, ["-e", child, api.kubeconfigFile, JSON.stringify(state), config.awsPoolTaintKey, String(runs)], { cwd: require("node:path").resolve(__dirname, ".."), encoding: "utf8", maxBuffer: 1 << 26 }));
  console.log(`health gate benchmark: ${nodes.length} nodes, ${podCount} workload pods (+ DaemonSet pods, CiliumEndpoints, 50 PDBs), staged in ${staged.toFixed(0)} s`);
  console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}, Node ${process.version}; kube-apiserver and etcd on the same machine`);
  console.log(`full gate run (${out.steps} checks: phase 5 after + phase 6 before): median ${median(out.gate).toFixed(2)} s of ${runs} (${out.gate.map((x) => x.toFixed(2)).join(", ")})`);
  console.log(`drain plan of the aws pools (dry run): median ${median(out.plan).toFixed(2)} s of ${runs}`);
  console.log(`peak RSS of the gate process: ${(out.maxRssKiB / 1024).toFixed(0)} MiB`);
  console.log(out.results.map((r) => `  ${r.ok ? "ok  " : r.severity === "note" ? "note" : "FAIL"} ${r.check}${r.role ? ` (${r.role})` : ""}: ${r.summary}`).join("\n"));
  await api.stop();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
