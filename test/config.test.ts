import { expect } from "chai";
import { loadStack } from "../config/load";
import { validateStackConfig } from "../config/validate";
import { evaluateStack, PROJECT } from "./helpers";

/** The raw config of an example stack with some keys changed (undefined removes a key). */
function rawWith(changes: Record<string, unknown>): Record<string, unknown> {
  const raw = { ...loadStack(PROJECT, "prod-eu-west-2").raw };
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined) delete raw[k];
    else raw[k] = v;
  }
  return raw;
}

function problems(changes: Record<string, unknown>) {
  const r = validateStackConfig("prod-eu-west-2", rawWith(changes), () => "Pulumi.prod-eu-west-2.yaml");
  expect(r.config, "config must be refused").to.equal(undefined);
  return r.problems;
}

const cluster = () => loadStack(PROJECT, "prod-eu-west-2").raw.cluster as Record<string, unknown>;

describe("stack config validation", () => {
  it("accepts every example stack", () => {
    for (const stack of ["prod-eu-west-2", "dev", "prod-eu-central-1", "ci-eu-central-1"]) {
      const src = loadStack(PROJECT, stack);
      expect(validateStackConfig(stack, src.raw).problems, stack).to.deep.equal([]);
    }
  });

  it("reports a missing key with the key and what to write", () => {
    const [p] = problems({ phase: undefined });
    expect(p.key).to.equal("unchain:phase");
    expect(p.message).to.equal("is missing");
    expect(p.fix).to.include("set unchain:phase");
  });

  it("reports a wrong type, naming the value it got", () => {
    const [p] = problems({ minSchedulableNodesPerAz: "two" });
    expect(p.key).to.equal("unchain:minSchedulableNodesPerAz");
    expect(p.message).to.include('string "two"');
  });

  it("reports an AZ that is not in the cluster's region, and a pool AZ the cluster does not have", () => {
    const c = cluster();
    const azs = c.availabilityZones as Array<Record<string, unknown>>;
    const ps = problems({
      cluster: { ...c, availabilityZones: [{ ...azs[0], name: "us-east-1a" }, ...azs.slice(1)] },
      awsPools: [{ name: "general", instanceTypes: ["m6i.xlarge"], sizePerAz: { min: 1, desired: 2, max: 3 }, availabilityZones: ["eu-west-2z"] }],
    });
    expect(ps.map((p) => p.key)).to.include.members(["unchain:cluster.availabilityZones[0].name", "unchain:awsPools[0].availabilityZones[0]"]);
    expect(ps.find((p) => p.key.endsWith("[0].name"))!.message).to.include("is not an availability zone of region eu-west-2");
  });

  it("rejects a taint key EKS would reject, and an EKS-spelled effect with the spelling to use", () => {
    const ps = problems({
      awsPoolTaintKey: "Example.com/cni",
      chainedPools: [{ name: "general", instanceTypes: ["m6i.xlarge"], size: { min: 1, desired: 6, max: 9 }, taints: [{ key: "dedicated/", value: "x", effect: "NO_SCHEDULE" }] }],
    });
    const byKey = Object.fromEntries(ps.map((p) => [p.key, p]));
    expect(byKey["unchain:awsPoolTaintKey"].message).to.include("EKS would reject it");
    expect(byKey["unchain:chainedPools[0].taints[0].key"].message).to.include("EKS would reject it");
    expect(byKey["unchain:chainedPools[0].taints[0].effect"].fix).to.include("write NoSchedule");
  });

  it("rejects two pools of one role with one name", () => {
    const pool = { name: "general", instanceTypes: ["m6i.xlarge"], sizePerAz: { min: 1, desired: 3, max: 4 } };
    const [p] = problems({ ciliumPools: [pool, { ...pool }] });
    expect(p.key).to.equal("unchain:ciliumPools[1].name");
    expect(p.message).to.equal('pool name "general" is already used by unchain:ciliumPools[0]');
  });

  it("suggests the key a typo meant", () => {
    const [p] = problems({ awsPool: [] });
    expect(p.key).to.equal("unchain:awsPool");
    expect(p.fix).to.equal("did you mean unchain:awsPools?");
  });

  it("reports every problem at once, each naming the file it came from", () => {
    const ps = problems({ phase: 9, vpcCniVersion: "1.18", ciliumChartVersion: "1.12.0", awsPools: "general" });
    expect(ps.map((p) => p.key).sort()).to.deep.equal(["unchain:awsPools", "unchain:ciliumChartVersion", "unchain:phase", "unchain:vpcCniVersion"]);
    for (const p of ps) expect(p.file).to.equal("Pulumi.prod-eu-west-2.yaml");
  });

  it("a size with min > desired is refused with the numbers", () => {
    const [p] = problems({ awsPools: [{ name: "general", instanceTypes: ["m6i.xlarge"], sizePerAz: { min: 4, desired: 2, max: 6 } }] });
    expect(p.message).to.equal("needs min <= desired <= max, has min 4, desired 2, max 6");
  });
});

describe("the program refuses bad config and broken plans before creating anything", () => {
  it("a config problem: a RunError naming stack, file, key and fix; no resource registered", async () => {
    const ev = await evaluateStack("prod-eu-west-2", 1, { minSchedulableNodesPerAz: -1 });
    expect(ev.resources).to.have.length(0);
    expect(ev.error).to.include("stack prod-eu-west-2: 1 problem in its configuration (Pulumi.prod-eu-west-2.yaml); nothing was changed.");
    expect(ev.error).to.include("unchain:minSchedulableNodesPerAz: -1 is out of range");
    expect(ev.error).to.not.match(/\n\s+at /);
  });

  it("a plan that breaks an invariant: which invariant, which AZ, which phase", async () => {
    const ev = await evaluateStack("prod-eu-west-2", 0, { minSchedulableNodesPerAz: 4 });
    expect(ev.resources).to.have.length(0);
    expect(ev.error).to.include("breaks");
    expect(ev.error).to.match(/invariant 4 \(each availability zone keeps schedulable capacity\) broken at phase 2, AZ eu-west-2a: 3 node\(s\) open/);
  });
});
