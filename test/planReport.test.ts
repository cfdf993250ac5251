/**
 * The plan at fleet scale, as a person reads it: the roll-up first, colour only where it is wanted,
 * and a Markdown report that fits a GitHub comment with every stack's line kept.
 */
import { spawnSync } from "node:child_process";
import { expect } from "chai";
import { BIN } from "./driverHarness";
import { PROJECT } from "./helpers";

const plan = (args: string[], env: NodeJS.ProcessEnv = {}) => {
  const e = { ...process.env, ...env };
  delete e.NO_COLOR;
  delete e.FORCE_COLOR;
  Object.assign(e, env);
  return spawnSync(process.execPath, [BIN, "plan", ...args, "-C", PROJECT], { encoding: "utf8", env: e });
};
const ESC = "\x1b[";

describe("the plan at fleet scale", function () {
  this.timeout(120_000);
  let table: string;
  let markdown: string;
  before(() => {
    table = plan(["--all"]).stdout;
    markdown = plan(["--all", "--format", "markdown"]).stdout;
  });

  it("starts with the fleet in a line: where the stacks stand, how many steps, how many pass", () => {
    const first = table.split("\n")[0];
    expect(first).to.match(/^30 stacks: (\d+ at phase \d, )*\d+ at phase \d; \d+ steps, all pass\.$/);
    const counted = [...first.matchAll(/(\d+) at phase \d/g)].reduce((n, m) => n + Number(m[1]), 0);
    expect(counted, "every stack counted once").to.equal(30);
    const rows = table.split("\n").filter((l) => /^\S+ .*\s\d→\d\s+\d+\s/.test(l)).length;
    expect(first).to.contain(`; ${rows} steps,`);
  });

  it("says which steps fail, by stack and step", () => {
    const r = plan(["-s", "prod-eu-west-1", "--from", "5", "--to", "1"]);
    expect(r.status).to.equal(1);
    expect(r.stdout.split("\n")[0]).to.match(/^1 stack: 1 at phase \d; 0 steps, all pass; 1 going back\.$/);
  });

  it("colours + - ~ and failures on a terminal (FORCE_COLOR), never with NO_COLOR or into a pipe", () => {
    expect(table.includes(ESC), "a pipe gets no colour").to.equal(false);
    const forced = plan(["-s", "prod-eu-west-1", "--details"], { FORCE_COLOR: "1" }).stdout;
    expect(forced).to.contain(`${ESC}32m+ create`);
    expect(forced).to.contain(`${ESC}33m~ update`);
    const none = plan(["-s", "prod-eu-west-1", "--details"], { FORCE_COLOR: "1", NO_COLOR: "1" }).stdout;
    expect(none.includes(ESC), "NO_COLOR wins").to.equal(false);
  });

  it("Markdown for a pull request fits a GitHub comment and keeps every stack's summary and table row", () => {
    expect(markdown.length).to.be.at.most(65_536);
    expect(markdown).to.match(/^## unchain plan\n\n30 stacks: /);
    expect(markdown).to.match(/> The detail of \d+ stacks? was trimmed to fit a GitHub comment/);
    const stacks = spawnSync("ls", [PROJECT], { encoding: "utf8" }).stdout.split("\n").filter((f) => /^Pulumi\..+\.yaml$/.test(f) && f !== "Pulumi.yaml").map((f) => f.slice(7, -5));
    expect(stacks).to.have.length(30);
    for (const s of stacks) {
      expect(markdown, `${s}'s row`).to.match(new RegExp(`\\n\\| ${s} \\|`));
      expect(markdown, `${s}'s section`).to.contain(`<summary><b>${s}</b>`);
    }
    expect(markdown).to.contain("_Detail trimmed to fit a GitHub comment: `unchain plan -s ");
  });
});
