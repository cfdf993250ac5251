/**
 * The `unchain` command. Exit codes: 0 all good, 1 the plan found a problem (config, invariant,
 * a change the phase does not call for), 2 the command was used wrongly.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import yargs from "yargs";
import { listStacks } from "../config/load";
import { UserError } from "../config/problems";
import { loadWaves, Wave } from "../config/waves";
import { isPhaseNumber, PhaseNumber } from "../steps/phases";
import { planFleet } from "./plan/plan";
import { renderMarkdown, renderTable } from "./plan/report";

class UsageError extends Error {}

/** The project directory: --cwd, else the current directory if it holds Pulumi.yaml, else this package. */
function projectDir(cwd: string | undefined): string {
  if (cwd) return path.resolve(cwd);
  if (fs.existsSync(path.join(process.cwd(), "Pulumi.yaml"))) return process.cwd();
  return path.resolve(__dirname, "..", "..");
}

function phaseArg(name: string, v: unknown): PhaseNumber | undefined {
  if (v === undefined) return undefined;
  if (!isPhaseNumber(v)) throw new UserError(`--${name} must be a phase from 0 to 6, got ${String(v)}`);
  return v;
}

export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const parser = yargs(argv)
    .scriptName("unchain")
    .usage("$0 <command> [options]\n\nMoves EKS clusters from chained Cilium to Cilium ENI mode, node pool by node pool.")
    .option("cwd", { alias: "C", type: "string", describe: "Project directory (holds Pulumi.yaml and the stack files)" })
    .command(
      "plan",
      "Evaluate every phase offline (no cloud, no Pulumi CLI), diff phase to phase, check the invariants",
      (y) =>
        y
          .option("stack", { alias: "s", type: "string", array: true, describe: "Stack(s) to plan" })
          .option("all", { type: "boolean", describe: "Every stack of the project" })
          .option("from", { type: "number", describe: "First phase (default: each stack's current phase)" })
          .option("to", { type: "number", describe: "Last phase (default: 6)" })
          .option("format", { choices: ["table", "markdown", "json"] as const, default: "table" as const })
          .option("details", { type: "boolean", describe: "Show every change (default: with --stack, or where a stack has problems)" })
          .check((a) => {
            if (!a.all && !a.stack) throw new UsageError("say which stacks: --stack <name> or --all");
            if (a.all && a.stack) throw new UsageError("--stack and --all exclude each other");
            return true;
          })
          .example("$0 plan --all", "the whole fleet from where each stack is now")
          .example("$0 plan -s prod-eu-central-1 --from 0", "one cluster's whole walk, every change")
          .example("$0 plan --all --format markdown > plan.md", "for a pull request"),
      async (a) => {
        const dir = projectDir(a.cwd);
        const known = listStacks(dir);
        const from = phaseArg("from", a.from);
        const to = phaseArg("to", a.to);
        const stacks = a.all ? known : (a.stack as string[]);
        for (const s of stacks) if (!known.includes(s)) throw new UserError(`no stack "${s}" in ${dir} (no Pulumi.${s}.yaml). Stacks: ${known.join(", ")}`);
        const waves: Wave[] | undefined = loadWaves(dir, known, known.filter((s) => s === "dev"));
        const waveOf = (s: string) => waves?.find((w) => w.stacks.includes(s))?.name;
        const order = (s: string) => (waves ? waves.findIndex((w) => w.stacks.includes(s)) : 0);
        const sorted = [...stacks].sort((x, y) => order(x) - order(y) || x.localeCompare(y));
        const plan = await planFleet(dir, sorted, { ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) }, waveOf);
        if (a.format === "json") process.stdout.write(JSON.stringify(plan, null, 2) + "\n");
        else if (a.format === "markdown") process.stdout.write(renderMarkdown(plan) + "\n");
        else process.stdout.write(renderTable(plan, { details: a.details ?? !a.all }) + "\n");
        exitCode = plan.ok ? 0 : 1;
      },
    )
    .demandCommand(1, "say what to do, e.g. unchain plan --all")
    .strict()
    .help()
    .alias("h", "help")
    .version(false)
    .wrap(Math.min(110, process.stdout.columns || 100))
    .exitProcess(false)
    .fail((msg, err) => {
      // Validation messages and our own errors are the user's to fix; anything else is a bug.
      throw err ?? new UsageError(msg);
    });
  try {
    await parser.parseAsync();
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`unchain: ${e.message}\nRun unchain --help for usage.\n`);
      return 2;
    }
    if (e instanceof UserError) {
      process.stderr.write(`unchain: ${e.message}\n`);
      return e.name === "ConfigError" ? 1 : 2;
    }
    throw e;
  }
  return exitCode;
}

