/**
 * Dry runs change nothing: `unchain preview` and `advance` without --yes run no `pulumi stack init`,
 * write no stack file (the preview reads a copy that names the phase, outside the project), and say of
 * a stack the backend does not have yet that it is not there and how to adopt it.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expect } from "chai";
import { descendants, ensurePulumi, ledger, runDriverCli, simProject, SimProject, startDriver, summaryOf } from "./driverHarness";

const stackFiles = (p: SimProject) => Object.fromEntries(p.stacks.map((s) => [s, fs.readFileSync(path.join(p.dir, `Pulumi.${s}.yaml`))]));
const inBackend = (p: SimProject, s: string) => fs.existsSync(path.join(p.dir, ".pulumi", "stacks", "unchain", `${s}.json`));

/** Files in the project beside the driver's and the backend's own folders. */
const projectFiles = (p: SimProject) =>
  fs
    .readdirSync(p.dir)
    .filter((f) => ![".unchain", ".pulumi", ".pulumi-home"].includes(f))
    .sort();

describe("dry runs change nothing", function () {
  this.timeout(15 * 60_000);
  before(() => ensurePulumi());

  it("a stack not in the backend yet: no stack init, no file written, reported with the command that adopts it", async () => {
    const p = simProject([{ name: "w", stacks: ["n1", "n2"], concurrency: 2 }], { phase: 2 });
    const files = stackFiles(p);
    const names = projectFiles(p);
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-scratch-"));

    const dry = await runDriverCli(p, ["advance", "--all", "--to", "3", "--json"], { extra: { UNCHAIN_TMPDIR: scratch } });
    expect(dry.code, dry.stdout + dry.stderr).to.equal(0);
    for (const r of summaryOf(dry).results) {
      expect(r.status).to.equal("skipped");
      expect(r.error).to.contain(`${r.stack} is not in the backend yet`).and.contain(`unchain advance -s ${r.stack} --to 2 --yes adopts it`);
    }
    const text = await runDriverCli(p, ["preview", "-s", "n1", "--phase", "2"]);
    expect(text.code, text.stdout).to.equal(0);
    expect(text.stdout).to.match(/Skipped:\n {2}n1: n1 is not in the backend yet \(file:\/\/.*\): a dry run creates nothing/);
    expect(text.stdout).not.to.contain("nothing applied");

    expect(stackFiles(p)).to.deep.equal(files);
    expect(projectFiles(p)).to.deep.equal(names);
    expect(p.stacks.filter((s) => inBackend(p, s))).to.deep.equal([]);
    expect(fs.readdirSync(scratch)).to.deep.equal([]);
  });

  it("a stack in the backend: the next phase is previewed from a copy of its file outside the project; the file is not written, the copy is gone", async () => {
    const p = simProject([{ name: "w", stacks: ["e1"] }]);
    expect((await runDriverCli(p, ["advance", "--all", "--to", "0", "--yes"])).code).to.equal(0);
    const files = stackFiles(p);
    const before = ledger(p).length;
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-scratch-"));
    const dry = await runDriverCli(p, ["advance", "--all", "--to", "2", "--json"], { extra: { UNCHAIN_TMPDIR: scratch } });
    expect(dry.code, dry.stdout).to.equal(0);
    expect(summaryOf(dry).results[0]).to.include({ status: "previewed", phase: 1 });
    // The preview saw phase 1: it would create the aws pools.
    expect(dry.stdout).to.match(/"type":"phase-end","stack":"e1","phase":1,"status":"previewed","changes":\{"create":3/);
    expect(dry.stdout).not.to.contain('"step":"set-config"');
    expect(stackFiles(p)).to.deep.equal(files);
    expect(ledger(p).length).to.equal(before);
    expect(fs.readdirSync(scratch)).to.deep.equal([]);
  });

  it("SIGKILL at random points of a dry run leaves every stack file as it was", async () => {
    const p = simProject([{ name: "w", stacks: ["k1", "k2"], concurrency: 2 }]);
    expect((await runDriverCli(p, ["advance", "--all", "--to", "0", "--yes"])).code).to.equal(0);
    const files = stackFiles(p);
    const names = projectFiles(p);
    for (let round = 0; round < 3; round++) {
      const run = startDriver(p, ["advance", "--all", "--to", "1"]);
      await new Promise((r) => setTimeout(r, 500 + Math.floor(Math.random() * 4000)));
      const children = descendants(run.child.pid!);
      run.child.kill("SIGKILL");
      await run.done;
      for (const c of children) {
        try {
          process.kill(c.pid, "SIGKILL");
        } catch {
          /* gone */
        }
      }
      expect(stackFiles(p), `round ${round}`).to.deep.equal(files);
      expect(projectFiles(p), `round ${round}`).to.deep.equal(names);
    }
  });
});
