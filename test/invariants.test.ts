/**
 * Property tests: over generated fleets every walk 0→6 keeps the six invariants, and deliberately
 * broken plans are each caught with the right invariant and place.
 */
import { expect } from "chai";
import fc from "fast-check";
import { ClusterConfig } from "../config/types";
import { validateStackConfig } from "../config/validate";
import { desiredState, desiredWalk, PhaseState } from "../steps/desired";
import * as fs from "node:fs";
import { instanceCapacity } from "../config/instanceTypes";
import { checkStep, checkWalk, describeViolation, walkNotes } from "../steps/invariants";
import { fleetConfig, PROJECT } from "./helpers";

const REGION = "eu-central-1";

/** A stack file's `unchain:*` keys, validated into a ClusterConfig (the way the program reads them). */
function configOf(raw: Record<string, unknown>): ClusterConfig {
  const { config, problems } = validateStackConfig("generated", raw);
  if (!config) throw new Error(problems.map((p) => `${p.key}: ${p.message}`).join("\n"));
  return config;
}

/**
 * A generated cluster as its stack file would say: 1-4 AZs, 1-3 chained pools (some dedicated), each
 * succeeded by an aws and a cilium pool of its name, sizes that meet the floor, and successors that
 * hold their chained pool's share of each AZ (the same instance type, as many nodes or more).
 */
const rawArb = fc
  .record({
    azCount: fc.integer({ min: 1, max: 4 }),
    floor: fc.integer({ min: 0, max: 3 }),
    chained: fc.array(fc.record({ extra: fc.integer({ min: 0, max: 10 }), taintedExtra: fc.boolean(), startupTaint: fc.boolean(), perAz: fc.integer({ min: 0, max: 4 }) }), { minLength: 1, maxLength: 3 }),
    phase: fc.integer({ min: 0, max: 6 }),
  })
  .map(({ azCount, floor, chained, phase }) => {
    const azs = Array.from({ length: azCount }, (_, i) => ({ name: `${REGION}${"abcd"[i]}`, subnetIds: [`subnet-0000000000000000${i}`] }));
    const names = azs.map((a) => a.name);
    const successor = (c: { perAz: number; extra: number }, i: number) => {
      const desired = (i === 0 ? floor : 0) + Math.ceil(c.extra / azCount) + c.perAz;
      return { name: `c${i}`, sizePerAz: { min: 0, desired, max: desired + 1 } };
    };
    return {
      phase,
      cluster: { name: "generated", region: REGION, availabilityZones: azs, nodeRoleArn: "arn:aws:iam::123456789012:role/nodes" },
      chainedPools: chained.map((c, i) => ({
        name: `c${i}`,
        nodeGroupName: `c${i}`,
        instanceTypes: ["m6i.large"],
        // The first chained pool is open and big enough for the floor in every AZ.
        size: { min: 0, desired: (i === 0 ? floor * azCount : 0) + c.extra, max: floor * azCount + c.extra + 1 },
        taints: [
          ...(c.startupTaint ? [{ key: "node.cilium.io/agent-not-ready", value: "true", effect: "NoSchedule" }] : []),
          ...(i > 0 && c.taintedExtra ? [{ key: "dedicated", value: `c${i}`, effect: "NoSchedule" }] : []),
        ],
      })),
      awsPools: chained.map(successor),
      ciliumPools: chained.map(successor),
      awsPoolTaintKey: "example.com/cni",
      minSchedulableNodesPerAz: floor,
      ciliumRelease: { chartVersion: "1.16.6", values: { cni: { chainingMode: "aws-cni", exclusive: false }, routingMode: "native" } },
      ciliumOperatorRole: { roleArn: "arn:aws:iam::123456789012:role/op" },
      azNames: names,
    };
  });

const clusterArb: fc.Arbitrary<ClusterConfig> = rawArb.map(({ azNames: _, ...raw }) => configOf(raw));

const walk = (c: ClusterConfig) => desiredWalk(c);

