/**
 * The driver moves `unchain:phase` in the stack file itself, the way `pulumi config set` would, but
 * keeping the file as it was written: the Pulumi CLI rewrites every value of a stack file as a
 * string when it creates a stack or sets a key, which would turn each reviewed file into a diff of
 * quotes. Only the phase changes (and, once, the `encryptionsalt` line `pulumi stack init` adds).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { isMap, parseDocument } from "yaml";

export const PHASE_KEY = "unchain:phase";

export function stackFilePath(dir: string, stack: string): string {
  const yml = path.join(dir, `Pulumi.${stack}.yml`);
  return fs.existsSync(yml) ? yml : path.join(dir, `Pulumi.${stack}.yaml`);
}

function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

export function writePhase(dir: string, stack: string, phase: number): void {
  const file = stackFilePath(dir, stack);
  const doc = parseDocument(fs.readFileSync(file, "utf8"));
  doc.setIn(["config", PHASE_KEY], phase);
  writeAtomically(file, doc.toString());
}

/**
 * Runs `op` (which may create the stack through the CLI), then puts the file back as it was, with
 * whatever top-level keys the CLI added (encryptionsalt, secretsprovider, encryptedkey).
 */
export async function keepFileShape<T>(dir: string, stack: string, op: () => Promise<T>): Promise<T> {
  const file = stackFilePath(dir, stack);
  const before = fs.readFileSync(file, "utf8");
  const result = await op();
  const after = fs.readFileSync(file, "utf8");
  if (after !== before) {
    const doc = parseDocument(before);
    const added = parseDocument(after);
    if (isMap(added.contents))
      for (const item of added.contents.items) {
        const key = String((item.key as { value?: unknown })?.value ?? item.key);
        if (key !== "config" && !doc.has(key)) doc.set(key, added.get(key));
      }
    writeAtomically(file, doc.toString());
  }
  return result;
}
