/**
 * The GitHub workflows, which no test run here can execute: actionlint (built from its Go module by
 * scripts/ensure-actionlint.sh) checks their syntax, expressions, action inputs and job permissions;
 * the properties that keep them safe are read from the YAML; the summary the advance workflow writes
 * is rendered from driver events of the driver's own types.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync, spawnSync } from "node:child_process";
import { expect } from "chai";
import { parse } from "yaml";
import type { DriverEvent, StackResult } from "../automation/driver/events";
import { exitCodeOf } from "../automation/driver/progress";
import { PROJECT } from "./helpers";

type Obj = Record<string, any>;

const WORKFLOWS = path.join(PROJECT, ".github", "workflows");
const workflow = (name: string): Obj => parse(fs.readFileSync(path.join(WORKFLOWS, name), "utf8")) as Obj;
const steps = (job: Obj): Obj[] => job.steps as Obj[];
const runs = (job: Obj): string => steps(job).map((s) => String(s.run ?? "")).join("\n");

let actionlintBinary: string | undefined;
function actionlint(): string {
  if (!actionlintBinary)
    actionlintBinary = execFileSync(path.join(PROJECT, "scripts", "ensure-actionlint.sh"), { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], timeout: 20 * 60_000 }).trim();
  return actionlintBinary;
}

function onPath(bin: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${bin}`], { stdio: "ignore" }).status === 0;
}

/** actionlint over the given files: exit code and findings. shellcheck only where it is installed. */
function lint(files: string[]): { status: number | null; out: string } {
  const flags = ["-no-color", "-pyflakes="];
  if (!onPath("shellcheck")) flags.push("-shellcheck=");
  const r = spawnSync(actionlint(), [...flags, ...files], { cwd: PROJECT, encoding: "utf8" });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const ciAdvance = require(path.join(PROJECT, "scripts", "ci-advance.js")) as {
  renderSummary(o: { events: unknown[]; stderr?: string[]; code?: number; outcome?: string; wave?: string; to?: string; rollback?: boolean; drain?: boolean }): string;
  checkBackend(dir: string, env: NodeJS.ProcessEnv): { ok: boolean; message: string };
};

describe("GitHub workflows", function () {
  this.timeout(20 * 60_000);

  describe("actionlint", () => {
    it("finds nothing in .github/workflows/*.yml", () => {
      const files = fs.readdirSync(WORKFLOWS).filter((f) => /\.ya?ml$/.test(f)).map((f) => path.join(".github", "workflows", f));
      expect(files).to.include.members([path.join(".github", "workflows", "advance.yml"), path.join(".github", "workflows", "unchain.yml")]);
      const r = lint(files);
      expect(r.out.trim(), r.out).to.equal("");
      expect(r.status).to.equal(0);
    });

    it("does find a mistake (the check is not vacuous)", () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-actionlint-"));
      try {
        const file = path.join(dir, "bad.yml");
        fs.writeFileSync(
          file,
          [
            "on:",
            "  workflow_dispatch:",
            "    inputs:",
            "      wave: {type: string, required: true}",
            "jobs:",
            "  a:",
            "    runs-on: ubuntu-latest",
            "    steps:",
            "      - run: echo ${{ inputs.wav }}",
            "",
          ].join("\n"),
        );
        const r = lint([file]);
        expect(r.status).to.equal(1);
        expect(r.out).to.match(/wav/);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe("advance.yml", () => {
    const wf = workflow("advance.yml");
    const job = (wf.jobs as Obj).advance as Obj;

    it("is run by hand with a wave, a target phase 0-6, rollback and drain", () => {
      const inputs = wf.on.workflow_dispatch.inputs as Obj;
      expect(inputs.wave).to.include({ type: "string", required: true });
      expect(inputs.to).to.include({ type: "choice", required: true });
      expect(inputs.to.options).to.deep.equal(["0", "1", "2", "3", "4", "5", "6"]);
      expect(inputs.rollback).to.include({ type: "boolean", default: false });
      expect(inputs.drain).to.include({ type: "boolean", default: false });
      expect(Object.keys(wf.on)).to.deep.equal(["workflow_dispatch"]);
    });

    it("runs in one environment with reviewers, one advance at a time, never cancelling a running one", () => {
      expect(job.environment).to.equal("production");
      const concurrency = (wf.concurrency ?? job.concurrency) as Obj;
      expect(concurrency).to.deep.equal({ group: "unchain-advance", "cancel-in-progress": false });
    });

    it("runs the driver with the inputs through env (never spliced into the script), --yes and --json", () => {
      const step = steps(job).find((s) => s.id === "advance")!;
      expect(step.env).to.include({ WAVE: "${{ inputs.wave }}", TO: "${{ inputs.to }}", ROLLBACK: "${{ inputs.rollback }}", DRAIN: "${{ inputs.drain }}" });
      expect(step.run).to.include('advance --wave "$WAVE" --to "$TO" --yes --json');
      expect(step.run).to.include("args+=(--rollback)").and.include("args+=(--drain)");
      expect(step.run).to.match(/npx --no unchain /);
      for (const s of steps(job)) expect(String(s.run ?? ""), s.name).not.to.match(/\$\{\{\s*(inputs|github\.event)\./);
    });

    it("uses the backend Pulumi.yaml declares, refusing a file backend, with OIDC credentials and the tested CLI", () => {
      const text = fs.readFileSync(path.join(WORKFLOWS, "advance.yml"), "utf8");
      expect(text).not.to.include("PULUMI_BACKEND_URL");
      expect(runs(job)).to.include("node scripts/ci-advance.js check-backend");
      expect(job.permissions).to.include({ "id-token": "write" });
      const aws = steps(job).find((s) => String(s.uses).startsWith("aws-actions/configure-aws-credentials@"))!;
      expect(aws.with).to.include({ "role-to-assume": "${{ vars.AWS_ROLE_ARN }}", "aws-region": "${{ vars.AWS_REGION }}" });
      const pulumi = steps(job).find((s) => String(s.uses).startsWith("pulumi/actions@"))!;
      const tested = /version="\$\{UNCHAIN_PULUMI_VERSION:-v([^}]+)\}"/.exec(fs.readFileSync(path.join(PROJECT, "scripts", "ensure-pulumi.sh"), "utf8"))![1];
      expect(String(pulumi.with["pulumi-version"])).to.equal(tested);
      const node = steps(job).find((s) => String(s.uses).startsWith("actions/setup-node@"))!;
      expect([20, 22]).to.include(node.with["node-version"]);
      expect(runs(job)).to.include("npm ci");
    });

    it("writes a summary and uploads the run's JSON whatever the outcome, and maps every exit code", () => {
      const summary = steps(job).find((s) => String(s.run ?? "").includes("$GITHUB_STEP_SUMMARY"))!;
      expect(summary.if).to.equal("always()");
      expect(summary.run).to.include("ci-advance.js summary --json advance.jsonl");
      const upload = steps(job).find((s) => String(s.uses).startsWith("actions/upload-artifact@"))!;
      expect(upload.if).to.equal("always()");
      expect(upload.with.path).to.include("advance.jsonl").and.include("advance-summary.md");
      const result = steps(job)[steps(job).length - 1];
      for (const code of ["0)", "1)", "2)", "3)", "4)", "5)", "*)"]) expect(result.run).to.include(code);
      expect(result.run).to.match(/0\) echo[^\n]*;;/); // 0 alone succeeds
      expect(result.run.match(/exit 1 ;;/g)).to.have.length(6); // 1-5 and anything else (70: a bug)
    });
  });

  describe("unchain.yml", () => {
    const wf = workflow("unchain.yml");
    const review = (wf.jobs as Obj).review as Obj;
    const test = (wf.jobs as Obj).test as Obj;

    it("reviews one push of a pull request at a time, cancelling the previous one", () => {
      expect(review.concurrency).to.deep.equal({ group: "unchain-review-${{ github.event.pull_request.number }}", "cancel-in-progress": true });
    });

    it("a pull request from a fork gets the review in the job summary, no comment and no credentials", () => {
      expect(review.env.FORK).to.equal("${{ github.event.pull_request.head.repo.full_name != github.repository }}");
      expect(review.env.LIVE).to.include("github.event.pull_request.head.repo.full_name == github.repository");
      const comment = steps(review).find((s) => String(s.uses).startsWith("actions/github-script@"))!;
      expect(comment.if).to.include("env.FORK != 'true'").and.include("!cancelled()");
      const fork = steps(review).find((s) => String(s.if ?? "").includes("env.FORK == 'true'"))!;
      expect(fork.run).to.include('>> "$GITHUB_STEP_SUMMARY"').and.include("[ -f review.md ]");
      expect(fork.run).to.include("failed before writing its report");
    });

    it("a review that failed before writing review.md still gets its comment, pointing at the log", () => {
      const comment = steps(review).find((s) => String(s.uses).startsWith("actions/github-script@"))!;
      expect(comment.with.script).to.include('fs.existsSync("review.md")');
      expect(comment.with.script).to.include("unchain review failed before writing its report").and.include("context.runId");
      expect(comment.with.script).to.match(/\$\{marker\}/); // the failure edits the same comment
    });

    it("the tool cache key changes with any version an ensure script pins, and .ci/run calls them all", () => {
      const cache = steps(test).find((s) => String(s.uses).startsWith("actions/cache@"))!;
      expect(cache.with.key).to.include("hashFiles('scripts/ensure-*.sh')");
      const ci = fs.readFileSync(path.join(PROJECT, ".ci", "run"), "utf8");
      const scripts = fs.readdirSync(path.join(PROJECT, "scripts")).filter((f) => /^ensure-.*\.sh$/.test(f));
      expect(scripts).to.include("ensure-actionlint.sh");
      for (const s of scripts) expect(ci, s).to.include(`scripts/${s}`);
    });
  });

  describe("the advance summary (scripts/ci-advance.js)", () => {
    const result = (r: Partial<StackResult> & Pick<StackResult, "stack" | "status">): StackResult => ({ target: 3, phasesApplied: [], durationMs: 61_000, wave: "canary", ...r });
    const runOf = (results: StackResult[]): object[] => {
      const events: DriverEvent[] = [
        { type: "run-start", command: "advance", target: 3, dryRun: false, stacks: results.length },
        { type: "note", level: "info", message: "backend s3://fleet/unchain?region=eu-west-1 (Pulumi.yaml backend.url); driver state (locks, pause, audit) in s3://fleet/unchain/.unchain" },
        ...results.map((r): DriverEvent => ({ type: "stack-end", result: r })),
      ];
      return [...events, { type: "summary", command: "advance", target: 3, dryRun: false, durationMs: 125_000, exitCode: exitCodeOf(results), results }];
    };

    it("per stack: its result and the phase it reached; the backend; what the exit code means", () => {
      const results = [
        result({ stack: "staging-eu-central-1", status: "succeeded", from: 1, reached: 3, phasesApplied: [2, 3] }),
        result({ stack: "staging-eu-west-1", status: "failed", from: 1, reached: 2, phasesApplied: [2], phase: 3, error: "up of phase 3 failed: | pipes | and\nnewlines" }),
      ];
      const md = ciAdvance.renderSummary({ events: runOf(results), code: exitCodeOf(results), wave: "canary", to: "3" });
      expect(md).to.include("## unchain advance: wave `canary` to phase 3");
      expect(md).to.include("**Exit 1: failed**");
      expect(md).to.include("Backend: s3://fleet/unchain?region=eu-west-1");
      expect(md).to.include("| staging-eu-central-1 | canary | ✅ succeeded | 1 → 3 | yes | 1m 1s |");
      expect(md).to.include("| staging-eu-west-1 | canary | ❌ failed | 1 → 2 | no (target 3) |");
      expect(md).to.include("**staging-eu-west-1** (phase 3): up of phase 3 failed: \\| pipes \\| and newlines");
    });

    it("says what 3 (paused) and 4 (locked) mean, and shows the holder from stderr", () => {
      const locked = [result({ stack: "prod-eu-west-1", status: "locked", from: 2, error: "held by run r-1 of alice@laptop, pid 4711" })];
      expect(exitCodeOf(locked)).to.equal(4);
      const md4 = ciAdvance.renderSummary({ events: runOf(locked), stderr: ["unchain: prod-eu-west-1 is locked"], code: 4, wave: "w", to: "3" });
      expect(md4).to.include("**Exit 4: locked**").and.include("no stack was touched").and.include("held by run r-1 of alice@laptop");
      expect(md4).to.include("unchain: prod-eu-west-1 is locked");
      const stopped = [result({ stack: "prod-eu-west-1", status: "stopped", from: 2, reached: 2 })];
      expect(exitCodeOf(stopped)).to.equal(3);
      expect(ciAdvance.renderSummary({ events: runOf(stopped), code: 3, wave: "w", to: "3" })).to.include("**Exit 3: stopped (paused)**").and.include("unpause");
    });

    it("a run that ended before its summary line (usage error, cancel) or never ran", () => {
      const md2 = ciAdvance.renderSummary({ events: [], stderr: ["unchain: unknown wave canery; did you mean canary?"], code: 2, wave: "canery", to: "1" });
      expect(md2).to.include("**Exit 2: usage or config**").and.include("Nothing was changed").and.include("did you mean canary?");
      // An environment problem has its own code (5), apart from usage (the README's Exit codes).
      expect(ciAdvance.renderSummary({ events: [], stderr: ["unchain: set PULUMI_CONFIG_PASSPHRASE"], code: 5, wave: "w", to: "1" })).to.include("**Exit 5: environment**").and.include("passphrase");
      const cancelled = ciAdvance.renderSummary({ events: [], code: undefined, outcome: "cancelled", wave: "w", to: "1" });
      expect(cancelled).to.include("interrupted").and.include("resume");
      expect(ciAdvance.renderSummary({ events: [], wave: "w", to: "1", outcome: "skipped" })).to.include("The driver did not run");
    });

    it("refuses a file backend or none, accepts a bucket, from Pulumi.yaml or PULUMI_BACKEND_URL", () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-backend-"));
      try {
        const project = (backend: string) => fs.writeFileSync(path.join(dir, "Pulumi.yaml"), `name: x\nruntime: nodejs\n${backend}`);
        project("backend:\n  url: file://.\n");
        expect(ciAdvance.checkBackend(dir, {})).to.deep.include({ ok: false });
        expect(ciAdvance.checkBackend(dir, {}).message).to.include("thrown away with the runner");
        project("");
        expect(ciAdvance.checkBackend(dir, {})).to.deep.include({ ok: false });
        project("backend:\n  url: s3://fleet/unchain?region=eu-west-1\n");
        expect(ciAdvance.checkBackend(dir, {})).to.deep.equal({ ok: true, message: "s3://fleet/unchain?region=eu-west-1 (Pulumi.yaml backend.url)" });
        expect(ciAdvance.checkBackend(dir, { PULUMI_BACKEND_URL: "file:///tmp/state" }).ok).to.equal(false);
        // The example fleet keeps its state in the project folder: it cannot run from CI as it is.
        expect(ciAdvance.checkBackend(PROJECT, {}).ok).to.equal(false);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