describe("invariant 10: lineage", () => {
  it("a chained pool without a successor in a role is refused, naming the pool and the role", () => {
    fc.assert(
      fc.property(rawArb, fc.constantFrom("awsPools", "ciliumPools"), fc.nat(), ({ azNames: _, ...raw }, key, pick) => {
        const list = raw[key as "awsPools" | "ciliumPools"];
        const dropped = list[pick % list.length];
        const c = configOf({ ...raw, [key]: list.filter((x) => x !== dropped) });
        const vs = checkWalk(walk(c)).filter((v) => v.invariant === 10);
        expect(vs.map((v) => v.pool)).to.deep.equal([`chained-${dropped.name}`]);
        expect(vs[0].message).to.include(key === "awsPools" ? "no aws pool" : "no cilium pool");
      }),
      { numRuns: 100 },
    );
  });

  it("successors inherit the chained pool's dedicated taints and labels, one group per AZ", () => {
    fc.assert(
      fc.property(clusterArb, (c) => {
        const s4 = desiredState(c, 4);
        for (const chained of c.pools.filter((p) => p.role === "chained")) {
          const g = chained.groups[0];
          for (const role of ["aws", "cilium"] as const) {
            const succ = s4.pools.filter((p) => p.role === role && p.lineage === chained.name);
            expect(succ.map((p) => p.availabilityZones[0]).sort()).to.deep.equal([...g.availabilityZones].sort());
            for (const p of succ) {
              expect(p.taints).to.deep.include.members(g.taints.filter((t) => t.key !== "node.cilium.io/agent-not-ready"));
              if (role === "aws") expect(p.taints.map((t) => t.key), "no Cilium startup taint where no Cilium runs").to.not.include("node.cilium.io/agent-not-ready");
              expect(p.labels).to.include(g.labels);
              expect(p.instanceTypes).to.deep.equal(g.instanceTypes);
            }
          }
        }
      }),
      { numRuns: 100 },
    );
  });
});
const ids = (vs: ReturnType<typeof checkWalk>) => vs.map((v) => v.invariant);

