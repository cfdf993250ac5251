/**
 * The drain's subnet check: the free IP addresses of the subnets of the node groups that stay open,
 * per AZ, against the pods that would move; read through the real AWS SDK from a local endpoint
 * (test/fakeAws.ts, through AWS_ENDPOINT_URL), with the credentials of a profile as a stack file
 * names it. The drain itself, against a real API server, is in test/health.test.ts.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expect } from "chai";
import { NodeInfo, PodInfo } from "../automation/health/cluster";
import { DRAIN_USE, SubnetCheck, subnetRoom } from "../automation/health/subnets";
import { subnetFreeIps } from "../live/aws";
import { UserError } from "../config/problems";
import { FakeAws } from "./fakeAws";

const ACCOUNT = "111111111111";
const KEYS = {
  AKIASUBNETS000000001: { account: ACCOUNT, secret: "reader-secret" },
  AKIASUBNETS000000002: { account: ACCOUNT, secret: "denied-secret" },
};

/** Two AZs; in each, the subnet the chained pool and the aws pool share (phases 4-5: the cilium pool too). */
const SUBNETS = [
  { subnetId: "subnet-0a0000000000000a1", availabilityZone: "eu-west-1a", availableIpAddressCount: 5 },
  { subnetId: "subnet-0a0000000000000a2", availabilityZone: "eu-west-1a", availableIpAddressCount: 3 },
  { subnetId: "subnet-0b0000000000000b1", availabilityZone: "eu-west-1b", availableIpAddressCount: 500 },
];

const node = (name: string, group: string | undefined, zone: string | undefined, role: string): NodeInfo => ({
  name,
  labels: { cni: role, ...(group ? { "eks.amazonaws.com/nodegroup": group } : {}), ...(zone ? { "topology.kubernetes.io/zone": zone } : {}) },
  taints: [],
  ready: true,
  unschedulable: false,
});

const pod = (name: string, on: string, hostNetwork = false): PodInfo => ({
  namespace: "default",
  name,
  node: on,
  labels: {},
  hostNetwork,
  phase: "Running",
  ready: true,
  owner: { kind: "ReplicaSet", name: `${name}-rs` },
  mirror: false,
  deleting: false,
  controlled: true,
  emptyDirs: [],
  claims: [],
  requests: { cpu: 0, memory: 0 },
});

