/**
 * Every phase changes only what it owns (invariant 8): a cluster adopted with a rich live
 * configuration keeps every setting the team made through the walk 0→6, unless a phase owns it;
 * the ENI release carries what still applies of the chained one; a change to a setting no phase
 * owns is caught and named.
 */
import { expect } from "chai";
import fc from "fast-check";
import { ClusterConfig } from "../config/types";
import { OPAQUE_SECRET, validateStackConfig } from "../config/validate";
import { OWNED_VALUES } from "../config/owned";
import { desiredState, desiredWalk, PhaseState } from "../steps/desired";
import { checkOwnership, checkWalk } from "../steps/invariants";
import { PHASES } from "../steps/phases";
import { diffValues } from "../steps/valueDiff";
import { CHAINING_ONLY_KEYS, KEYS_OUTSIDE_SCHEMA } from "../steps/values";
import Ajv from "ajv";
import * as fs from "node:fs";
import * as path from "node:path";
import { PROJECT } from "./helpers";

const ROLE = "arn:aws:iam::123456789012:role/nodes";
const subnet = (i: number) => `subnet-0000000000000000${i}`;

/** What a platform team runs: Hubble with TLS, a cluster id, WireGuard, ClusterMesh, kube-proxy replacement, the chaining guide's endpoint routes. */
const LIVE_VALUES = {
  cni: { chainingMode: "aws-cni", exclusive: false },
  enableIPv4Masquerade: false,
  routingMode: "native",
  endpointRoutes: { enabled: true },
  cluster: { name: "rich", id: 42 },
  hubble: { enabled: true, relay: { enabled: true }, ui: { enabled: true }, tls: { auto: { method: "helm", certValidityDuration: 1095 } }, metrics: { enabled: ["dns", "drop", "tcp", "flow"] } },
  encryption: { enabled: true, type: "wireguard" },
  clustermesh: { useAPIServer: true, apiserver: { replicas: 2 } },
  kubeProxyReplacement: true,
  k8sServiceHost: "ABCDEF.gr7.eu-west-1.eks.amazonaws.com",
  k8sServicePort: 443,
  bpf: { masquerade: false, preallocateMaps: true },
  prometheus: { enabled: true },
  operator: { replicas: 2, prometheus: { enabled: true } },
  affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: "cni", operator: "In", values: ["both"] }] }] } } },
};
const LIVE_ADDON = '{"env":{"ENABLE_PREFIX_DELEGATION":"true","WARM_PREFIX_TARGET":"1","AWS_VPC_K8S_CNI_EXTERNALSNAT":"true"},"enableNetworkPolicy":"true"}';

function richConfig(phase = 0): ClusterConfig {
  const lt = { id: "lt-0a1b2c3d4e5f60718", version: "7" };
  const { config, problems } = validateStackConfig("rich", {
    phase,
    adoptedPhase: 0,
    cluster: { name: "rich", region: "eu-west-1", availabilityZones: ["a", "b", "c"].map((l, i) => ({ name: `eu-west-1${l}`, subnetIds: [subnet(i)] })) },
    chainedPools: [
      { name: "general", nodeGroupName: "general-20230412", subnetIds: [subnet(0), subnet(1), subnet(2)], nodeRoleArn: ROLE, size: { min: 6, desired: 9, max: 18 }, launchTemplate: lt, updateConfig: { maxUnavailablePercentage: 33 }, taints: [{ key: "node.cilium.io/agent-not-ready", value: "true", effect: "NoSchedule" }], tags: { team: "platform" }, amiType: "AL2023_x86_64_STANDARD" },
      {
        name: "batch",
        nodeGroupName: "batch-20230412",
        subnetIds: [subnet(0), subnet(1), subnet(2)],
        nodeRoleArn: ROLE,
        size: { min: 0, desired: 3, max: 9 },
        instanceTypes: ["c6i.2xlarge"],
        labels: { workload: "batch" },
        taints: [{ key: "dedicated", value: "batch", effect: "NoSchedule" }],
        amiType: "AL2023_x86_64_STANDARD",
      },
    ],
    awsPools: [{ name: "general" }, { name: "batch" }],
    ciliumPools: [{ name: "general" }, { name: "batch" }],
    ciliumRelease: { chartVersion: "1.16.6", values: LIVE_VALUES, caSecret: "cilium-ca" },
    vpcCni: { addonVersion: "v1.18.3-eksbuild.1", configurationValues: LIVE_ADDON, serviceAccountRoleArn: "arn:aws:iam::123456789012:role/vpc-cni", tags: { team: "platform" } },
    ciliumOperatorRole: { roleArn: "arn:aws:iam::123456789012:role/cilium-operator" },
    minSchedulableNodesPerAz: 1,
  });
  if (!config) throw new Error(problems.map((p) => `${p.key}: ${p.message}`).join("\n"));
  return config;
}

