/**
 * `unchain adopt`, run as a user runs it (bin/unchain.js in a child process), reading clusters through
 * the real AWS SDK from a local endpoint (test/fakeAws.ts, through AWS_ENDPOINT_URL) and through a
 * real kube-apiserver where each cluster's Helm release record and nodes are staged. Then `unchain
 * plan` holds every import against what was read, with the providers' own rules (live/readback.ts).
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expect } from "chai";
import fc from "fast-check";
import { parseDocument } from "yaml";
import { loadStackText } from "../config/load";
import { planStack, StackPlan } from "../automation/plan/plan";
import { gate, IMPORT_MISMATCH } from "../automation/driver/previewGate";
import { eksKubeconfig } from "../components/program";
import { readSnapshot } from "../live/snapshot";
import { PHASES } from "../steps/phases";
import { FakeAws } from "./fakeAws";
import { ClusterSpec, clearKube, liveCluster, LiveClusterFixture, stageKube } from "./fixtures/liveClusters";
import { importedResources } from "../components/imports";
import { evaluateStack, fleetConfig, PROJECT } from "./helpers";
import { ApiServer, startApiServer } from "./kubeHarness";

const BIN = path.join(PROJECT, "bin", "unchain.js");
const ACCOUNT_A = "111111111111";
const ACCOUNT_B = "222222222222";
const ACCOUNT_C = "333333333333";
const ROLE_C = `arn:aws:iam::${ACCOUNT_C}:role/unchain-adopt`;
const KEYS = {
  AKIAAMBIENT000000001: { account: ACCOUNT_A, secret: "ambient-secret" },
  AKIATEAMB0000000001: { account: ACCOUNT_B, secret: "team-b-secret" },
};

const chained = (over: Partial<ClusterSpec["chained"][number]> = {}) => ({ name: "general", instanceTypes: ["m6i.xlarge"], size: [3, 6, 9] as [number, number, number], ...over });

/** The varied clusters of the issue: every style, one AZ, ARM only, a dedicated pool, part-way at 1, 3 and 5. */
const CLUSTERS: Array<{ label: string; spec: ClusterSpec }> = [
  { label: "eksctl: a launch template per group that sets the instance type", spec: { name: "eksctl-eu-west-1", region: "eu-west-1", account: ACCOUNT_A, azs: ["a", "b", "c"], phase: 0, style: "eksctl", chained: [chained()] } },
  {
    label: "Terraform: percentage maxUnavailable, tags, launch templates with the types on the group",
    spec: { name: "tf-us-east-1", region: "us-east-1", account: ACCOUNT_A, azs: ["a", "b", "c"], phase: 0, style: "terraform", chained: [chained(), chained({ name: "memory", instanceTypes: ["r6i.xlarge"], size: [2, 3, 6] })], values: { hubble: { enabled: true, relay: { enabled: true } }, cluster: { name: "tf", id: 3 } }, addonConfig: { env: { ENABLE_PREFIX_DELEGATION: "true", WARM_PREFIX_TARGET: "1" } } },
  },
  { label: "single AZ", spec: { name: "single-eu-north-1", region: "eu-north-1", account: ACCOUNT_A, azs: ["a"], phase: 0, chained: [chained({ size: [2, 2, 4] })] } },
  { label: "ARM only", spec: { name: "arm-eu-central-1", region: "eu-central-1", account: ACCOUNT_A, azs: ["a", "b"], phase: 0, chained: [chained({ instanceTypes: ["m7g.xlarge"], arm: true, size: [2, 4, 8] })] } },
  {
    label: "a dedicated pool (dedicated=batch:NoSchedule)",
    spec: { name: "dedicated-eu-west-2", region: "eu-west-2", account: ACCOUNT_A, azs: ["a", "b", "c"], phase: 0, chained: [chained(), chained({ name: "batch", instanceTypes: ["c6i.2xlarge"], size: [0, 3, 9], labels: { workload: "batch" }, taints: [{ key: "dedicated", value: "batch", effect: "NO_SCHEDULE" }] })] },
  },
  { label: "part-way at phase 1 (eksctl)", spec: { name: "p1-eu-west-1", region: "eu-west-1", account: ACCOUNT_A, azs: ["a", "b"], phase: 1, style: "eksctl", chained: [chained({ size: [2, 4, 8] })] } },
  { label: "part-way at phase 3 (Terraform)", spec: { name: "p3-us-west-2", region: "us-west-2", account: ACCOUNT_A, azs: ["a", "b", "c"], phase: 3, style: "terraform", chained: [chained()], addonConfig: { env: { WARM_IP_TARGET: "5" } } } },
  { label: "part-way at phase 5, with the team's own closing taint", spec: { name: "p5-ap-southeast-2", region: "ap-southeast-2", account: ACCOUNT_A, azs: ["a", "b", "c"], phase: 5, awsPoolTaintKey: "example.com/cni", chained: [chained()] } },
];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe("unchain adopt: real AWS SDK against a local endpoint, real API server", function () {
  this.timeout(300_000);
  let aws: FakeAws;
  let api: ApiServer;
  let home: string;
  const projects = new Map<string, { dir: string; live: LiveClusterFixture; plan?: StackPlan }>();

  const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
    ...process.env,
    ...aws.env("AKIAAMBIENT000000001"),
    AWS_CONFIG_FILE: path.join(home, "aws-config"),
    AWS_SHARED_CREDENTIALS_FILE: path.join(home, "aws-credentials"),
    AWS_PROFILE: "",
    ...extra,
  });

  /** `unchain <args> -C dir`, asynchronously: the AWS endpoint answers from this process. */
  const unchain = (dir: string, args: string[], extra: Record<string, string> = {}): Promise<Run> =>
    new Promise((resolve) => {
      execFile(process.execPath, [BIN, ...args, "-C", dir], { env: { ...env(extra), KUBECONFIG: path.join(dir, "kubeconfig") }, encoding: "utf8" }, (err, stdout, stderr) =>
        resolve({ code: err ? Number(err.code) : 0, stdout, stderr }),
      );
    });

  /** A fresh project with a kubeconfig whose context is named after the cluster, and the cluster staged. */
  async function project(live: LiveClusterFixture): Promise<string> {
    await clearKube(api.kubeconfig);
    await stageKube(api.kubeconfig, live);
    aws.world.clusters = aws.world.clusters.filter((c) => c.name !== live.aws.name).concat(live.aws);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-adopt-"));
    fs.copyFileSync(path.join(PROJECT, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
    const kc = JSON.parse(fs.readFileSync(api.kubeconfigFile, "utf8"));
    kc.contexts[0].name = live.spec.name;
    kc["current-context"] = live.spec.name;
    fs.writeFileSync(path.join(dir, "kubeconfig"), JSON.stringify(kc));
    return dir;
  }

  before(async () => {
    aws = new FakeAws({ keys: KEYS, roles: { [ROLE_C]: ACCOUNT_C }, clusters: [] });
    await aws.start();
    api = await startApiServer();
    home = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-aws-"));
    fs.writeFileSync(path.join(home, "aws-config"), "[profile team-b]\nregion = eu-west-1\n");
    fs.writeFileSync(path.join(home, "aws-credentials"), `[team-b]\naws_access_key_id = AKIATEAMB0000000001\naws_secret_access_key = ${KEYS.AKIATEAMB0000000001.secret}\n`);
  });

  after(async () => {
    await api?.stop();
    await aws?.stop();
    for (const p of projects.values()) fs.rmSync(p.dir, { recursive: true, force: true });
  });

  for (const { label, spec } of CLUSTERS) {
    it(`${label}: adopt infers phase ${spec.phase}, writes the stack and its snapshot, and the plan finds every import matching what runs`, async () => {
      const live = liveCluster(spec);
      const dir = await project(live);
      const r = await unchain(dir, ["adopt", "--cluster", spec.name, "--region", spec.region]);
      expect(r.code, r.stdout + r.stderr).to.equal(0);
      expect(r.stdout).to.include(`at phase ${spec.phase} (${PHASES[spec.phase].title})`);
      expect(r.stdout).to.include(`wrote Pulumi.${spec.name}.yaml and adopted/${spec.name}.yaml`);
      const snap = readSnapshot(dir, spec.name)!;
      expect(snap.inferred.phase).to.equal(spec.phase);
      expect(snap.nodeGroups.map((g) => g.nodegroupName)).to.have.members(live.aws.nodeGroups.map((g) => g.nodegroupName));

      const plan = await planStack(dir, spec.name);
      expect(plan.problems, JSON.stringify(plan.problems)).to.deep.equal([]);
      expect(plan.violations.map((v) => v.message)).to.deep.equal([]);
      expect(plan.imports!.mismatches, JSON.stringify(plan.imports!.mismatches)).to.deep.equal([]);
      expect(plan.imports!.problems).to.deep.equal([]);
      // Every node group that runs, the add-on (phases 0-5) and the release (phases 0-1, 4-6) are imported.
      const expected = live.aws.nodeGroups.length + (live.aws.addon ? 1 : 0) + (live.release ? 1 : 0);
      expect(plan.imports!.checked).to.equal(expected);
      expect(plan.ok).to.equal(true);
      projects.set(spec.name, { dir, live, plan });

      // Read again: nothing drifted, nothing written.
      const before = fs.readFileSync(path.join(dir, `Pulumi.${spec.name}.yaml`), "utf8");
      const again = await unchain(dir, ["adopt", "-s", spec.name]);
      expect(again.code, again.stdout).to.equal(0);
      expect(again.stdout).to.include("no drift");
      expect(fs.readFileSync(path.join(dir, `Pulumi.${spec.name}.yaml`), "utf8")).to.equal(before);
    });
  }

  it("keeps what the team configured: launch template, node role, labels and dedicated taints, live Helm values, the add-on's configuration", () => {
    const { dir } = projects.get("tf-us-east-1")!;
    const doc = parseDocument(fs.readFileSync(path.join(dir, "Pulumi.tf-us-east-1.yaml"), "utf8")).toJS() as { config: Record<string, unknown> };
    const c = doc.config;
    const pools = c["unchain:chainedPools"] as Array<Record<string, unknown>>;
    expect(pools[0].launchTemplate).to.deep.include({ version: "3" });
    expect(pools[0].updateConfig).to.deep.equal({ maxUnavailablePercentage: 33 });
    expect(pools[0].tags).to.deep.include({ Terraform: "true" });
    expect((c["unchain:ciliumRelease"] as { values: Record<string, unknown> }).values).to.deep.include({ hubble: { enabled: true, relay: { enabled: true } }, cluster: { name: "tf", id: 3 } });
    expect((c["unchain:vpcCni"] as { configurationValues: string }).configurationValues).to.equal('{"env":{"ENABLE_PREFIX_DELEGATION":"true","WARM_PREFIX_TARGET":"1"}}');
    // Successors by lineage: one per chained pool in each later role.
    expect((c["unchain:awsPools"] as Array<{ name: string }>).map((p) => p.name).sort()).to.deep.equal(["general", "memory"]);
    const ded = projects.get("dedicated-eu-west-2")!;
    const dc = (parseDocument(fs.readFileSync(path.join(ded.dir, "Pulumi.dedicated-eu-west-2.yaml"), "utf8")).toJS() as { config: Record<string, unknown> }).config;
    expect((dc["unchain:ciliumPools"] as Array<{ name: string }>).map((p) => p.name).sort()).to.deep.equal(["batch", "general"]);
    expect(projects.get("p5-ap-southeast-2")!.plan!.stack).to.equal("p5-ap-southeast-2");
    const p5 = (parseDocument(fs.readFileSync(path.join(projects.get("p5-ap-southeast-2")!.dir, "Pulumi.p5-ap-southeast-2.yaml"), "utf8")).toJS() as { config: Record<string, unknown> }).config;
    expect(p5["unchain:awsPoolTaintKey"], "the closing taint key read from the live aws pools").to.equal("example.com/cni");
  });

  it("changing any adopted property in the stack file is an import mismatch naming the resource and the property", async () => {
    // Every leaf adopt wrote for a running resource, in every adopted cluster.
    const cases: Array<{ stack: string; path: Array<string | number>; resource: (name: string) => boolean; property: string }> = [];
    for (const [stack, p] of projects) {
      const doc = parseDocument(fs.readFileSync(path.join(p.dir, `Pulumi.${stack}.yaml`), "utf8")).toJS() as { config: Record<string, unknown> };
      const c = doc.config;
      const groups: Array<{ at: Array<string | number>; g: Record<string, unknown>; role: string }> = [];
      ((c["unchain:chainedPools"] ?? []) as Array<Record<string, unknown>>).forEach((g, i) => groups.push({ at: ["unchain:chainedPools", i], g, role: "chained" }));
      for (const key of ["unchain:awsPools", "unchain:ciliumPools"])
        ((c[key] ?? []) as Array<Record<string, unknown>>).forEach((pool, i) => ((pool.nodeGroups ?? []) as Array<Record<string, unknown>>).forEach((g, j) => groups.push({ at: [key, i, "nodeGroups", j], g, role: key })));
      const allSubnets = ((c["unchain:cluster"] as { availabilityZones: Array<{ subnetIds: string[] }> }).availabilityZones ?? []).flatMap((a) => a.subnetIds);
      for (const { at, g } of groups) {
        const name = String(g.nodeGroupName ?? g.name);
        for (const prop of ["nodeRoleArn", "subnetIds", "labels", "taints", "tags", "launchTemplate", "updateConfig", "instanceTypes", "size"]) {
          if (g[prop] === undefined) continue;
          // Another subnet of the cluster's, where it has one the group does not use.
          if (prop === "subnetIds" && (g.subnetIds as string[]).length === 1 && allSubnets.length < 2) continue;
          const property = prop === "size" ? "scalingConfig" : prop;
          cases.push({ stack, path: [...at, prop], resource: (r) => r.includes(name.replace(/^(aws|cilium)-/, "")) || r === `chained-${String(g.name)}`, property });
        }
      }
      if (c["unchain:ciliumRelease"]) cases.push({ stack, path: ["unchain:ciliumRelease", "values", "routingMode"], resource: (r) => r.endsWith("-release"), property: "values" });
      if ((c["unchain:vpcCni"] as Record<string, unknown> | undefined)?.configurationValues !== undefined)
        cases.push({ stack, path: ["unchain:vpcCni", "configurationValues"], resource: (r) => r.endsWith("-vpc-cni-addon"), property: "configurationValues" });
      if (c["unchain:vpcCni"]) cases.push({ stack, path: ["unchain:vpcCni", "serviceAccountRoleArn"], resource: (r) => r.endsWith("-vpc-cni-addon"), property: "serviceAccountRoleArn" });
    }
    expect(cases.length).to.be.greaterThan(60);
    const mutate = (v: unknown, property: string, stack: string): unknown => {
      if (property === "serviceAccountRoleArn") return "arn:aws:iam::111111111111:role/changed";
      if (property === "subnetIds") {
        const list = v as string[];
        if (list.length > 1) return list.slice(1);
        const doc = parseDocument(fs.readFileSync(path.join(projects.get(stack)!.dir, `Pulumi.${stack}.yaml`), "utf8")).toJS() as { config: Record<string, { availabilityZones: Array<{ subnetIds: string[] }> }> };
        return [doc.config["unchain:cluster"].availabilityZones.flatMap((a) => a.subnetIds).find((x) => !list.includes(x))];
      }
      if (property === "configurationValues") return `${String(v)} `;
      if (property === "values") return "tunnel";
      if (Array.isArray(v)) return v.length > 1 ? v.slice(1) : [...v, v[0] && typeof v[0] === "object" ? { key: "example.com/extra", value: "x", effect: "NoSchedule" } : typeof v[0] === "string" && String(v[0]).startsWith("subnet-") ? "subnet-0ffffffffffffffff" : "m6i.large"];
      if (v && typeof v === "object") {
        const o = v as Record<string, unknown>;
        if ("version" in o) return { ...o, version: String(Number(o.version) + 1) };
        if ("max" in o) return { ...o, max: Number(o.max) + 1 };
        if ("maxUnavailable" in o) return { maxUnavailable: Number(o.maxUnavailable) + 1 };
        if ("maxUnavailablePercentage" in o) return { maxUnavailablePercentage: Number(o.maxUnavailablePercentage) + 1 };
        return { ...o, "example.com/extra": "x" };
      }
      return typeof v === "string" ? v.replace(/[a-z]$/, (x) => (x === "z" ? "y" : "z")) : v;
    };
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...cases), async (c) => {
        const { dir } = projects.get(c.stack)!;
        const file = `Pulumi.${c.stack}.yaml`;
        const doc = parseDocument(fs.readFileSync(path.join(dir, file), "utf8"));
        const current = doc.getIn(["config", ...c.path], false) as { toJSON?: () => unknown } | unknown;
        const value = current && typeof current === "object" && "toJSON" in (current as object) ? (current as { toJSON(): unknown }).toJSON() : current;
        doc.setIn(["config", ...c.path], doc.createNode(mutate(value, c.property, c.stack)));
        const plan = await planStack(dir, c.stack, {}, undefined, { source: loadStackText(dir, c.stack, file, doc.toString()), snapshot: readSnapshot(dir, c.stack)! });
        const found = plan.imports?.mismatches ?? [];
        expect(
          found.some((m) => c.resource(m.resource) && m.property === c.property),
          `${c.stack} ${c.path.join(".")}: ${JSON.stringify(found.map((m) => [m.resource, m.property]))} ${JSON.stringify(plan.problems)}`,
        ).to.equal(true);
        expect(plan.ok).to.equal(false);
      }),
      { numRuns: 60 },
    );
  });

  it("what drifted since the cluster was adopted is shown and nothing is written; --write takes the cluster as it runs", async () => {
    const spec: ClusterSpec = { name: "drift-eu-west-1", region: "eu-west-1", account: ACCOUNT_A, azs: ["a", "b"], phase: 0, chained: [chained({ size: [2, 4, 8] })] };
    const live = liveCluster(spec);
    const dir = await project(live);
    expect((await unchain(dir, ["adopt", "--cluster", spec.name, "--region", spec.region])).code).to.equal(0);
    const file = path.join(dir, `Pulumi.${spec.name}.yaml`);
    const before = fs.readFileSync(file, "utf8");
    live.aws.nodeGroups[0].scalingConfig.maxSize = 12;
    live.aws.nodeGroups[0].labels = { ...live.aws.nodeGroups[0].labels, team: "search" };
    const r = await unchain(dir, ["adopt", "-s", spec.name]);
    expect(r.code, r.stdout).to.equal(1);
    expect(r.stdout).to.include(`nodeGroups.${live.aws.nodeGroups[0].nodegroupName}.scalingConfig.maxSize: 8 → 12`);
    expect(r.stdout).to.include(`nodeGroups.${live.aws.nodeGroups[0].nodegroupName}.labels.team: now "search"`);
    expect(r.stdout).to.include("nothing written; run again with --write");
    expect(fs.readFileSync(file, "utf8")).to.equal(before);
    const w = await unchain(dir, ["adopt", "-s", spec.name, "--write"]);
    expect(w.code, w.stdout).to.equal(0);
    const after = fs.readFileSync(file, "utf8");
    expect(after).to.include("max: 12").and.to.include("team: search");
    expect(after.split("\n")[0], "the file's own header stays").to.equal(before.split("\n")[0]);
  });

  it("credentials per cluster: a profile for another account, or a role to assume; both reach the stack file, and the wrong account says so", async () => {
    const b = liveCluster({ name: "team-b-eu-west-1", region: "eu-west-1", account: ACCOUNT_B, azs: ["a"], phase: 0, chained: [chained({ size: [1, 2, 3] })] });
    const dir = await project(b);
    const wrong = await unchain(dir, ["adopt", "--cluster", "team-b-eu-west-1", "--region", "eu-west-1"]);
    expect(wrong.code).to.equal(1);
    expect(wrong.stdout).to.include("not found").and.to.include("the credentials are for the account that holds the cluster");
    expect(fs.existsSync(path.join(dir, "Pulumi.team-b-eu-west-1.yaml")), "nothing written").to.equal(false);
    aws.requests.length = 0;
    const ok = await unchain(dir, ["adopt", "--cluster", "team-b-eu-west-1", "--region", "eu-west-1", "--profile", "team-b"]);
    expect(ok.code, ok.stdout + ok.stderr).to.equal(0);
    expect(new Set(aws.requests.map((x) => x.accessKeyId))).to.deep.equal(new Set(["AKIATEAMB0000000001"]));
    expect(fs.readFileSync(path.join(dir, "Pulumi.team-b-eu-west-1.yaml"), "utf8")).to.include("aws:profile: team-b");

    const c = liveCluster({ name: "team-c-eu-west-1", region: "eu-west-1", account: ACCOUNT_C, azs: ["a"], phase: 0, chained: [chained({ size: [1, 2, 3] })] });
    const dirC = await project(c);
    aws.requests.length = 0;
    const role = await unchain(dirC, ["adopt", "--cluster", "team-c-eu-west-1", "--region", "eu-west-1", "--role-arn", ROLE_C]);
    expect(role.code, role.stdout + role.stderr).to.equal(0);
    expect(aws.requests[0]).to.include({ service: "sts", action: "AssumeRole", accessKeyId: "AKIAAMBIENT000000001" });
    expect(aws.requests.filter((x) => x.service === "eks").every((x) => x.accessKeyId.startsWith("ASIA")), "EKS is read with the role's keys").to.equal(true);
    const text = fs.readFileSync(path.join(dirC, "Pulumi.team-c-eu-west-1.yaml"), "utf8");
    expect((parseDocument(text).toJS() as { config: Record<string, unknown> }).config["aws:assumeRoles"]).to.deep.equal([{ roleArn: ROLE_C }]);
    // Read again from the stack file alone: the same role.
    aws.requests.length = 0;
    expect((await unchain(dirC, ["adopt", "-s", "team-c-eu-west-1"])).code).to.equal(0);
    expect(aws.requests[0]).to.include({ service: "sts", action: "AssumeRole" });
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(dirC, { recursive: true, force: true });
  });

  it("a cluster that matches no phase is named as such, with what stands in the way; nothing is written", async () => {
    const live = liveCluster({ name: "odd-eu-west-1", region: "eu-west-1", account: ACCOUNT_A, azs: ["a", "b"], phase: 0, chained: [chained({ size: [2, 2, 4] })] });
    live.aws.nodeGroups.push({ ...live.aws.nodeGroups[0], nodegroupName: "legacy", labels: { team: "old" } });
    const dir = await project(live);
    const r = await unchain(dir, ["adopt", "--cluster", "odd-eu-west-1", "--region", "eu-west-1"]);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.include("matches no phase, so nothing was written");
    expect(r.stdout).to.include("node group legacy has no cni label");
    expect(fs.readdirSync(dir).filter((f) => f.startsWith("Pulumi.odd"))).to.deep.equal([]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("a release in the middle of a Helm operation stops adoption, naming its state", async () => {
    const live = liveCluster({ name: "pending-eu-west-1", region: "eu-west-1", account: ACCOUNT_A, azs: ["a"], phase: 0, chained: [chained({ size: [1, 2, 3] })] });
    live.release!.status = "pending-upgrade";
    const dir = await project(live);
    const r = await unchain(dir, ["adopt", "--cluster", "pending-eu-west-1", "--region", "eu-west-1"]);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.include("kube-system/cilium is pending-upgrade");
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("secret material in the Helm values never reaches a file: a digest in the snapshot, a placeholder that says how to set it in the stack file", async () => {
    const pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n";
    const live = liveCluster({ name: "tls-eu-west-1", region: "eu-west-1", account: ACCOUNT_A, azs: ["a"], phase: 0, chained: [chained({ size: [1, 2, 3] })], values: { hubble: { tls: { server: { key: pem } } } } });
    const dir = await project(live);
    const r = await unchain(dir, ["adopt", "--cluster", "tls-eu-west-1", "--region", "eu-west-1"]);
    expect(r.stdout).to.include("hold secret material at hubble.tls.server.key");
    for (const f of ["Pulumi.tls-eu-west-1.yaml", "adopted/tls-eu-west-1.yaml"]) expect(fs.readFileSync(path.join(dir, f), "utf8")).to.not.include("MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7");
    expect(fs.readFileSync(path.join(dir, "Pulumi.tls-eu-west-1.yaml"), "utf8")).to.include("pulumi config set --secret --path 'unchain:ciliumRelease.values.hubble.tls.server.key'");
    expect(r.code, "the import check fails until the secret is set").to.equal(1);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("a dry run writes nothing and shows the stack file it would write", async () => {
    const live = liveCluster({ name: "dry-eu-west-1", region: "eu-west-1", account: ACCOUNT_A, azs: ["a"], phase: 0, chained: [chained({ size: [1, 2, 3] })] });
    const dir = await project(live);
    const r = await unchain(dir, ["adopt", "--cluster", "dry-eu-west-1", "--region", "eu-west-1", "--dry-run"]);
    expect(r.code, r.stdout).to.equal(0);
    expect(r.stdout).to.include("dry run: nothing written").and.to.include("--- Pulumi.dry-eu-west-1.yaml (not written)").and.to.include("unchain:adoptedPhase: 0");
    expect(fs.readdirSync(dir).sort()).to.deep.equal(["Pulumi.yaml", "kubeconfig"]);

    // The same as JSON: what would be written, file by file, and the phase read off the cluster.
    const j = await unchain(dir, ["adopt", "--cluster", "dry-eu-west-1", "--region", "eu-west-1", "--dry-run", "--json"]);
    expect(j.code, j.stdout).to.equal(0);
    const doc = JSON.parse(j.stdout) as { schemaVersion: number; command: string; dryRun: boolean; ok: number; results: Array<{ stack: string; ok: boolean; phase?: number; written: string[]; wouldWrite?: Record<string, string> }> };
    expect(doc).to.include({ schemaVersion: 1, command: "adopt", dryRun: true, ok: 1 });
    expect(doc.results[0]).to.include({ stack: "dry-eu-west-1", ok: true, phase: 0 });
    expect(doc.results[0].written).to.deep.equal([]);
    expect(Object.keys(doc.results[0].wouldWrite ?? {}).sort()).to.deep.equal(["Pulumi.dry-eu-west-1.yaml", "adopted/dry-eu-west-1.yaml"]);
    expect(doc.results[0].wouldWrite!["Pulumi.dry-eu-west-1.yaml"]).to.include("unchain:adoptedPhase: 0");
    expect(fs.readdirSync(dir).sort()).to.deep.equal(["Pulumi.yaml", "kubeconfig"]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("usage and reach errors are one clear line each, never a stack trace", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-adopt-"));
    fs.copyFileSync(path.join(PROJECT, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
    const noRegion = await unchain(dir, ["adopt", "--cluster", "x"]);
    expect(noRegion.code).to.equal(2);
    expect(noRegion.stderr).to.include("--cluster needs --region");
    const down = await unchain(dir, ["adopt", "--cluster", "x", "--region", "eu-west-1"], { AWS_ENDPOINT_URL: "http://127.0.0.1:9" });
    expect(down.code).to.equal(1);
    expect(down.stdout).to.include("cannot reach AWS");
    expect(down.stdout + down.stderr).to.not.match(/\n\s+at /);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe("the preview gate and the program hold imports to what runs", () => {
  it("the engine's warning that an import would fail stops the phase before up", () => {
    const urn = "urn:pulumi:s::unchain::unchain:index:ClusterAtPhase$unchain:index:NodePool$aws:eks/nodeGroup:NodeGroup::chained-general";
    const v = gate(PHASES[0], [{ op: "import", urn, type: "aws:eks/nodeGroup:NodeGroup", inputs: { labels: { cni: "both" } }, diffs: [] }], false, [
      { severity: "warning", urn, message: `${IMPORT_MISMATCH}; importing this resource will fail` },
    ]);
    expect(v.passed).to.equal(false);
    expect(v.refused[0].name).to.equal("chained-general");
    expect(v.refused[0].reason).to.include("import would fail in up");
    const clean = gate(PHASES[0], [{ op: "import", urn, type: "aws:eks/nodeGroup:NodeGroup", inputs: { labels: { cni: "both" } }, diffs: [] }], false, [{ severity: "warning", urn, message: "some other warning" }]);
    expect(clean.passed).to.equal(true);
  });

  it("the AWS provider gets the stack's profile or role (an explicit provider reads no aws:* config by itself)", async () => {
    const provider = async (stack: string) => (await evaluateStack(stack, 0)).resources.find((r) => r.type === "pulumi:providers:aws")!.inputs;
    expect(await provider("prod-eu-west-1")).to.include({ profile: "prod", region: "eu-west-1" });
    const payments = await provider("payments-eu-west-1");
    expect(JSON.stringify(payments.assumeRoles)).to.include("arn:aws:iam::567890123456:role/unchain");
  });

  it("the program declares for every import what the plan checks: the same builders, the same inputs", async () => {
    for (const stack of ["prod-eu-central-1", "staging-eu-west-1", "tooling-eu-central-1", "ci-eu-central-1"]) {
      const config = fleetConfig(stack);
      const ev = await evaluateStack(stack, config.adoptedPhase);
      const registered = ev.resources.filter((r) => r.importId).map((r) => ({ importId: r.importId, inputs: Object.fromEntries(Object.entries(r.inputs).filter(([k]) => k !== "compat")), ignoreChanges: r.ignoreChanges }));
      const checked = importedResources(config).map((r) => ({ importId: r.importId, inputs: JSON.parse(JSON.stringify(r.inputs)) as Record<string, unknown>, ignoreChanges: r.ignoreChanges }));
      expect(registered.length, stack).to.be.greaterThan(2);
      expect(registered, stack).to.deep.equal(checked.sort((a, b) => registered.findIndex((x) => x.importId === a.importId) - registered.findIndex((x) => x.importId === b.importId)));
    }
  });

  it("the kubeconfig's token comes from the stack's profile or role", () => {
    const withProfile = JSON.parse(eksKubeconfig("c", { region: "eu-west-1", profile: "prod", assumeRoles: [] }, "https://x", "Q0E=")) as { users: Array<{ user: { exec: { args: string[] } } }> };
    expect(withProfile.users[0].user.exec.args).to.include.members(["--profile", "prod", "--region", "eu-west-1"]);
    const withRole = JSON.parse(eksKubeconfig("c", { region: "eu-west-1", assumeRoles: [{ roleArn: "arn:aws:iam::1:role/r" }] }, "https://x", "Q0E=")) as typeof withProfile;
    expect(withRole.users[0].user.exec.args).to.include.members(["--role-arn", "arn:aws:iam::1:role/r"]);
  });
});
