/**
 * `unchain board`: the HTML as a pure function (escaping, redaction, every stack of the example fleet,
 * gate failures with their reason), then the page in a real browser — Debian's chromium driven by
 * playwright-core: no console errors, every stack visible, the grid's layout held directly (7 phase
 * columns, nothing wider than the page) and against a reference screenshot of a fixed board
 * (test/snapshots/board-fixture.png, refreshed with UPDATE_SNAPSHOTS=1 — then look at it).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { expect } from "chai";
import { Browser, chromium, Page } from "playwright-core";
import { PNG } from "pngjs";
import { listStacks } from "../config/load";
import { projectWaves } from "../config/waves";
import { BoardData, renderBoard } from "../automation/board/board";
import { gatherBoard } from "../automation/board/gather";
import type { AuditEntry } from "../automation/driver/audit";
import { PROJECT } from "./helpers";

const BIN = path.join(PROJECT, "bin", "unchain.js");
const SNAPSHOTS = path.join(PROJECT, "test", "snapshots");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const HOSTILE = `<script>document.title="pwned"</script><img src=x onerror=alert(1)>`;

function entry(e: Partial<AuditEntry> & Pick<AuditEntry, "action" | "result">): AuditEntry {
  return { time: "2026-03-02T10:00:00.000Z", runId: "20260302T100000-abc123", operator: "alice@laptop", ...e };
}

/** A fixed board: three waves, stacks at several phases, one half-way back, one gate failure, one lock, paused. */
export function fixtureBoard(): BoardData {
  const waves = [
    { name: "canary", stacks: ["staging-eu-central-1"] },
    { name: "staging", stacks: ["staging-eu-west-1", "staging-us-east-1", "tooling-eu-central-1"] },
    { name: "prod-eu", stacks: ["prod-eu-central-1", "prod-eu-west-1", "prod-eu-north-1"] },
  ];
  return {
    generatedAt: "2026-03-02T12:00:00.000Z",
    backend: "s3://unchain-state/fleet?region=eu-central-1 (Pulumi.yaml); driver state in s3://unchain-state/fleet/.unchain",
    paused: "paused by bob@ci since 2026-03-02T11:30:00Z (prod-eu-west-1 gate failed, looking); unchain unpause to go on",
    waves,
    stacks: [
      { stack: "staging-eu-central-1", wave: "canary", exists: true, applied: 6, inFile: 6, target: 6 },
      { stack: "staging-eu-west-1", wave: "staging", exists: true, applied: 4, inFile: 4, target: 4 },
      { stack: "staging-us-east-1", wave: "staging", exists: true, applied: 5, inFile: 5, target: 4, goingBack: { from: 5, stage: 1 } },
      { stack: "tooling-eu-central-1", wave: "staging", exists: true, applied: 3, inFile: 4, target: 4, lock: "driver alice@laptop pid 4242 since 2026-03-02T11:58:00Z" },
      { stack: "prod-eu-central-1", wave: "prod-eu", exists: true, applied: 1, inFile: 1, target: 2 },
      { stack: "prod-eu-west-1", wave: "prod-eu", exists: true, applied: 1, inFile: 2, target: 2 },
      { stack: "prod-eu-north-1", wave: "prod-eu", exists: false, inFile: 0 },
    ],
    audit: [
      entry({ action: "run-start", result: "ok", target: 2, stacks: ["prod-eu-central-1", "prod-eu-west-1"] }),
      entry({ action: "up", result: "ok", stack: "staging-eu-central-1", phase: 6, durationMs: 412_000, time: "2026-03-01T09:12:00.000Z" }),
      entry({ action: "up", result: "ok", stack: "staging-eu-west-1", phase: 4, durationMs: 298_000 }),
      entry({ action: "going-back", result: "ok", stack: "staging-us-east-1", phase: 5, target: 4, message: "step 1: reopen the aws pools" }),
      entry({ action: "up", result: "ok", stack: "tooling-eu-central-1", phase: 3, durationMs: 181_000 }),
      entry({ action: "up", result: "ok", stack: "prod-eu-central-1", phase: 1, durationMs: 95_000, time: "2026-03-02T11:10:00.000Z" }),
      entry({
        action: "gate",
        result: "failed",
        stack: "prod-eu-west-1",
        phase: 2,
        time: "2026-03-02T11:20:00.000Z",
        message: `phase 2 may not replace the cluster: 1 change outside what the phase allows ${HOSTILE}`,
        gated: [{ op: "replace", type: "aws:eks/cluster:Cluster", name: "prod-eu-west-1", kind: "cluster", properties: ["vpcConfig.subnetIds"], allowed: false }],
      }),
      entry({ action: "health", result: "failed", stack: "tooling-eu-central-1", phase: 4, time: "2026-03-02T11:59:00.000Z", message: "daemonSetsPlaced: cilium 5/6 ready" }),
    ],
    secrets: ["hunter2-passphrase"],
  };
}

