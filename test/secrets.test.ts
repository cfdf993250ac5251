/**
 * Secrets as each stack says: the passphrase is asked for only where a selected stack keeps its
 * secrets with one (no `secretsprovider:`, or `passphrase`), never for a key service (awskms://, …),
 * and an empty PULUMI_CONFIG_PASSPHRASE is refused unless PULUMI_CONFIG_PASSPHRASE_FILE gives it.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expect } from "chai";
import { driverEnvironment, secretsProviderOf } from "../automation/driver/environment";
import { UserError } from "../config/problems";
import { BIN, driverEnv, ensurePulumi, PASSPHRASE, RunResult, runDriverCli, SIM_PROGRAM, simProject, SimProject, summaryOf } from "./driverHarness";
import { PROJECT } from "./helpers";

const KMS = "awskms://alias/unchain-secrets?region=eu-west-1";

/** A project with one stack per secrets provider. */
function project(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-secrets-"));
  fs.copyFileSync(path.join(PROJECT, "Pulumi.yaml"), path.join(d, "Pulumi.yaml"));
  const files: Record<string, string> = {
    kms: `secretsprovider: ${KMS}\nencryptedkey: AQICAHh…\nconfig:\n  unchain:phase: 0\n`,
    gcp: "secretsprovider: gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k\nconfig:\n  unchain:phase: 0\n",
    vault: "secretsprovider: hashivault://unchain\nconfig:\n  unchain:phase: 0\n",
    azure: "secretsprovider: azurekeyvault://vault.vault.azure.net/keys/unchain\nconfig:\n  unchain:phase: 0\n",
    plain: "config:\n  unchain:phase: 0\n",
    said: "secretsprovider: passphrase\nencryptionsalt: v1:abc\nconfig:\n  unchain:phase: 0\n",
  };
  for (const [s, text] of Object.entries(files)) fs.writeFileSync(path.join(d, `Pulumi.${s}.yaml`), text);
  return d;
}

function refusal(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).to.be.instanceOf(UserError);
    return (e as Error).message;
  }
  throw new Error("expected a UserError");
}

const env = (vars: Record<string, string>): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, ...vars });
const opts = (stacks: string[]) => ({ passphrase: true, cli: false, stacks });

describe("secrets as each stack says", () => {
  it("reads each stack's secretsprovider: key; without one, the passphrase on a self-managed backend, Pulumi Cloud's keys there", () => {
    const d = project();
    expect(secretsProviderOf(d, "kms", "file:///x")).to.deep.equal({ provider: KMS, passphrase: false, declared: true });
    expect(secretsProviderOf(d, "plain", "file:///x")).to.deep.equal({ provider: "passphrase", passphrase: true, declared: false });
    expect(secretsProviderOf(d, "plain", "s3://bucket/unchain")).to.include({ passphrase: true });
    expect(secretsProviderOf(d, "plain", "https://api.pulumi.com")).to.include({ provider: "default", passphrase: false });
    expect(secretsProviderOf(d, "said", "https://api.pulumi.com")).to.include({ passphrase: true });
  });

  it("asks no passphrase for stacks on a key service (awskms, gcpkms, azurekeyvault, hashivault)", () => {
    const d = project();
    const e = driverEnvironment(d, env({}), opts(["kms", "gcp", "vault", "azure"]));
    expect(e.envVars).not.to.have.property("PULUMI_CONFIG_PASSPHRASE");
    // An empty one is no matter where no stack reads it.
    expect(() => driverEnvironment(d, env({ PULUMI_CONFIG_PASSPHRASE: "" }), opts(["kms"]))).not.to.throw();
  });

  it("of several stacks, one on KMS and one on the passphrase, asks for it naming only the passphrase stack, and never says a KMS stack's secrets are passphrase-encrypted", () => {
    const d = project();
    const msg = refusal(() => driverEnvironment(d, env({}), opts(["kms", "plain"])));
    expect(msg).to.contain("stack plain keeps its secrets with a passphrase").and.contain("no secretsprovider: in Pulumi.plain.yaml").and.contain("set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE");
    expect(msg).to.contain("Nothing was changed");
    expect(msg).not.to.contain("kms");
    expect(refusal(() => driverEnvironment(d, env({}), opts(["said", "plain"])))).to.contain("stacks said, plain keep their secrets with a passphrase");
    expect(() => driverEnvironment(d, env({ PULUMI_CONFIG_PASSPHRASE: "p" }), opts(["kms", "plain"]))).not.to.throw();
    // Without a selection (review --live): every stack of the project counts.
    expect(refusal(() => driverEnvironment(d, env({}), { passphrase: true, cli: false }))).to.contain("plain").and.contain("said");
  });

  it("refuses an empty PULUMI_CONFIG_PASSPHRASE (a CI secret that is not set), saying so", () => {
    const d = project();
    const msg = refusal(() => driverEnvironment(d, env({ PULUMI_CONFIG_PASSPHRASE: "" }), opts(["kms", "plain"])));
    expect(msg).to.contain("PULUMI_CONFIG_PASSPHRASE is set but empty").and.contain("stack plain").and.contain("PULUMI_CONFIG_PASSPHRASE_FILE").and.contain("Nothing was changed");
  });

  it("takes PULUMI_CONFIG_PASSPHRASE_FILE when the variable is empty, and hands its passphrase to the CLI (which would take the empty variable first)", () => {
    const d = project();
    const file = path.join(d, "passphrase.txt");
    fs.writeFileSync(file, "from the file\n");
    const e = driverEnvironment(d, env({ PULUMI_CONFIG_PASSPHRASE: "", PULUMI_CONFIG_PASSPHRASE_FILE: file }), opts(["plain"]));
    expect(e.envVars.PULUMI_CONFIG_PASSPHRASE).to.equal("from the file");
    // Not set at all: the CLI reads the file itself.
    expect(driverEnvironment(d, env({ PULUMI_CONFIG_PASSPHRASE_FILE: file }), opts(["plain"])).envVars).not.to.have.property("PULUMI_CONFIG_PASSPHRASE");
    expect(refusal(() => driverEnvironment(d, env({ PULUMI_CONFIG_PASSPHRASE_FILE: path.join(d, "missing") }), opts(["plain"])))).to.contain("cannot be read (ENOENT)");
    fs.writeFileSync(file, " \n");
    expect(refusal(() => driverEnvironment(d, env({ PULUMI_CONFIG_PASSPHRASE: "", PULUMI_CONFIG_PASSPHRASE_FILE: file }), opts(["plain"])))).to.contain("is empty");
  });
});

