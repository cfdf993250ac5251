/**
 * Stacks as the driver sees them: opened through the Automation API with the unchain program (or a
 * test program) inline, and their applied phase read from the backend — the `appliedPhase` output
 * that the program writes — never from anything the driver remembers.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { LocalWorkspace, Stack, StackNotFoundError } from "@pulumi/pulumi/automation";
import type { ProgramOptions } from "../../components/program";
import { loadStack } from "../../config/load";
import { isPhaseNumber, PhaseNumber } from "../../steps/phases";
import { GoingBack, isGoingBack } from "../../steps/reverse";
import { DriverEnvironment, pulumiCommand, secretsProviderOf } from "./environment";
import { ResourceIds } from "./pending";
import { keepFileShape } from "./stackFile";

/** A Pulumi program, with what the driver asks of one run of it (the stage of a reverse step). */
export type PulumiProgram = (o?: StageOptions) => Promise<Record<string, unknown>>;

export interface StageOptions {
  goingBack?: GoingBack;
}

/**
 * The unchain program for the stacks of the project in `projectDir` (where it prepares each stack's
 * Helm environment), loaded only when a stack is really run (it pulls in the AWS and Kubernetes SDKs).
 */
export function unchainProgram(projectDir: string): PulumiProgram {
  return async (o: StageOptions = {}) => {
    const { clusterProgram } = require("../../components/program") as typeof import("../../components/program");
    return (await clusterProgram({ projectDir, ...o })) as unknown as Record<string, unknown>;
  };
}

/** A module that exports `program(options)` (the driver's tests run test programs this way), and `resourceId` where its IDs follow from inputs. */
export function programFromModule(file: string, projectDir: string): { program: PulumiProgram; ids: ResourceIds } {
  const mod = require(path.resolve(file)) as { program?: (o: ProgramOptions) => ReturnType<PulumiProgram>; resourceId?: ResourceIds };
  if (typeof mod.program !== "function") throw new Error(`${file} exports no function named program`);
  const program = mod.program;
  return { program: (o: StageOptions = {}) => program({ projectDir, ...o }), ids: mod.resourceId ?? (() => undefined) };
}

/** The unchain program's resource IDs (components/imports.ts), without loading the providers' SDKs. */
export function unchainIds(): ResourceIds {
  return (require("../../components/imports") as typeof import("../../components/imports")).resourceId;
}

/**
 * Opens a stack to apply phases to: a stack not yet in the backend is created (`pulumi stack init`,
 * which adds `encryptionsalt` or `encryptedkey` to its file: taken as text, the rest of the file kept
 * as it was) with the secrets provider its file names: `pulumi stack init` alone would ignore the
 * file's `secretsprovider:`, create the stack with a passphrase and drop the key.
 */
export async function openStack(env: DriverEnvironment, stackName: string, program: PulumiProgram): Promise<Stack> {
  const cmd = await pulumiCommand(env.pulumiBinary);
  const secrets = secretsProviderOf(env.projectDir, stackName, env.backendUrl);
  return keepFileShape(env.projectDir, stackName, () =>
    LocalWorkspace.createOrSelectStack(
      { stackName, projectName: env.projectName, program: () => program() },
      { workDir: env.projectDir, pulumiCommand: cmd, envVars: env.envVars, ...(secrets.declared ? { secretsProvider: secrets.provider } : {}) },
    ),
  );
}

/**
 * Opens a stack for a dry run: only a stack the backend has, selected, never created, so that no
 * `pulumi stack init` runs and no file is written. undefined: the backend has no such stack yet.
 */
export async function selectExistingStack(env: DriverEnvironment, stackName: string, program: PulumiProgram): Promise<Stack | undefined> {
  const cmd = await pulumiCommand(env.pulumiBinary);
  try {
    return await LocalWorkspace.selectStack({ stackName, projectName: env.projectName, program: () => program() }, { workDir: env.projectDir, pulumiCommand: cmd, envVars: env.envVars });
  } catch (e) {
    if (e instanceof StackNotFoundError) return undefined;
    throw e;
  }
}

/** What a dry run says of a stack the backend does not have yet. */
export function notInBackend(env: DriverEnvironment, stack: string, inFile: PhaseNumber): string {
  return `${stack} is not in the backend yet (${env.backendUrl}): a dry run creates nothing, so there is nothing to preview against. unchain advance -s ${stack} --to ${inFile} --yes adopts it (imports what runs at phase ${inFile}, the phase its file names).`;
}

