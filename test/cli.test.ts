/** `unchain plan` end to end, as a user runs it: a separate process over the project's files. */
import { expect } from "chai";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PROJECT } from "./helpers";

const BIN = path.join(PROJECT, "bin", "unchain.js");
const run = (args: string[], cwd = PROJECT) => spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: "utf8", env: { ...process.env, AWS_ACCESS_KEY_ID: "", AWS_PROFILE: "" } });

describe("unchain plan (as a process)", function () {
  this.timeout(120000);

  it("--all over the example fleet: every stack planned, invariants kept, exit 0", () => {
    const r = run(["plan", "--all", "--format", "json"]);
    expect(r.status, r.stderr).to.equal(0);
    const plan = JSON.parse(r.stdout);
    expect(plan.stacks).to.have.length(30);
    expect(plan.ok).to.equal(true);
    const canary = plan.stacks.find((s: { stack: string }) => s.stack === "staging-eu-central-1");
    expect(canary.wave).to.equal("canary");
    const last = canary.steps.find((s: { from: number }) => s.from === 5);
    const deleted = last.changes.filter((c: { op: string }) => c.op === "delete").map((c: { kind: string; role?: string }) => `${c.kind}:${c.role ?? ""}`);
    expect(deleted).to.have.members(["nodePool:aws", "nodePool:aws", "nodePool:aws", "vpcCniAddon:"]);
  });

  it("the table names each stack's step and gate; a single stack shows the property changes", () => {
    const all = run(["plan", "--all"]);
    expect(all.stdout).to.match(/STACK\s+WAVE\s+AT\s+STEP\s+CREATE\s+UPDATE\s+DELETE\s+REPLACE\s+GATE\s+INVARIANTS/);
    expect(all.stdout).to.match(/staging-eu-west-1\s+staging\s+4\s+4→5\s+0\s+6\s+0\s+0\s+pass\s+ok/);
    const one = run(["plan", "-s", "staging-eu-west-1"]);
    expect(one.stdout).to.include("taints: + unchain.io/cni=aws:NO_SCHEDULE");
    expect(one.stdout).to.include("taints: - cni=cilium:NO_EXECUTE");
    expect(one.stdout).to.include("values.operator.unmanagedPodWatcher.restart: false → true");
  });

  it("markdown for a pull request", () => {
    const r = run(["plan", "-s", "prod-eu-west-2", "--format", "markdown", "--from", "0", "--to", "2"]);
    expect(r.status).to.equal(0);
    expect(r.stdout).to.include("| STACK | WAVE | AT | STEP |");
    expect(r.stdout).to.include("<details><summary><b>prod-eu-west-2</b>");
  });

  describe("in a project with a broken stack", () => {
    let dir: string;
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-plan-"));
      fs.copyFileSync(path.join(PROJECT, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
      fs.copyFileSync(path.join(PROJECT, "Pulumi.prod-eu-west-2.yaml"), path.join(dir, "Pulumi.prod-eu-west-2.yaml"));
      const bad = fs.readFileSync(path.join(PROJECT, "Pulumi.prod-eu-west-2.yaml"), "utf8").replace("unchain:phase: 0", "unchain:phase: 0\n  unchain:minSchedulableNodesPerAz: 5");
      fs.writeFileSync(path.join(dir, "Pulumi.tight.yaml"), bad);
      fs.writeFileSync(path.join(dir, "Pulumi.typo.yaml"), bad.replace("unchain:awsPools:", "unchain:awsPool:"));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("exits 1, names the broken invariant and the typo'd key, no stack trace, the good stack still planned", () => {
      const r = run(["plan", "--all", "-C", dir]);
      expect(r.status).to.equal(1);
      expect(r.stdout).to.match(/prod-eu-west-2\s+0\s+0→1\s+\d+\s+\d+\s+0\s+0\s+pass\s+ok/);
      expect(r.stdout).to.include("invariant 4 (each availability zone keeps schedulable capacity)");
      expect(r.stdout).to.include("unchain:awsPool: is not a setting unchain knows");
      expect(r.stdout).to.include("did you mean unchain:awsPools?");
      expect(r.stdout + r.stderr).to.not.match(/\n\s+at .+\.js:\d+/);
    });

    it("a YAML syntax error names the file and line; exit 2 (a config file to fix, nothing ran)", () => {
      fs.writeFileSync(path.join(dir, "Pulumi.syntax.yaml"), "config:\n  unchain:phase: [1\n");
      const r = run(["plan", "-s", "syntax", "-C", dir]);
      expect(r.status).to.equal(2);
      expect(r.stderr).to.include("Pulumi.syntax.yaml");
      expect(r.stderr).to.match(/line \d+/);
    });
  });

  it("usage errors exit 2 with a hint", () => {
    const r = run(["plan"]);
    expect(r.status).to.equal(2);
    expect(r.stderr).to.include("--stack <name> or --all");
    const bad = run(["plan", "-s", "nope"]);
    expect(bad.status).to.equal(2);
    expect(bad.stderr).to.include('no stack "nope"');
  });
});

describe("the command line forgives typos and says what it wanted", function () {
  this.timeout(120000);

  it("--version prints the package's version", () => {
    const r = run(["--version"]);
    expect(r.status).to.equal(0);
    expect(r.stdout.trim()).to.equal((JSON.parse(fs.readFileSync(path.join(PROJECT, "package.json"), "utf8")) as { version: string }).version);
  });

  it("a mistyped command, option or stack gets the nearest one; exit 2, never a stack trace", () => {
    const cases: Array<[string[], RegExp]> = [
      [["pln"], /Did you mean plan\?/],
      [["plan", "--stak", "x"], /Unknown argument: stak \(--stak: did you mean --stack\?\)/],
      [["plan", "-s", "prod-eu-west1"], /no stack "prod-eu-west1" .*Did you mean prod-eu-west-1\?/],
      [["plan", "-s"], /--stack needs a stack name/],
      [["plan", "-s", "prod-eu-west-1", "--to", "abc"], /--to must be a phase from 0 to 6, got "abc" \(not a number\)/],
    ];
    for (const [args, want] of cases) {
      const r = run(args);
      expect(r.status, `${args.join(" ")}: ${r.stderr}`).to.equal(2);
      expect(r.stderr, args.join(" ")).to.match(want);
      expect(r.stderr, args.join(" ")).to.not.match(/\n\s+at /);
    }
  });

  it("-s a,b names two stacks, as -s a -s b does", () => {
    const both = JSON.parse(run(["plan", "-s", "prod-eu-west-1,staging-eu-west-1", "--format", "json"]).stdout) as { stacks: Array<{ stack: string }> };
    const twice = JSON.parse(run(["plan", "-s", "prod-eu-west-1", "-s", "staging-eu-west-1", "--format", "json"]).stdout) as { stacks: Array<{ stack: string }> };
    expect(both.stacks.map((s) => s.stack).sort()).to.deep.equal(["prod-eu-west-1", "staging-eu-west-1"]);
    expect(both.stacks.map((s) => s.stack)).to.deep.equal(twice.stacks.map((s) => s.stack));
  });
});
