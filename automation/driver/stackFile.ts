/**
 * The driver moves `unchain:phase` in the stack file itself, the way `pulumi config set` would, but
 * as a text edit: only the phase scalar changes, every other byte stays (comments, flow lists and
 * their spacing, quoting, key order, CRLF line endings, long lines, the trailing newline). The Pulumi
 * CLI rewrites every value of a stack file as a string when it creates a stack or sets a key, which
 * would turn each reviewed file into a diff of quotes; a YAML round trip would re-space flow lists
 * and re-wrap long lines. The same holds for the top-level keys `pulumi stack init` adds
 * (`encryptionsalt`, …): they are appended as text.
 *
 * The file is replaced atomically (write a temporary file, rename it over the stack file). The
 * temporary file is written outside the project where it can be (the system's temporary folder,
 * when it is on the same filesystem), so a kill leaves nothing behind in the project; otherwise next
 * to the file as `Pulumi.<stack>.yaml.<pid>.tmp`, and those of processes that are gone are removed
 * by the next write.
 */
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { isDeepStrictEqual } from "node:util";
import { isMap, isPair, isScalar, LineCounter, Node, Pair, parseDocument, Scalar, YAMLMap } from "yaml";
import { parseYaml } from "../../config/load";
import { ConfigError, Problem } from "../../config/problems";
import { NAMESPACE } from "../../config/validate";
import { failpoint } from "./failpoint";
import { pidAlive } from "./locks";

export const PHASE_KEY = "unchain:phase";
/** Pulumi reads an un-namespaced key of a stack file in the project's namespace (config/load.ts does the same). */
export const BARE_PHASE_KEY = "phase";

export function stackFilePath(dir: string, stack: string): string {
  const yml = path.join(dir, `Pulumi.${stack}.yml`);
  return fs.existsSync(yml) ? yml : path.join(dir, `Pulumi.${stack}.yaml`);
}

/** `Pulumi.<stack>.yaml.<pid>.tmp`: what a write next to the file leaves when it is killed. */
const STALE_TEMP = /^Pulumi\..+\.ya?ml\.(\d+)\.tmp$/;

/** Removes the temporary files in `dir` that `pattern` matches (its first group: the writer's pid) whose process is gone (a write killed before its rename). */
export function removeStaleTemps(dir: string, pattern: RegExp = STALE_TEMP): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = pattern.exec(name);
    // One of this process's own is stale too (a reused pid): its writes are synchronous, none is under way.
    if (!m || (Number(m[1]) !== process.pid && pidAlive(Number(m[1])))) continue;
    try {
      fs.unlinkSync(path.join(dir, name));
      removed.push(name);
    } catch {
      /* gone already, or not ours to remove */
    }
  }
  return removed;
}

/** `unchain-<pid>-<random>.<name>.tmp`: what a write of `target` through the temporary folder leaves when it is killed (see tempFileFor). */
function staleTempOutside(target: string): RegExp {
  return new RegExp(`^unchain-(\\d+)-[0-9a-f]{8}\\.${path.basename(target).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\.tmp$`);
}

function sameFilesystem(a: string, b: string): boolean {
  try {
    return fs.statSync(a).dev === fs.statSync(b).dev;
  } catch {
    return false;
  }
}

