/**
 * Configuration problems, collected rather than thrown one at a time: a user fixes every mistake in
 * one pass. Each problem names the key, what is wrong, and what to write instead.
 */
export interface Problem {
  /** Config key with a path into its value, e.g. `unchain:awsPools[0].sizePerAz.max`. */
  key: string;
  message: string;
  fix: string;
  /** The file the key was read from (stack file or Pulumi.yaml), when known. */
  file?: string;
}

/** A user-caused error: shown as text, never with a stack trace. */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UserError";
  }
}

/**
 * A user-caused error about the environment the command runs in, not its arguments or config files:
 * no passphrase, no pulumi CLI, no backend declared, no kube context, an API server or AWS that
 * cannot be reached or refuses the credentials. Exit code 5 (see EXIT in automation/cli.ts).
 */
export class EnvironmentError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = "EnvironmentError";
  }
}

export class ConfigError extends UserError {
  constructor(
    readonly stack: string,
    readonly file: string,
    readonly problems: Problem[],
  ) {
    super(formatProblems(stack, file, problems));
    this.name = "ConfigError";
  }
}

export function formatProblems(stack: string, file: string, problems: Problem[]): string {
  const n = problems.length;
  const lines = [`stack ${stack}: ${n} problem${n === 1 ? "" : "s"} in its configuration (${file}); nothing was changed.`];
  for (const p of problems) {
    lines.push(`  - ${p.file && p.file !== file ? `${p.file}: ` : ""}${p.key}: ${p.message}`);
    lines.push(`    fix: ${p.fix}`);
  }
  return lines.join("\n");
}
