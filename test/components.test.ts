import * as pulumi from "@pulumi/pulumi";
import { expect } from "chai";
import { asSecretAt, secretPaths } from "../components/cluster";
import { Values } from "../steps/values";
import { evaluateProgram, Evaluation } from "../automation/plan/evaluate";
import { pinDaemonSetProps, pinDaemonSets } from "../components/daemonSetAffinity";
import { NodeAgent } from "../components/nodeAgent";
import { NodePool } from "../components/nodePool";
import { CILIUM_OPERATOR_EC2_ACTIONS, CiliumOperatorRole } from "../components/operatorRole";
import { VpcCniAddon } from "../components/vpcCniAddon";
import { AwsNodeState, PoolState } from "../steps/desired";
import { AWS_NODE_DEFAULT_AFFINITY } from "../steps/values";
import { cniRequirement, evaluateStack, ofType } from "./helpers";

/** Builds components on their own under mocks and returns what they registered. */
function build(fn: () => void): Promise<Evaluation> {
  return evaluateProgram("components", {}, async () => {
    fn();
    return {};
  });
}

const pool = (over: Partial<PoolState> = {}): PoolState => ({
  id: "aws-general-a",
  pool: "general",
  role: "aws",
  nodeGroupName: "aws-general-a",
  availabilityZones: ["eu-central-1a"],
  subnetIds: ["subnet-0123456789abcdef0"],
  instanceTypes: ["m6i.xlarge"],
  size: { min: 1, desired: 2, max: 4 },
  labels: { cni: "aws" },
  taints: [{ key: "example.com/cni", value: "aws", effect: "NoSchedule" }],
  tags: {},
  protect: false,
  ...over,
});

describe("NodePool", () => {
  it("makes one node group per group given, labels as given, taints in the EKS API spelling", async () => {
    const ev = await build(() => new NodePool("p", { clusterName: "c", nodeRoleArn: "arn:aws:iam::123456789012:role/n", groups: [pool(), pool({ id: "aws-general-b", nodeGroupName: "aws-general-b", availabilityZones: ["eu-central-1b"] })] }));
    const groups = ofType(ev, "aws:eks/nodeGroup:NodeGroup");
    expect(groups.map((g) => g.inputs.nodeGroupName)).to.deep.equal(["aws-general-a", "aws-general-b"]);
    expect(groups[0].inputs.taints).to.deep.equal([{ key: "example.com/cni", value: "aws", effect: "NO_SCHEDULE" }]);
    expect(groups[0].inputs.labels).to.deep.equal({ cni: "aws" });
    expect(groups[0].inputs.scalingConfig).to.deep.equal({ minSize: 1, desiredSize: 2, maxSize: 4 });
    expect(groups[0].ignoreChanges, "autoscalers own desiredSize").to.include("scalingConfig.desiredSize");
    expect(ev.resources.find((r) => r.type === "unchain:index:NodePool")).to.not.equal(undefined);
  });

  it("adopts an existing group with `import` instead of creating one", async () => {
    const ev = await build(() => new NodePool("p", { clusterName: "c", nodeRoleArn: "r", groups: [pool({ importId: "c:general-2023", role: "chained" })] }));
    expect(ofType(ev, "aws:eks/nodeGroup:NodeGroup")[0].importId).to.equal("c:general-2023");
  });
});

