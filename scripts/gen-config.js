#!/usr/bin/env node
// Writes what comes from the config schema: the `config:` block of Pulumi.yaml and the README's key
// table (config/docs.ts). Run after changing config/schema.ts: npm run gen:config.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { parseDocument } = require("yaml");
const root = path.resolve(__dirname, "..");
const docs = require(path.join(root, "dist", "config", "docs.js"));

const projectFile = path.join(root, "Pulumi.yaml");
const doc = parseDocument(fs.readFileSync(projectFile, "utf8"));
doc.set("config", doc.createNode(docs.projectConfig()));
fs.writeFileSync(projectFile, doc.toString({ lineWidth: 0 }));

const readmeFile = path.join(root, "README.md");
const readme = fs.readFileSync(readmeFile, "utf8");
const start = readme.indexOf(docs.README_START);
const end = readme.indexOf(docs.README_END);
if (start < 0 || end < 0) throw new Error(`README.md has no ${docs.README_START} … ${docs.README_END} markers`);
fs.writeFileSync(readmeFile, readme.slice(0, start) + docs.readmeKeyTable() + readme.slice(end + docs.README_END.length));
console.log("wrote Pulumi.yaml (config:) and README.md (key table)");