type Obj = Record<string, unknown>;
/** Every leaf of a values document, by path. */
function leaves(v: unknown, path = ""): Array<[string, unknown]> {
  if (v && typeof v === "object" && !Array.isArray(v)) return Object.entries(v as Obj).flatMap(([k, x]) => leaves(x, path ? `${path}.${k}` : k));
  return [[path, v]];
}
const at = (v: unknown, path: string) => path.split(".").reduce<unknown>((o, k) => (o && typeof o === "object" ? (o as Obj)[k] : undefined), v);
const ownedSomewhere = (path: string, kind: string) => PHASES.some((p) => p.allowed.some((a) => a.kind === kind && (a.owns ?? []).some((o) => path === o || path.startsWith(`${o}.`))));

describe("every phase changes only what it owns (invariant 8)", () => {
  const config = richConfig();
  const walk = desiredWalk(config);

  it("the rich cluster's walk 0→6 keeps every invariant", () => {
    expect(checkWalk(walk).map((v) => `${v.invariant}: ${v.message}`)).to.deep.equal([]);
  });

  it("every setting of the chained release survives phases 0-1 unless phase 1 owns it", () => {
    for (const s of walk.filter((x) => x.cilium?.release === "chained")) {
      for (const [path, value] of leaves(LIVE_VALUES)) {
        if (ownedSomewhere(`values.${path}`, "ciliumRelease")) continue;
        expect(at(s.cilium!.values, path), `phase ${s.phase}: ${path}`).to.deep.equal(value);
      }
    }
    expect(at(walk[1].cilium!.values, "operator.replicas"), "operator settings beside the watcher stay").to.equal(2);
  });

  it("the ENI release carries what still applies of the chained values, drops what belongs to chaining, sets the ENI keys", () => {
    const eni = walk.find((s) => s.cilium?.release === "eni")!.cilium!.values;
    for (const key of ["cluster", "hubble", "encryption", "clustermesh", "kubeProxyReplacement", "k8sServiceHost", "k8sServicePort", "bpf", "prometheus"])
      expect(eni[key], key).to.deep.equal((LIVE_VALUES as Obj)[key]);
    expect(at(eni, "operator.replicas")).to.equal(2);
    for (const key of CHAINING_ONLY_KEYS.filter((k) => !["ipam", "eni", "routingMode", "affinity", "envoy.affinity", "operator.unmanagedPodWatcher", "operator.rollOutPods", "rollOutCiliumPods", "policyAuditMode", "egressMasqueradeInterfaces"].includes(k)))
      expect(at(eni, key), `${key} is chaining's`).to.equal(undefined);
    expect(eni).to.deep.include({ ipam: { mode: "eni" }, routingMode: "native" });
    expect(at(eni, "eni.enabled")).to.equal(true);
    expect(at(eni, "cluster.name"), "the team's cluster name, which ClusterMesh knows").to.equal("rich");
    expect(eni.egressMasqueradeInterfaces, "AL2023 pools: ens+ (chart 1.16)").to.equal("ens+");
  });

  it("the ENI release gets the cluster's EKS name where the team set none, and eth+ on Amazon Linux 2 pools", () => {
    const c = richConfig();
    const plain: ClusterConfig = {
      ...c,
      cilium: { ...c.cilium, live: { ...c.cilium.live!, values: { cni: { chainingMode: "aws-cni" } } } },
      pools: c.pools.map((p) => (p.role === "cilium" ? { ...p, groups: p.groups.map((g) => ({ ...g, amiType: "AL2_x86_64" })) } : p)),
    };
    const eni = desiredState(plain, 4).cilium!.values;
    expect(at(eni, "cluster.name")).to.equal("rich");
    expect(eni.egressMasqueradeInterfaces).to.equal("eth+");
  });

  it("the vpc-cni configuration stays as it runs, the affinity added in phase 3 and nothing else", () => {
    const live = JSON.parse(LIVE_ADDON) as Obj;
    for (const s of walk.filter((x) => x.awsNode)) {
      const cv = s.awsNode!.configurationValues;
      expect({ ...cv, affinity: undefined }, `phase ${s.phase}`).to.deep.equal({ ...live, affinity: undefined });
      expect(s.awsNode!.serviceAccountRoleArn).to.equal("arn:aws:iam::123456789012:role/vpc-cni");
      if (s.phase < 3) expect(s.awsNode!.configurationValuesText, "the live text, byte for byte").to.equal(LIVE_ADDON);
      else expect(cv.affinity).to.not.equal(undefined);
    }
  });

  it("successor pools keep the chained pool's launch template (its security groups and user data), node role and update policy", () => {
    const s4 = walk.find((s) => s.phase === 4)!;
    for (const p of s4.pools.filter((x) => x.role !== "chained" && x.pool === "general")) {
      expect(p.launchTemplate).to.deep.equal({ id: "lt-0a1b2c3d4e5f60718", version: "7" });
      expect(p.nodeRoleArn).to.equal(ROLE);
      expect(p.updateConfig).to.deep.equal({ maxUnavailablePercentage: 33 });
      expect(p.tags).to.include({ team: "platform" });
    }
  });

  it("policy: audited while two roles share the cluster, the team's enforcement back when one remains", () => {
    const audit = (s: PhaseState) => s.cilium?.values.policyAuditMode;
    expect(walk.map((s) => (s.cilium ? audit(s) : "none"))).to.deep.equal([undefined, true, "none", "none", true, true, false]);
  });

  it("protection: every node group, the add-on and the release stay protected until the phase before the one that removes them", () => {
    const protectedIn = (s: PhaseState) => [...s.pools.filter((p) => p.protect).map((p) => p.role), ...(s.awsNode?.protect ? ["addon"] : []), ...(s.cilium?.protect ? [s.cilium.release] : [])];
    const unprotected = walk.map((s) => [...s.pools.filter((p) => !p.protect).map((p) => p.role), ...(s.awsNode && !s.awsNode.protect ? ["addon"] : []), ...(s.cilium && !s.cilium.protect ? [s.cilium.release] : [])]);
    expect(unprotected.map((u) => [...new Set(u)].sort())).to.deep.equal([[], ["chained"], [], [], [], ["addon", "aws"], []]);
    expect(protectedIn(walk[6])).to.include("cilium");
  });

  it("a change to any setting no phase owns, in any step, is refused, naming the resource, the property and the phase", () => {
    const unowned = leaves(LIVE_VALUES).filter(([p]) => !ownedSomewhere(`values.${p}`, "ciliumRelease"));
    fc.assert(
      fc.property(fc.constantFrom(...unowned), fc.constantFrom(1, 5, 6), ([path], toPhase) => {
        const from = walk.find((s) => s.phase === toPhase - 1)!;
        const to = walk.find((s) => s.phase === toPhase)!;
        const release = to.cilium ?? from.cilium;
        if (!from.cilium || !to.cilium || from.cilium.release !== to.cilium.release || !release) return;
        const changed: PhaseState = { ...to, cilium: { ...to.cilium, values: setPath(to.cilium.values, path, "changed-by-a-phase") } };
        const vs = checkOwnership(from, changed);
        expect(vs.length, path).to.equal(1);
        expect(vs[0].invariant).to.equal(8);
        expect(vs[0].message).to.include(`values.${path}`).and.to.include(`phase ${toPhase} would change the ${to.cilium.release} Cilium release`);
      }),
      { numRuns: 150 },
    );
  });

  it("a node group setting no phase owns (instance types, labels, the launch template's version) changing is refused; the phase's own taints are not", () => {
    const s4 = walk.find((s) => s.phase === 4)!;
    const s5 = walk.find((s) => s.phase === 5)!;
    expect(checkOwnership(s4, s5)).to.deep.equal([]);
    const changes: Array<[string, Partial<PhaseState["pools"][number]>]> = [
      ["instanceTypes", { instanceTypes: ["m7i.xlarge"] }],
      ["labels", { labels: { cni: "aws", team: "x" } }],
      ["launchTemplate.version", { launchTemplate: { id: "lt-0a1b2c3d4e5f60718", version: "8" } }],
    ];
    for (const [what, change] of changes) {
      const changed: PhaseState = { ...s5, pools: s5.pools.map((p) => (p.role === "aws" && p.pool === "general" ? { ...p, ...change } : p)) };
      const vs = checkOwnership(s4, changed);
      expect(vs.length, what).to.equal(3);
      expect(vs[0].message).to.include(what).and.to.include("it does not own (it owns taints)");
    }
  });

  it("values unchain would add to a release it does not install are refused, not applied in silence", () => {
    const { problems } = validateStackConfig("rich", { ...rawOf(), ciliumValues: { chained: { hubble: { enabled: false } } } });
    expect(problems.map((p) => p.key)).to.deep.equal(["unchain:ciliumValues.chained"]);
    expect(problems[0].message).to.include("the running one is adopted as Helm recorded it");
  });

  it("the Cilium values of every phase validate against the chart's values schema", () => {
    const schema = JSON.parse(fs.readFileSync(path.join(PROJECT, "test", "schemas", "cilium-chart-values.schema.json"), "utf8")) as object;
    const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
    for (const s of walk.filter((x) => x.cilium)) {
      const values = Object.fromEntries(Object.entries(s.cilium!.values).filter(([k]) => !(k in KEYS_OUTSIDE_SCHEMA)));
      expect(validate(values), `phase ${s.phase}: ${JSON.stringify(validate.errors)}`).to.equal(true);
    }
  });

  it("what the plan shows of a step is the owned settings only (phase 1 of the rich cluster)", () => {
    const d = diffValues(walk[0].cilium!.values, walk[1].cilium!.values).map((c) => `values.${c.path}`);
    expect(d.sort()).to.deep.equal(["values.envoy.affinity", "values.operator.rollOutPods", "values.operator.unmanagedPodWatcher.restart", "values.policyAuditMode", "values.rollOutCiliumPods"]);
  });
});

