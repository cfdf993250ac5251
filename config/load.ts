/**
 * Reading stack configuration from the files, as the Pulumi CLI would hand it to the program:
 * project defaults from `Pulumi.yaml` (`config:`), overridden key by key by `Pulumi.<stack>.yaml`.
 * Used offline (`unchain plan`), where no Pulumi CLI runs.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Alias, Document, isScalar, LineCounter, parseDocument, Scalar, visit } from "yaml";
import { ConfigError, Problem, UserError } from "./problems";
import { AwsKeys, NAMESPACE, STRING_KEYS } from "./validate";

export interface StackSource {
  stack: string;
  /** Path of the stack file, relative to the project directory. */
  file: string;
  /** `unchain:*` keys without namespace → value (YAML types kept). */
  raw: Record<string, unknown>;
  /** Which file each key came from. */
  origin: Record<string, string>;
  /** The AWS provider's keys of the stack (`aws:region`, `aws:profile`, `aws:assumeRoles`). */
  aws: AwsKeys;
  /** The full config map as the CLI passes it to a program: `ns:key` → string (objects as JSON). */
  pulumiConfig: Record<string, string>;
}

function readYaml(dir: string, file: string, stack: string): Record<string, unknown> {
  const full = path.join(dir, file);
  let text: string;
  try {
    text = fs.readFileSync(full, "utf8");
  } catch {
    throw new UserError(`stack ${stack}: cannot read ${file} in ${dir}; is this the unchain project directory?`);
  }
  return parseYamlText(text, file, stack);
}

/**
 * Anchors and aliases (`&a`, `*a`) may expand to at most this many nodes, so that an alias bomb
 * ("billion laughs") is refused instead of expanded: the `yaml` package's `maxAliasCount` (its
 * documented default, set here so that it cannot change under us).
 */
export const MAX_ALIAS_COUNT = 100;

/**
 * YAML text as plain values. Every error is a ConfigError naming the file and the line: a syntax
 * error, an alias without its anchor, an alias bomb. Nothing of the file is used then.
 */
export function parseYaml(text: string, file: string, stack: string): unknown {
  const lines = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: true, lineCounter: lines });
  if (doc.errors.length) {
    const problems = doc.errors.map((e) =>
      e.code === "DUPLICATE_KEY"
        ? duplicateKey(doc, lines, e.pos[0])
        : {
            key: `line ${e.linePos?.[0]?.line ?? "?"}`,
            message: e.message.split("\n")[0],
            fix: "fix the YAML syntax (indentation, quoting, a missing ':')",
          },
    );
    throw new ConfigError(stack, file, problems);
  }
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as unknown;
  } catch (e) {
    throw new ConfigError(stack, file, [aliasProblem(doc, lines, e as Error)]);
  }
}

/** A key written twice in one mapping: both lines, and which to keep (the YAML is not read at all, as Pulumi would refuse it too). */
function duplicateKey(doc: Document, lines: LineCounter, at: number): Problem {
  let found: { key: string; first?: number } | undefined;
  visit(doc, {
    Map: (_, map) => {
      const i = map.items.findIndex((p) => isScalar(p.key) && p.key.range?.[0] === at);
      if (i < 0) return undefined;
      const key = (map.items[i].key as Scalar).value;
      const first = map.items.slice(0, i).find((p) => isScalar(p.key) && p.key.value === key)?.key as Scalar | undefined;
      found = { key: String(key), ...(first?.range ? { first: lines.linePos(first.range[0]).line } : {}) };
      return visit.BREAK;
    },
  });
  const line = lines.linePos(at).line;
  return {
    key: `line ${line}`,
    message: found ? `${found.key} is set twice${found.first ? ` (also on line ${found.first})` : ""}` : "a key is set twice in the same mapping",
    fix: "keep one of them",
  };
}

/** What stopped `toJS`, at the alias that did (aliases are the only thing left to fail once the document parsed). */
function aliasProblem(doc: Document, lines: LineCounter, e: Error): Problem {
  const aliases: Alias[] = [];
  visit(doc, {
    Alias: (_, node) => {
      aliases.push(node);
    },
  });
  const lineOf = (a: Alias | undefined) => `line ${a?.range ? lines.linePos(a.range[0]).line : "?"}`;
  // Resolving walks the document: only where the aliases are few enough to look at each.
  const few = aliases.length <= 200;
  const unresolved = few ? aliases.find((a) => a.resolve(doc) === undefined) : undefined;
  if (unresolved)
    return {
      key: lineOf(unresolved),
      message: `alias *${unresolved.source} has no anchor &${unresolved.source} before it`,
      fix: `define &${unresolved.source} before *${unresolved.source}, or write the value out`,
    };
  if (/alias/i.test(e.message)) {
    // A bomb nests aliases: the first alias whose anchor holds aliases itself is where it starts.
    const holdsAliases = (a: Alias) => {
      const target = a.resolve(doc);
      let found = false;
      if (target)
        visit(target, {
          Alias: () => {
            found = true;
            return visit.BREAK;
          },
        });
      return found;
    };
    return {
      key: lineOf((few ? aliases.find(holdsAliases) : undefined) ?? aliases[0]),
      message: `anchors and aliases (&name, *name) expand to more than ${MAX_ALIAS_COUNT} nodes, as an alias bomb ("billion laughs") does; nothing was expanded`,
      fix: "write the values out: the file needs no anchors or aliases",
    };
  }
  return { key: lineOf(aliases[0]), message: e.message.split("\n")[0], fix: "fix the YAML (its anchors, aliases and tags)" };
}

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function parseYamlText(text: string, file: string, stack: string): Record<string, unknown> {
  const value = parseYaml(text, file, stack);
  if (value === null || value === undefined) return {};
  if (!isMapping(value)) throw new ConfigError(stack, file, [{ key: "(top level)", message: "is not a YAML mapping", fix: "start the file with `config:`" }]);
  if (value.config !== undefined && value.config !== null && !isMapping(value.config))
    throw new ConfigError(stack, file, [{ key: "config", message: `must be a mapping of settings, is ${Array.isArray(value.config) ? "a list" : `${typeof value.config} ${JSON.stringify(value.config)}`}`, fix: "write one setting per line under config:, like `unchain:phase: 0`" }]);
  return value;
}

