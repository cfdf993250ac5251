#!/usr/bin/env node
// Benchmark of the driver against the real Pulumi engine: N simulated stacks (default 29) taken
// through one phase (preview + up) by `unchain advance` at concurrency 1 and 4, and by the smallest
// sequential Automation API loop a user would write (scripts/plain-loop.js: preview, then up). Every
// create/update/delete of the test program waits --latency-ms, like a cloud call. Prints wall time,
// the ratios, and peak memory: of the driving node process, and of its whole process tree (the
// pulumi CLIs and provider plugins it starts), sampled every 200 ms.
// Usage: npm run bench:driver [-- --stacks 29 --latency-ms 1000]
"use strict";
const { spawn, execFileSync } = require("node:child_process");
const os = require("node:os");
const path = require("node:path");
const h = require("../dist/test/driverHarness.js");

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const n = arg("stacks", 29);
const latencyMs = arg("latency-ms", 1000);
const root = path.resolve(__dirname, "..");

function treeRssKiB(pid) {
  try {
    const out = execFileSync("ps", ["-e", "-o", "pid=,ppid=,rss="], { encoding: "utf8" });
    const rows = out.trim().split("\n").map((l) => l.trim().split(/\s+/).map(Number));
    const kids = new Map();
    for (const [p, pp] of rows) kids.set(pp, [...(kids.get(pp) ?? []), p]);
    const rss = new Map(rows.map(([p, , r]) => [p, r]));
    let sum = 0;
    const walk = (p) => {
      sum += rss.get(p) ?? 0;
      for (const c of kids.get(p) ?? []) walk(c);
    };
    walk(pid);
    return sum;
  } catch {
    return 0;
  }
}

function measure(command, args, env) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    let peakTree = 0;
    const timer = setInterval(() => (peakTree = Math.max(peakTree, treeRssKiB(child.pid))), 200);
    child.on("close", (code) => {
      clearInterval(timer);
      const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
      if (code !== 0) return reject(new Error(`${args.join(" ")} exited ${code}:\n${stdout.slice(-2000)}\n${stderr.slice(-2000)}`));
      resolve({ wallS, peakTreeMiB: peakTree / 1024, stdout, stderr });
    });
  });
}

function project() {
  const names = Array.from({ length: n }, (_, i) => `bench-${String(i).padStart(2, "0")}`);
  return h.simProject([{ name: "canary", stacks: names.slice(0, 1) }, { name: "rest", stacks: names.slice(1) }]);
}

async function driver(concurrency) {
  const p = project();
  const env = h.driverEnv(p, { latencyMs });
  // The driver's own max RSS: the CLI reports nothing of it, so read it at exit through a wrapper.
  const code = `process.on("exit", () => process.stderr.write("\\nBENCH " + JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS }) + "\\n"));
    require(${JSON.stringify(path.join(root, "dist/automation/cli.js"))}).main(process.argv.slice(1)).then((c) => { process.exitCode = c; });`;
  const r = await measure(process.execPath, ["-e", code, "advance", "--all", "--to", "0", "--yes", "--json", "--skip-health-gates", "--concurrency", String(concurrency), "-C", p.dir, "--program", h.SIM_PROGRAM], env);
  return { ...r, nodeMiB: JSON.parse(/BENCH (.*)/.exec(r.stderr)[1]).maxRssKiB / 1024, check: p };
}

async function plainLoop() {
  const p = project();
  const r = await measure(process.execPath, [path.join(__dirname, "plain-loop.js"), p.dir, h.SIM_PROGRAM, ...p.stacks], h.driverEnv(p, { latencyMs }));
  return { ...r, nodeMiB: JSON.parse(/BENCH (.*)/.exec(r.stderr)[1]).maxRssKiB / 1024, check: p };
}

function verify(name, p) {
  for (const s of p.stacks) if (h.appliedPhaseInBackend(p, s) !== 0) throw new Error(`${name}: ${s} was not applied`);
}

(async () => {
  h.ensurePulumi();
  const cpu = os.cpus()[0]?.model ?? "?";
  console.log(`driver benchmark: ${n} stacks, one phase each (9 resources), ${latencyMs} ms per resource operation`);
  console.log(`machine: ${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, pulumi ${path.basename(path.dirname(path.dirname(h.ensurePulumi())))}\n`);
  const results = {};
  for (const [name, run] of [
    ["plain Automation API loop (preview, up)", plainLoop],
    ["unchain advance, concurrency 1", () => driver(1)],
    ["unchain advance, concurrency 4", () => driver(4)],
  ]) {
    const r = await run();
    verify(name, r.check);
    results[name] = r;
    console.log(`${name.padEnd(42)} ${r.wallS.toFixed(1).padStart(7)} s   node ${r.nodeMiB.toFixed(0).padStart(4)} MiB   process tree peak ${r.peakTreeMiB.toFixed(0).padStart(5)} MiB`);
  }
  const base = results["plain Automation API loop (preview, up)"].wallS;
  console.log(`\nconcurrency 1 / plain loop: ${(results["unchain advance, concurrency 1"].wallS / base).toFixed(2)}×`);
  console.log(`plain loop / concurrency 4: ${(base / results["unchain advance, concurrency 4"].wallS).toFixed(2)}× faster`);
})().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