function writeFileSynced(file: string, text: string, mode: number): void {
  const fd = fs.openSync(file, "wx", mode);
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Where the temporary file of a write to `target` goes: the system's temporary folder when it is on
 * the same filesystem (a rename must not cross filesystems), else next to the file. `UNCHAIN_TMPDIR`
 * overrides the first choice (tests).
 */
export function tempFileFor(target: string, env: NodeJS.ProcessEnv = process.env): { file: string; inProject: boolean } {
  const dir = path.dirname(target);
  const outside = env.UNCHAIN_TMPDIR || os.tmpdir();
  if (path.resolve(outside) !== path.resolve(dir) && sameFilesystem(outside, dir))
    return { file: path.join(outside, `unchain-${process.pid}-${randomBytes(4).toString("hex")}.${path.basename(target)}.tmp`), inProject: false };
  return { file: `${target}.${process.pid}.tmp`, inProject: true };
}

/** Replaces `file` with `text` in one rename; a kill at any point leaves the old file or the new one, whole. */
export function writeAtomically(file: string, text: string, beforeRename?: () => void): void {
  // A symlinked stack file keeps its link: the file it points to is replaced.
  const target = fs.existsSync(file) ? fs.realpathSync(file) : file;
  const dir = path.dirname(target);
  removeStaleTemps(dir);
  removeStaleTemps(process.env.UNCHAIN_TMPDIR || os.tmpdir(), staleTempOutside(target));
  const mode = fs.existsSync(target) ? fs.statSync(target).mode & 0o777 : 0o644;
  let tmp = tempFileFor(target);
  for (;;) {
    try {
      writeFileSynced(tmp.file, text, mode);
      beforeRename?.();
      fs.renameSync(tmp.file, target);
      return;
    } catch (e) {
      fs.rmSync(tmp.file, { force: true });
      // Same device number, yet another mount (a bind mount): write next to the file instead.
      if ((e as NodeJS.ErrnoException).code === "EXDEV" && !tmp.inProject) {
        tmp = { file: `${target}.${process.pid}.tmp`, inProject: true };
        continue;
      }
      throw e;
    }
  }
}

function lineEnding(text: string): string {
  const i = text.indexOf("\n");
  return i > 0 && text[i - 1] === "\r" ? "\r\n" : "\n";
}

function keyName(p: Pair): string | undefined {
  return isScalar(p.key) ? String(p.key.value) : undefined;
}

interface Parsed {
  lines: LineCounter;
  root: YAMLMap | undefined;
  value: Record<string, unknown>;
}

/** The file parsed for editing; every problem a ConfigError naming the file and the line, as `unchain plan` reports them. */
function parseForEdit(text: string, file: string, stack: string): Parsed {
  const value = parseYaml(text, file, stack);
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const contents = doc.contents;
  if (contents === null || (isScalar(contents) && contents.value === null)) return { lines, root: undefined, value: {} };
  if (!isMap(contents) || typeof value !== "object" || value === null || Array.isArray(value))
    throw new ConfigError(stack, file, [{ key: "(top level)", message: "is not a YAML mapping", fix: "start the file with `config:`" }]);
  return { lines, root: contents, value: value as Record<string, unknown> };
}

const lineOf = (p: Parsed, node: Node | Scalar | null | undefined): string => `line ${node?.range ? p.lines.linePos(node.range[0]).line : "?"}`;

function refuse(stack: string, file: string, problem: Problem): never {
  throw new ConfigError(stack, file, [problem]);
}

/** The offset just past the end of the line that holds `offset` (its line break included). */
function endOfLine(text: string, offset: number): number {
  const i = text.indexOf("\n", offset);
  return i < 0 ? text.length : i + 1;
}

/**
 * The text of a stack file with its phase set to `phase`: the one scalar replaced in place, quoting
 * kept; a missing key added as one line in the file's indentation and line endings. `file` names the
 * file in errors. Refuses (ConfigError, nothing changed) what it cannot edit without guessing.
 */
export function withPhase(text: string, file: string, stack: string, phase: number): string {
  const parsed = parseForEdit(text, file, stack);
  const eol = lineEnding(text);
  const edit = editPhase(text, parsed, file, stack, phase, eol);
  // What the edit must have done, checked on the result: the same document with only the phase changed.
  const expected = structuredClone(parsed.value);
  const config = (expected.config ?? {}) as Record<string, unknown>;
  config[edit.key] = edit.quoted ? String(phase) : phase;
  expected.config = config;
  const out = edit.text;
  const got = parseYaml(out, file, stack);
  if (!isDeepStrictEqual(got, expected)) throw new Error(`${file}: setting ${PHASE_KEY} to ${phase} as a text edit would change more than the phase; nothing was written`);
  return out;
}

interface Edit {
  text: string;
  /** The key that holds the phase now (`unchain:phase`, or `phase` where the file has that). */
  key: string;
  /** The value kept its quotes: the phase is a string there. */
  quoted: boolean;
}

function editPhase(text: string, p: Parsed, file: string, stack: string, phase: number, eol: string): Edit {
  const added = (t: string, key = PHASE_KEY): Edit => ({ text: t, key, quoted: false });
  const newLine = `${PHASE_KEY}: ${phase}`;
  const separated = text.length && !text.endsWith("\n") ? text + eol : text;
  if (!p.root) return added(`${separated}config:${eol}  ${newLine}${eol}`);
  if (p.root.flow) refuse(stack, file, { key: "(top level)", message: "is a flow mapping ({ … }), which unchain does not edit", fix: "write the file as block YAML: `config:` on its own line, one setting per line under it" });
  const configPair = p.root.items.find((i) => keyName(i) === "config");
  if (!configPair) return added(`${separated}config:${eol}  ${newLine}${eol}`);
  const config = configPair.value;
  const keyEnd = (configPair.key as Scalar).range![1];
  if (config === null || (isScalar(config) && config.value === null && config.range![0] === config.range![1])) {
    // `config:` with nothing under it.
    const at = endOfLine(text, keyEnd);
    const indent = p.lines.linePos((configPair.key as Scalar).range![0]).col - 1 + 2;
    const before = at === text.length && !text.endsWith("\n") ? eol : "";
    return added(`${text.slice(0, at)}${before}${" ".repeat(indent)}${newLine}${eol}${text.slice(at)}`);
  }
  if (!isMap(config)) refuse(stack, file, { key: `config (${lineOf(p, config as Node)})`, message: "is not a mapping of settings", fix: "write one setting per line under config:, like `unchain:phase: 0`" });
  const pairs = config.items.filter((i): i is Pair<Scalar, unknown> => isPair(i) && [PHASE_KEY, BARE_PHASE_KEY].includes(keyName(i) ?? ""));
  if (pairs.length > 1)
    refuse(stack, file, {
      key: PHASE_KEY,
      message: `is set twice: \`${keyName(pairs[0])}:\` on ${lineOf(p, pairs[0].key)} and \`${keyName(pairs[1])}:\` on ${lineOf(p, pairs[1].key)} (Pulumi reads \`phase\` under config: as ${NAMESPACE}:phase, and which one wins is not defined)`,
      fix: `keep one of them (${PHASE_KEY}: is the usual spelling)`,
    });
  if (pairs.length === 1) return replaceValue(text, p, pairs[0], file, stack, phase);
  if (config.flow) {
    // `config: { a: 1 }`: one more entry after the last.
    const last = config.items[config.items.length - 1];
    const lastEnd = (last?.value as Node | null)?.range?.[1] ?? (last?.key as Node | null)?.range?.[1];
    if (lastEnd === undefined) {
      const open = text.indexOf("{", config.range![0]);
      return added(`${text.slice(0, open + 1)} ${newLine} ${text.slice(open + 1).replace(/^\s*/, "")}`);
    }
    return added(`${text.slice(0, lastEnd)}, ${newLine}${text.slice(lastEnd)}`);
  }
  // A block mapping: the new key first, in the indentation of the settings, right after `config:`.
  const first = config.items[0].key as Scalar;
  const indent = p.lines.linePos(first.range![0]).col - 1;
  const at = endOfLine(text, keyEnd);
  const bare = config.items.some((i) => !(keyName(i) ?? "").includes(":")) && !config.items.some((i) => (keyName(i) ?? "").startsWith(`${NAMESPACE}:`));
  const line = bare ? `${BARE_PHASE_KEY}: ${phase}` : newLine;
  return added(`${text.slice(0, at)}${" ".repeat(indent)}${line}${eol}${text.slice(at)}`, bare ? BARE_PHASE_KEY : PHASE_KEY);
}

function replaceValue(text: string, p: Parsed, pair: Pair<Scalar, unknown>, file: string, stack: string, phase: number): Edit {
  const key = keyName(pair)!;
  const edit = (t: string, quoted = false): Edit => ({ text: t, key, quoted });
  const v = pair.value;
  const where = `${keyName(pair)} (${lineOf(p, pair.key)})`;
  const fix = `write it as a plain number, like \`${keyName(pair)}: ${phase}\``;
  if (v === null || v === undefined || (isScalar(v) && v.value === null && v.range![0] === v.range![1])) {
    // `unchain:phase:` with no value: the number goes right after the colon.
    const colon = text.indexOf(":", pair.key.range![1]);
    return edit(`${text.slice(0, colon + 1)} ${phase}${text.slice(colon + 1)}`);
  }
  if (!isScalar(v)) refuse(stack, file, { key: where, message: "is not a number (a mapping, a list or an alias)", fix });
  const [start, end] = v.range!;
  switch (v.type) {
    case "PLAIN":
      // `!!str 0` stays a string.
      return edit(`${text.slice(0, start)}${phase}${text.slice(end)}`, v.tag !== undefined && typeof v.value === "string");
    case "QUOTE_DOUBLE":
      return edit(`${text.slice(0, start)}"${phase}"${text.slice(end)}`, true);
    case "QUOTE_SINGLE":
      return edit(`${text.slice(0, start)}'${phase}'${text.slice(end)}`, true);
    default:
      return refuse(stack, file, { key: where, message: "is a block scalar (| or >)", fix });
  }
}

/** Sets the phase in the stack file (`unchain:phase`, or the un-namespaced `phase:` where the file has that): one scalar, nothing else. */
export function writePhase(dir: string, stack: string, phase: number): void {
  const file = stackFilePath(dir, stack);
  const text = fs.readFileSync(file, "utf8");
  const next = withPhase(text, path.basename(file), stack, phase);
  if (next !== text) writeAtomically(file, next, () => failpoint("phase-edit"));
}

/**
 * `before` with the top-level keys that `after` has and it lacks appended as text, copied from
 * `after` (in `before`'s line endings): what `pulumi stack init` added (encryptionsalt,
 * secretsprovider, encryptedkey), without the CLI's rewrite of everything else.
 */
export function withAddedKeys(before: string, after: string, file: string, stack: string): string {
  const b = parseForEdit(before, file, stack);
  const a = parseForEdit(after, file, stack);
  if (!a.root) return before;
  const have = new Set((b.root?.items ?? []).map(keyName));
  const eol = lineEnding(before.includes("\n") ? before : after);
  const added: string[] = [];
  const expected = structuredClone(b.value);
  for (const item of a.root.items) {
    const key = keyName(item);
    if (key === undefined || key === "config" || have.has(key)) continue;
    const start = (item.key as Scalar).range![0];
    const end = (item.value as Node | null)?.range?.[1] ?? (item.key as Scalar).range![1];
    added.push(after.slice(start, end).replace(/\r?\n/g, eol).replace(/\s+$/, ""));
    expected[key] = a.value[key];
  }
  if (!added.length) return before;
  const separated = before.length && !before.endsWith("\n") ? before + eol : before;
  const out = separated + added.map((l) => l + eol).join("");
  if (!isDeepStrictEqual(parseYaml(out, file, stack), expected)) throw new Error(`${file}: adding ${added.length} key(s) the Pulumi CLI wrote as text would change more than those keys; nothing was written`);
  return out;
}

/**
 * Where keepFileShape keeps the file as it was while the CLI may rewrite it: outside the project (the
 * temporary folder), one journal per stack file, so that a run killed during `pulumi stack init` is
 * put right by the next one.
 */
function journalFor(file: string): string {
  const real = fs.existsSync(file) ? fs.realpathSync(file) : path.resolve(file);
  return path.join(process.env.UNCHAIN_TMPDIR || os.tmpdir(), `unchain-init-${createHash("sha256").update(real).digest("hex").slice(0, 16)}.json`);
}

interface Journal {
  file: string;
  pid: number;
  before: string;
}

function putBack(file: string, stack: string, before: string): void {
  const after = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : before;
  if (after === before) return;
  const next = withAddedKeys(before, after, path.basename(file), stack);
  if (next !== after) writeAtomically(file, next);
}

/**
 * A stack file a killed run left rewritten by the CLI (its `pulumi stack init` ran, the file was not
 * put back yet): put back as it was, with the keys the CLI added. True when there was one.
 */
export function recoverInterruptedInit(dir: string, stack: string): boolean {
  const file = stackFilePath(dir, stack);
  const journal = journalFor(file);
  let j: Journal;
  try {
    j = JSON.parse(fs.readFileSync(journal, "utf8")) as Journal;
  } catch {
    // None, or torn before its rename (then the file was not touched yet).
    return false;
  }
  if (j.pid !== process.pid && pidAlive(j.pid)) return false;
  putBack(file, stack, j.before);
  fs.rmSync(journal, { force: true });
  return true;
}

/**
 * Runs `op` (which may create the stack through the CLI), then puts the file back as it was, with
 * whatever top-level keys the CLI added (encryptionsalt, secretsprovider, encryptedkey) appended;
 * also when `op` fails, and, through a journal outside the project, after a kill.
 */
export async function keepFileShape<T>(dir: string, stack: string, op: () => Promise<T>): Promise<T> {
  const file = stackFilePath(dir, stack);
  recoverInterruptedInit(dir, stack);
  const before = fs.readFileSync(file, "utf8");
  const journal = journalFor(file);
  const tmp = `${journal}.${process.pid}.tmp`;
  fs.rmSync(tmp, { force: true });
  writeFileSynced(tmp, JSON.stringify({ file, pid: process.pid, before } satisfies Journal), 0o600);
  fs.renameSync(tmp, journal);
  try {
    return await op();
  } finally {
    failpoint("stack-init");
    putBack(file, stack, before);
    fs.rmSync(journal, { force: true });
  }
}

/**
 * For a dry run: a copy of the stack file that names `phase`, outside the project, for `pulumi preview
 * --config-file`, so that the stack file itself is never written. `remove()` deletes it.
 */
export function phaseConfigCopy(dir: string, stack: string, phase: number): { file: string; remove(): void } {
  const source = stackFilePath(dir, stack);
  const text = withPhase(fs.readFileSync(source, "utf8"), path.basename(source), stack, phase);
  const tmp = fs.mkdtempSync(path.join(process.env.UNCHAIN_TMPDIR || os.tmpdir(), "unchain-preview-"));
  const file = path.join(tmp, path.basename(source));
  fs.writeFileSync(file, text, { mode: 0o600 });
  return { file, remove: () => fs.rmSync(tmp, { recursive: true, force: true }) };
}