const toPulumiString = (v: unknown): string => (typeof v === "object" && v !== null ? JSON.stringify(v) : String(v));

export function projectDefaults(dir: string): Record<string, unknown> {
  const project = readYaml(dir, "Pulumi.yaml", "(project)");
  const out: Record<string, unknown> = {};
  const config = (project.config ?? {}) as Record<string, unknown>;
  for (const [k, v] of Object.entries(config)) {
    const key = k.includes(":") ? k : `${NAMESPACE}:${k}`;
    if (typeof v === "object" && v !== null && !Array.isArray(v)) {
      const decl = v as { default?: unknown; value?: unknown };
      if (decl.default !== undefined) out[key] = decl.default;
      else if (decl.value !== undefined) out[key] = decl.value;
    } else out[key] = v;
  }
  return out;
}

/** A Pulumi config value as a program receives it (a string; objects and numbers as JSON). */
export function parseConfigValue(key: string, value: string): unknown {
  if (STRING_KEYS.has(key)) return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

export function listStacks(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .map((f) => /^Pulumi\.(.+)\.ya?ml$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .sort();
}

export function loadStack(dir: string, stack: string, defaults = projectDefaults(dir)): StackSource {
  const file = fs.existsSync(path.join(dir, `Pulumi.${stack}.yml`)) ? `Pulumi.${stack}.yml` : `Pulumi.${stack}.yaml`;
  if (!fs.existsSync(path.join(dir, file))) {
    const known = listStacks(dir);
    throw new UserError(`no stack "${stack}": ${file} does not exist in ${dir}. Stacks here: ${known.join(", ") || "none"}`);
  }
  return stackSource(stack, file, readYaml(dir, file, stack), defaults);
}

/** A stack from the text of its file (what adopt would write), with the project's defaults. */
export function loadStackText(dir: string, stack: string, file: string, text: string, defaults = projectDefaults(dir)): StackSource {
  return stackSource(stack, file, parseYamlText(text, file, stack), defaults);
}

function stackSource(stack: string, file: string, doc: Record<string, unknown>, defaults: Record<string, unknown>): StackSource {
  const stackConfig = (doc.config ?? {}) as Record<string, unknown>;
  // Pulumi reads an un-namespaced key as the project's: `phase` beside `unchain:phase` is one key set twice.
  const twice = Object.keys(stackConfig).filter((k) => !k.includes(":") && `${NAMESPACE}:${k}` in stackConfig);
  if (twice.length)
    throw new ConfigError(
      stack,
      file,
      twice.map((k) => ({ key: `${NAMESPACE}:${k}`, message: `is set twice: as \`${k}:\` and as \`${NAMESPACE}:${k}:\` (Pulumi reads \`${k}\` under config: as ${NAMESPACE}:${k}, and which one wins is not defined)`, fix: "keep one of them" })),
    );
  const merged: Record<string, unknown> = {};
  const origin: Record<string, string> = {};
  for (const [k, v] of Object.entries(defaults)) {
    merged[k] = v;
    origin[k] = "Pulumi.yaml";
  }
  for (const [k, v] of Object.entries(stackConfig)) {
    const key = k.includes(":") ? k : `${NAMESPACE}:${k}`;
    merged[key] = v;
    origin[key] = file;
  }
  const raw: Record<string, unknown> = {};
  const rawOrigin: Record<string, string> = {};
  const pulumiConfig: Record<string, string> = {};
  const aws: AwsKeys = {};
  for (const [k, v] of Object.entries(merged)) {
    if (k === "aws:region" || k === "aws:profile" || k === "aws:assumeRoles") aws[k.slice(4) as keyof AwsKeys] = typeof v === "string" && k === "aws:assumeRoles" ? parseConfigValue(k, v) : v;
    pulumiConfig[k] = toPulumiString(v);
    if (k.startsWith(`${NAMESPACE}:`)) {
      const key = k.slice(NAMESPACE.length + 1);
      // `pulumi config set` and `pulumi stack init` rewrite every value as a string; read them as the program does.
      raw[key] = typeof v === "string" ? parseConfigValue(key, v) : v;
      rawOrigin[key] = origin[k];
    }
  }
  return { stack, file, raw, origin: rawOrigin, aws, pulumiConfig };
}
