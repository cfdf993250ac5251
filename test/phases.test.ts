/**
 * What each phase deploys, asserted on the resources the real program registers (Pulumi mocks),
 * against the runbook's table (../shared/design/migration.md) written out here independently.
 */
import { expect } from "chai";
import { CapturedResource, Evaluation } from "../automation/plan/evaluate";
import { unmanagedPodWatcherRestart } from "../steps/values";
import { addons, cniRequirement, evaluateStack, get, labelOf, nodeGroups, ofType, releases, taintsOf } from "./helpers";

const STACK = "data-eu-central-1"; // 3 AZs, a general and a dedicated batch chained pool, created operator role
const NOT_READY_NS = "node.cilium.io/agent-not-ready=true:NO_SCHEDULE";
const NOT_READY_NE = "node.cilium.io/agent-not-ready=true:NO_EXECUTE";

interface Expected {
  roles: string[];
  awsTaints: string[];
  ciliumTaints: string[];
  addon: "absent" | "default" | "aws";
  release: "none" | "chained" | "eni";
  watcher?: boolean;
}

const RUNBOOK: Record<number, Expected> = {
  0: { roles: ["both"], awsTaints: [], ciliumTaints: [], addon: "default", release: "chained", watcher: true },
  1: { roles: ["aws", "both"], awsTaints: [], ciliumTaints: [], addon: "default", release: "chained", watcher: false },
  2: { roles: ["aws"], awsTaints: [], ciliumTaints: [], addon: "default", release: "none" },
  3: { roles: ["aws"], awsTaints: [], ciliumTaints: [], addon: "aws", release: "none" },
  4: { roles: ["aws", "cilium"], awsTaints: [], ciliumTaints: ["cni=cilium:NO_EXECUTE", NOT_READY_NE], addon: "aws", release: "eni", watcher: false },
  5: { roles: ["aws", "cilium"], awsTaints: ["unchain.io/cni=aws:NO_SCHEDULE"], ciliumTaints: [NOT_READY_NE], addon: "aws", release: "eni", watcher: false },
  6: { roles: ["cilium"], awsTaints: [], ciliumTaints: [NOT_READY_NE], addon: "absent", release: "eni", watcher: true },
};

