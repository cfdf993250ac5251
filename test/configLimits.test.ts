/**
 * Issue 13: stack files that EKS or Kubernetes would refuse halfway through a phase are refused by
 * the config validation, each problem naming the key and the fix; nothing of the kind throws.
 * Property-style: every generated bad input of each class is refused with its key named.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expect } from "chai";
import fc from "fast-check";
import { amiArchitecture, instanceArchitecture } from "../config/limits";
import { loadStack, loadStackText } from "../config/load";
import { ConfigError, formatProblems, Problem } from "../config/problems";
import { AMI_TYPES } from "../config/schema";
import { validateStackConfig } from "../config/validate";
import { loadWaves } from "../config/waves";
import { desiredWalk } from "../steps/desired";
import { checkWalk } from "../steps/invariants";
import { PROJECT } from "./helpers";

type Obj = Record<string, unknown>;
const STACK = "prod-eu-west-2";
const FILE = `Pulumi.${STACK}.yaml`;
const RUNS = { seed: 13, numRuns: 150 };

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const base = (stack = STACK): Obj => clone(loadStack(PROJECT, stack).raw);

/** Validates `raw`; a config that passes is also walked and held to the invariants (that must not throw either). */
function validate(raw: Obj, stack = STACK): { problems: Problem[]; accepted: boolean } {
  const r = validateStackConfig(stack, raw, () => `Pulumi.${stack}.yaml`);
  if (r.config) checkWalk(desiredWalk(r.config));
  return { problems: r.problems, accepted: r.config !== undefined };
}

/** The problem at `key` (or below it): the config is refused, and the problem says what to do. */
function refusedAt(raw: Obj, key: string, stack = STACK): Problem {
  const { problems, accepted } = validate(raw, stack);
  expect(accepted, `${key}: must be refused`).to.equal(false);
  const p = problems.find((x) => x.key === key || x.key.startsWith(`${key}.`) || x.key.startsWith(`${key}[`));
  expect(p, `${key} in ${JSON.stringify(problems.map((x) => `${x.key}: ${x.message}`))}`).to.not.equal(undefined);
  expect(p!.message, key).to.be.a("string").and.not.equal("");
  expect(p!.fix, key).to.be.a("string").and.not.equal("");
  expect(p!.file, key).to.equal(`Pulumi.${stack}.yaml`);
  return p!;
}

function accepted(raw: Obj, stack = STACK): void {
  const { problems } = validate(raw, stack);
  expect(problems.map((p) => `${p.key}: ${p.message}`)).to.deep.equal([]);
}

const pools = (raw: Obj, key: "chainedPools" | "awsPools" | "ciliumPools") => raw[key] as Obj[];
const dedicated = (n: number, prefix = "example.com/t") => Array.from({ length: n }, (_, i) => ({ key: `${prefix}${i}`, value: "x", effect: "NoSchedule" }));
const chars = (n: number, c = "a") => c.repeat(n);

