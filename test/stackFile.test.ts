/**
 * The stack-file edits are text edits: only the phase scalar changes (and the keys `pulumi stack
 * init` adds are appended), byte for byte everything else stays. Run over every example stack file
 * of the repository, as LF and as CRLF, and the edge cases; the file is replaced atomically and a
 * kill leaves no temporary file in the project.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expect } from "chai";
import { ConfigError } from "../config/problems";
import { keepFileShape, recoverInterruptedInit, removeStaleTemps, tempFileFor, withAddedKeys, withPhase, writePhase } from "../automation/driver/stackFile";
import { loadStack } from "../config/load";
import { ensurePulumi, PASSPHRASE } from "./driverHarness";
import { PROJECT } from "./helpers";

const EXAMPLES = fs
  .readdirSync(PROJECT)
  .filter((f) => /^Pulumi\..+\.ya?ml$/.test(f))
  .sort();
const stackOf = (file: string) => file.replace(/^Pulumi\./, "").replace(/\.ya?ml$/, "");
const phaseOf = (text: string) => Number(/^ {2}unchain:phase: (\d)/m.exec(text)![1]);

function tmpProject(files: Record<string, string> = {}): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-file-"));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(d, name), text);
  return d;
}

/** The lines of `b` that differ from `a` (same number of lines). */
function changedLines(a: string, b: string): string[] {
  const la = a.split("\n");
  const lb = b.split("\n");
  expect(lb.length).to.equal(la.length);
  return lb.filter((l, i) => l !== la[i]);
}