function withEnv<T>(vars: Record<string, string>, f: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  return f().finally(() => {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  });
}

/** The example fleet read offline: the repo's stack files and waves.yaml, an empty file backend. */
async function exampleBoard(): Promise<BoardData> {
  const backend = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-board-backend-"));
  return withEnv({ PULUMI_BACKEND_URL: `file://${backend}` }, () => gatherBoard(PROJECT, {}, process.env, new Date("2026-03-02T12:00:00Z")));
}

describe("board: the HTML", () => {
  it("escapes what users wrote: a <script> in an audit message is text, and a known secret never appears", () => {
    const d = fixtureBoard();
    d.audit.push(entry({ action: "up", result: "failed", stack: "prod-eu-central-1", phase: 2, message: `token hunter2-passphrase leaked ${HOSTILE}` }));
    d.stacks.push({ stack: `evil"><script>x()</script>`, exists: false });
    const html = renderBoard(d);
    expect(html).to.not.match(/<script/i);
    expect(html).to.not.match(/<img/i);
    expect(html).to.include("&lt;script&gt;document.title=&quot;pwned&quot;&lt;/script&gt;");
    expect(html).to.include("evil&quot;&gt;&lt;script&gt;x()&lt;/script&gt;");
    expect(html).to.not.include("hunter2-passphrase");
    expect(html).to.include("token [secret] leaked");
  });

  it("shows every stack of the example fleet, each with no stack on an empty backend, grouped by its wave", async () => {
    const d = await exampleBoard();
    const html = renderBoard(d);
    const known = listStacks(PROJECT);
    expect(known.length).to.be.greaterThan(25);
    for (const s of known) expect(html, s).to.include(`data-stack="${s}"`);
    expect(html.match(/<tr class="stack"/g)?.length).to.equal(known.length);
    expect(html.match(/class="where">no stack/g)?.length).to.equal(known.length);
    expect(html).to.include(`${known.length} at no stack`);
    for (const w of projectWaves(PROJECT).waves) expect(html).to.include(`wave ${w.name} <span`);
    expect(html).to.include("wave (no wave)"); // the dev sandbox
  });

  it("a stack whose gate failed shows the reason and the refused change; one that applied since does not", () => {
    const d = fixtureBoard();
    const html = renderBoard(d);
    const gates = html.slice(html.indexOf("<h2>Gate failures</h2>"), html.indexOf("<h2>Locks</h2>"));
    expect(gates).to.include("prod-eu-west-1");
    expect(gates).to.include("phase 2 may not replace the cluster");
    expect(gates).to.include("replace aws:eks/cluster:Cluster prod-eu-west-1: vpcConfig.subnetIds");
    expect(html).to.match(/data-stack="prod-eu-west-1".*?class="cell[^"]* gatefail[^"]*" data-phase="2" title="gate failed">✕</s);
    d.audit.push(entry({ action: "up", result: "ok", stack: "prod-eu-west-1", phase: 2 }));
    expect(renderBoard(d)).to.include("No open gate failure.");
  });

  it("marks the applied phase, a half-way reverse step, the lock and the pause switch", () => {
    const html = renderBoard(fixtureBoard());
    expect(html).to.match(/data-stack="staging-eu-west-1".*?class="cell applied" data-phase="4" title="applied">●</s);
    expect(html).to.match(/data-stack="staging-us-east-1".*?class="cell[^"]* back[^"]*" data-phase="4" title="going back 5→4, step 1 of \d+">↩1</s);
    expect(html).to.include("driver alice@laptop pid 4242");
    expect(html).to.include("<b>Paused</b>: paused by bob@ci");
    expect(html).to.include('<details id="timeline-prod-eu-west-1">');
  });
});