describe("every phase deploys what the runbook says (data-eu-central-1, under Pulumi mocks)", () => {
  const evaluations: Evaluation[] = [];
  before(async () => {
    for (let p = 0; p <= 6; p++) evaluations.push(await evaluateStack(STACK, p));
  });

  for (const [phase, want] of Object.entries(RUNBOOK).map(([k, v]) => [Number(k), v] as const)) {
    describe(`phase ${phase}`, () => {
      const ev = () => evaluations[phase];

      it("the program runs without refusing", () => expect(ev().error).to.equal(undefined));

      it(`has node pools of roles ${want.roles.join(", ")} and no others`, () => {
        expect([...new Set(nodeGroups(ev()).map(labelOf))].sort()).to.deep.equal(want.roles);
      });

      it("taints pools in the EKS API spelling as the phase says", () => {
        for (const g of nodeGroups(ev())) {
          // The dedicated batch pool's successors keep its taint.
          const dedicated = g.name.includes("batch") ? ["dedicated=batch:NO_SCHEDULE"] : [];
          if (labelOf(g) === "aws") expect(taintsOf(g), g.name).to.deep.equal([...dedicated, ...want.awsTaints].sort());
          if (labelOf(g) === "cilium") expect(taintsOf(g), g.name).to.deep.equal([...dedicated, ...want.ciliumTaints].sort());
          if (labelOf(g) === "both") expect(taintsOf(g), g.name).to.include(NOT_READY_NS);
        }
      });

      it(`aws-node: ${want.addon}`, () => {
        const a = addons(ev());
        if (want.addon === "absent") return void expect(a).to.have.length(0);
        expect(a).to.have.length(1);
        expect(a[0].inputs.addonName).to.equal("vpc-cni");
        const cv = a[0].inputs.configurationValues === undefined ? {} : JSON.parse(a[0].inputs.configurationValues as string);
        if (want.addon === "default") expect(cv.affinity, "no affinity key: EKS's default placement").to.equal(undefined);
        else {
          expect(cniRequirement(cv.affinity)).to.deep.equal([["aws"]]);
          const exprs = JSON.stringify(cv.affinity);
          for (const kept of ["kubernetes.io/os", "kubernetes.io/arch", "eks.amazonaws.com/compute-type"]) expect(exprs, `default term ${kept} kept`).to.include(kept);
        }
      });

      it(`Cilium: ${want.release}`, () => {
        const r = releases(ev());
        if (want.release === "none") return void expect(r).to.have.length(0);
        expect(r).to.have.length(1);
        const values = r[0].inputs.values;
        const role = want.release === "chained" ? "both" : "cilium";
        expect(cniRequirement(get(values, "affinity")), "agent affinity").to.deep.equal([[role]]);
        expect(cniRequirement(get(values, "envoy.affinity")), "envoy affinity").to.deep.equal([[role]]);
        expect(unmanagedPodWatcherRestart(values as Record<string, unknown>), "unmanaged-pod watcher (unset: the chart's default, on)").to.equal(want.watcher);
        if (want.release === "chained") {
          expect(get(values, "cni.chainingMode")).to.equal("aws-cni");
          expect(get(values, "cni.exclusive")).to.equal(false);
          expect(get(values, "ipam")).to.equal(undefined);
        } else {
          expect(get(values, "ipam.mode")).to.equal("eni");
          expect(get(values, "eni.enabled")).to.equal(true);
          expect(get(values, "cni.chainingMode")).to.equal(undefined);
          expect(get(values, "eni.iamRole"), "IRSA role of the created operator role").to.match(/^arn:aws:iam::\d{12}:role\//);
        }
      });
    });
  }

  it("adopts the existing chained node groups, add-on and release by import; creates nothing chained", () => {
    const ev = evaluations[0];
    for (const g of nodeGroups(ev)) expect(g.importId, g.name).to.match(/^data-eu-central-1:(general|batch)-\d+$/);
    expect(addons(ev)[0].importId).to.equal("data-eu-central-1:vpc-cni");
    expect(releases(ev)[0].importId).to.equal("kube-system/cilium");
  });

  it("new pools get one node group per AZ, in that AZ's subnets", () => {
    const aws = nodeGroups(evaluations[1]).filter((g) => labelOf(g) === "aws");
    expect(aws.map((g) => g.name).sort()).to.deep.equal(["aws-batch-a", "aws-batch-b", "aws-batch-c", "aws-general-a", "aws-general-b", "aws-general-c"]);
    const subnets = aws.filter((g) => g.name.startsWith("aws-general")).map((g) => (g.inputs.subnetIds as string[]).join());
    expect(new Set(subnets).size).to.equal(3);
  });

  it("new pools come up only after the phase's Cilium and aws-node placement (dependsOn)", () => {
    const ev = evaluations[4];
    const release = releases(ev)[0].urn;
    const addon = addons(ev)[0].urn;
    for (const g of nodeGroups(ev).filter((x) => labelOf(x) === "cilium")) expect(g.dependencies, g.name).to.include.members([release, addon]);
  });

  it("phase 5 closes aws pools only after the cilium pools opened (aws pools depend on cilium pools)", () => {
    const ev = evaluations[5];
    const cilium = nodeGroups(ev).filter((g) => labelOf(g) === "cilium").map((g) => g.urn);
    for (const g of nodeGroups(ev).filter((x) => labelOf(x) === "aws")) expect(g.dependencies, g.name).to.include.members(cilium);
  });

  it("the operator's IAM role exists from phase 4 on, with the ENI permissions", () => {
    const roleCount = (ev: Evaluation) => ofType(ev, "aws:iam/role:Role").length;
    expect(evaluations.map(roleCount)).to.deep.equal([0, 0, 0, 0, 1, 1, 1]);
    const policy = ofType(evaluations[4], "aws:iam/policy:Policy")[0] as CapturedResource;
    const actions = JSON.parse(policy.inputs.policy as string).Statement[0].Action as string[];
    expect(actions).to.include.members(["ec2:CreateNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:DescribeSubnets"]);
    const trust = JSON.parse(ofType(evaluations[4], "aws:iam/role:Role")[0].inputs.assumeRolePolicy as string);
    expect(JSON.stringify(trust)).to.include("system:serviceaccount:kube-system:cilium-operator");
  });

  it("writes the applied phase as a stack output (the driver's source of truth)", () => {
    expect(evaluations.map((e) => e.outputs?.appliedPhase)).to.deep.equal([0, 1, 2, 3, 4, 5, 6]);
  });
});