describe("VpcCniAddon", () => {
  const state = (over: Partial<AwsNodeState> = {}): AwsNodeState => ({
    addonVersion: "v1.18.3-eksbuild.1",
    configurationValues: { affinity: AWS_NODE_DEFAULT_AFFINITY },
    configurationValuesText: JSON.stringify({ affinity: AWS_NODE_DEFAULT_AFFINITY }),
    tags: {},
    placement: {},
    protect: false,
    ...over,
  });

  it("hands EKS its configurationValues as the text given, with the conflict resolution given, never preserve", async () => {
    const ev = await build(() => new VpcCniAddon("v", { clusterName: "c", state: state({ resolveConflictsOnUpdate: "OVERWRITE", resolveConflictsOnCreate: "OVERWRITE" }) }));
    const addon = ofType(ev, "aws:eks/addon:Addon")[0];
    expect(JSON.parse(addon.inputs.configurationValues as string)).to.deep.equal({ affinity: AWS_NODE_DEFAULT_AFFINITY });
    expect(addon.inputs).to.include({ addonName: "vpc-cni", resolveConflictsOnCreate: "OVERWRITE", resolveConflictsOnUpdate: "OVERWRITE" });
    expect(addon.inputs).to.not.have.property("preserve");
  });

  it("adopts a running add-on with only what the provider reads back: no conflict resolution, no empty tags", async () => {
    const ev = await build(() => new VpcCniAddon("v", { clusterName: "c", state: state({ importId: "c:vpc-cni", configurationValuesText: '{"env": {"WARM_IP_TARGET": "5"}}' }) }));
    const addon = ofType(ev, "aws:eks/addon:Addon")[0];
    expect(addon.importId).to.equal("c:vpc-cni");
    expect(addon.inputs.configurationValues, "the live text, byte for byte").to.equal('{"env": {"WARM_IP_TARGET": "5"}}');
    expect(Object.keys(addon.inputs).sort()).to.deep.equal(["addonName", "addonVersion", "clusterName", "configurationValues"]);
  });
});

describe("CiliumOperatorRole", () => {
  it("trusts only the cilium-operator service account through the cluster's OIDC provider, with every ENI permission", async () => {
    const oidc = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-central-1.amazonaws.com/id/ABC";
    const ev = await build(() => new CiliumOperatorRole("op", { oidcProviderArn: oidc }));
    const trust = JSON.parse(ofType(ev, "aws:iam/role:Role")[0].inputs.assumeRolePolicy as string);
    expect(trust.Statement[0].Principal.Federated).to.equal(oidc);
    expect(trust.Statement[0].Condition.StringEquals).to.deep.equal({
      "oidc.eks.eu-central-1.amazonaws.com/id/ABC:sub": "system:serviceaccount:kube-system:cilium-operator",
      "oidc.eks.eu-central-1.amazonaws.com/id/ABC:aud": "sts.amazonaws.com",
    });
    const policy = JSON.parse(ofType(ev, "aws:iam/policy:Policy")[0].inputs.policy as string);
    expect(policy.Statement[0].Action).to.have.members(CILIUM_OPERATOR_EC2_ACTIONS);
    expect(CILIUM_OPERATOR_EC2_ACTIONS).to.have.length(17);
    expect(ofType(ev, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")).to.have.length(1);
  });
});

describe("DaemonSet affinity transform", () => {
  const ds = {
    metadata: { name: "node-local-dns" },
    spec: {
      selector: { matchLabels: { app: "x" } },
      template: {
        spec: {
          containers: [{ name: "c" }],
          affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: "kubernetes.io/os", operator: "In" as const, values: ["linux"] }] }] } } },
        },
      },
    },
  };

  it("ANDs cni In [roles] into every term of a DaemonSet's own affinity and leaves the rest alone", () => {
    const out = pinDaemonSetProps(ds, ["aws", "chained"]);
    const terms = out.spec!.template!.spec!.affinity!.nodeAffinity!.requiredDuringSchedulingIgnoredDuringExecution!.nodeSelectorTerms;
    expect(terms[0].matchExpressions).to.deep.equal([
      { key: "kubernetes.io/os", operator: "In", values: ["linux"] },
      { key: "cni", operator: "In", values: ["aws", "both"] },
    ]);
    expect(out.spec!.template!.spec!.containers).to.deep.equal([{ name: "c" }]);
    expect(ds.spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions, "input not mutated").to.have.length(1);
  });

  it("replaces an earlier cni pin instead of stacking a contradictory one", () => {
    const once = pinDaemonSetProps(ds, ["aws"]);
    const twice = pinDaemonSetProps(once, ["cilium"]);
    expect(cniRequirement(twice.spec!.template!.spec!.affinity)).to.deep.equal([["cilium"]]);
  });

  it("pins DaemonSets only: a Deployment passes through untouched", async () => {
    const t = pinDaemonSets(["cilium"]);
    const opts = {};
    const onDs = await t({ type: "kubernetes:apps/v1:DaemonSet", name: "x", props: ds, opts, custom: true });
    expect(cniRequirement((onDs!.props as typeof ds).spec.template.spec.affinity)).to.deep.equal([["cilium"]]);
    expect(await t({ type: "kubernetes:apps/v1:Deployment", name: "x", props: ds, opts, custom: true })).to.equal(undefined);
  });

  it("is attached to the helm.v4.Chart of every node agent", async () => {
    const agent = { name: "nld", chart: "node-local-dns", version: "2.1.0", repository: "https://charts.example", namespace: "kube-system", values: {}, roles: ["aws" as const] };
    const ev = await build(() => new NodeAgent("nld", { agent, roles: ["aws"] }));
    const chart = ofType(ev, "kubernetes:helm.sh/v4:Chart")[0];
    expect(chart.transforms).to.equal(1);
    expect(chart.inputs).to.include({ chart: "node-local-dns", version: "2.1.0" });
  });

  it("follows the roles present in each phase in the full program (node-local DNS on prod-eu-central-1)", async () => {
    const charts = async (phase: number) => ofType(await evaluateStack("prod-eu-central-1", phase), "kubernetes:helm.sh/v4:Chart").map((c) => c.name).sort();
    expect(await charts(0)).to.deep.equal(["prod-eu-central-1-node-local-dns-iptables-chart"]);
    expect(await charts(4)).to.deep.equal(["prod-eu-central-1-node-local-dns-iptables-chart", "prod-eu-central-1-node-local-dns-lrp-chart"]);
    expect(await charts(6)).to.deep.equal(["prod-eu-central-1-node-local-dns-lrp-chart"]);
  });
});

