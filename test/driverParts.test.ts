/**
 * The driver's pure parts: the preview gate over engine steps, the stack file
 * edits and the run summary. The engine-facing behaviour is in driver.test.ts.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expect } from "chai";
import { DiffKind, StepEventStateMetadata } from "@pulumi/pulumi/automation";
import { EngineStep, engineStep, gate } from "../automation/driver/previewGate";
import { exitCodeOf, renderSummary } from "../automation/driver/progress";
import { StackResult } from "../automation/driver/events";
import { keepFileShape, writePhase } from "../automation/driver/stackFile";
import { phasesToApply } from "../automation/driver/runner";
import { explainProviderError, withExplanation } from "../automation/driver/providerErrors";
import { PHASES } from "../steps/phases";

const urn = (chain: string, name: string) => `urn:pulumi:prod::unchain::${chain}::${name}`;
const NODE_GROUP = "unchain:index:ClusterAtPhase$unchain:index:NodePool$aws:eks/nodeGroup:NodeGroup";
const step = (op: EngineStep["op"], chain: string, name: string, inputs: Record<string, unknown> = {}, diffs: string[] = []): EngineStep => ({
  op,
  urn: urn(chain, name),
  type: chain.split("$").pop()!,
  inputs,
  diffs,
});

describe("the preview gate", () => {
  it("passes the changes phase 5 calls for: taints of aws and cilium pools", () => {
    const v = gate(
      PHASES[5],
      [
        step("same", "pulumi:pulumi:Stack", "unchain-prod"),
        step("update", NODE_GROUP, "aws-general-a", { labels: { cni: "aws" } }, ["taints"]),
        // As the engine reports it: nested paths in detailedDiff, read as their top-level property.
        engineStep({
          op: "update",
          urn: urn(NODE_GROUP, "cilium-general-a"),
          type: "aws:eks/nodeGroup:NodeGroup",
          new: { inputs: { labels: { cni: "cilium" } } } as unknown as StepEventStateMetadata,
          detailedDiff: { "taints[0].value": { diffKind: DiffKind.update, inputDiff: true } },
          provider: "",
        }),
      ],
      false,
    );
    expect(v.passed).to.equal(true);
    expect(v.counts).to.include({ update: 2, same: 0 });
  });

  it("counts a replace's three engine steps as one replace of a node group, and refuses it", () => {
    const inputs = { labels: { cni: "both" } };
    const v = gate(
      PHASES[5],
      [step("create-replacement", NODE_GROUP, "chained-general", inputs), step("replace", NODE_GROUP, "chained-general", inputs), step("delete-replaced", NODE_GROUP, "chained-general", inputs)],
      false,
    );
    expect(v.passed).to.equal(false);
    expect(v.counts.replace).to.equal(1);
    expect(v.refused.map((s) => `${s.op} ${s.name} (${s.role})`)).to.deep.equal(["replace chained-general (chained)"]);
  });

  it("refuses an update that touches a property the phase does not own", () => {
    const v = gate(PHASES[5], [step("update", NODE_GROUP, "aws-general-a", { labels: { cni: "aws" } }, ["instanceTypes"])], false);
    expect(v.refused[0].reason).to.match(/phase 5 \(cilium pools open\) owns taints of this nodePool \(aws\), not instanceTypes/);
  });

  it("classifies a resource by the unchain component that owns it, whatever provider backs it", () => {
    const v = gate(PHASES[1], [step("delete", "unchain:index:ClusterAtPhase$unchain:index:NodePool$pulumi-nodejs:dynamic:Resource", "chained-general", { labels: { cni: "both" } })], true);
    expect(v.refused.map((s) => s.kind)).to.deep.equal(["nodePool"]);
  });

  it("lets the Cilium release be deleted in phase 2, not in phase 1", () => {
    const chain = "unchain:index:ClusterAtPhase$unchain:index:CiliumRelease$kubernetes:helm.sh/v3:Release";
    const del = [step("delete", chain, "cilium-chained-release", { values: { cni: { chainingMode: "aws-cni" } } })];
    expect(gate(PHASES[2], del, false).passed).to.equal(true);
    expect(gate(PHASES[1], del, false).passed).to.equal(false);
  });
});

describe("the stack file", () => {
  it("changes only unchain:phase, keeping comments, order and types", () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-file-"));
    const text = "# prod: wave 3\nconfig:\n  aws:region: eu-west-1\n  unchain:phase: 2 # set by unchain\n  unchain:sandbox: false\n";
    fs.writeFileSync(path.join(d, "Pulumi.prod.yaml"), text);
    writePhase(d, "prod", 3);
    expect(fs.readFileSync(path.join(d, "Pulumi.prod.yaml"), "utf8")).to.equal(text.replace("phase: 2", "phase: 3"));
  });

  it("keeps its shape when the CLI rewrites it, taking only the keys the CLI added", async () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-file-"));
    const file = path.join(d, "Pulumi.prod.yaml");
    const text = "# prod\nconfig:\n  unchain:phase: 2\n";
    fs.writeFileSync(file, text);
    await keepFileShape(d, "prod", async () => fs.writeFileSync(file, 'config:\n  unchain:phase: "2"\nencryptionsalt: v1:abc\n'));
    expect(fs.readFileSync(file, "utf8")).to.equal(text + "encryptionsalt: v1:abc\n");
  });
});

describe("where a stack resumes", () => {
  it("from the phase after the applied one; a stack never applied starts at the phase its file names", () => {
    expect(phasesToApply(2, 3, 5)).to.deep.equal([3, 4, 5]);
    expect(phasesToApply(undefined, 3, 5)).to.deep.equal([3, 4, 5]);
    expect(phasesToApply(5, 5, 5)).to.deep.equal([]);
    expect(phasesToApply(undefined, 0, 0)).to.deep.equal([0]);
  });
});

describe("the run summary", () => {
  const r = (stack: string, status: StackResult["status"], extra: Partial<StackResult> = {}): StackResult => ({ stack, status, target: 3, phasesApplied: [], durationMs: 61_000, ...extra });

  it("counts each outcome, attributes each error to its stack and phase, and says how to go on", () => {
    const text = renderSummary(
      [r("a", "succeeded", { from: 1, reached: 3 }), r("b", "failed", { from: 1, reached: 1, phase: 2, error: "up of phase 2 failed: boom" }), r("c", "not-started", { error: "wave w stopped", durationMs: 0 })],
      { command: "advance", target: 3, dryRun: false, startedAt: Date.now() - 125_000 },
    );
    expect(text).to.match(/^Run summary: advance to phase 3 — 3 stacks, 2m05s/);
    expect(text).to.match(/Succeeded +1\n +Failed +1\n +Not started +1/);
    expect(text).to.match(/✔ a .* 1→3 +succeeded +1m01s/);
    expect(text).to.contain("b (phase 2): up of phase 2 failed: boom");
    expect(text).to.contain("run the same command again: it resumes");
  });

  it("exits 1 on a failure or refusal, 4 when only locks stopped it, 3 when paused, 0 when all is done", () => {
    expect(exitCodeOf([r("a", "succeeded"), r("b", "refused")])).to.equal(1);
    expect(exitCodeOf([r("a", "succeeded"), r("b", "locked"), r("c", "not-started")])).to.equal(4);
    expect(exitCodeOf([r("a", "stopped"), r("b", "not-started")])).to.equal(3);
    expect(exitCodeOf([r("a", "succeeded"), r("b", "skipped"), r("c", "previewed")])).to.equal(0);
  });
});

describe("what a provider's error means", () => {
  // The texts as pulumi-kubernetes and Helm print them (seen in test/walk.test.ts against a real API server).
  const unreachable =
    'kubernetes:core/v1:Secret prod-cilium-ca-source: Preview failed: failed to read resource state due to unreachable cluster. If the cluster was deleted, you can remove this resource from Pulumi state by rerunning the operation with the PULUMI_K8S_DELETE_UNREACHABLE environment variable set to "true"';
  const forbidden = 'secrets "cilium-ca" is forbidden: User "system:serviceaccount:default:deployer" cannot get resource "secrets" in API group "" in the namespace "kube-system"';
  const pending = "kubernetes:helm.sh/v3:Release prod-cilium-chained-release: another operation (install/upgrade/rollback) is in progress";

  it("says what is wrong and what to do, in the migration's terms", () => {
    expect(explainProviderError(unreachable)?.what).to.match(/API server cannot be reached/);
    expect(explainProviderError(forbidden)?.what).to.equal("the Kubernetes credentials (user system:serviceaccount:default:deployer) may not get secrets in namespace kube-system");
    const p = explainProviderError(pending, { helmRelease: "kube-system/cilium" })!;
    expect(p.what).to.match(/release cilium in namespace kube-system .*pending/);
    expect(p.fix).to.include("`helm history cilium -n kube-system`");
    expect(explainProviderError("aws:eks/nodeGroup:NodeGroup x: ResourceInUseException: in use")).to.equal(undefined);
  });

  it("drops the provider's advice to forget a cluster that is only unreachable, and says not to take it", () => {
    const text = withExplanation(unreachable);
    expect(text).to.not.match(/set to "true"/);
    expect(text).to.match(/Do not set PULUMI_K8S_DELETE_UNREACHABLE/);
    expect(text).to.include("failed to read resource state due to unreachable cluster");
    expect(withExplanation("something else")).to.equal("something else");
  });
});