export function appliedPhaseOf(outputs: Record<string, { value: unknown }>): PhaseNumber | undefined {
  const v = outputs.appliedPhase?.value;
  return isPhaseNumber(v) ? v : undefined;
}

/** The phase the stack file names (`unchain:phase`); the driver moves it as phases are applied. */
export function phaseInFile(projectDir: string, stack: string): PhaseNumber | undefined {
  const v = loadStack(projectDir, stack).raw.phase;
  return isPhaseNumber(v) ? v : undefined;
}

export function sandboxInFile(projectDir: string, stack: string): boolean {
  return loadStack(projectDir, stack).raw.sandbox === true;
}

interface Checkpoint {
  checkpoint?: { latest?: { resources?: Array<{ type: string; outputs?: Record<string, unknown> }> } };
}

/** Where a stack stands in its backend: its applied phase, and a reverse step applied half-way (its `goingBack` output). */
export type BackendPhase = { exists: false } | { exists: true; applied?: PhaseNumber; goingBack?: GoingBack };

function backendPhaseOf(outputs: Record<string, unknown> | undefined): BackendPhase {
  const applied = outputs?.appliedPhase;
  const half = outputs?.goingBack;
  return { exists: true, ...(isPhaseNumber(applied) ? { applied } : {}), ...(isGoingBack(half) ? { goingBack: half } : {}) };
}

/**
 * The applied phase of every stack, without a CLI process per stack where the backend is a local
 * file backend (its checkpoints are plain files); otherwise through `pulumi stack output`.
 */
export async function appliedPhases(env: DriverEnvironment, stacks: string[], concurrency = 4): Promise<Map<string, BackendPhase>> {
  const out = new Map<string, BackendPhase>();
  if (env.backendPath) {
    const dir = path.join(env.backendPath, ".pulumi", "stacks", env.projectName);
    for (const s of stacks) {
      let cp: Checkpoint | undefined;
      for (const [name, decode] of [
        [`${s}.json`, (b: Buffer) => b.toString("utf8")],
        [`${s}.json.gz`, (b: Buffer) => zlib.gunzipSync(b).toString("utf8")],
      ] as const) {
        try {
          cp = JSON.parse(decode(fs.readFileSync(path.join(dir, name)))) as Checkpoint;
          break;
        } catch {
          /* not this spelling */
        }
      }
      if (!cp) {
        out.set(s, { exists: false });
        continue;
      }
      const stackRes = cp.checkpoint?.latest?.resources?.find((r) => r.type === "pulumi:pulumi:Stack");
      out.set(s, backendPhaseOf(stackRes?.outputs));
    }
    return out;
  }
  const ws = await LocalWorkspace.create({ workDir: env.projectDir, pulumiCommand: await pulumiCommand(env.pulumiBinary), envVars: env.envVars });
  const existing = new Set((await ws.listStacks()).map((s) => s.name.split("/").pop()!));
  const queue = stacks.filter((s) => existing.has(s));
  for (const s of stacks) if (!existing.has(s)) out.set(s, { exists: false });
  await Promise.all(
    Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
      for (let s = queue.shift(); s !== undefined; s = queue.shift()) {
        const outputs = await ws.stackOutputs(s);
        out.set(s, backendPhaseOf(Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, v.value]))));
      }
    }),
  );
  return out;
}

/** Where one stack stands: from the checkpoint file on a file backend, else `pulumi stack output`. */
export async function appliedPhaseNow(env: DriverEnvironment, stack: Stack, name: string): Promise<{ applied?: PhaseNumber; goingBack?: GoingBack }> {
  if (env.backendPath) {
    const p = (await appliedPhases(env, [name])).get(name);
    return p?.exists ? { ...(p.applied !== undefined ? { applied: p.applied } : {}), ...(p.goingBack ? { goingBack: p.goingBack } : {}) } : {};
  }
  const outputs = await stack.outputs();
  const b = backendPhaseOf(Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, v.value])));
  return b.exists ? { ...(b.applied !== undefined ? { applied: b.applied } : {}), ...(b.goingBack ? { goingBack: b.goingBack } : {}) } : {};
}
