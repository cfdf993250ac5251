/**
 * What unchain hands to others validates against their own schemas (../shared/reference/data/):
 * Cilium Helm values of every phase of every example stack against the chart's values schema, and
 * the vpc-cni add-on's configurationValues against the add-on's configuration schema.
 */
import Ajv from "ajv";
import { expect } from "chai";
import * as fs from "node:fs";
import * as path from "node:path";
import { listStacks, loadStack } from "../config/load";
import { KEYS_OUTSIDE_SCHEMA } from "../steps/values";
import { addons, evaluateStack, PROJECT, releases } from "./helpers";

const DATA = path.join(PROJECT, "test", "schemas");
const load = (f: string) => JSON.parse(fs.readFileSync(path.join(DATA, f), "utf8"));

function ajvFor(schema: { $schema?: string }) {
  // The add-on schema uses "format": "integer"/"boolean" (not JSON Schema formats): known, not checked.
  const ajv = new Ajv({ allErrors: true, strict: false, formats: { integer: true, boolean: true } });
  if (schema.$schema?.includes("draft-06")) ajv.addMetaSchema(require("ajv/dist/refs/json-schema-draft-06.json"));
  return ajv.compile(schema);
}

describe("generated Helm values and add-on configuration validate against the upstream schemas", function () {
  this.timeout(120000);
  const cilium = ajvFor(load("cilium-chart-values.schema.json"));
  const vpcCni = ajvFor(load("vpc-cni-addon-v1.15.1.schema.json"));
  const releaseValues: Array<{ where: string; values: Record<string, unknown> }> = [];
  const addonValues: Array<{ where: string; values: Record<string, unknown> }> = [];

  before(async () => {
    for (const stack of listStacks(PROJECT)) {
      const adopted = Number(loadStack(PROJECT, stack).raw.adoptedPhase ?? 0);
      for (let p = adopted; p <= 6; p++) {
        const ev = await evaluateStack(stack, p);
        expect(ev.error, `${stack} phase ${p}`).to.equal(undefined);
        for (const r of releases(ev)) releaseValues.push({ where: `${stack} phase ${p}`, values: r.inputs.values as Record<string, unknown> });
        for (const a of addons(ev)) if (a.inputs.configurationValues) addonValues.push({ where: `${stack} phase ${p}`, values: JSON.parse(a.inputs.configurationValues as string) });
      }
    }
  });

  it("found chained and ENI values and pinned add-on configurations to check", () => {
    expect(releaseValues.length).to.be.greaterThan(100);
    expect(addonValues.length).to.be.greaterThan(50);
  });

  it("every Cilium values document validates, once the keys kept for older charts are set aside", () => {
    for (const { where, values } of releaseValues) {
      const current = Object.fromEntries(Object.entries(values).filter(([k]) => !(k in KEYS_OUTSIDE_SCHEMA)));
      expect(cilium(current), `${where}: ${JSON.stringify(cilium.errors)}`).to.equal(true);
    }
  });

  it("the only keys outside the 1.20 schema are the named older-chart keys, each with its reason", () => {
    const outside = new Set<string>();
    for (const { values } of releaseValues) {
      if (!cilium(values)) for (const e of cilium.errors ?? []) outside.add(String(e.params && (e.params as { additionalProperty?: string }).additionalProperty));
    }
    // The schema does not forbid extra keys at the top level, so look for them directly.
    const schemaKeys = Object.keys(load("cilium-chart-values.schema.json").properties);
    for (const { values } of releaseValues) for (const k of Object.keys(values)) if (!schemaKeys.includes(k)) outside.add(k);
    outside.delete("undefined");
    expect([...outside].sort()).to.deep.equal(Object.keys(KEYS_OUTSIDE_SCHEMA).sort());
    for (const reason of Object.values(KEYS_OUTSIDE_SCHEMA)) expect(reason.length).to.be.greaterThan(40);
  });

  it("every vpc-cni configurationValues validates against the add-on schema", () => {
    for (const { where, values } of addonValues) expect(vpcCni(values), `${where}: ${JSON.stringify(vpcCni.errors)}`).to.equal(true);
  });

  it("the add-on schema really rejects keys it does not list (nodeSelector)", () => {
    expect(vpcCni({ nodeSelector: { cni: "aws" } })).to.equal(false);
  });
});
