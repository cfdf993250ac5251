#!/usr/bin/env node
"use strict";
// Entry point of the `unchain` command; the TypeScript sources are compiled to dist/ by `npm ci`
// (the `prepare` script) or `npm run build`.
const path = require("node:path");
let cli;
try {
  cli = require(path.join(__dirname, "..", "dist", "automation", "cli.js"));
} catch (e) {
  if (e && e.code === "MODULE_NOT_FOUND" && String(e.message).includes("dist")) {
    process.stderr.write("unchain: not built yet. Run `npm ci` (or `npm run build`) in the unchain directory first.\n");
    process.exit(2);
  }
  throw e;
}
// Once the command is done, the process ends, after what it wrote has gone out. Left to end by
// itself, it can wait forever: after a failed preview, @pulumi/pulumi's callback client (resource
// transforms) may keep retrying every second to reach the engine that has already exited.
const exit = (code) => process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
cli.main(process.argv.slice(2)).then(exit, (err) => {
  process.stderr.write(`unchain: internal error (a bug in unchain): ${err && err.stack ? err.stack : err}\nPlease report it with the command you ran and this output.\n`);
  exit(70);
});
