#!/usr/bin/env node
// Benchmark of `unchain plan --all`: wall time and peak memory (max RSS of the plan process) over the
// example fleet (29 clusters + the dev sandbox) and over a generated fleet ten times larger (copies
// of the example stacks under new names). Each case runs in a fresh process, as a user runs it.
// Usage: npm run bench:plan [-- --runs 3]
"use strict";
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const runs = Number(process.argv[process.argv.indexOf("--runs") + 1]) || 3;

function plan(dir, extra) {
  const code = `require(${JSON.stringify(path.join(root, "dist/automation/cli.js"))}).main(${JSON.stringify(["plan", "--all", "--format", "json", "-C", dir, ...extra])})
    .then((c) => { process.stderr.write("\\nBENCH " + JSON.stringify({ code: c, maxRssKiB: process.resourceUsage().maxRSS }) + "\\n"); });`;
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ["-e", code], { encoding: "utf8", maxBuffer: 1 << 30 });
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  const m = /BENCH (.*)/.exec(r.stderr);
  if (!m) throw new Error(`plan failed:\n${r.stderr}`);
  const info = JSON.parse(m[1]);
  const out = JSON.parse(r.stdout);
  const steps = out.stacks.reduce((n, s) => n + s.steps.length, 0);
  return { wallS, maxRssMiB: info.maxRssKiB / 1024, stacks: out.stacks.length, steps, ok: out.ok };
}

function largerFleet(factor) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-bench-"));
  fs.copyFileSync(path.join(root, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
  const stacks = fs.readdirSync(root).filter((f) => /^Pulumi\..+\.yaml$/.test(f) && f !== "Pulumi.yaml" && f !== "Pulumi.dev.yaml");
  fs.mkdirSync(path.join(dir, "adopted"));
  for (let i = 0; i < factor; i++)
    for (const f of stacks) {
      // A copy of each cluster under another name, with its snapshot, so that its imports are checked too.
      const name = f.replace(/^Pulumi\.(.+)\.yaml$/, "$1");
      const rename = (text) => text.split(name).join(`${name}-x${i}`);
      fs.writeFileSync(path.join(dir, `Pulumi.${name}-x${i}.yaml`), rename(fs.readFileSync(path.join(root, f), "utf8")));
      const snap = path.join(root, "adopted", `${name}.yaml`);
      if (fs.existsSync(snap)) fs.writeFileSync(path.join(dir, "adopted", `${name}-x${i}.yaml`), rename(fs.readFileSync(snap, "utf8")));
    }
  return { dir, count: stacks.length * factor };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const big = largerFleet(10);
const cases = [
  { name: "example fleet, from each stack's phase", dir: root, extra: [] },
  { name: "example fleet, whole walk (--from 0)", dir: root, extra: ["--from", "0"] },
  { name: `generated fleet (${big.count} stacks), from each stack's phase`, dir: big.dir, extra: [] },
  { name: `generated fleet (${big.count} stacks), whole walk (--from 0)`, dir: big.dir, extra: ["--from", "0"] },
];
console.log(`node ${process.version}, ${os.cpus().length} × ${os.cpus()[0].model}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; median of ${runs} runs`);
console.log("case | stacks | steps | wall s | ms/step | peak RSS MiB");
for (const c of cases) {
  const results = Array.from({ length: runs }, () => plan(c.dir, c.extra));
  const r = results[0];
  const wall = median(results.map((x) => x.wallS));
  const rss = Math.max(...results.map((x) => x.maxRssMiB));
  console.log(`${c.name} | ${r.stacks} | ${r.steps} | ${wall.toFixed(2)} | ${((wall * 1000) / Math.max(1, r.steps)).toFixed(1)} | ${rss.toFixed(0)}${r.ok ? "" : " (plan not ok!)"}`);
}
fs.rmSync(big.dir, { recursive: true, force: true });