describe("stack config: EKS and Kubernetes limits (issue 13)", () => {
  it("every stack of the example fleet validates clean", () => {
    const stacks = fs.readdirSync(PROJECT).flatMap((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1] ?? []);
    expect(stacks.length).to.be.greaterThan(20);
    for (const stack of stacks) {
      const src = loadStack(PROJECT, stack);
      expect(validateStackConfig(stack, src.raw, (k) => src.origin[k], src.aws).problems, stack).to.deep.equal([]);
    }
  });

  describe("node group taints as EKS counts them, with the ones unchain adds", () => {
    // aws pools: the closing taint of phase 5. cilium pools: Cilium's startup taint and the validation taint of phase 4.
    const cases = [
      { role: "awsPools" as const, limit: 49, added: "unchain.io/cni=aws:NoSchedule", phase: "phase 5" },
      { role: "ciliumPools" as const, limit: 48, added: "cni=cilium:NoExecute", phase: "phase 4" },
    ];
    for (const c of cases)
      it(`${c.role}: at most ${c.limit} of the pool's own, counting ${c.added} (${c.phase})`, () => {
        fc.assert(
          fc.property(fc.integer({ min: c.limit - 3, max: 50 }), (n) => {
            const raw = base();
            pools(raw, c.role)[0].taints = dedicated(n);
            // The cilium pool would inherit the aws pool's taints: it has its own here.
            if (c.role === "awsPools") pools(raw, "ciliumPools")[0].taints = [];
            if (n <= c.limit) return accepted(raw);
            const p = refusedAt(raw, `unchain:${c.role}[0].taints`);
            expect(p.message).to.include(`would carry ${n + (c.role === "awsPools" ? 1 : 2)} taints in ${c.phase}`);
            expect(p.message).to.include(c.added.replace(/:(\w+)$/, (_, e: string) => `:${e}`));
            expect(p.message).to.include("EKS allows at most 50 per node group");
            expect(p.fix).to.equal(`remove ${n + (c.role === "awsPools" ? 1 : 2) - 50} of the taints in unchain:${c.role}[0].taints`);
          }),
          RUNS,
        );
      });

    it("the configured awsPoolTaintKey is what phase 5 adds, and inherited taints count where they land", () => {
      const raw = base();
      raw.awsPoolTaintKey = "example.com/closed";
      pools(raw, "chainedPools")[0].taints = dedicated(50);
      const p = refusedAt(raw, "unchain:awsPools[0].taints");
      expect(p.message).to.include("51 taints in phase 5").and.include("50 inherited from chained pool general").and.include("example.com/closed=aws:NoSchedule");
      expect(p.fix).to.equal("set unchain:awsPools[0].taints to the taints this pool needs");
    });

    it("a taint the pool carries with the key and effect unchain adds is refused (Kubernetes keeps one per key and effect)", () => {
      const raw = base();
      pools(raw, "ciliumPools")[0].taints = [{ key: "node.cilium.io/agent-not-ready", value: "true", effect: "NoExecute" }];
      const p = refusedAt(raw, "unchain:ciliumPools[0].taints");
      expect(p.message).to.include("node.cilium.io/agent-not-ready with effect NoExecute").and.include("phase 4");
      expect(p.fix).to.include("unchain sets node.cilium.io/agent-not-ready=true:NoExecute itself");

      const inherited = base();
      inherited.awsPoolTaintKey = "example.com/cni";
      pools(inherited, "chainedPools")[0].taints = [{ key: "example.com/cni", value: "legacy", effect: "NoSchedule" }];
      const q = refusedAt(inherited, "unchain:awsPools[0].taints");
      expect(q.message).to.include("inherited from chained pool general").and.include("unchain sets example.com/cni=aws:NoSchedule on it in phase 5");
    });

    it("taint and label keys are at most 63 characters with their prefix; values as Kubernetes and EKS take them", () => {
      // prefix (a DNS subdomain) + "/" + name, each valid for Kubernetes alone.
      const key = fc.record({ prefix: fc.integer({ min: 1, max: 120 }), name: fc.integer({ min: 1, max: 63 }) }).map(({ prefix, name }) => `${chars(prefix - 1, "p")}q/${chars(name, "n")}`);
      fc.assert(
        fc.property(key, fc.constantFrom("taint", "label"), (k, kind) => {
          const raw = base();
          const pool = pools(raw, "chainedPools")[0];
          if (kind === "taint") pool.taints = [...(pool.taints as Obj[]), { key: k, value: "x", effect: "NoSchedule" }];
          else pool.labels = { [k]: "x" };
          if (k.length <= 63) return accepted(raw);
          const p = refusedAt(raw, kind === "taint" ? "unchain:chainedPools[0].taints[1].key" : `unchain:chainedPools[0].labels`);
          expect(p.message).to.include(`is ${k.length} characters long`).and.include("prefix included");
          expect(p.fix).to.include("at most 63 characters, prefix included");
        }),
        RUNS,
      );
    });

    it("label values: 1-63 of [-A-Za-z0-9_.], starting and ending alphanumeric; taint values may be empty", () => {
      const bad = fc.oneof(fc.constant(""), fc.constant(chars(64)), fc.constantFrom("-x", "x-", "a b", "a/b", "é", "x_", ".x"));
      fc.assert(
        fc.property(bad, (v) => {
          const raw = base();
          pools(raw, "chainedPools")[0].labels = { team: v };
          const p = refusedAt(raw, "unchain:chainedPools[0].labels.team");
          expect(p.message).to.include(`label value "${v}"`);
          expect(p.fix).to.include("1-63 letters");
          if (v === "") return;
          const t = base();
          pools(t, "chainedPools")[0].taints = [{ key: "example.com/x", value: v, effect: "NoSchedule" }];
          expect(refusedAt(t, "unchain:chainedPools[0].taints[0].value").message).to.include(`taint value "${v}"`);
        }),
        RUNS,
      );
      const empty = base();
      pools(empty, "chainedPools")[0].taints = [...(pools(empty, "chainedPools")[0].taints as Obj[]), { key: "example.com/x", value: "", effect: "NoSchedule" }];
      accepted(empty);
    });

    it("awsPoolTaintKey must itself be a taint key EKS takes", () => {
      const bad = fc.oneof(
        fc.constantFrom("Example.com/cni", "a/b/c", "example.com/", "/cni", "cni!", "-cni", "example..com/cni"),
        fc.integer({ min: 64, max: 300 }).map((n) => `example.com/${chars(n - 12, "k")}`.slice(0, n)),
      );
      fc.assert(
        fc.property(bad, (k) => {
          const raw = base();
          raw.awsPoolTaintKey = k;
          const p = refusedAt(raw, "unchain:awsPoolTaintKey");
          expect(p.message).to.include(`taint key "${k}"`);
          expect(p.fix).to.match(/example\.com\/cni/);
        }),
        RUNS,
      );
    });

    it("node group names: letters, digits, - and _, at most 63", () => {
      const bad = fc.oneof(fc.integer({ min: 64, max: 100 }).map((n) => chars(n, "g")), fc.constantFrom("-general", "general.1", "general 1", "général"));
      fc.assert(
        fc.property(bad, (name) => {
          const raw = base();
          pools(raw, "chainedPools")[0].nodeGroupName = name;
          const p = refusedAt(raw, "unchain:chainedPools[0].nodeGroupName");
          expect(p.message).to.include(name).and.include("63");
        }),
        RUNS,
      );
    });
  });

  describe("architecture: instance types and AMI type agree", () => {
    const ARM = ["a1.large", "t4g.small", "m6g.xlarge", "m6gd.large", "c6gn.2xlarge", "x2gd.large", "im4gn.large", "is4gen.large", "g5g.xlarge", "c7gd.large", "hpc7g.16xlarge", "r8g.large", "i4g.large", "m7g.xlarge"];
    const X86 = ["m6i.xlarge", "c6a.large", "r7i.large", "g4dn.xlarge", "g5.xlarge", "g6e.xlarge", "p5.48xlarge", "inf2.xlarge", "trn1.2xlarge", "t3.large", "m5zn.large", "x2iedn.xlarge", "c7i-flex.large"];

    it("classifies instance families (Graviton: a g after the generation digit, and a1) and AMI types", () => {
      for (const t of ARM) expect(instanceArchitecture(t), t).to.equal("arm64");
      for (const t of X86) expect(instanceArchitecture(t), t).to.equal("x86_64");
      for (const a of AMI_TYPES) expect(amiArchitecture(a), a).to.equal(a === "CUSTOM" ? undefined : a.includes("ARM_64") ? "arm64" : "x86_64");
    });

    it("a pool whose instance types are not of its AMI type's architecture is refused, with the AMI type to use", () => {
      const amiTypes = AMI_TYPES.filter((a) => a !== "CUSTOM");
      fc.assert(
        fc.property(fc.constantFrom(...ARM, ...X86), fc.option(fc.constantFrom(...amiTypes), { nil: undefined }), (type, amiType) => {
          const raw = base();
          const aws = pools(raw, "awsPools")[0];
          aws.instanceTypes = [type];
          // No amiType anywhere in the lineage: EKS's default.
          if (amiType) aws.amiType = amiType;
          else delete pools(raw, "chainedPools")[0].amiType;
          pools(raw, "ciliumPools")[0].amiType = "AL2023_x86_64_STANDARD";
          const arch = instanceArchitecture(type);
          const ami = amiType ? amiArchitecture(amiType) : "x86_64";
          if (arch === ami) return accepted(raw);
          const p = refusedAt(raw, "unchain:awsPools[0].instanceTypes");
          expect(p.message).to.include(`instance types ${type} are ${arch}`).and.include("EKS would refuse the node group");
          expect(p.message).to.include(amiType ? `amiType ${amiType} is ${ami}` : "no amiType is set");
          const counterpart = (amiType ?? "AL2023_x86_64_STANDARD").replace(ami === "x86_64" ? "x86_64" : "ARM_64", ami === "x86_64" ? "ARM_64" : "x86_64");
          if ((AMI_TYPES as readonly string[]).includes(counterpart)) expect(p.fix).to.include(`set unchain:awsPools[0].amiType: ${counterpart}`);
          else expect(p.fix).to.equal(`use ${ami} instance types in unchain:awsPools[0].instanceTypes`);
        }),
        RUNS,
      );
    });

    it("a pool mixing architectures is refused; CUSTOM leaves the architecture to the launch template's AMI", () => {
      fc.assert(
        fc.property(fc.constantFrom(...ARM), fc.constantFrom(...X86), (arm, x86) => {
          const raw = base();
          pools(raw, "ciliumPools")[0].instanceTypes = [x86, arm];
          const p = refusedAt(raw, "unchain:ciliumPools[0].instanceTypes");
          expect(p.message).to.include(`mixes architectures: ${x86} is x86_64, ${arm} is arm64`);
          expect(p.fix).to.include("one architecture");
        }),
        RUNS,
      );
      const custom = base();
      Object.assign(pools(custom, "awsPools")[0], { instanceTypes: ["m7g.xlarge"], amiType: "CUSTOM", launchTemplate: { id: "lt-0a1b2c3d4e5f60718", version: "1" } });
      pools(custom, "ciliumPools")[0].amiType = "AL2023_x86_64_STANDARD";
      accepted(custom);
    });

    it("a sandbox checks the chained groups it creates; groups that run are imported as EKS describes them", () => {
      const raw = base("dev");
      pools(raw, "chainedPools")[0].instanceTypes = ["t4g.large"];
      expect(refusedAt(raw, "unchain:chainedPools[0].instanceTypes", "dev").message).to.include("no amiType is set");
    });
  });

  describe("names that collide in EKS or in Pulumi", () => {
    it("two pools adopting one node group", () => {
      const raw = base();
      const chained = pools(raw, "chainedPools");
      chained.push({ ...clone(chained[0]), name: "other" });
      const p = refusedAt(raw, "unchain:chainedPools[1]");
      expect(p.message).to.include('"general-20230412" is also used by unchain:chainedPools[0]');
      expect(p.fix).to.include("one pool adopts a node group");

      const byImport = base();
      const c2 = pools(byImport, "chainedPools");
      c2.push({ ...clone(c2[0]), name: "other", nodeGroupName: "other-1", importId: `${STACK}:general-20230412` });
      expect(refusedAt(byImport, "unchain:chainedPools[1].importId").message).to.include(`this pool's node group is ${STACK}:other-1`);
    });

    it("a node group unchain creates whose name a running group already has", () => {
      fc.assert(
        fc.property(fc.constantFrom("aws", "cilium"), fc.constantFrom("a", "b", "c"), (role, az) => {
          const raw = base();
          const chained = pools(raw, "chainedPools");
          chained.push({ ...clone(chained[0]), name: "legacy", nodeGroupName: `${role}-general-${az}` });
          const p = refusedAt(raw, `unchain:${role}Pools[0]`);
          expect(p.message).to.include(`"${role}-general-${az}" is also used by unchain:chainedPools[1]`);
          expect(p.fix).to.include(`rename the pool (unchain names its node groups ${role}-<pool>-<az>)`);
        }),
        RUNS,
      );
    });

    it("two running groups of one role named x and <role>-x would be one Pulumi resource", () => {
      const raw = base("staging-eu-central-1");
      const groups = pools(raw, "awsPools")[0].nodeGroups as Obj[];
      groups.push({ ...clone(groups[0]), nodeGroupName: String(groups[0].nodeGroupName).replace(/^aws-/, "") });
      const p = refusedAt(raw, "unchain:awsPools[0].nodeGroups[3]", "staging-eu-central-1");
      expect(p.message).to.include("would both be the Pulumi resource aws-general-a");
    });
  });

  describe("placement of the wrong shape is a config problem, never a TypeError", () => {
    const requirement = { key: "cni", operator: "In", values: ["both"] };
    const withTerms = (terms: unknown) => ({ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } });
    const badAffinity: unknown[] = [
      "cni=both",
      7,
      [requirement],
      { nodeAffinity: "cni" },
      { nodeAfinity: {} },
      { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [requirement] } },
      { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: {} } },
      withTerms({ matchExpressions: [requirement] }),
      withTerms([]),
      withTerms(["cni"]),
      withTerms([{ matchExpressions: requirement }]),
      withTerms([{ matchExpressions: [{ ...requirement, key: 3 }] }]),
      withTerms([{ matchExpressions: [{ ...requirement, operator: "Equals" }] }]),
      withTerms([{ matchExpressions: [{ ...requirement, values: "both" }] }]),
      withTerms([{ matchExpressions: [{ ...requirement, values: [1] }] }]),
      withTerms([{ matchExpressions: [{ ...requirement, values: [] }] }]),
      withTerms([{ matchExpressions: [{ key: "cni", operator: "Exists", values: ["x"] }] }]),
      { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: { weight: 1 } } },
      { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 0, preference: { matchExpressions: [requirement] } }] } },
      { podAntiAffinity: "soft" },
    ];
    const badNodeSelector: unknown[] = ["linux", ["kubernetes.io/os"], { "kubernetes.io/os": 1 }, { "kubernetes.io/os": { linux: true } }, { "Bad Key": "x" }];
    const badTolerations: unknown[] = [
      "all",
      { operator: "Exists" },
      [1],
      ["Exists"],
      [{ operator: "Maybe" }],
      [{ operator: "Exists", effect: "NO_SCHEDULE" }],
      [{ operator: "Exists", value: "x" }],
      [{ key: 5, operator: "Exists" }],
      [{ operator: "Equal", value: "x" }],
      [{ operator: "Exists", effect: "NoExecute", tolerationSeconds: "300" }],
      [{ operator: "Exists", effect: "NoSchedule", tolerationSeconds: 300 }],
    ];
    const badShapes = fc.oneof(
      fc.constantFrom(...badAffinity).map((v) => ({ key: "affinity", v })),
      fc.constantFrom(...badNodeSelector).map((v) => ({ key: "nodeSelector", v })),
      fc.constantFrom(...badTolerations).map((v) => ({ key: "tolerations", v })),
      fc.constantFrom("x", { matchExpressions: [requirement] }, [{ matchExpressions: "x" }]).map((v) => ({ key: "nodeSelectorTerms", v })),
    );
    const agent = { name: "node-local-dns", chart: "node-local-dns", version: "2.1.0", repository: "https://charts.example.com", roles: ["aws", "cilium"] };
    /** Where placement can be written, and how to put `v` at `key` there. */
    const slots: Array<{ at: string; put: (raw: Obj, key: string, v: unknown) => void }> = [
      { at: "unchain:ciliumRelease.values", put: (raw, key, v) => ((raw.ciliumRelease as { values: Obj }).values[key] = v) },
      { at: "unchain:ciliumRelease.values.envoy", put: (raw, key, v) => Object.assign((raw.ciliumRelease as { values: { envoy: Obj } }).values.envoy, { [key]: v }) },
      { at: "unchain:ciliumRelease.values.operator", put: (raw, key, v) => ((raw.ciliumRelease as { values: Obj }).values.operator = { [key]: v }) },
      { at: "unchain:ciliumValues.eni", put: (raw, key, v) => (raw.ciliumValues = { eni: { [key]: v } }) },
      { at: "unchain:ciliumValues.common.hubble.relay", put: (raw, key, v) => (raw.ciliumValues = { common: { hubble: { relay: { [key]: v } } } }) },
      { at: "unchain:vpcCni.configurationValues", put: (raw, key, v) => ((raw.vpcCni as Obj).configurationValues = { [key]: v }) },
      { at: "unchain:vpcCni.configurationValues", put: (raw, key, v) => ((raw.vpcCni as Obj).configurationValues = JSON.stringify({ [key]: v })) },
      { at: "unchain:nodeAgents[0].values", put: (raw, key, v) => (raw.nodeAgents = [{ ...agent, values: { [key]: v } }]) },
    ];

    it("in Helm values, the add-on's configurationValues (object or JSON text) and node agent values, at any depth", () => {
      fc.assert(
        fc.property(fc.constantFrom(...slots), badShapes, (slot, { key, v }) => {
          const raw = base();
          slot.put(raw, key, clone(v));
          const p = refusedAt(raw, `${slot.at}.${key}`);
          // Shown to the user as stack, file, key, what is wrong and the fix.
          const text = formatProblems(STACK, FILE, [p]);
          expect(text).to.include(`stack ${STACK}`).and.include(FILE).and.include(p.key).and.include("fix: ");
        }),
        { seed: 13, numRuns: 400 },
      );
    });

    it("placement of the right shape passes and is planned", () => {
      const raw = base();
      (raw.vpcCni as Obj).configurationValues = {
        tolerations: [{ operator: "Exists" }, { key: "example.com/x", operator: "Equal", value: "y", effect: "NoExecute", tolerationSeconds: 30 }],
        affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: "kubernetes.io/os", operator: "In", values: ["linux"] }] }] } } },
      };
      raw.ciliumValues = { eni: { nodeSelector: { "kubernetes.io/os": "linux" }, operator: { affinity: null, tolerations: [] } } };
      raw.nodeAgents = [{ ...agent, values: { affinity: { podAntiAffinity: {} }, nodeSelector: null } }];
      accepted(raw);
    });
  });

  describe("the YAML of a stack file", () => {
    const text = fs.readFileSync(path.join(PROJECT, FILE), "utf8");
    const load = (t: string) => loadStackText(PROJECT, "x", "Pulumi.x.yaml", t);

    it("an alias bomb is refused with the file and the line, without expanding it", () => {
      fc.assert(
        fc.property(fc.integer({ min: 3, max: 9 }), fc.integer({ min: 5, max: 12 }), (depth, width) => {
          const lines = ["config:", `  l0: &l0 [${Array(width).fill('"lol"').join(", ")}]`];
          for (let i = 1; i <= depth; i++) lines.push(`  l${i}: &l${i} [${Array(width).fill(`*l${i - 1}`).join(", ")}]`);
          lines.push(`  unchain:phase: *l${depth}`);
          const started = Date.now();
          let error: unknown;
          try {
            load(lines.join("\n"));
          } catch (e) {
            error = e;
          }
          expect(Date.now() - started).to.be.lessThan(2000);
          expect(error).to.be.instanceOf(ConfigError);
          const e = error as ConfigError;
          expect(e.file).to.equal("Pulumi.x.yaml");
          expect(e.problems[0].key).to.match(/^line \d+$/);
          expect(e.message).to.include("Pulumi.x.yaml").and.include("alias bomb");
        }),
        { seed: 13, numRuns: 30 },
      );
    });

    it("an alias without its anchor, a config that is not a mapping: the line and the fix", () => {
      const noAnchor = (() => {
        try {
          load("config:\n  unchain:phase: 0\n  unchain:cluster: *cluster\n");
        } catch (e) {
          return e as ConfigError;
        }
        return undefined;
      })();
      expect(noAnchor).to.be.instanceOf(ConfigError);
      expect(noAnchor!.problems[0]).to.deep.include({ key: "line 3", message: "alias *cluster has no anchor &cluster before it" });
      expect(() => load("config: [unchain:phase]\n")).to.throw(ConfigError, /config: must be a mapping of settings, is a list/);
    });

    it("any damage to a stack file is a ConfigError or a config problem, never an internal error", () => {
      const damage = fc.oneof(
        fc.record({ at: fc.nat(), insert: fc.constantFrom("\t", ":", "[", "]", "{", "}", "*x", "&a", "&a *a", "!!binary", "- ", "\n  ", "'", '"', "? ", "%YAML 1.2\n---\n", "---\n", "<<: *a\n") }),
        fc.record({ at: fc.nat(), cut: fc.integer({ min: 1, max: 40 }) }),
      );
      fc.assert(
        fc.property(damage, (d) => {
          const at = d.at % text.length;
          const damaged = "insert" in d ? text.slice(0, at) + d.insert + text.slice(at) : text.slice(0, at) + text.slice(at + d.cut);
          let src;
          try {
            src = load(damaged);
          } catch (e) {
            expect(e, String(e)).to.be.instanceOf(ConfigError);
            expect((e as ConfigError).problems.length).to.be.greaterThan(0);
            return;
          }
          validate(src.raw, "x");
        }),
        { seed: 13, numRuns: 300 },
      );
    });

    it("waves.yaml gets the same treatment", () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-waves-"));
      try {
        fs.writeFileSync(path.join(dir, "waves.yaml"), 'a: &a ["x","x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nwaves: *c\n');
        expect(() => loadWaves(dir, [])).to.throw(ConfigError, /waves\.yaml[\s\S]*line 3: anchors and aliases/);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