/** Pixels whose channels differ by more than `threshold` (0–255), as a fraction, and a diff image. */
export function pixelDiff(a: PNG, b: PNG, threshold = 40): { fraction: number; diff: PNG } {
  const diff = new PNG({ width: a.width, height: a.height });
  let bad = 0;
  for (let i = 0; i < a.data.length; i += 4) {
    const d = Math.max(Math.abs(a.data[i] - b.data[i]), Math.abs(a.data[i + 1] - b.data[i + 1]), Math.abs(a.data[i + 2] - b.data[i + 2]));
    const off = d > threshold;
    if (off) bad++;
    diff.data[i] = off ? 255 : a.data[i] >> 2;
    diff.data[i + 1] = off ? 0 : a.data[i + 1] >> 2;
    diff.data[i + 2] = off ? 0 : a.data[i + 2] >> 2;
    diff.data[i + 3] = 255;
  }
  return { fraction: bad / (a.width * a.height), diff };
}

/** A fixed viewport, scale 1, no motion: what the screenshots are taken in. */
export const VIEWPORT = { width: 1100, height: 760 };

describe("board: in a real browser (chromium)", function () {
  let browser: Browser;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-board-"));

  before(async function () {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`no chromium at ${CHROMIUM}: apt-get install -y --no-install-recommends chromium (.ci/run does), or set CHROMIUM`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--font-render-hinting=none", "--disable-lcd-text"] });
  });
  after(async () => browser?.close());

  async function open(file: string): Promise<{ page: Page; errors: string[] }> {
    const page = await browser.newPage({ viewport: VIEWPORT, deviceScaleFactor: 1, reducedMotion: "reduce", colorScheme: "light" });
    const errors: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") errors.push(`${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
    page.on("requestfailed", (r) => errors.push(`request failed: ${r.url()}`));
    await page.goto(pathToFileURL(file).href, { waitUntil: "load" });
    return { page, errors };
  }

  async function layout(page: Page): Promise<{ phaseColumns: number; scrollWidth: number; clientWidth: number; overflowing: string[]; cellWidths: number[] }> {
    // A string, run in the page: the project compiles without the DOM library.
    return page.evaluate(`(() => {
      const root = document.documentElement;
      const overflowing = [];
      for (const el of Array.from(document.querySelectorAll("body *"))) {
        const r = el.getBoundingClientRect();
        if (r.width && (r.right > root.clientWidth + 1 || r.left < -1)) overflowing.push(el.tagName.toLowerCase() + "." + el.className);
      }
      const row = document.querySelector("#grid tr.stack");
      const cellWidths = row ? Array.from(row.querySelectorAll("td.cell")).map((c) => Math.round(c.getBoundingClientRect().width)) : [];
      return { phaseColumns: document.querySelectorAll("#grid thead th.phase").length, scrollWidth: root.scrollWidth, clientWidth: root.clientWidth, overflowing, cellWidths };
    })()`);
  }

  it("unchain board writes the example fleet's page: it loads with no console errors and shows every stack", async () => {
    const backend = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-board-backend-"));
    const out = path.join(dir, "example.html");
    const r = spawnSync(process.execPath, [BIN, "board", "--out", out], { cwd: PROJECT, encoding: "utf8", env: { ...process.env, PULUMI_BACKEND_URL: `file://${backend}` } });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.include(`wrote ${out}`);
    const { page, errors } = await open(out);
    for (const s of listStacks(PROJECT)) expect(await page.locator(`#grid tr.stack[data-stack="${s}"]`).isVisible(), s).to.equal(true);
    const l = await layout(page);
    expect(l.phaseColumns).to.equal(7);
    expect(l.scrollWidth, "page wider than the viewport").to.be.at.most(l.clientWidth);
    expect(l.overflowing).to.deep.equal([]);
    // The timeline opens on a click (native <details>, no script).
    const details = page.locator("details#timeline-prod-eu-west-1");
    await details.locator("summary").click();
    expect(await details.getAttribute("open")).to.not.equal(null);
    expect(errors).to.deep.equal([]);
    await page.close();
  });

  it("-s and --wave select like status", async () => {
    const backend = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-board-backend-"));
    const out = path.join(dir, "canary.html");
    const r = spawnSync(process.execPath, [BIN, "board", "--wave", "canary", "-s", "staging-eu-central-1", "--out", out], { cwd: PROJECT, encoding: "utf8", env: { ...process.env, PULUMI_BACKEND_URL: `file://${backend}` } });
    expect(r.status, r.stderr).to.equal(0);
    const html = fs.readFileSync(out, "utf8");
    expect(html.match(/<tr class="stack"/g)?.length).to.equal(1);
    const bad = spawnSync(process.execPath, [BIN, "board", "--wave", "nope", "--out", out], { cwd: PROJECT, encoding: "utf8", env: { ...process.env, PULUMI_BACKEND_URL: `file://${backend}` } });
    expect(bad.status).to.not.equal(0);
    expect(bad.stderr).to.include('no wave "nope"');
  });

  it("the fixture board keeps its layout: 7 even phase columns, nothing overflows, the script is text, and it matches the reference screenshot", async () => {
    const file = path.join(dir, "fixture.html");
    fs.writeFileSync(file, renderBoard(fixtureBoard()));
    const { page, errors } = await open(file);
    expect(await page.title()).to.equal("unchain fleet board"); // the hostile <script> did not run
    expect(await page.locator("text=<script>document.title").count()).to.be.greaterThan(0);
    expect(await page.locator("script, img").count()).to.equal(0);
    const l = await layout(page);
    expect(l.phaseColumns).to.equal(7);
    expect(l.scrollWidth).to.be.at.most(l.clientWidth);
    expect(l.overflowing).to.deep.equal([]);
    expect(l.cellWidths).to.have.length(7);
    expect(Math.max(...l.cellWidths) - Math.min(...l.cellWidths), `phase columns ${l.cellWidths}`).to.be.at.most(1);
    expect(Math.min(...l.cellWidths)).to.be.greaterThan(30);

    const shot = PNG.sync.read(await page.screenshot({ animations: "disabled", caret: "hide" }));
    await page.close();
    expect(errors).to.deep.equal([]);
    const ref = path.join(SNAPSHOTS, "board-fixture.png");
    if (process.env.UPDATE_SNAPSHOTS === "1") {
      fs.mkdirSync(SNAPSHOTS, { recursive: true });
      fs.writeFileSync(ref, PNG.sync.write(shot));
    }
    if (!fs.existsSync(ref)) throw new Error(`no reference ${ref}; run with UPDATE_SNAPSHOTS=1 and look at it`);
    const want = PNG.sync.read(fs.readFileSync(ref));
    expect([shot.width, shot.height]).to.deep.equal([want.width, want.height]);
    const { fraction, diff } = pixelDiff(shot, want);
    if (fraction > 0.01) {
      const where = path.join(dir, "board-fixture.diff.png");
      fs.writeFileSync(where, PNG.sync.write(diff));
      fs.writeFileSync(path.join(dir, "board-fixture.actual.png"), PNG.sync.write(shot));
      expect.fail(`${(fraction * 100).toFixed(2)}% of the pixels differ from ${path.relative(PROJECT, ref)} (1% allowed); diff in ${where}`);
    }
  });

  it("the pixel comparison catches a broken layout (the fixture without its CSS)", async () => {
    const file = path.join(dir, "broken.html");
    fs.writeFileSync(file, renderBoard(fixtureBoard()).replace(/<style>[\s\S]*?<\/style>/, ""));
    const { page } = await open(file);
    const shot = PNG.sync.read(await page.screenshot({ animations: "disabled", caret: "hide" }));
    await page.close();
    const want = PNG.sync.read(fs.readFileSync(path.join(SNAPSHOTS, "board-fixture.png")));
    expect(pixelDiff(shot, want).fraction).to.be.greaterThan(0.05);
  });
});
