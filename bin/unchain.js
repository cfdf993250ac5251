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
cli.main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`unchain: internal error (a bug in unchain): ${err && err.stack ? err.stack : err}\nPlease report it with the command you ran and this output.\n`);
    process.exitCode = 70;
  },
);