describe("components register under unchain:index type tokens", () => {
  it("uses unchain:index:* for every component the program builds", async () => {
    const ev = await evaluateStack("dev", 4);
    const tokens = ev.resources.filter((r) => !r.custom && r.type.startsWith("unchain:")).map((r) => r.type);
    expect(new Set(tokens)).to.include.keys("unchain:index:ClusterAtPhase", "unchain:index:NodePool", "unchain:index:CiliumRelease", "unchain:index:VpcCniAddon", "unchain:index:CiliumOperatorRole", "unchain:index:Sandbox");
  });
});

describe("secure values in the stack file stay secret in what they reach", () => {
  const isSecret = (v: unknown) => (pulumi.Output.isInstance(v) ? pulumi.isSecret(v as pulumi.Output<unknown>) : Promise.resolve(false));

  it("maps the stack file's secure keys to paths in a release's or a node agent's values", () => {
    const keys = ["unchain:ciliumValues.common.clustermesh.apiserver.tls.key", "unchain:ciliumValues.chained.x", "unchain:ciliumRelease.values.hubble.tls.server.key", "unchain:nodeAgents[1].values.auth.tokens[0]"];
    expect(secretPaths(keys, [/^unchain:ciliumRelease\.values\./, /^unchain:ciliumValues\.(common|eni)\./])).to.deep.equal([
      ["clustermesh", "apiserver", "tls", "key"],
      ["hubble", "tls", "server", "key"],
    ]);
    expect(secretPaths(keys, [/^unchain:nodeAgents\[1\]\.values\./])).to.deep.equal([["auth", "tokens", "0"]]);
  });

  it("makes only those leaves Pulumi secrets, keeping the other leaves and Outputs as they are", async () => {
    const arn = pulumi.output("arn:aws:iam::123456789012:role/op");
    const values = { clustermesh: { apiserver: { tls: { key: "pem", cert: "crt" } } }, eni: { iamRole: arn }, list: ["a", "b"] };
    const out = asSecretAt(values as unknown as Values, [["clustermesh", "apiserver", "tls", "key"], ["list", "1"], ["not", "there"]]) as unknown as typeof values;
    expect(await isSecret(out.clustermesh.apiserver.tls.key)).to.equal(true);
    expect(await isSecret(out.list[1])).to.equal(true);
    expect(out.clustermesh.apiserver.tls.cert).to.equal("crt");
    expect(out.list[0]).to.equal("a");
    expect(out.eni.iamRole).to.equal(arn);
    expect(values.clustermesh.apiserver.tls.key, "the input is not changed").to.equal("pem");
  });
});
