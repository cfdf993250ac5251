/**
 * Random mutations of the example fleet's stack files, run through `unchain plan` as a user would:
 * whatever the file says, the answer is exit 0, 1 or 2 with a message, never an internal error
 * (exit 70) or a stack trace. And a secret pasted anywhere into a stack file, or held in the
 * environment, never shows in any output format. UNCHAIN_FUZZ_SEED replays a run.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expect } from "chai";
import fc from "fast-check";
import { parseDocument, stringify } from "yaml";
import { BIN } from "./driverHarness";
import { PROJECT } from "./helpers";

const STACKS = fs
  .readdirSync(PROJECT)
  .filter((f) => /^Pulumi\.[^.]+\.yaml$/.test(f))
  .map((f) => f.slice("Pulumi.".length, -".yaml".length))
  .sort();

interface Run {
  code: number;
  out: string;
}

function unchain(dir: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) =>
    execFile(process.execPath, [BIN, ...args, "-C", dir], { env: { ...process.env, ...env }, encoding: "utf8", maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, out: stdout + stderr }),
    ),
  );
}

/** A project of one stack: Pulumi.yaml, the stack file as given, and its snapshot. */
function project(stack: string, text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-fuzz-"));
  fs.copyFileSync(path.join(PROJECT, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
  fs.writeFileSync(path.join(dir, `Pulumi.${stack}.yaml`), text);
  const snap = path.join(PROJECT, "adopted", `${stack}.yaml`);
  if (fs.existsSync(snap)) {
    fs.mkdirSync(path.join(dir, "adopted"));
    fs.copyFileSync(snap, path.join(dir, "adopted", `${stack}.yaml`));
  }
  return dir;
}

/** Every path to a value in a YAML tree, as key lists. */
function paths(v: unknown, at: Array<string | number> = []): Array<Array<string | number>> {
  const here = at.length ? [at] : [];
  if (Array.isArray(v)) return [...here, ...v.flatMap((x, i) => paths(x, [...at, i]))];
  if (v && typeof v === "object") return [...here, ...Object.entries(v).flatMap(([k, x]) => paths(x, [...at, k]))];
  return here;
}

const WRONG_VALUES: unknown[] = [null, 0, -1, 1e309, 3.5, "", "x".repeat(5000), "phase", true, [], [1, "a"], {}, { a: { b: [] } }, "☃️\u0000", "-1", "secure"];

type Mutation = { kind: "value"; pick: number; value: number } | { kind: "delete"; pick: number } | { kind: "rename"; pick: number } | { kind: "text"; at: number; insert: string } | { kind: "truncate"; at: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("value" as const), pick: fc.nat(), value: fc.nat({ max: WRONG_VALUES.length - 1 }) }),
  fc.record({ kind: fc.constant("delete" as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant("rename" as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant("text" as const), at: fc.nat(), insert: fc.constantFrom(":", "- ", "\t", "{", "]", "&a ", "*a", "!!binary ", "'", "\n  x: [", "<<: *b\n") }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
);

function mutate(text: string, m: Mutation): string {
  if (m.kind === "text") {
    const at = m.at % (text.length + 1);
    return text.slice(0, at) + m.insert + text.slice(at);
  }
  if (m.kind === "truncate") return text.slice(0, m.at % (text.length + 1));
  const doc = parseDocument(text);
  const all = paths(doc.toJS()).filter((p) => p[0] === "config" && p.length > 1);
  const p = all[m.pick % all.length];
  if (m.kind === "delete") doc.deleteIn(p);
  else if (m.kind === "value") doc.setIn(p, WRONG_VALUES[m.value]);
  else {
    const parent = p.slice(0, -1);
    const key = p[p.length - 1];
    if (typeof key !== "string") return stringify(doc);
    const v = doc.getIn(p);
    doc.deleteIn(p);
    doc.setIn([...parent, key.replace(/[aeiou]/, "") + "s"], v);
  }
  return doc.toString();
}

const STACK_FRAME = /\n\s+at [^\n]*[:(][^\n]*\d+:\d+\)?/;

describe("unchain plan over random mutations of the example stack files", function () {
  this.timeout(20 * 60_000);
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  it("answers every one with exit 0, 1 or 2 and a message, never an internal error or a stack trace", async () => {
    const seed = Number(process.env.UNCHAIN_FUZZ_SEED ?? Date.now() % 1_000_000);
    const cases = fc.sample(fc.tuple(fc.nat({ max: STACKS.length - 1 }), mutationArb, fc.constantFrom("table", "json", "markdown")), { seed, numRuns: 24 });
    for (const [i, m, format] of cases) {
      const stack = STACKS[i];
      const text = mutate(fs.readFileSync(path.join(PROJECT, `Pulumi.${stack}.yaml`), "utf8"), m);
      const dir = project(stack, text);
      dirs.push(dir);
      const r = await unchain(dir, ["plan", "-s", stack, "--format", format]);
      const what = `seed ${seed} (UNCHAIN_FUZZ_SEED=${seed}), ${stack}, ${JSON.stringify(m)}, --format ${format}:\n${r.out.slice(0, 3000)}`;
      expect([0, 1, 2], what).to.include(r.code);
      expect(r.out, what).to.not.match(STACK_FRAME);
      expect(r.out, what).to.not.include("internal error");
      expect(r.out.trim().length, what).to.be.greaterThan(0);
    }
  });

  it("an alias bomb is a clear error naming the file, not an internal error", async () => {
    const stack = STACKS[0];
    const bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]", ...Array.from({ length: 8 }, (_, i) => `${"bcdefghi"[i]}: &${"bcdefghi"[i]} [${Array(10).fill(`*${"abcdefgh"[i]}`).join(", ")}]`)].join("\n");
    const text = fs.readFileSync(path.join(PROJECT, `Pulumi.${stack}.yaml`), "utf8") + `  unchain:bomb:\n${bomb.replace(/^/gm, "    ")}\n`;
    const dir = project(stack, text);
    dirs.push(dir);
    const r = await unchain(dir, ["plan", "-s", stack]);
    expect(r.code, `a config file to fix: exit 2 in the exit-code table\n${r.out}`).to.equal(2);
    expect(r.out).to.include(`Pulumi.${stack}.yaml`);
    expect(r.out).to.not.match(STACK_FRAME);
  });

  it("never prints a secret, in any format of plan or status: a token pasted into values or a pause reason, a secure value, the passphrase", async () => {
    const stack = STACKS.find((s) => fs.existsSync(path.join(PROJECT, "adopted", `${s}.yaml`)))!;
    const pasted = "ghp_PastedTokenThatMustNeverBePrinted0001";
    const secureText = "v1:U2VjdXJlQ2lwaGVydGV4dE5ldmVyUHJpbnRlZA==";
    const passphrase = "passphrase-never-printed-0001";
    const doc = parseDocument(fs.readFileSync(path.join(PROJECT, `Pulumi.${stack}.yaml`), "utf8"));
    doc.setIn(["config", "unchain:ciliumValues"], { common: { hubble: { relay: { token: pasted } }, clustermesh: { apiserver: { tls: { key: { secure: secureText } } } } } });
    const dir = project(stack, doc.toString());
    dirs.push(dir);
    for (const format of ["table", "json", "markdown"]) {
      const r = await unchain(dir, ["plan", "-s", stack, "--format", format, "--from", "0"], { PULUMI_CONFIG_PASSPHRASE: passphrase, GITHUB_TOKEN: pasted });
      expect([0, 1], r.out).to.include(r.code);
      for (const secret of [pasted, secureText.slice(3), passphrase]) expect(r.out, `${format} shows ${secret}`).to.not.include(secret);
    }
    // The other commands that read the stack file without a cluster: status, plain and JSON, and a pause reason.
    for (const args of [["status"], ["status", "--json"], ["pause", "--reason", `rotating ${pasted}`], ["status"], ["unpause"]]) {
      const r = await unchain(dir, args, { PULUMI_CONFIG_PASSPHRASE: passphrase, GITHUB_TOKEN: pasted });
      expect(r.code, `${args.join(" ")}: ${r.out}`).to.be.oneOf([0, 1]);
      for (const secret of [pasted, secureText.slice(3), passphrase]) expect(r.out, `${args.join(" ")} shows ${secret}`).to.not.include(secret);
    }
  });
});