describe("the drain's subnet check: free IP addresses where the pods go, through the AWS SDK", function () {
  this.timeout(60_000);
  let aws: FakeAws;
  let home: string;
  const saved = { ...process.env };

  before(async () => {
    aws = new FakeAws({
      keys: KEYS,
      denied: { AKIASUBNETS000000002: ["DescribeSubnets"] },
      clusters: [{ account: ACCOUNT, region: "eu-west-1", name: "prod", subnets: SUBNETS, nodeGroups: [] }],
    });
    await aws.start();
    home = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-subnets-"));
    fs.writeFileSync(path.join(home, "config"), "[profile reader]\nregion = eu-west-1\n[profile denied]\nregion = eu-west-1\n[profile stranger]\nregion = eu-west-1\n");
    fs.writeFileSync(
      path.join(home, "credentials"),
      `[reader]\naws_access_key_id = AKIASUBNETS000000001\naws_secret_access_key = reader-secret\n[denied]\naws_access_key_id = AKIASUBNETS000000002\naws_secret_access_key = denied-secret\n[stranger]\naws_access_key_id = AKIAUNKNOWN000000009\naws_secret_access_key = x\n`,
    );
    for (const k of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"]) delete process.env[k];
    Object.assign(process.env, aws.env(), { AWS_CONFIG_FILE: path.join(home, "config"), AWS_SHARED_CREDENTIALS_FILE: path.join(home, "credentials") });
  });
  after(async () => {
    process.env = saved;
    await aws?.stop();
    fs.rmSync(home, { recursive: true, force: true });
  });

  /** The stack file's view: a chained group across both AZs (drained), an aws group per AZ (open). */
  const check = (over: Partial<SubnetCheck> = {}, profile = "reader"): SubnetCheck => ({
    stack: "prod",
    phase: 1,
    groups: [
      { nodeGroupName: "general", role: "chained", subnetIds: SUBNETS.map((s) => s.subnetId) },
      { nodeGroupName: "aws-general-a", role: "aws", subnetIds: ["subnet-0a0000000000000a1", "subnet-0a0000000000000a2"] },
      { nodeGroupName: "aws-general-b", role: "aws", subnetIds: ["subnet-0b0000000000000b1"] },
    ],
    aws: { cluster: "prod", region: "eu-west-1", profile },
    ...over,
  });
  const drainedA = node("general-0", "general", "eu-west-1a", "both");
  const drainedB = node("general-1", "general", "eu-west-1b", "both");
  const open = [node("aws-a-0", "aws-general-a", "eu-west-1a", "aws"), node("aws-b-0", "aws-general-b", "eu-west-1b", "aws")];
  const nodes = new Map([drainedA, drainedB, ...open].map((n) => [n.name, n]));
  const nodeOf = (p: PodInfo) => nodes.get(p.node ?? "");
  const podsOn = (n: NodeInfo, count: number, prefix = "web") => Array.from({ length: count }, (_, i) => pod(`${prefix}-${n.name}-${i}`, n.name));

  it("reads each subnet's AvailableIpAddressCount with the stack's profile", async () => {
    const r = await subnetFreeIps({ cluster: "prod", region: "eu-west-1", profile: "reader" }, ["subnet-0b0000000000000b1", "subnet-0a0000000000000a1"], DRAIN_USE);
    expect(r).to.deep.equal([
      { subnetId: "subnet-0a0000000000000a1", availabilityZone: "eu-west-1a", availableIps: 5 },
      { subnetId: "subnet-0b0000000000000b1", availabilityZone: "eu-west-1b", availableIps: 500 },
    ]);
    expect(aws.requests.filter((q) => q.action === "DescribeSubnets").map((q) => q.accessKeyId)).to.include("AKIASUBNETS000000001");
  });

  it("passes where the subnets of the open node groups in each AZ have an address for every pod leaving it", async () => {
    const r = await subnetRoom(open, [...podsOn(drainedA, 8), ...podsOn(drainedB, 100)], nodeOf, check());
    expect(r).to.deep.equal({ short: [], notes: [] });
  });

  it("a shortfall names the AZ, the node groups, each subnet's free addresses and by how much; hostNetwork pods need none", async () => {
    const moving = [...podsOn(drainedA, 12), pod("node-exporter-like", drainedA.name, true), ...podsOn(drainedB, 3)];
    const r = await subnetRoom(open, moving, nodeOf, check());
    expect(r.error).to.equal(undefined);
    expect(r.short).to.deep.equal(["AZ eu-west-1a: 12 pod(s) would move, the subnets of the node groups that stay open there (aws-general-a) have 8 free IP address(es) (subnet-0a0000000000000a1: 5, subnet-0a0000000000000a2: 3): short by 4"]);
  });

  it("in phases 4 and 5 the shortfall says both IPAMs draw from the same subnets", async () => {
    const r = await subnetRoom(open, podsOn(drainedA, 9), nodeOf, check({ phase: 5 }));
    expect(r.short).to.have.length(1);
    expect(r.short[0]).to.match(/short by 1; in phases 4 and 5 aws-node and Cilium's ENI IPAM draw from these same subnets/);
  });

  it("pods leaving an AZ where nothing stays open are held against every AZ's subnets together", async () => {
    const onlyB = [open[1]];
    expect((await subnetRoom(onlyB, podsOn(drainedA, 400), nodeOf, check())).short).to.deep.equal([]);
    const r = await subnetRoom(onlyB, podsOn(drainedA, 501), nodeOf, check());
    expect(r.short).to.deep.equal(["all AZs: 501 pod(s) would move, the subnets of the node groups that stay open there (aws-general-b) have 500 free IP address(es) (subnet-0b0000000000000b1: 500): short by 1"]);
  });

  it("what the stack file gives no subnets for is said, never passed: an AZ it leaves undecided, or the whole check when nothing can be counted", async () => {
    const noSubnetsA = check({ groups: check().groups.map((g) => (g.nodeGroupName === "aws-general-a" ? { ...g, subnetIds: [] } : g)) });
    const r = await subnetRoom(open, [...podsOn(drainedA, 12), ...podsOn(drainedB, 3)], nodeOf, noSubnetsA);
    expect(r.short).to.deep.equal([]);
    expect(r.notes).to.deep.equal([
      "node group aws-general-a lists no subnetIds in Pulumi.prod.yaml: its subnets are not counted (run unchain adopt -s prod --write to record them)",
      "AZ eu-west-1a: not decided: 12 pod(s) would move and the counted subnets have 0 free IP address(es), but open node(s) aws-a-0 are on subnets not counted (above)",
    ]);
    const none = await subnetRoom(open, podsOn(drainedA, 12), nodeOf, check({ groups: [] }));
    expect(none.short).to.deep.equal([]);
    expect(none.notes).to.include("not checked: none of the open node groups has subnets the stack file names, so no subnet's free addresses could be counted for the 12 pod(s) that would move");
    expect(none.notes).to.include("node group aws-general-a (1 open node(s)) is not in Pulumi.prod.yaml: its subnets are not counted");
  });

  it("--skip-subnet-check, or no stack given: not checked, said so, and EC2 is not called", async () => {
    const before = aws.requests.length;
    expect(await subnetRoom(open, podsOn(drainedA, 12), nodeOf, check({ skip: true }))).to.deep.equal({ short: [], notes: ["not checked (--skip-subnet-check): 12 pod(s) move without counting the subnets' free addresses"] });
    expect((await subnetRoom(open, podsOn(drainedA, 12), nodeOf, undefined)).notes[0]).to.match(/^not checked: this drain was not given the stack's node groups/);
    expect(aws.requests.length).to.equal(before);
  });

  it("access denied, refused credentials, none at all: an error naming ec2:DescribeSubnets and the fix, never a crash", async () => {
    const denied = await subnetRoom(open, podsOn(drainedA, 2), nodeOf, check({}, "denied"));
    expect(denied.short).to.deep.equal([]);
    expect(denied.error).to.match(/^the subnets' free IP addresses could not be read: DescribeSubnets for cluster prod in eu-west-1 with profile denied: access denied \(You are not authorized/);
    expect(denied.error).to.contain("drain needs ec2:DescribeSubnets. Fix: grant ec2:DescribeSubnets to the identity unchain drains with, or pass --skip-subnet-check");

    const stranger = await subnetRoom(open, podsOn(drainedA, 2), nodeOf, check({}, "stranger"));
    expect(stranger.error).to.match(/the credentials were refused \(AuthFailure: .*\)\. Log in again \(aws sso login --profile stranger\) and run drain again\. Fix: grant ec2:DescribeSubnets/);

    const missing = await subnetRoom(open, podsOn(drainedA, 2), nodeOf, check({}, "nobody"));
    expect(missing.error).to.match(/with profile nobody: no credentials \(.*\)\. Set aws:profile or aws:assumeRoles in the stack file \(or AWS_PROFILE\), or log in first\./);

    // The reader itself throws a UserError (the CLI prints it as such), not an SDK error with a stack.
    const thrown = await subnetFreeIps({ cluster: "prod", region: "eu-west-1", profile: "denied" }, ["subnet-0a0000000000000a1"], DRAIN_USE).catch((e: unknown) => e);
    expect(thrown).to.be.instanceOf(UserError);
  });
});
