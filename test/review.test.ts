/**
 * `unchain review`: the Markdown a pull request gets, as snapshots of representative changes
 * (test/snapshots/, refreshed with UPDATE_SNAPSHOTS=1 — then read the diff), the trimming of an
 * over-long review, and that no secret is ever printed.
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expect } from "chai";
import { parseDocument, stringify } from "yaml";
import { listStacks } from "../config/load";
import { buildReview, COMMENT_MARKER, GITHUB_COMMENT_LIMIT, renderReview } from "../automation/review/review";
import { appliedSequence, driverEnv, runDriverCli, SIM_PROGRAM, simProject } from "./driverHarness";
import { PROJECT } from "./helpers";

const BIN = path.join(PROJECT, "bin", "unchain.js");
const SNAPSHOTS = path.join(PROJECT, "test", "snapshots");

function matchesSnapshot(name: string, text: string): void {
  const file = path.join(SNAPSHOTS, `${name}.md`);
  if (process.env.UPDATE_SNAPSHOTS === "1") {
    fs.mkdirSync(SNAPSHOTS, { recursive: true });
    fs.writeFileSync(file, text);
  }
  if (!fs.existsSync(file)) throw new Error(`no snapshot ${file}; run with UPDATE_SNAPSHOTS=1 and review it`);
  expect(text, `differs from ${path.relative(PROJECT, file)}`).to.equal(fs.readFileSync(file, "utf8"));
}

/** A git repository holding the project's Pulumi.yaml, some of the example fleet's stack files and a wave plan. */
function repo(stacks: string[], waves: Array<{ name: string; stacks: string[] }>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-review-"));
  fs.copyFileSync(path.join(PROJECT, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
  for (const s of stacks) fs.copyFileSync(path.join(PROJECT, `Pulumi.${s}.yaml`), path.join(dir, `Pulumi.${s}.yaml`));
  fs.writeFileSync(path.join(dir, "waves.yaml"), stringify({ waves: waves.map((w) => ({ ...w, concurrency: 1, onFailure: "stop" })) }));
  const git = (...args: string[]) => execFileSync("git", ["-c", "user.name=test", "-c", "user.email=test@example.com", ...args], { cwd: dir, stdio: "ignore" });
  git("init", "-q", "-b", "main");
  git("add", "-A");
  git("commit", "-q", "-m", "fleet");
  return dir;
}

function edit(dir: string, stack: string, change: (doc: ReturnType<typeof parseDocument>) => void): void {
  const file = path.join(dir, `Pulumi.${stack}.yaml`);
  const doc = parseDocument(fs.readFileSync(file, "utf8"));
  change(doc);
  fs.writeFileSync(file, doc.toString());
}

function review(dir: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(process.execPath, [BIN, "review", "-C", dir, ...args], { encoding: "utf8", env });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("unchain review (pull request comments)", function () {
  this.timeout(120_000);

  it("a canary wave moving to phase 1: only the touched stack, its new aws pools and the watcher turned off", () => {
    const dir = repo(["prod-eu-west-1", "prod-eu-central-1"], [
      { name: "canary", stacks: ["prod-eu-west-1"] },
      { name: "rest", stacks: ["prod-eu-central-1"] },
    ]);
    edit(dir, "prod-eu-west-1", (d) => d.setIn(["config", "unchain:phase"], 1));
    const r = review(dir, ["--changed-since", "HEAD"]);
    expect(r.code, r.err).to.equal(0);
    expect(r.out).not.to.contain("prod-eu-central-1");
    matchesSnapshot("review-canary-phase-1", r.out);
  });

  it("a provider upgrade in package.json touches every stack (the program and its libraries make every resource)", () => {
    const dir = repo(["prod-eu-west-1", "prod-eu-central-1"], [{ name: "all", stacks: ["prod-eu-west-1", "prod-eu-central-1"] }]);
    fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ dependencies: { "@pulumi/aws": "^7.0.0" } }));
    execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", "add", "package.json"], { cwd: dir });
    execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "base"], { cwd: dir });
    fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ dependencies: { "@pulumi/aws": "^8.0.0" } }));
    const r = review(dir, ["--changed-since", "HEAD"]);
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.contain("2 stacks touched");
    expect(r.out).to.contain("Why reviewed: package.json changed.");
  });

  it("says which commit and which run it was computed for, and marks destructive steps", () => {
    const dir = repo(["staging-eu-central-1"], [{ name: "staging", stacks: ["staging-eu-central-1"] }]);
    edit(dir, "staging-eu-central-1", (d) => d.setIn(["config", "unchain:phase"], 6));
    const r = review(dir, ["--changed-since", "HEAD"], { ...process.env, GITHUB_SHA: "0123456789abcdef0123", GITHUB_SERVER_URL: "https://github.example", GITHUB_REPOSITORY: "team/fleet", GITHUB_RUN_ID: "42" });
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.contain("Computed for commit 0123456789ab, [the run](https://github.example/team/fleet/actions/runs/42)");
    expect(r.out).to.contain("⚠️ **drains** the aws pools first");
    expect(r.out).to.match(/⚠️ \*\*removes \d+ node groups?, [1-9]\d* nodes?\*\* \(aws-/);
    expect(r.out).to.contain("Next, once merged: `unchain advance -s staging-eu-central-1 --to 6 --yes` (add `--drain`, or drain first with `unchain drain`).");
  });

  it("a phase-5 taint swap: aws pools closed, cilium pools opened", () => {
    const dir = repo(["staging-eu-west-1"], [{ name: "staging", stacks: ["staging-eu-west-1"] }]);
    edit(dir, "staging-eu-west-1", (d) => d.setIn(["config", "unchain:phase"], 5));
    const r = review(dir, ["--changed-since", "HEAD"]);
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.contain("| staging-eu-west-1 | staging | 4 → 5 | 0 | 6 | 0 | 0 | ✅ pass | – |");
    matchesSnapshot("review-phase-5-taint-swap", r.out);
  });

  it("a lowered phase is a rollback, never a pass: the reverse steps and their risks, exit 1", () => {
    // main has the stack at 5; the pull request puts it back to 4.
    const dir = repo(["staging-eu-west-1"], [{ name: "staging", stacks: ["staging-eu-west-1"] }]);
    edit(dir, "staging-eu-west-1", (d) => d.setIn(["config", "unchain:phase"], 5));
    execFileSync("git", ["-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-qam", "phase 5"], { cwd: dir, stdio: "ignore" });
    edit(dir, "staging-eu-west-1", (d) => d.setIn(["config", "unchain:phase"], 4));
    const r = review(dir, ["--changed-since", "HEAD"]);
    expect(r.code, r.err).to.equal(1);
    expect(r.out).to.contain("| staging-eu-west-1 | staging | 5 → 4 | 0 | 0 | 0 | 0 | ⛔ going back | – |");
    expect(r.out).to.contain("<details open>");
    expect(r.out).to.contain("5→4, in 2 steps:");
    expect(r.out).to.contain("drain the cilium pools, then put the validation taint cni=cilium:NoExecute back");
    expect(r.out, "no config problem: 4 is a phase the stack can be at").to.not.contain("Config problems");
    expect(r.out).to.not.contain("✅ pass");
    matchesSnapshot("review-rollback", r.out);
  });

  it("a change that breaks an invariant is shown refused, open, with the invariant and the AZ; exit 1", () => {
    const dir = repo(["prod-eu-west-1"], [{ name: "canary", stacks: ["prod-eu-west-1"] }]);
    edit(dir, "prod-eu-west-1", (d) => {
      d.setIn(["config", "unchain:phase"], 1);
      d.setIn(["config", "unchain:ciliumPools", 0, "availabilityZones"], ["eu-west-1a", "eu-west-1b"]);
    });
    const r = review(dir, ["--changed-since", "HEAD"]);
    expect(r.code).to.equal(1);
    expect(r.out).to.contain("⛔ refused (invariant)");
    expect(r.out).to.contain("<details open>");
    expect(r.out).to.contain("eu-west-1c");
    matchesSnapshot("review-refused-invariant", r.out);
  });

  it("a review too long for a GitHub comment keeps every stack's summary line and marker, and trims detail", async () => {
    // A fleet three times the example's (a change to Pulumi.yaml touches every stack).
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-review-"));
    fs.copyFileSync(path.join(PROJECT, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
    for (const s of listStacks(PROJECT).filter((x) => x !== "dev"))
      for (const copy of ["a", "b", "c"]) fs.writeFileSync(path.join(dir, `Pulumi.${s}-${copy}.yaml`), fs.readFileSync(path.join(PROJECT, `Pulumi.${s}.yaml`), "utf8"));
    const stacks = listStacks(dir);
    const full = await buildReview(dir, { stacks });
    const untrimmed = renderReview(full, { limit: Number.MAX_SAFE_INTEGER });
    expect(untrimmed.length, "the example fleet's review is longer than a comment").to.be.greaterThan(GITHUB_COMMENT_LIMIT);
    const text = renderReview(full);
    expect(text.length).to.be.at.most(GITHUB_COMMENT_LIMIT);
    expect(text.startsWith(COMMENT_MARKER)).to.equal(true);
    // Passing stacks collapse into one table row per step, naming each; every stack keeps its section.
    const table = text.slice(0, text.indexOf("\n\n<!-- unchain-review:stack="));
    expect(table.split("\n").filter((l) => l.startsWith("| ") && / stacks: /.test(l)).length, "one row per step, not 87").to.be.within(1, 7);
    for (const s of stacks) {
      expect(table, s).to.match(new RegExp(`[ ,]${s}[ ,|]`));
      expect(text, s).to.contain(`<!-- unchain-review:stack=${s} -->`);
    }
    expect(text).to.match(/> The detail of \d+ stacks was trimmed to fit a GitHub comment/);
    matchesSnapshot("review-fleet-trimmed", text);
  });

  it("--live adds the real preview of each stack's next phase through the driver, with the gate's verdict", async function () {
    this.timeout(10 * 60_000);
    const p = simProject([{ name: "w", stacks: ["lv1"] }]);
    expect((await runDriverCli(p, ["advance", "--all", "--to", "0", "--yes"])).code).to.equal(0);
    const r = spawnSync(process.execPath, [BIN, "review", "-C", p.dir, "-s", "lv1", "--live", "--program", SIM_PROGRAM], { encoding: "utf8", env: driverEnv(p) });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.contain("| lv1 | w | 0 → 1 | 2 | 1 | 0 | 0 | ✅ pass | ✅ previewed |");
    expect(r.stdout).to.contain("**Live preview** (pulumi preview through the driver): previewed — 3 to create, 3 to update, 0 to replace, 0 to delete; gate passed");
    expect(appliedSequence(p, "lv1"), "a preview changes nothing").to.deep.equal([0]);
  });

  it("writes the JSON form beside the Markdown", () => {
    const dir = repo(["staging-eu-west-1"], [{ name: "staging", stacks: ["staging-eu-west-1"] }]);
    const out = path.join(dir, "review.md");
    const json = path.join(dir, "review.json");
    const r = review(dir, ["--out", out, "--json-out", json]);
    expect(r.code, r.err).to.equal(0);
    const data = JSON.parse(fs.readFileSync(json, "utf8")) as { ok: boolean; stacks: Array<{ stack: string; from: number; to: number; counts: object }>; markdown: string };
    expect(data.ok).to.equal(true);
    expect(data.stacks.map((s) => [s.stack, s.from, s.to])).to.deep.equal([["staging-eu-west-1", 4, 5]]);
    expect(data.markdown + "\n").to.equal(fs.readFileSync(out, "utf8"));
  });

  it("never prints a secret: the passphrase, a kubeconfig token or a Pulumi secret, even where a user pasted one into config", () => {
    const dir = repo(["prod-eu-west-1", "prod-eu-central-1"], [
      { name: "canary", stacks: ["prod-eu-west-1"] },
      { name: "rest", stacks: ["prod-eu-central-1"] },
    ]);
    const passphrase = "pass-PHRASE-never-shown";
    const token = "kube-TOKEN-never-shown";
    const kubeconfig = path.join(dir, "kubeconfig");
    fs.writeFileSync(kubeconfig, stringify({ apiVersion: "v1", kind: "Config", users: [{ name: "u", user: { token } }] }));
    // Pasted into the wrong keys: the config problems quote the values back.
    edit(dir, "prod-eu-west-1", (d) => d.setIn(["config", "unchain:vpcCni"], { resolveConflictsOnUpdate: passphrase }));
    edit(dir, "prod-eu-central-1", (d) => {
      d.setIn(["config", "unchain:awsPoolTaintKey"], token);
      d.setIn(["config", "aws:secretKey"], { secure: "v1:c2VjcmV0Y2lwaGVydGV4dA==" });
    });
    const r = review(dir, ["--changed-since", "HEAD", "--json-out", path.join(dir, "review.json")], { ...process.env, PULUMI_CONFIG_PASSPHRASE: passphrase, KUBECONFIG: kubeconfig });
    expect(r.code).to.equal(1);
    const all = r.out + r.err + fs.readFileSync(path.join(dir, "review.json"), "utf8");
    expect(all).to.contain("[secret]");
    for (const s of [passphrase, token, "v1:c2VjcmV0Y2lwaGVydGV4dA=="]) expect(all).not.to.contain(s);
  });
});