describe("secrets as each stack says, through the CLI", function () {
  this.timeout(10 * 60_000);
  before(() => ensurePulumi());

  /** `unchain` with no passphrase in its environment but these variables. */
  function unchain(p: SimProject, args: string[], vars: Record<string, string>): Promise<RunResult> {
    const e = driverEnv(p);
    delete e.PULUMI_CONFIG_PASSPHRASE;
    delete e.PULUMI_CONFIG_PASSPHRASE_FILE;
    Object.assign(e, vars);
    const child = spawn(process.execPath, [BIN, ...args, "-C", p.dir, "--program", SIM_PROGRAM], { env: e, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    return new Promise((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })));
  }

  function withKmsStack(): SimProject {
    const p = simProject([{ name: "w", stacks: ["k1", "p1"] }]);
    const f = path.join(p.dir, "Pulumi.k1.yaml");
    fs.writeFileSync(f, `secretsprovider: ${KMS}\n${fs.readFileSync(f, "utf8")}`);
    return p;
  }

  it("a KMS stack runs without a passphrase; with a passphrase stack beside it the run is refused before anything, naming that stack (exit 5, environment)", async () => {
    const p = withKmsStack();
    const files = fs.readdirSync(p.dir).sort();
    const kms = await unchain(p, ["preview", "-s", "k1", "--phase", "0", "--json"], {});
    expect(kms.code, kms.stderr).to.equal(0);
    expect(kms.stderr).not.to.contain("passphrase");
    const both = await unchain(p, ["advance", "--all", "--to", "0", "--yes"], {});
    expect(both.code).to.equal(5); // no passphrase: the environment, not the command line
    expect(both.stderr).to.contain("stack p1 keeps its secrets with a passphrase").and.not.contain("k1");
    expect(both.stderr).not.to.match(/\n\s+at /);
    const empty = await unchain(p, ["advance", "-s", "p1", "--to", "0", "--yes"], { PULUMI_CONFIG_PASSPHRASE: "" });
    expect(empty.code).to.equal(5);
    expect(empty.stderr).to.contain("PULUMI_CONFIG_PASSPHRASE is set but empty");
    // Nothing was created: no stack in the backend, the files as they were.
    expect(fs.existsSync(path.join(p.dir, ".pulumi", "stacks", "unchain", "p1.json"))).to.equal(false);
    expect(fs.readdirSync(p.dir).filter((f) => f.startsWith("Pulumi.")).sort()).to.deep.equal(files.filter((f) => f.startsWith("Pulumi.")));
  });

  it("a stack is created with the secrets provider its file names, not a passphrase (pulumi stack init alone would drop the key)", async () => {
    const p = simProject([{ name: "w", stacks: ["v1"] }]);
    const f = path.join(p.dir, "Pulumi.v1.yaml");
    const text = `secretsprovider: hashivault://unchain\n${fs.readFileSync(f, "utf8")}`;
    fs.writeFileSync(f, text);
    // A Vault that does not answer: the stack cannot be created, and is not created some other way.
    const r = await unchain(p, ["advance", "-s", "v1", "--to", "0", "--yes", "--skip-health-gates", "--json"], { VAULT_ADDR: "http://127.0.0.1:1", VAULT_TOKEN: "t" });
    expect(r.code, r.stdout + r.stderr).to.equal(1);
    const result = summaryOf(r).results[0];
    expect(result.status).to.equal("failed");
    expect(result.error).to.contain("127.0.0.1:1").and.not.contain("passphrase");
    expect(fs.readFileSync(f, "utf8")).to.equal(text);
    expect(fs.existsSync(path.join(p.dir, ".pulumi", "stacks", "unchain", "v1.json"))).to.equal(false);
  });

  it("an empty PULUMI_CONFIG_PASSPHRASE with PULUMI_CONFIG_PASSPHRASE_FILE: the stack is created and applied with the file's passphrase", async () => {
    const p = simProject([{ name: "w", stacks: ["f1"] }]);
    const file = path.join(os.tmpdir(), `unchain-passphrase-${process.pid}`);
    fs.writeFileSync(file, `${PASSPHRASE}\n`, { mode: 0o600 });
    const r = await unchain(p, ["advance", "--all", "--to", "0", "--yes", "--skip-health-gates", "--json"], { PULUMI_CONFIG_PASSPHRASE: "", PULUMI_CONFIG_PASSPHRASE_FILE: file });
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    // The same passphrase as the variable: the harness's runs with PULUMI_CONFIG_PASSPHRASE read the stack.
    const again = await runDriverCli(p, ["advance", "--all", "--to", "1", "--yes", "--json"]);
    expect(again.code, again.stdout).to.equal(0);
    expect(summaryOf(again).results[0]).to.include({ status: "succeeded", reached: 1 });
    fs.rmSync(file);
  });
});
