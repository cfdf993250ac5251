#!/usr/bin/env node
// Benchmark of one cluster's walk 0→6 on the real engine with the real Kubernetes half: the world of
// test/walk.test.ts (a kube-apiserver with etcd, the chained release installed with helm and adopted,
// the real pulumi-kubernetes provider, the AWS half simulated with no added latency), then one
// `unchain advance --to 6` timed from outside. From the driver's own JSON events it splits each phase
// into the engine's work (preview with the gate, up, the verifying preview: the Pulumi CLI, the
// program, the providers, the API server) and the driver's own (the config edit, starting up,
// locks, waves, reading the state), and prints both.
// Usage: npm run bench:walk [-- --runs 1]
"use strict";
const os = require("node:os");
const h = require("../dist/test/walkHarness.js");

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const runs = arg("runs", 1);

function phasesOf(stdout) {
  const events = stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l));
  const at = (e) => Date.parse(e.time);
  const byPhase = new Map();
  for (const e of events) {
    if (e.phase === undefined || (e.type !== "step" && e.type !== "phase-end")) continue;
    const p = byPhase.get(e.phase) ?? {};
    if (e.type === "step") p[e.step] = at(e);
    else p.end = at(e);
    byPhase.set(e.phase, p);
  }
  const rows = [];
  for (const [phase, t] of [...byPhase].sort((a, b) => a[0] - b[0])) {
    const start = t["set-config"] ?? t.preview;
    const preview = t.gate - t.preview;
    const up = (t.verify ?? t.end) - t.up;
    const verify = t.verify ? t.end - t.verify : 0;
    const total = t.end - start;
    rows.push({ phase, total, preview, up, verify, driver: total - preview - up - verify });
  }
  return rows;
}

async function main() {
  const s = (ms) => (ms / 1000).toFixed(1).padStart(6);
  console.log(`machine: ${os.cpus().length} × ${os.cpus()[0].model}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
  for (let i = 0; i < runs; i++) {
    const t0 = Date.now();
    const world = await h.walkWorld();
    const setupMs = Date.now() - t0;
    try {
      const t1 = Date.now();
      const r = await h.advance(world, 6);
      const wallMs = Date.now() - t1;
      if (r.code !== 0) throw new Error(`advance exited ${r.code}:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`);
      const rows = phasesOf(r.stdout);
      console.log(`\nrun ${i + 1}: world set up in ${s(setupMs)} s (API server, chart repo, helm install, adopt; not counted)`);
      console.log("phase   total  preview      up  verify  driver (s)");
      for (const x of rows) console.log(`${String(x.phase).padStart(5)} ${s(x.total)}  ${s(x.preview)}  ${s(x.up)}  ${s(x.verify)}  ${s(x.driver)}`);
      const sum = (k) => rows.reduce((a, x) => a + x[k], 0);
      const engine = sum("preview") + sum("up") + sum("verify");
      console.log(`walk 0→6: ${s(wallMs)} s wall (unchain advance, process start to exit)`);
      console.log(`  engine and providers: ${s(engine)} s; driver's own within the phases: ${s(sum("driver"))} s; outside the phases (start, locks, waves, exit): ${s(wallMs - sum("total"))} s`);
      console.log(`  driver overhead: ${s(wallMs - engine)} s, ${(((wallMs - engine) / wallMs) * 100).toFixed(1)} % of the walk`);
    } finally {
      await world.stop();
    }
  }
}

main().catch((e) => {
  console.error(e.message ?? e);
  process.exit(1);
});