describe("the six invariants over generated fleets", () => {
  it("every walk 0→6 of a well-formed cluster keeps every invariant", () => {
    fc.assert(
      fc.property(clusterArb, (c) => {
        expect(checkWalk(walk(c))).to.deep.equal([]);
      }),
      { numRuns: 300 },
    );
  });

  it("1: an aws-node affinity that drops pools still holding chained nodes is caught in phases 0-1, naming the pool", () => {
    fc.assert(
      fc.property(clusterArb, (c) => {
        const broken = { ...c, vpcCni: { ...c.vpcCni, configurationValues: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: "cni", operator: "In" as const, values: ["aws"] }] }] } } } } } };
        const vs = checkWalk(walk(broken)).filter((v) => v.invariant === 1);
        expect(vs.length).to.be.greaterThan(0);
        for (const pool of c.pools.filter((p) => p.role === "chained")) expect(vs.some((v) => v.pool === `chained-${pool.name}` && v.phase === 0 && v.message.includes("no IPAM provider"))).to.equal(true);
      }),
      { numRuns: 100 },
    );
  });

  it("1: a placement that leaves out one AZ or one instance type of a pool is caught there, by EKS's well-known node labels", () => {
    fc.assert(
      fc.property(
        rawArb.filter((r) => r.azNames.length > 1),
        ({ azNames, ...raw }) => {
          // aws-node kept off one zone: every multi-AZ pool that gets its IPs from aws-node loses them there.
          const c = configOf(raw);
          const az = azNames[0];
          const zoneOut = { key: "topology.kubernetes.io/zone", operator: "NotIn" as const, values: [az] };
          const broken = { ...c, vpcCni: { ...c.vpcCni, configurationValues: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [zoneOut] }] } } } } } };
          const vs = checkWalk(walk(broken)).filter((v) => v.invariant === 1);
          expect(vs.some((v) => v.az === az && v.phase === 0 && /no IPAM provider/.test(v.message)), JSON.stringify(vs.slice(0, 2))).to.equal(true);
          // The ENI agent held to one instance type by a nodeSelector: cilium pools of two types leave the other without IPAM.
          const large = { eni: { nodeSelector: { "node.kubernetes.io/instance-type": "m6i.large" } } };
          const twoTypes = configOf({ ...raw, ciliumValues: large, ciliumPools: raw.ciliumPools.map((p) => ({ ...p, instanceTypes: ["m6i.large", "m6i.xlarge"] })) });
          const eni = checkWalk(walk(twoTypes)).filter((v) => v.invariant === 1 && v.phase >= 4);
          expect(eni.some((v) => /m6i\.xlarge nodes/.test(v.message) && /no IPAM provider/.test(v.message)), JSON.stringify(eni.slice(0, 2))).to.equal(true);
          expect(checkWalk(walk(configOf({ ...raw, ciliumValues: large }))).filter((v) => v.invariant === 1), "one instance type: nothing left out").to.deep.equal([]);
        },
      ),
      { numRuns: 50 },
    );
  });

  it("2: the chained and the ENI release in one step are caught", () => {
    fc.assert(
      fc.property(clusterArb, (c) => {
        const s1 = desiredState(c, 1);
        const s4 = desiredState(c, 4);
        const both: PhaseState = { ...desiredState(c, 2), cilium: s4.cilium };
        expect(ids(checkStep(s1, both))).to.include(2);
      }),
      { numRuns: 50 },
    );
  });

  it("3: removing a pool that was neither closed nor verified empty is caught, naming each pool", () => {
    fc.assert(
      fc.property(clusterArb, (c) => {
        const s1 = desiredState(c, 1);
        const s2 = desiredState(c, 2);
        const unguarded: PhaseState = { ...s2, spec: { ...s2.spec, before: [] } };
        const vs = checkStep(s1, unguarded).filter((v) => v.invariant === 3);
        const openChained = s1.pools.filter((p) => p.role === "chained" && !p.taints.some((t) => t.key === "dedicated"));
        expect(vs.map((v) => v.pool).sort()).to.include.members(openChained.map((p) => p.id).sort());
        for (const v of vs) expect(v.message).to.include("not verified empty");
      }),
      { numRuns: 100 },
    );
  });

  it("4: an AZ left with no cilium capacity is caught at the phases where cilium pools carry the workload, naming the AZ", () => {
    fc.assert(
      fc.property(
        clusterArb.filter((c) => c.availabilityZones.length > 1 && c.minSchedulableNodesPerAz > 0),
        (c) => {
          const lost = c.availabilityZones[c.availabilityZones.length - 1].name;
          const broken = { ...c, pools: c.pools.map((p) => (p.role === "cilium" ? { ...p, groups: p.groups.filter((g) => !g.availabilityZones.includes(lost)) } : p)) };
          const vs = checkWalk(walk(broken)).filter((v) => v.invariant === 4);
          expect(vs.some((v) => v.az === lost && v.phase === 5 && v.fromPhase === undefined)).to.equal(true);
          expect(vs.every((v) => v.az === lost)).to.equal(true);
        },
      ),
      { numRuns: 100 },
    );
  });

  it("5: the unmanaged-pod watcher left on while two roles exist is caught", () => {
    fc.assert(
      fc.property(clusterArb, (c) => {
        const s1 = desiredState(c, 1);
        const on: PhaseState = { ...s1, cilium: { ...s1.cilium!, unmanagedPodWatcherRestart: true } };
        expect(ids(checkWalk([desiredState(c, 0), on]))).to.include(5);
      }),
      { numRuns: 50 },
    );
  });

  it("6: a change that replaces an existing node group is caught, naming the pool and the property", () => {
    fc.assert(
      fc.property(clusterArb, (c) => {
        const s4 = desiredState(c, 4);
        const s5 = desiredState(c, 5);
        const changed: PhaseState = { ...s5, pools: s5.pools.map((p) => (p.role === "aws" ? { ...p, instanceTypes: ["m7i.large"] } : p)) };
        const vs = checkStep(s4, changed).filter((v) => v.invariant === 6);
        expect(vs.map((v) => v.pool).sort()).to.deep.equal(s4.pools.filter((p) => p.role === "aws").map((p) => p.id).sort());
        expect(vs[0].message).to.include("instanceTypes");
      }),
      { numRuns: 50 },
    );
  });
});

