/**
 * Documentation that comes from the config schema (config/schema.ts), so that it cannot drift from
 * what the validator accepts: the `config:` block of `Pulumi.yaml` (types, defaults and descriptions
 * of the scalar keys, which the Pulumi CLI also checks) and the key table of the README.
 * `npm run gen:config` writes both; test/configDocs.test.ts fails when either is stale.
 */
import { Hint, hints, KEY_NAMES, KeySpec, STACK_KEYS } from "./schema";
import { NAMESPACE } from "./validate";

export interface ProjectKey {
  type: "string" | "integer" | "boolean";
  default?: string | number | boolean;
  description: string;
}

const hintOf = (key: keyof typeof STACK_KEYS): Hint => hints.get(STACK_KEYS[key].schema) ?? { description: key };

/** Pulumi.yaml's `config:` block: every key with a project default, in the schema's order. */
export function projectConfig(): Record<string, ProjectKey> {
  const out: Record<string, ProjectKey> = {};
  for (const key of KEY_NAMES) {
    const spec = STACK_KEYS[key] as KeySpec;
    if (!spec.project) continue;
    out[key] = { type: spec.project.type, ...(spec.project.default !== undefined ? { default: spec.project.default } : {}), description: hintOf(key).description };
  }
  return out;
}

export const README_START = "<!-- config-keys: generated from config/schema.ts by npm run gen:config -->";
export const README_END = "<!-- /config-keys -->";

/** The README's table of keys. */
export function readmeKeyTable(): string {
  const rows = KEY_NAMES.map((key) => {
    const h = hintOf(key);
    const spec = STACK_KEYS[key] as KeySpec;
    const def = spec.project?.default !== undefined ? ` Default \`${String(spec.project.default)}\`.` : "";
    const shape = h.example ? ` Shape: \`${h.example.replace(/\|/g, "\\|")}\`.` : "";
    return `| \`${NAMESPACE}:${key}\` | ${h.description.replace(/\|/g, "\\|")}.${def}${shape} |`;
  });
  return [README_START, "| key | what |", "|---|---|", ...rows, README_END].join("\n");
}
