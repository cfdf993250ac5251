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

describe("one exit-code table, one --json (issue 16)", function () {
  this.timeout(120000);
  const noPassphrase = () => {
    const env: NodeJS.ProcessEnv = { ...process.env, AWS_ACCESS_KEY_ID: "", AWS_PROFILE: "" };
    delete env.PULUMI_CONFIG_PASSPHRASE;
    delete env.PULUMI_CONFIG_PASSPHRASE_FILE;
    return env;
  };
  const runEnv = (args: string[], env: NodeJS.ProcessEnv) => spawnSync(process.execPath, [BIN, ...args], { cwd: PROJECT, encoding: "utf8", env });
  interface Doc {
    schemaVersion: number;
    command: string;
    error?: { kind: string; message: string; exitCode: number };
    [k: string]: unknown;
  }
  let kubeconfig: string;
  before(() => {
    // A kubeconfig whose only context is another cluster's: the stack's context is missing.
    kubeconfig = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "unchain-kc-")), "config");
    fs.writeFileSync(
      kubeconfig,
      "apiVersion: v1\nkind: Config\nclusters: [{name: other, cluster: {server: 'https://127.0.0.1:9'}}]\nusers: [{name: other, user: {token: x}}]\ncontexts: [{name: other, context: {cluster: other, user: other}}]\ncurrent-context: other\n",
    );
  });
  after(() => fs.rmSync(path.dirname(kubeconfig), { recursive: true, force: true }));

  it("plan, status and review --json: one document each with schemaVersion 1 and the command", () => {
    for (const [args, fields] of [
      [["plan", "-s", "prod-eu-west-1", "--json"], ["stacks", "ok"]],
      [["status", "--json"], ["backend", "paused", "stacks"]],
      [["review", "-s", "prod-eu-west-1", "--json"], ["ok", "stacks", "markdown"]],
    ] as Array<[string[], string[]]>) {
      const r = run(args);
      expect(r.status, `${args.join(" ")}: ${r.stderr}`).to.equal(0);
      const doc = JSON.parse(r.stdout) as Doc;
      expect(doc.schemaVersion, args.join(" ")).to.equal(1);
      expect(doc.command, args.join(" ")).to.equal(args[0]);
      expect(doc, args.join(" ")).to.include.keys(fields);
    }
  });

  it("plan --format json still works, the same document, and says it is deprecated", () => {
    const old = run(["plan", "-s", "prod-eu-west-1", "--format", "json"]);
    expect(old.status).to.equal(0);
    expect(old.stderr).to.include("--format json is deprecated; use plan --json");
    const doc = JSON.parse(old.stdout) as Doc;
    expect(doc.schemaVersion).to.equal(1);
    expect(doc.command).to.equal("plan");
  });

  it("review --json <file>, the old form, is a usage error pointing at --json-out; never silently nothing", () => {
    const r = run(["review", "-s", "prod-eu-west-1", "--json", "review.json"]);
    expect(r.status).to.equal(2);
    expect(r.stderr).to.include("--json-out review.json");
    expect(fs.existsSync(path.join(PROJECT, "review.json"))).to.equal(false);
  });

  it("a usage error with --json is a JSON document: kind usage, exit 2", () => {
    for (const args of [["plan", "--json"], ["plan", "--stak", "x", "--json"], ["advance", "--to", "1", "--json"]]) {
      const r = run(args);
      expect(r.status, args.join(" ")).to.equal(2);
      const doc = JSON.parse(r.stdout) as Doc;
      expect(doc.schemaVersion).to.equal(1);
      expect(doc.command).to.equal(args[0]);
      expect(doc.error).to.include({ kind: "usage", exitCode: 2 });
      expect(doc.error!.message).to.be.a("string").and.not.equal("");
    }
  });

  it("an error never prints a secret: a token pasted where a stack name goes is [secret], in the words and in the JSON", () => {
    const token = "ghp_pastedTokenNotAStack0123456789";
    const r = spawnSync(process.execPath, [BIN, "plan", "-s", token, "--json"], { cwd: PROJECT, encoding: "utf8", env: { ...process.env, GITHUB_TOKEN: token } });
    expect(r.status).to.equal(2);
    expect(r.stdout + r.stderr).to.not.contain(token);
    expect((JSON.parse(r.stdout) as Doc).error!.message).to.contain("[secret]");
  });

  it("an environment problem exits 5, not 2: no passphrase (advance, preview), no kube context (check, drain); with --json, kind environment", () => {
    const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
      [["advance", "-s", "prod-eu-west-1", "--to", "1"], noPassphrase(), /set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE/],
      [["preview", "-s", "prod-eu-west-1", "--phase", "1"], noPassphrase(), /set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE/],
      [["check", "-s", "prod-eu-west-1", "--phase", "1", "--kubeconfig", kubeconfig], process.env, /no context "[^"]+" in the kubeconfig/],
      [["drain", "-s", "prod-eu-west-1", "--role", "both", "--kubeconfig", kubeconfig], process.env, /no context "[^"]+" in the kubeconfig/],
    ];
    for (const [args, env, why] of cases) {
      const plain = runEnv(args, env);
      expect(plain.status, `${args.join(" ")}: ${plain.stderr}`).to.equal(5);
      expect(plain.stderr, args.join(" ")).to.match(why);
      expect(plain.stderr, args.join(" ")).to.not.match(/\n\s+at /);
      const json = runEnv([...args, "--json"], env);
      expect(json.status, args.join(" ")).to.equal(5);
      const doc = JSON.parse(json.stdout) as Doc;
      expect(doc).to.include({ schemaVersion: 1, command: args[0] });
      expect(doc.error).to.include({ kind: "environment", exitCode: 5 });
      expect(doc.error!.message).to.match(why);
    }
  });

  /** `N  meaning` rows after "Exit codes:" in --help; `| N | meaning |` rows of the README's table. */
  const helpCodes = (text: string) => [...text.slice(text.indexOf("Exit codes:")).matchAll(/^ {2}(\d+)\s+(.+)$/gm)].map((m) => [Number(m[1]), m[2].trim()]);
  const readmeSection = (title: string) => {
    const readme = fs.readFileSync(path.join(PROJECT, "README.md"), "utf8");
    const start = readme.indexOf(`\n## ${title}\n`);
    expect(start, `README has ## ${title}`).to.be.greaterThan(0);
    return readme.slice(start, readme.indexOf("\n## ", start + 1));
  };

  it("--help ends with the exit codes, and the README's Exit codes table says the same", () => {
    const help = run(["--help"]);
    expect(help.status).to.equal(0);
    const fromHelp = helpCodes(help.stdout);
    expect(fromHelp.map(([c]) => c)).to.deep.equal([0, 1, 2, 3, 4, 5, 70]);
    const fromReadme = [...readmeSection("Exit codes").matchAll(/^\| (\d+) \| (.+) \|$/gm)].map((m) => [Number(m[1]), m[2].trim()]);
    expect(fromReadme).to.deep.equal(fromHelp);
  });

  it("the README's command reference names every command of --help with the options its --help lists", () => {
    const commands = [...run(["--help"]).stdout.matchAll(/^ {2}unchain (\w+) /gm)].map((m) => m[1]);
    expect(commands).to.include.members(["plan", "status", "advance", "review", "drain"]);
    const rows = new Map([...readmeSection("Command reference").matchAll(/^\| `(\w+)` \| [^|]+ \|(.*)\|$/gm)].map((m) => [m[1], [...m[2].matchAll(/`(--[a-z-]+)`/g)].map((o) => o[1]).sort()]));
    expect([...rows.keys()].sort()).to.deep.equal([...commands].sort());
    for (const c of commands) {
      const help = run([c, "--help"]).stdout;
      const section = help.slice(help.indexOf("Options:"), help.indexOf("Examples:") > 0 ? help.indexOf("Examples:") : undefined);
      const options = [...new Set([...section.matchAll(/^ {2,6}(?:-\w, )?(--[a-z-]+)[,\s]/gm)].map((m) => m[1]))].filter((o) => !["--help", "--version", "--cwd"].includes(o)).sort();
      expect(rows.get(c), c).to.deep.equal(options);
    }
  });
});