describe("invariant 4 in vCPU and memory, where the stack file gives instance types", () => {
  const AZS = ["eu-west-1a", "eu-west-1b", "eu-west-1c"];
  /** Three AZs, one chained pool (12 nodes, 4 per AZ) and its successors, each of the instance types given. */
  const cluster = (chained: string[], aws: string[], cilium: string[], over: Record<string, unknown> = {}) =>
    configOf({
      phase: 0,
      cluster: { name: "cap", region: "eu-west-1", availabilityZones: AZS.map((name, i) => ({ name, subnetIds: [`subnet-0000000000000000${i}`] })), nodeRoleArn: "arn:aws:iam::123456789012:role/nodes" },
      chainedPools: [{ name: "general", nodeGroupName: "general", instanceTypes: chained, size: { min: 0, desired: 12, max: 20 } }],
      awsPools: [{ name: "general", instanceTypes: aws, sizePerAz: { min: 0, desired: 4, max: 8 } }],
      ciliumPools: [{ name: "general", instanceTypes: cilium, sizePerAz: { min: 0, desired: 4, max: 8 } }],
      minSchedulableNodesPerAz: 2,
      ciliumRelease: { chartVersion: "1.16.6", values: { cni: { chainingMode: "aws-cni", exclusive: false }, routingMode: "native" } },
      ciliumOperatorRole: { roleArn: "arn:aws:iam::123456789012:role/op" },
      ...over,
    });
  const cap = (vs: ReturnType<typeof checkWalk>) => vs.filter((v) => v.invariant === 4);

  it("the instance type table holds the figures of the EC2 Instance Types Guide, and no size EC2 does not offer", () => {
    // A row of each kind from the guide's specification tables (Default vCPUs, Memory (GiB)).
    const guide: Array<[string, number, number]> = [
      ["m6i.xlarge", 4, 16],
      ["m6i.2xlarge", 8, 32],
      ["m6i.32xlarge", 128, 512],
      ["r6i.4xlarge", 16, 128],
      ["c6i.2xlarge", 8, 16],
      ["c5.9xlarge", 36, 72],
      ["m7g.medium", 1, 4],
      ["c7g.xlarge", 4, 8],
      ["m7i.48xlarge", 192, 768],
      ["t3.large", 2, 8],
      ["t3.micro", 2, 1],
      ["t4g.nano", 2, 0.5],
    ];
    for (const [type, vcpu, memoryGiB] of guide) expect(instanceCapacity(type), type).to.deep.equal({ vcpu, memoryGiB });
    for (const type of ["m6i.medium", "m7i.32xlarge", "c6i.48xlarge", "i4i.xlarge", "m6i.metal", "nonsense"]) expect(instanceCapacity(type), type).to.equal(undefined);
  });

  it("successors of the same instance type and size keep it: nothing to say", () => {
    const c = cluster(["m6i.2xlarge"], ["m6i.2xlarge"], ["m6i.2xlarge"]);
    expect(checkWalk(walk(c))).to.deep.equal([]);
    expect(walkNotes(walk(c))).to.deep.equal([]);
  });

  it("smaller instance types that keep the node count are caught at the drain step, per AZ, with the figures and a fix", () => {
    // 4 m6i.xlarge per AZ stay open (16 vCPU / 64 GiB) where 4 m6i.2xlarge per AZ (32 vCPU / 128 GiB) are drained: the node floor (2) holds.
    const c = cluster(["m6i.2xlarge"], ["m6i.xlarge"], ["m6i.2xlarge"]);
    const vs = cap(checkWalk(walk(c)));
    expect(vs.map((v) => `${v.fromPhase}→${v.phase} ${v.az}`)).to.deep.equal(AZS.map((az) => `1→2 ${az}`));
    expect(vs[0].message).to.equal(
      "in eu-west-1a 16 vCPU / 64 GiB stay in the pools open to workloads (aws-general-a: 4 × m6i.xlarge), the drained chained pools had 32 vCPU / 128 GiB (chained-general: 4 × m6i.2xlarge): short by 16 vCPU and 64 GiB",
    );
    expect(vs[0].fix).to.match(/raise sizePerAz\.desired, or choose larger instanceTypes, of the aws pools in eu-west-1a \(unchain:awsPools\)/);
    expect(describeViolation(vs[0])).to.match(/^invariant 4 \(each availability zone keeps schedulable capacity\) broken at step 1→2, AZ eu-west-1a:/);
    // Phase 6 drains the aws pools onto the cilium pools: m6i.2xlarge there hold the m6i.xlarge.
    expect(vs.some((v) => v.phase === 6)).to.equal(false);
  });

  it("memory alone short (memory-optimized pools drained onto general-purpose ones of as many vCPUs) is caught, naming only memory", () => {
    const c = cluster(["r6i.xlarge"], ["r6i.xlarge"], ["m6i.xlarge"]);
    const vs = cap(checkWalk(walk(c)));
    expect(vs.map((v) => `${v.fromPhase}→${v.phase} ${v.az}`)).to.deep.equal(AZS.map((az) => `5→6 ${az}`));
    expect(vs[0].message).to.contain("16 vCPU / 64 GiB stay in the pools open to workloads (cilium-general-a: 4 × m6i.xlarge), the drained aws pools had 16 vCPU / 128 GiB");
    expect(vs[0].message).to.match(/short by 64 GiB$/);
    expect(vs[0].fix).to.contain("of the cilium pools in eu-west-1a (unchain:ciliumPools)");
    // Pools closed by unchain's own taint keys (cni, as a reverse step closes them; awsPoolTaintKey in phase 5) are weighed as what they are, not as dedicated pools.
    const s5 = desiredState(c, 5);
    const closedByCni: PhaseState = { ...s5, pools: s5.pools.map((p) => (p.role === "aws" ? { ...p, taints: [...p.taints, { key: "cni", value: "aws", effect: "NoSchedule" as const }] } : p)) };
    expect(cap(checkStep(closedByCni, desiredState(c, 6))).map((v) => v.message)).to.deep.equal(vs.map((v) => v.message));
  });

  it("a pool of several instance types counts its smallest, on both sides", () => {
    const mixed = ["m6i.xlarge", "m6i.2xlarge"];
    expect(cap(checkWalk(walk(cluster(mixed, mixed, mixed))))).to.deep.equal([]);
    // Drained at m6i.xlarge (16 vCPU per AZ), held by m6i.large (8 vCPU per AZ).
    expect(cap(checkWalk(walk(cluster(mixed, ["m6i.large", "m6i.2xlarge"], mixed)))).map((v) => v.phase)).to.deep.equal([2, 2, 2]);
  });

  it("a dedicated pool is weighed against the successors that carry its taint, not against the open pools", () => {
    const dedicated = (awsBatchPerAz: number) =>
      configOf({
        phase: 0,
        cluster: { name: "cap", region: "eu-west-1", availabilityZones: AZS.map((name, i) => ({ name, subnetIds: [`subnet-0000000000000000${i}`] })), nodeRoleArn: "arn:aws:iam::123456789012:role/nodes" },
        chainedPools: [
          { name: "general", nodeGroupName: "general", instanceTypes: ["m6i.xlarge"], size: { min: 0, desired: 6, max: 9 } },
          { name: "batch", nodeGroupName: "batch", instanceTypes: ["c6i.4xlarge"], size: { min: 0, desired: 3, max: 9 }, taints: [{ key: "dedicated", value: "batch", effect: "NoSchedule" }] },
        ],
        // The general successors are big enough for both pools together: they still cannot take the batch pods.
        awsPools: [{ name: "general", instanceTypes: ["m6i.4xlarge"], sizePerAz: { min: 0, desired: 4, max: 8 } }, { name: "batch", sizePerAz: { min: 0, desired: awsBatchPerAz, max: 3 } }],
        ciliumPools: [{ name: "general", instanceTypes: ["m6i.4xlarge"], sizePerAz: { min: 0, desired: 4, max: 8 } }, { name: "batch", sizePerAz: { min: 0, desired: 1, max: 3 } }],
        minSchedulableNodesPerAz: 1,
        ciliumRelease: { chartVersion: "1.16.6", values: { cni: { chainingMode: "aws-cni", exclusive: false }, routingMode: "native" } },
        ciliumOperatorRole: { roleArn: "arn:aws:iam::123456789012:role/op" },
      });
    expect(cap(checkWalk(walk(dedicated(1))))).to.deep.equal([]);
    const vs = cap(checkWalk(walk(dedicated(0))));
    expect(vs.map((v) => `${v.fromPhase}→${v.phase} ${v.az}`)).to.deep.equal(AZS.map((az) => `1→2 ${az}`));
    expect(vs[0].message, vs[0].message).to.contain("in eu-west-1a 0 vCPU / 0 GiB stay in the pools tainted dedicated=batch:NoSchedule (aws-batch-a: 0 × c6i.4xlarge), the drained chained pools had 16 vCPU / 32 GiB (chained-batch: 1 × c6i.4xlarge)");
    expect(vs[0].fix).to.contain("of the aws pools tainted dedicated=batch:NoSchedule in eu-west-1a");
  });

  it("an instance type the table does not hold, or none listed: a note that the measure was not computed, neither a pass nor a failure", () => {
    // The aws pools' type is unknown: whatever they hold, the 1→2 measure cannot pass or fail; it says so.
    const unknownStaying = cluster(["m6i.2xlarge"], ["i4i.xlarge"], ["m6i.2xlarge"]);
    expect(cap(checkWalk(walk(unknownStaying)))).to.deep.equal([]);
    expect(walkNotes(walk(unknownStaying))).to.deep.equal([
      "invariant 4 in vCPU and memory was not computed at step 1→2 for pools aws-general-a, aws-general-b, aws-general-c: instance type i4i.xlarge is not in config/instanceTypes.ts; their nodes are counted, not their CPU and memory",
      "invariant 4 in vCPU and memory was not computed at step 5→6 for pools aws-general-a, aws-general-b, aws-general-c: instance type i4i.xlarge is not in config/instanceTypes.ts; their nodes are counted, not their CPU and memory",
    ]);
    // No instanceTypes (the launch template sets the type): the same, with that reason.
    const states = walk(cluster(["m6i.2xlarge"], ["m6i.2xlarge"], ["m6i.2xlarge"])).map((st) => ({ ...st, pools: st.pools.map((p) => (p.role === "cilium" ? { ...p, instanceTypes: undefined } : p)) }));
    expect(walkNotes(states)).to.deep.equal([
      "invariant 4 in vCPU and memory was not computed at step 5→6 for pools cilium-general-a, cilium-general-b, cilium-general-c: the stack file lists no instanceTypes (the launch template sets the type); their nodes are counted, not their CPU and memory",
    ]);
    // A drained pool of unknown type only adds to what is needed: what is known to be short still fails.
    const twoChained = cluster(["m6i.2xlarge"], ["m6i.large"], ["m6i.2xlarge"], {
      chainedPools: [
        { name: "general", nodeGroupName: "general", instanceTypes: ["m6i.2xlarge"], size: { min: 0, desired: 12, max: 20 } },
        { name: "io", nodeGroupName: "io", instanceTypes: ["i4i.xlarge"], size: { min: 0, desired: 3, max: 6 } },
      ],
      awsPools: [{ name: "general", instanceTypes: ["m6i.large"], sizePerAz: { min: 0, desired: 4, max: 8 } }, { name: "io", instanceTypes: ["m6i.large"], sizePerAz: { min: 0, desired: 1, max: 2 } }],
      ciliumPools: [{ name: "general", sizePerAz: { min: 0, desired: 4, max: 8 } }, { name: "io", instanceTypes: ["m6i.large"], sizePerAz: { min: 0, desired: 1, max: 2 } }],
    });
    expect(cap(checkWalk(walk(twoChained))).map((v) => `${v.fromPhase}→${v.phase}`)).to.deep.equal(["1→2", "1→2", "1→2"]);
    expect(walkNotes(walk(twoChained))[0]).to.contain("for pool chained-io: instance type i4i.xlarge is not in config/instanceTypes.ts");
  });

  it("the example fleet keeps it: every stack's walk, with the measure computed wherever its stack file lists instance types", () => {
    const stacks = fs.readdirSync(PROJECT).flatMap((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1] ?? []);
    expect(stacks.length).to.be.greaterThan(20);
    let weighed = 0;
    for (const stack of stacks) {
      const states = walk(fleetConfig(stack));
      expect(cap(checkWalk(states)).map(describeViolation), stack).to.deep.equal([]);
      for (const n of walkNotes(states)) expect(n, stack).to.contain("the stack file lists no instanceTypes (the launch template sets the type)");
      weighed += states.filter((st) => st.pools.some((p) => p.instanceTypes?.length)).length;
    }
    expect(weighed).to.be.greaterThan(0);
  });
});
