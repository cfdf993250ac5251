/**
 * unchain finds its project as `pulumi` does: Pulumi.yaml in the working directory (or -C) or the
 * nearest parent. Anywhere else every command fails with exit code 2, a message that says -C, no stack
 * trace, and nothing written: never the example fleet this package carries.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expect } from "chai";
import { findProjectDir } from "../config/project";
import { BIN } from "./driverHarness";
import { PROJECT } from "./helpers";

const run = (args: string[], cwd: string) =>
  spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: "utf8", env: { ...process.env, PULUMI_CONFIG_PASSPHRASE: "x", UNCHAIN_OPERATOR: "test", CI: "1" } });

/** Every file under `dir` (relative), to see that a command wrote nothing. */
function tree(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).sort();
}

function project(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-project-"));
  fs.copyFileSync(path.join(PROJECT, "Pulumi.yaml"), path.join(d, "Pulumi.yaml"));
  fs.copyFileSync(path.join(PROJECT, "Pulumi.dev.yaml"), path.join(d, "Pulumi.dev.yaml"));
  fs.mkdirSync(path.join(d, "docs", "notes"), { recursive: true });
  return d;
}

describe("finding the project", () => {
  it("outside any project, every command fails with exit 2, suggests -C, shows no stack trace and writes nothing (not into the package either)", () => {
    const nowhere = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-nowhere-"));
    const packagePause = path.join(PROJECT, ".unchain", "pause");
    const hadPause = fs.existsSync(packagePause);
    for (const args of [["plan", "--all"], ["status"], ["pause", "--reason", "wrong place"], ["unpause"], ["advance", "--all", "--to", "1"], ["preview", "-s", "dev", "--phase", "1"], ["review"], ["check", "-s", "dev"]]) {
      const r = run(args, nowhere);
      expect(r.status, `${args.join(" ")}: ${r.stderr}`).to.equal(2);
      expect(r.stderr).to.contain("no Pulumi project").and.contain(nowhere).and.contain("-C <dir>");
      expect(r.stderr).not.to.match(/\n\s+at /);
      expect(r.stdout).to.equal("");
    }
    expect(tree(nowhere)).to.deep.equal([]);
    expect(fs.existsSync(packagePause)).to.equal(hadPause);
  });

  it("from a subdirectory, finds the project above it, as pulumi does; pause and status then act on that project", () => {
    const d = project();
    const sub = path.join(d, "docs", "notes");
    const plan = run(["plan", "-s", "dev"], sub);
    expect(plan.status, plan.stderr).to.equal(0);
    expect(plan.stdout).to.contain("dev");
    expect(run(["pause", "--reason", "from a subdirectory"], sub).status).to.equal(0);
    expect(tree(sub)).to.deep.equal([]);
    const status = run(["status"], d);
    expect(status.status, status.stderr).to.equal(0);
    expect(status.stdout).to.contain("Paused").and.contain("from a subdirectory");
    expect(run(["unpause", "-C", sub], os.tmpdir()).status).to.equal(0);
    expect(run(["status"], d).stdout).not.to.contain("Paused");
  });

  it("-C names the directory to start from: a project, one of its subdirectories; not a missing directory or one outside a project", () => {
    const d = project();
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-nowhere-"));
    expect(run(["plan", "-s", "dev", "-C", d], elsewhere).status).to.equal(0);
    expect(run(["plan", "-s", "dev", "-C", "docs"], d).status).to.equal(0);
    const missing = run(["plan", "-s", "dev", "-C", path.join(d, "nope")], elsewhere);
    expect(missing.status).to.equal(2);
    expect(missing.stderr).to.contain("no such directory");
    const outside = run(["pause", "-C", elsewhere], d);
    expect(outside.status).to.equal(2);
    expect(outside.stderr).to.contain(`-C ${elsewhere}`).and.contain("no Pulumi project");
    expect(tree(elsewhere)).to.deep.equal([]);
  });

  it("the repository's own directory is a project: `npx unchain plan --all` there plans the example fleet", () => {
    expect(findProjectDir(PROJECT)).to.equal(PROJECT);
    expect(findProjectDir(path.join(PROJECT, "test", "fixtures"))).to.equal(PROJECT);
  });

  it("a project file pulumi would take but unchain does not read (Pulumi.yml) is named, with the fix", () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-project-"));
    fs.writeFileSync(path.join(d, "Pulumi.yml"), "name: unchain\nruntime: nodejs\n");
    expect(() => findProjectDir(d)).to.throw(/Pulumi\.yml is the project file pulumi finds here.*rename it to Pulumi\.yaml/);
  });
});
