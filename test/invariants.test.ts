/**
 * Property tests: over generated fleets every walk 0→6 keeps the six invariants, and deliberately
 * broken plans are each caught with the right invariant and place.
 */
import { expect } from "chai";
import fc from "fast-check";
import { ClusterConfig } from "../config/types";
import { validateStackConfig } from "../config/validate";
import { desiredState, desiredWalk, PhaseState } from "../steps/desired";
import { checkStep, checkWalk } from "../steps/invariants";

const REGION = "eu-central-1";

/** A stack file's `unchain:*` keys, validated into a ClusterConfig (the way the program reads them). */
function configOf(raw: Record<string, unknown>): ClusterConfig {
  const { config, problems } = validateStackConfig("generated", raw);
  if (!config) throw new Error(problems.map((p) => `${p.key}: ${p.message}`).join("\n"));
  return config;
}

/**
 * A generated cluster as its stack file would say: 1-4 AZs, 1-3 chained pools (some dedicated), each
 * succeeded by an aws and a cilium pool of its name, sizes that meet the floor.
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
    const successor = (c: { perAz: number }, i: number) => ({ name: `c${i}`, sizePerAz: { min: 0, desired: (i === 0 ? floor : 0) + c.perAz, max: floor + c.perAz + 1 } });
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
