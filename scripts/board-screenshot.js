#!/usr/bin/env node
/**
 * docs/board.png, the README's picture of `unchain board`: the example fleet's stacks and waves
 * (this repo's Pulumi.*.yaml and waves.yaml) with an illustrative walk half-way through — the
 * example has no backend state of its own — rendered by renderBoard and shot in Debian's chromium.
 * Run after `npx tsc -p .`: node scripts/board-screenshot.js [out.png]
 */
const path = require("node:path");
const fs = require("node:fs");
const { chromium } = require("playwright-core");
const { projectWaves } = require("../dist/config/waves");
const { renderBoard } = require("../dist/automation/board/board");

const PROJECT = path.resolve(__dirname, "..");
const out = process.argv[2] || path.join(PROJECT, "docs", "board.png");
const { waves } = projectWaves(PROJECT);
// Where each wave stands in the illustration: the canary done, staging most of the way, one going back.
const appliedByWave = { canary: 6, staging: 4, internal: 2, "prod-low-traffic": 1 };
const t = (m) => `2026-03-02T${String(8 + Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}:00.000Z`;
const stacks = [];
const audit = [];
let minute = 0;
for (const w of waves)
  for (const s of w.stacks) {
    const applied = appliedByWave[w.name] ?? 0;
    const row = { stack: s, wave: w.name, exists: true, applied, inFile: applied, target: applied };
    if (applied > 0) audit.push({ time: t((minute += 7)), runId: "20260302T080000-4f2a1c", operator: "alice@ci", action: "up", stack: s, wave: w.name, phase: applied, result: "ok", durationMs: 180000 + minute * 1000 });
    stacks.push(row);
  }
const at = (name) => stacks.find((r) => r.stack === name);
if (at("staging-us-east-1")) Object.assign(at("staging-us-east-1"), { applied: 5, target: 4, goingBack: { from: 5, stage: 1 } });
if (at("data-us-east-1")) {
  Object.assign(at("data-us-east-1"), { applied: 1, inFile: 2, target: 2 });
  audit.push({ time: t((minute += 5)), runId: "20260302T100000-9b11e0", operator: "alice@ci", action: "gate", stack: "data-us-east-1", phase: 2, result: "failed", message: "phase 2 may not replace aws:eks/nodeGroup:NodeGroup system-a (subnetIds)" });
}
if (at("observability-eu-central-1")) at("observability-eu-central-1").lock = "driver alice@ci pid 3121 since 2026-03-02T10:41:00Z";
const html = renderBoard({
  generatedAt: "2026-03-02T11:00:00.000Z",
  backend: "s3://unchain-state/fleet?region=eu-central-1 (Pulumi.yaml); driver state in s3://unchain-state/fleet/.unchain",
  paused: "paused by bob@laptop since 2026-03-02T10:50:00Z (data-us-east-1 gate failed); unchain unpause to go on",
  waves,
  stacks,
  audit,
});

(async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox", "--font-render-hinting=none"] });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 }, deviceScaleFactor: 1, reducedMotion: "reduce" });
    await page.setContent(html, { waitUntil: "load" });
    fs.mkdirSync(path.dirname(out), { recursive: true });
    await page.screenshot({ path: out, animations: "disabled", caret: "hide" });
  } finally {
    await browser.close();
  }
  process.stdout.write(`wrote ${out} (${fs.statSync(out).size} bytes)\n`);
})().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
