/**
 * The README's key table and Pulumi.yaml's `config:` block come from the config schema
 * (config/docs.ts): they must say what the validator accepts. `npm run gen:config` rewrites both.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { expect } from "chai";
import { parse } from "yaml";
import { projectConfig, README_END, README_START, readmeKeyTable } from "../config/docs";
import { projectDefaults } from "../config/load";
import { KEY_NAMES, STACK_KEYS } from "../config/schema";
import { PROJECT } from "./helpers";

describe("documentation generated from the config schema", () => {
  it("Pulumi.yaml declares every scalar key's type, default and description as the schema does", () => {
    const project = parse(fs.readFileSync(path.join(PROJECT, "Pulumi.yaml"), "utf8")) as { config: unknown };
    expect(project.config, "run npm run gen:config").to.deep.equal(projectConfig());
  });

  it("the defaults the CLI applies are the schema's", () => {
    const d = projectDefaults(PROJECT);
    for (const [key, spec] of Object.entries(projectConfig())) expect(d[`unchain:${key}`], key).to.equal(spec.default);
  });

  it("the README's key table is the schema's, every key once", () => {
    const readme = fs.readFileSync(path.join(PROJECT, "README.md"), "utf8");
    const table = readme.slice(readme.indexOf(README_START), readme.indexOf(README_END) + README_END.length);
    expect(table, "run npm run gen:config").to.equal(readmeKeyTable());
    for (const key of KEY_NAMES) expect(table.split(`| \`unchain:${key}\` |`).length - 1, key).to.equal(1);
    expect(Object.keys(STACK_KEYS)).to.have.length(KEY_NAMES.length);
  });
});
