/**
 * Which project unchain works on, found the way `pulumi` finds it: the project file in the working
 * directory (or the one `-C` names) or the nearest parent directory that has one. Never this
 * package's own example fleet: a command run in the wrong place fails and changes nothing.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { UserError } from "./problems";

/** The names `pulumi` takes for a project file, in its order (sdk/go/common/encoding.Exts). */
const PROJECT_FILES = ["Pulumi.json", "Pulumi.yaml", "Pulumi.yml"];

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/**
 * The project directory for a command started in `start` (absolute, or relative to the current
 * directory). Throws a UserError naming where it looked and `-C <dir>` when there is none.
 */
export function findProjectDir(start: string, explicit = false): string {
  const from = path.resolve(start);
  if (explicit && !fs.existsSync(from)) throw new UserError(`-C ${start}: no such directory. Pass the project directory, the one with Pulumi.yaml and the Pulumi.<stack>.yaml files.`);
  if (explicit && !fs.statSync(from).isDirectory()) throw new UserError(`-C ${start}: is not a directory. Pass the project directory, the one with Pulumi.yaml and the Pulumi.<stack>.yaml files.`);
  for (let dir = from; ; dir = path.dirname(dir)) {
    const found = PROJECT_FILES.find((f) => isFile(path.join(dir, f)));
    if (found === "Pulumi.yaml") return dir;
    if (found)
      throw new UserError(`${path.join(dir, found)} is the project file pulumi finds here, but unchain reads the project as Pulumi.yaml (and the stacks as Pulumi.<stack>.yaml): rename it to Pulumi.yaml. Nothing was changed.`);
    if (path.dirname(dir) === dir) break;
  }
  const where = explicit ? `-C ${start}` : "the current directory";
  throw new UserError(
    `no Pulumi project: neither ${where} (${from}) nor any directory above it holds a Pulumi.yaml. Run unchain in the project directory (the one with Pulumi.yaml and the Pulumi.<stack>.yaml files), or pass it with -C <dir>. Nothing was changed.`,
  );
}