function setPath(v: Obj, path: string, value: unknown): Obj {
  const out = JSON.parse(JSON.stringify(v)) as Obj;
  const parts = path.split(".");
  let o = out;
  for (const p of parts.slice(0, -1)) {
    if (typeof o[p] !== "object" || o[p] === null) o[p] = {};
    o = o[p] as Obj;
  }
  o[parts[parts.length - 1]] = value;
  return out;
}

/** A small stack's raw keys with the rich release (for validation with one key added). */
describe("overrides of what unchain owns", () => {
  it("refuses every owned value path in every section of ciliumValues, naming the key and what to do instead", () => {
    const leaf = (path: string, v: unknown): Obj => path.split(".").reduceRight<Obj>((acc, k) => ({ [k]: acc }), v as Obj);
    for (const o of OWNED_VALUES)
      for (const part of ["common", "chained", "eni"] as const) {
        const { config, problems } = validateStackConfig("rich", { ...rawOf(), ciliumValues: { [part]: leaf(o.path, false) } });
        const p = problems.find((x) => x.key === `unchain:ciliumValues.${part}.${o.path}`);
        expect(config, `${part}.${o.path}`).to.equal(undefined);
        expect(p?.message, `${part}.${o.path}`).to.match(/^is unchain's to set: it /);
        expect(p?.fix, `${part}.${o.path}`).to.match(/^remove it/);
      }
  });

  it("lets the team narrow placement with nodeSelector and tolerations, which the invariants judge", () => {
    const { config, problems } = validateStackConfig("rich", { ...rawOf(), ciliumValues: { eni: { nodeSelector: { "kubernetes.io/os": "linux" }, tolerations: [{ operator: "Exists" }] } } });
    expect(problems.filter((p) => p.key.startsWith("unchain:ciliumValues"))).to.deep.equal([]);
    expect(config).to.not.equal(undefined);
  });

  it("every key the ENI release drops from the chained values as chaining-only is owned, or one the ENI release sets itself", () => {
    const setByEni = ["enableIPv4Masquerade", "endpointRoutes", "autoDirectNodeRoutes", "ipam", "eni", "egressMasqueradeInterfaces"];
    for (const k of CHAINING_ONLY_KEYS) expect(OWNED_VALUES.some((o) => o.path === k || o.path.startsWith(`${k}.`)) || setByEni.includes(k), k).to.equal(true);
  });

  it("accepts a secure value where a string goes, as an opaque secret", () => {
    const raw = rawOf();
    const { config, problems } = validateStackConfig("rich", { ...raw, ciliumValues: { common: { clustermesh: { apiserver: { tls: { key: { secure: "v1:AAAA" } } } } } } });
    expect(problems).to.deep.equal([]);
    expect((config!.cilium.values.common as Obj).clustermesh).to.deep.equal({ apiserver: { tls: { key: OPAQUE_SECRET } } });
  });
});

function rawOf(): Obj {
  return {
    phase: 0,
    cluster: { name: "rich", region: "eu-west-1", availabilityZones: ["a", "b", "c"].map((l, i) => ({ name: `eu-west-1${l}`, subnetIds: [subnet(i)] })) },
    chainedPools: [{ name: "general", nodeGroupName: "general-20230412", subnetIds: [subnet(0)], nodeRoleArn: ROLE, size: { min: 1, desired: 3, max: 6 }, instanceTypes: ["m6i.large"] }],
    awsPools: [{ name: "general" }],
    ciliumPools: [{ name: "general" }],
    ciliumRelease: { chartVersion: "1.16.6", values: LIVE_VALUES },
    ciliumOperatorRole: { roleArn: "arn:aws:iam::123456789012:role/cilium-operator" },
  };
}