function configError(f: () => unknown): ConfigError {
  try {
    f();
  } catch (e) {
    expect(e).to.be.instanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

describe("the stack file: a phase edit changes the phase scalar and nothing else", () => {
  it(`holds for every example stack file (${EXAMPLES.length}), to every other phase and back, as LF and as CRLF`, () => {
    expect(EXAMPLES.length).to.be.greaterThan(20);
    for (const file of EXAMPLES) {
      const text = fs.readFileSync(path.join(PROJECT, file), "utf8");
      const stack = stackOf(file);
      const was = phaseOf(text);
      for (const p of [0, 1, 2, 3, 4, 5, 6].filter((x) => x !== was)) {
        const moved = withPhase(text, file, stack, p);
        expect(changedLines(text, moved), `${file} → ${p}`).to.deep.equal([`  unchain:phase: ${p}`]);
        expect(withPhase(moved, file, stack, was), `${file} → ${p} → ${was}`).to.equal(text);
      }
      const crlf = text.replace(/\n/g, "\r\n");
      const moved = withPhase(crlf, file, stack, (was + 1) % 7);
      expect(moved.replace(/\r\n/g, ""), `${file} as CRLF`).not.to.contain("\n");
      expect(moved.replace(/\r\n/g, "\n")).to.equal(withPhase(text, file, stack, (was + 1) % 7));
      expect(withPhase(moved, file, stack, was)).to.equal(crlf);
    }
  });

  it("writes every example file through writePhase and back to identical bytes (and unchain reads the new phase)", () => {
    const d = tmpProject({ "Pulumi.yaml": fs.readFileSync(path.join(PROJECT, "Pulumi.yaml"), "utf8") });
    for (const file of EXAMPLES) {
      const text = fs.readFileSync(path.join(PROJECT, file));
      fs.writeFileSync(path.join(d, file), text);
      const stack = stackOf(file);
      const was = phaseOf(text.toString("utf8"));
      writePhase(d, stack, (was + 3) % 7);
      expect(loadStack(d, stack).raw.phase).to.equal((was + 3) % 7);
      writePhase(d, stack, was);
      expect(fs.readFileSync(path.join(d, file)).equals(text), file).to.equal(true);
    }
    expect(fs.readdirSync(d).filter((f) => f.endsWith(".tmp"))).to.deep.equal([]);
  });

  it("keeps flow lists as spaced, quoting, long lines, comments and a missing trailing newline", () => {
    const long = `  unchain:ciliumValues: { eni: { eni: { awsEnablePrefixDelegation: true }, extraArgs: [ ${Array.from({ length: 30 }, (_, i) => `"--flag-${i}=value-${i}"`).join(", ")} ] } }`;
    const text = [
      "# a comment that stays",
      "config:",
      "  aws:region: 'eu-west-1'   # single-quoted, with spaces before the comment",
      "  unchain:phase:   2   # set by unchain",
      "  unchain:cluster: {name: x,region: \"eu-west-1\"}",
      "  unchain:chainedPools: [ { name: general,  size: { min: 1, desired: 2, max: 3 } } ]",
      long,
      "encryptionsalt: v1:abc:def",
    ].join("\n");
    expect(withPhase(text, "Pulumi.s.yaml", "s", 3)).to.equal(text.replace("unchain:phase:   2   #", "unchain:phase:   3   #"));
  });

  it("keeps quotes the Pulumi CLI wrote: unchain:phase: \"2\" becomes \"3\"", () => {
    expect(withPhase('config:\n  unchain:phase: "2"\n', "f", "s", 3)).to.equal('config:\n  unchain:phase: "3"\n');
    expect(withPhase("config:\n  unchain:phase: '2'\n", "f", "s", 3)).to.equal("config:\n  unchain:phase: '3'\n");
    expect(withPhase("config:\n  unchain:phase: !!str 2\n", "f", "s", 3)).to.equal("config:\n  unchain:phase: !!str 3\n");
  });

  it("edits an un-namespaced phase: key (Pulumi reads it as unchain:phase) instead of adding a second one", () => {
    const text = "config:\n  aws:region: eu-west-1\n  phase: 1 # bare\n  cluster: { name: x }\n";
    const out = withPhase(text, "Pulumi.s.yaml", "s", 2);
    expect(out).to.equal(text.replace("phase: 1", "phase: 2"));
    const d = tmpProject({ "Pulumi.yaml": "name: unchain\nruntime: nodejs\n", "Pulumi.s.yaml": out });
    expect(loadStack(d, "s").raw.phase).to.equal(2);
  });

  it("refuses phase: beside unchain:phase, naming both lines, and so does unchain's reading of the file", () => {
    const text = "config:\n  unchain:phase: 1\n  phase: 2\n";
    const e = configError(() => withPhase(text, "Pulumi.s.yaml", "s", 3));
    expect(e.message).to.contain("Pulumi.s.yaml").and.contain("line 2").and.contain("line 3").and.contain("keep one of them");
    const d = tmpProject({ "Pulumi.yaml": "name: unchain\nruntime: nodejs\n", "Pulumi.s.yaml": text });
    expect(configError(() => loadStack(d, "s")).message).to.contain("unchain:phase: is set twice");
  });

  it("refuses a duplicate key with the file and both lines, and writes nothing", () => {
    const text = "config:\n  unchain:phase: 1\n  aws:region: a\n  aws:region: b\n";
    const d = tmpProject({ "Pulumi.s.yaml": text });
    const e = configError(() => writePhase(d, "s", 2));
    expect(e.message).to.contain("Pulumi.s.yaml").and.contain("line 4: aws:region is set twice (also on line 3)").and.contain("keep one of them");
    expect(fs.readFileSync(path.join(d, "Pulumi.s.yaml"), "utf8")).to.equal(text);
    expect(fs.readdirSync(d)).to.deep.equal(["Pulumi.s.yaml"]);
  });

  it("adds a missing key in the file's style: the settings' indentation, its line endings, after config:", () => {
    expect(withPhase("# c\nconfig:\n    aws:region: x\n", "f", "s", 1)).to.equal("# c\nconfig:\n    unchain:phase: 1\n    aws:region: x\n");
    expect(withPhase("config: # settings\r\n  aws:region: x\r\n", "f", "s", 1)).to.equal("config: # settings\r\n  unchain:phase: 1\r\n  aws:region: x\r\n");
    expect(withPhase("config:\n  cluster: { name: x }\n", "f", "s", 1)).to.equal("config:\n  phase: 1\n  cluster: { name: x }\n");
    expect(withPhase("config:\n", "f", "s", 1)).to.equal("config:\n  unchain:phase: 1\n");
    expect(withPhase("config:", "f", "s", 1)).to.equal("config:\n  unchain:phase: 1\n");
    expect(withPhase("config:\n  unchain:phase: # to do\n  x: 1\n", "f", "s", 4)).to.equal("config:\n  unchain:phase: 4 # to do\n  x: 1\n");
    expect(withPhase("config: { a: 1 }\n", "f", "s", 1)).to.equal("config: { a: 1, unchain:phase: 1 }\n");
    expect(withPhase("encryptionsalt: v1:x", "f", "s", 1)).to.equal("encryptionsalt: v1:x\nconfig:\n  unchain:phase: 1\n");
    expect(withPhase("", "f", "s", 1)).to.equal("config:\n  unchain:phase: 1\n");
  });

  it("refuses what it cannot edit without guessing, naming the key and the fix", () => {
    expect(configError(() => withPhase("config:\n  unchain:phase: |\n    1\n", "Pulumi.s.yaml", "s", 2)).message).to.contain("block scalar").and.contain("plain number");
    expect(configError(() => withPhase("config:\n  unchain:phase: [1]\n", "Pulumi.s.yaml", "s", 2)).message).to.contain("is not a number");
    expect(configError(() => withPhase("config: 3\n", "Pulumi.s.yaml", "s", 2)).message).to.contain("is not a mapping of settings");
    expect(configError(() => withPhase("- a\n", "Pulumi.s.yaml", "s", 2)).message).to.contain("not a YAML mapping");
  });

  it("edits Pulumi.<stack>.yml where that is the file", () => {
    const d = tmpProject({ "Pulumi.s.yml": "config:\r\n  unchain:phase: 0\r\n" });
    writePhase(d, "s", 1);
    expect(fs.readdirSync(d)).to.deep.equal(["Pulumi.s.yml"]);
    expect(fs.readFileSync(path.join(d, "Pulumi.s.yml"), "utf8")).to.equal("config:\r\n  unchain:phase: 1\r\n");
  });

  it("keeps a symlinked stack file a symlink, and the file's mode", () => {
    const d = tmpProject({ "real.yaml": "config:\n  unchain:phase: 0\n" });
    fs.chmodSync(path.join(d, "real.yaml"), 0o640);
    fs.symlinkSync("real.yaml", path.join(d, "Pulumi.s.yaml"));
    writePhase(d, "s", 2);
    expect(fs.lstatSync(path.join(d, "Pulumi.s.yaml")).isSymbolicLink()).to.equal(true);
    expect(fs.readFileSync(path.join(d, "real.yaml"), "utf8")).to.equal("config:\n  unchain:phase: 2\n");
    expect(fs.statSync(path.join(d, "real.yaml")).mode & 0o777).to.equal(0o640);
  });
});

describe("the stack file: keys the CLI adds on stack init", () => {
  it("appends only the new top-level keys as text, keeping the rest byte for byte (CRLF too)", () => {
    const before = "# s\r\nconfig:\r\n  unchain:phase: 2\r\n  x: [ a, b ]";
    const after = 'encryptionsalt: v1:abc==\nconfig:\n  unchain:phase: "2"\n  x: [a, b]\nsecretsprovider: awskms://alias/x\n';
    expect(withAddedKeys(before, after, "f", "s")).to.equal(before + "\r\nencryptionsalt: v1:abc==\r\nsecretsprovider: awskms://alias/x\r\n");
    expect(withAddedKeys(before, before, "f", "s")).to.equal(before);
  });

  it("after a real `pulumi stack init` on every example file: the file is as it was plus the encryptionsalt line", async function () {
    this.timeout(600_000);
    const pulumi = ensurePulumi();
    const d = tmpProject({ "Pulumi.yaml": fs.readFileSync(path.join(PROJECT, "Pulumi.yaml"), "utf8") });
    const env = { ...process.env, PULUMI_BACKEND_URL: `file://${d}`, PULUMI_CONFIG_PASSPHRASE: PASSPHRASE, PULUMI_HOME: path.join(d, ".pulumi-home"), PULUMI_SKIP_UPDATE_CHECK: "true" };
    for (const file of EXAMPLES) {
      const text = fs.readFileSync(path.join(PROJECT, file), "utf8");
      fs.writeFileSync(path.join(d, file), text);
      const stack = stackOf(file);
      await keepFileShape(d, stack, async () => {
        const r = spawnSync(pulumi, ["stack", "init", stack, "--non-interactive"], { cwd: d, env, encoding: "utf8" });
        expect(r.status, r.stderr).to.equal(0);
      });
      const now = fs.readFileSync(path.join(d, file), "utf8");
      expect(now.startsWith(text), file).to.equal(true);
      expect(now.slice(text.length)).to.match(/^encryptionsalt: v1:\S+\n$/);
    }
  });
});

describe("the stack file: a kill while the CLI has it rewritten", () => {
  it("is put right by the next run: the file as it was, with the keys the CLI added; and when the CLI fails, at once", async () => {
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-journal-"));
    const text = "# s\nconfig:\n  unchain:phase: 2\n  x: [ a, b ]\n";
    const rewritten = 'config:\n  unchain:phase: "2"\n  x: [a, b]\nencryptionsalt: v1:abc\n';
    const d = tmpProject({ "Pulumi.s.yaml": text });
    const file = path.join(d, "Pulumi.s.yaml");
    const mod = path.join(PROJECT, "dist", "automation", "driver", "stackFile.js");
    const child = spawnSync(
      process.execPath,
      ["-e", `const fs = require("fs"); require(${JSON.stringify(mod)}).keepFileShape(${JSON.stringify(d)}, "s", async () => { fs.writeFileSync(${JSON.stringify(file)}, ${JSON.stringify(rewritten)}); process.kill(process.pid, "SIGKILL"); });`],
      { env: { ...process.env, UNCHAIN_TMPDIR: scratch } },
    );
    expect(child.signal).to.equal("SIGKILL");
    expect(fs.readFileSync(file, "utf8")).to.equal(rewritten);
    expect(fs.readdirSync(scratch)).to.have.length(1);
    const was = process.env.UNCHAIN_TMPDIR;
    process.env.UNCHAIN_TMPDIR = scratch;
    try {
      expect(recoverInterruptedInit(d, "s")).to.equal(true);
      expect(fs.readFileSync(file, "utf8")).to.equal(text + "encryptionsalt: v1:abc\n");
      expect(fs.readdirSync(scratch)).to.deep.equal([]);
      expect(recoverInterruptedInit(d, "s")).to.equal(false);
      // The CLI rewrote the file and then failed: put back all the same.
      fs.writeFileSync(file, text);
      const failed = await keepFileShape(d, "s", async () => {
        fs.writeFileSync(file, rewritten);
        throw new Error("stack init failed");
      }).catch((e: Error) => e.message);
      expect(failed).to.equal("stack init failed");
      expect(fs.readFileSync(file, "utf8")).to.equal(text + "encryptionsalt: v1:abc\n");
      expect(fs.readdirSync(scratch)).to.deep.equal([]);
    } finally {
      if (was === undefined) delete process.env.UNCHAIN_TMPDIR;
      else process.env.UNCHAIN_TMPDIR = was;
    }
  });
});

describe("the stack file: written atomically, nothing left in the project", () => {
  it("writes its temporary file outside the project when the temporary folder is on the same filesystem", () => {
    const d = tmpProject({ "Pulumi.s.yaml": "config:\n  unchain:phase: 0\n" });
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-tmp-"));
    const t = tempFileFor(path.join(d, "Pulumi.s.yaml"), { UNCHAIN_TMPDIR: outside });
    expect(t.inProject).to.equal(false);
    expect(path.dirname(t.file)).to.equal(outside);
    // Where there is no such folder, next to the file, named with the pid.
    expect(tempFileFor(path.join(d, "Pulumi.s.yaml"), { UNCHAIN_TMPDIR: d })).to.deep.equal({ file: path.join(d, `Pulumi.s.yaml.${process.pid}.tmp`), inProject: true });
  });

  it("removes Pulumi.<stack>.yaml.<pid>.tmp of processes that are gone, never a running one's", () => {
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout;
    const d = tmpProject({ "Pulumi.s.yaml": "config:\n  unchain:phase: 0\n", [`Pulumi.s.yaml.${dead}.tmp`]: "torn", [`Pulumi.t.yml.${process.ppid}.tmp`]: "running", "notes.tmp": "not ours" });
    writePhase(d, "s", 1);
    expect(fs.readdirSync(d).sort()).to.deep.equal(["Pulumi.s.yaml", `Pulumi.t.yml.${process.ppid}.tmp`, "notes.tmp"]);
    expect(removeStaleTemps(d)).to.deep.equal([]);
  });

  for (const where of ["outside the project", "next to the file"] as const) {
    it(`SIGKILL at random points of a write (temporary file ${where}) leaves the old file or the new one, whole, and no temporary file in the project after the next write`, async function () {
      this.timeout(120_000);
      const text = fs.readFileSync(path.join(PROJECT, "Pulumi.prod-eu-central-1.yaml"), "utf8");
      const other = withPhase(text, "f", "prod-eu-central-1", 4);
      const mod = path.join(PROJECT, "dist", "automation", "driver", "stackFile.js");
      for (let round = 0; round < 8; round++) {
        const d = tmpProject({ "Pulumi.s.yaml": text });
        const outside = where === "outside the project" ? fs.mkdtempSync(path.join(os.tmpdir(), "unchain-tmp-")) : d;
        const child = spawn(process.execPath, ["-e", `const { writePhase } = require(${JSON.stringify(mod)}); for (let i = 0; ; i++) writePhase(${JSON.stringify(d)}, "s", i % 2 ? 4 : ${phaseOf(text)});`], {
          env: { ...process.env, UNCHAIN_TMPDIR: outside },
          stdio: "ignore",
        });
        await new Promise((r) => setTimeout(r, 150 + Math.floor(Math.random() * 250)));
        child.kill("SIGKILL");
        await new Promise((r) => child.on("close", r));
        const now = fs.readFileSync(path.join(d, "Pulumi.s.yaml"), "utf8");
        expect([text, other]).to.include(now);
        if (where === "outside the project") expect(fs.readdirSync(d)).to.deep.equal(["Pulumi.s.yaml"]);
        writePhase(d, "s", 2);
        expect(fs.readdirSync(d)).to.deep.equal(["Pulumi.s.yaml"]);
      }
    });
  }
});
