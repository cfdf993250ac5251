#!/usr/bin/env node
// The baseline of scripts/bench-driver.js: the smallest sequential Automation API script a user would
// write to move stacks one phase — for each stack, preview, then up. No gate, no plan, no locks.
// Usage: node scripts/plain-loop.js <projectDir> <programModule> <stack>...
"use strict";
const path = require("node:path");
const { LocalWorkspace, PulumiCommand } = require("@pulumi/pulumi/automation");

async function main() {
  const [dir, programModule, ...stacks] = process.argv.slice(2);
  const { program } = require(path.resolve(programModule));
  const pulumiCommand = await PulumiCommand.get({ root: path.dirname(path.dirname(process.env.UNCHAIN_PULUMI)) });
  // A CLI built from source lacks the dynamic-provider plugin an installed one bundles; @pulumi/pulumi has it.
  const sdk = path.join(__dirname, "..", "node_modules");
  const envVars = { PULUMI_BACKEND_URL: `file://${dir}`, NODE_PATH: sdk, PATH: `${process.env.PATH}:${path.join(sdk, "@pulumi", "pulumi")}` };
  for (const stackName of stacks) {
    const stack = await LocalWorkspace.createOrSelectStack({ stackName, projectName: "unchain", program }, { workDir: dir, pulumiCommand, envVars });
    await stack.preview();
    await stack.up();
  }
  process.stderr.write(`\nBENCH ${JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS })}\n`);
}
main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
