/**
 * The stack configuration as one schema: every `unchain:*` key, its shape, its default, what it is
 * for and how to write it. The validator's messages, the README's key table and the `config:` block
 * of `Pulumi.yaml` all come from here (config/docs.ts writes the last two; a test keeps them in step).
 *
 * Shapes are checked here; rules that relate keys to each other (an AZ of the cluster's region, a
 * pool's lineage, names unique in EKS) are in config/validate.ts.
 *
 * Limits are EKS's and Kubernetes's own, each with its source:
 * - node group: hashicorp/terraform-provider-aws `internal/service/eks/node_group.go` (the schema
 *   pulumi-aws wraps): name ≤ 63 characters, at most 50 taints, `update_config` fields 1–100 and
 *   exactly one of them; EKS API reference `CreateNodegroup`, `Taint`, `NodegroupUpdateConfig`.
 * - node group labels and taints as EKS counts them (config/limits.ts): keys ≤ 63 characters with
 *   their prefix, label values 1–63, taint values 0–63 (the EKS API model, `labelKey`, `labelValue`,
 *   `taintKey`, `taintValue`), and Kubernetes `IsQualifiedName` / `IsValidLabelValue`
 *   (k8s.io/apimachinery/pkg/util/validation/validation.go): optional DNS-subdomain prefix, name ≤ 63
 *   of `[-A-Za-z0-9_.]` starting and ending alphanumeric; values of the same characters.
 * - AMI types: the EKS API's `AMITypes` (botocore `eks/2017-11-01/service-2.json`).
 * - cluster name: EKS API `CreateCluster` (1–100, `^[0-9A-Za-z][A-Za-z0-9\-_]*$`).
 * - tags: EC2/EKS tagging rules (key 1–128, value ≤ 256, no `aws:` prefix).
 */
import { z } from "zod";
import { EKS_NODE_GROUP_NAME_MAX, EKS_TAINTS_PER_NODE_GROUP, eksLabelKeyProblem, eksLabelValueProblem, eksTaintKeyProblem, eksTaintValueProblem } from "./limits";

export { labelValueProblem, qualifiedNameProblem } from "./limits";

/** What the docs, the messages and Pulumi.yaml say about a setting. */
export interface Hint {
  description: string;
  /** A value as the user would write it (YAML flow style). */
  example?: string;
  /** What to write instead, when the value is wrong (default: "write it like <example>"). */
  fix?: string;
}

/** Metadata of the schema nodes, looked up by the validator when a value is refused. */
export const hints = z.registry<Hint>();

function hint<T extends z.ZodType>(schema: T, h: Hint): T {
  hints.add(schema, h);
  return schema;
}

/** Defaults of the scalar keys; Pulumi.yaml declares the same (config/docs.ts writes it). */
export const DEFAULTS = {
  awsPoolTaintKey: "unchain.io/cni",
  minSchedulableNodesPerAz: 2,
  ciliumChartVersion: "1.16.6",
  ciliumRepository: "https://helm.cilium.io",
  sandbox: false,
  kubernetesVersion: "1.31",
} as const;

// --- names and identifiers --------------------------------------------------------------------

const EKS_CLUSTER_NAME = /^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$/;
/** Node group names: at most 63 characters (config/limits.ts EKS_NODE_GROUP_NAME_MAX); letters, digits, - and _. */
const NODE_GROUP_NAME = new RegExp(`^[0-9A-Za-z][A-Za-z0-9_-]{0,${EKS_NODE_GROUP_NAME_MAX - 1}}$`);
const POOL_NAME = /^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$/;
const REGION = /^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$/;
const SUBNET = /^subnet-[0-9a-f]{8,17}$/;
const SECURITY_GROUP = /^sg-[0-9a-f]{8,17}$/;
const LAUNCH_TEMPLATE_ID = /^lt-[0-9a-f]{8,17}$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/;
const OIDC_ARN = /^arn:aws[a-z-]*:iam::\d{12}:oidc-provider\/.+$/;
const CLUSTER_ARN = /^arn:aws[a-z-]*:eks:[a-z0-9-]+:\d{12}:cluster\/.+$/;
const SEMVER = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;
const ADDON_VERSION = /^v\d+\.\d+\.\d+-eksbuild\.\d+$/;
const INSTANCE_TYPE = /^[a-z][a-z0-9-]*\.[a-z0-9]+$/;
const K8S_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const K8S_VERSION = /^1\.\d+$/;

/** The EKS API's AMITypes (botocore `data/eks/2017-11-01/service-2.json`, shape `AMITypes`). */
export const AMI_TYPES = [
  "AL2_x86_64",
  "AL2_x86_64_GPU",
  "AL2_ARM_64",
  "AL2023_x86_64_STANDARD",
  "AL2023_x86_64_NEURON",
  "AL2023_x86_64_NVIDIA",
  "AL2023_ARM_64_STANDARD",
  "AL2023_ARM_64_NVIDIA",
  "BOTTLEROCKET_x86_64",
  "BOTTLEROCKET_ARM_64",
  "BOTTLEROCKET_x86_64_FIPS",
  "BOTTLEROCKET_ARM_64_FIPS",
  "BOTTLEROCKET_x86_64_NVIDIA",
  "BOTTLEROCKET_ARM_64_NVIDIA",
  "BOTTLEROCKET_x86_64_NVIDIA_FIPS",
  "BOTTLEROCKET_ARM_64_NVIDIA_FIPS",
  "WINDOWS_CORE_2019_x86_64",
  "WINDOWS_FULL_2019_x86_64",
  "WINDOWS_CORE_2022_x86_64",
  "WINDOWS_FULL_2022_x86_64",
  "WINDOWS_CORE_2025_x86_64",
  "WINDOWS_FULL_2025_x86_64",
  "CUSTOM",
] as const;

/** A limit's reason, saying EKS would refuse it where the reason does not already name EKS. */
const eksSays = (problem: string) => (problem.includes("EKS") ? problem : `${problem}; EKS would reject it`);

const str = (re: RegExp, h: Hint) => hint(z.string().regex(re), h);

const labelKey = hint(
  z.string().superRefine((k, ctx) => {
    const p = eksLabelKeyProblem(k);
    if (p) ctx.addIssue({ code: "custom", message: `label key "${k}" ${eksSays(p)}`, params: { fix: "use at most 63 characters, prefix included: an optional lowercase DNS prefix and '/', then letters, digits, '-', '_' and '.', like example.com/team" } });
  }),
  { description: "a label key", example: "example.com/team" },
);
const labelValue = hint(
  z.string().superRefine((v, ctx) => {
    const p = eksLabelValueProblem(v);
    if (p) ctx.addIssue({ code: "custom", message: `label value "${v}" ${eksSays(p)}`, params: { fix: "quote the value and keep it to 1-63 letters, digits, '-', '_' and '.', like \"true\"" } });
  }),
  { description: "a label value", example: "payments" },
);
const labels = hint(z.record(labelKey, labelValue), { description: "node labels", example: "{ team: payments }" });

const TAINT_EFFECTS = ["NoSchedule", "NoExecute", "PreferNoSchedule"] as const;
const EKS_SPELLING: Readonly<Record<string, string>> = { NO_SCHEDULE: "NoSchedule", NO_EXECUTE: "NoExecute", PREFER_NO_SCHEDULE: "PreferNoSchedule" };
const taint = hint(
  z
    .object({
      key: hint(
        z.string().superRefine((k, ctx) => {
          const p = eksTaintKeyProblem(k);
          if (p) ctx.addIssue({ code: "custom", message: `taint key "${k}" ${eksSays(p)}`, params: { fix: "use at most 63 characters, prefix included: an optional lowercase DNS prefix and '/', then letters, digits, '-', '_' and '.', like example.com/dedicated" } });
        }),
        { description: "taint key", example: "example.com/dedicated" },
      ),
      value: hint(
        z
          .string()
          .superRefine((v, ctx) => {
            const p = eksTaintValueProblem(v);
            if (p) ctx.addIssue({ code: "custom", message: `taint value "${v}" ${eksSays(p)}`, params: { fix: "quote the value and keep it to at most 63 letters, digits, '-', '_' and '.', or leave it out" } });
          })
          .optional(),
        { description: "taint value (at most 63 characters)", example: "batch" },
      ),
      effect: hint(
        z.string().transform((e, ctx) => {
          if ((TAINT_EFFECTS as readonly string[]).includes(e)) return e as (typeof TAINT_EFFECTS)[number];
          const eks = EKS_SPELLING[e];
          ctx.addIssue({
            code: "custom",
            message: `${JSON.stringify(e)} is not a taint effect`,
            params: { fix: eks ? `write ${eks} (unchain takes the Kubernetes spelling and converts it for EKS)` : `use one of ${TAINT_EFFECTS.join(", ")}` },
          });
          return z.NEVER;
        }),
        { description: "taint effect, in the Kubernetes spelling", example: "NoSchedule" },
      ),
    })
    .strict(),
  { description: "a taint", example: "{ key: example.com/dedicated, value: batch, effect: NoSchedule }" },
);
// EKS: at most 50 taints per node group (config/limits.ts EKS_TAINTS_PER_NODE_GROUP); config/validate.ts
// also counts the taints unchain adds in each phase.
const taints = hint(z.array(taint).max(EKS_TAINTS_PER_NODE_GROUP), {
  description: `taints (at most ${EKS_TAINTS_PER_NODE_GROUP} per node group, EKS's limit)`,
  example: "[{ key: example.com/dedicated, value: batch, effect: NoSchedule }]",
  fix: `keep at most ${EKS_TAINTS_PER_NODE_GROUP} taints, counting the ones unchain adds`,
});

const size = hint(
  z
    .object({
      min: hint(z.number().int().min(0), { description: "minimum nodes", example: "2" }),
      desired: hint(z.number().int().min(0), { description: "desired nodes", example: "3" }),
      max: hint(z.number().int().min(1), { description: "maximum nodes", example: "6" }),
    })
    .strict()
    .superRefine((s, ctx) => {
      if (!(s.min <= s.desired && s.desired <= s.max))
        ctx.addIssue({ code: "custom", message: `needs min <= desired <= max, has min ${s.min}, desired ${s.desired}, max ${s.max}`, params: { fix: "reorder the numbers so that min <= desired <= max" } });
    }),
  { description: "node counts", example: "{ min: 2, desired: 3, max: 6 }" },
);

const tags = hint(
  z.record(
    hint(z.string().min(1).max(128).refine((k) => !k.startsWith("aws:"), { message: "tags starting with aws: are reserved for AWS" }), { description: "tag key", example: "team" }),
    hint(z.string().max(256), { description: "tag value", example: "payments" }),
  ),
  { description: "AWS tags", example: "{ team: payments }" },
);

const launchTemplate = hint(
  z
    .object({
      id: str(LAUNCH_TEMPLATE_ID, { description: "launch template id", example: "lt-0a1b2c3d4e5f60718" }).optional(),
      name: hint(z.string().min(3).max(128), { description: "launch template name", example: "general-20230412" }).optional(),
      version: hint(z.union([z.string().regex(/^\d+$/), z.number().int().min(1)]).transform(String), {
        description: "launch template version, as EKS reads it back: the number, never $Default or $Latest",
        example: '"3"',
        fix: "write the version number EKS reports for the node group (aws eks describe-nodegroup … launchTemplate.version)",
      }),
    })
    .strict()
    .superRefine((lt, ctx) => {
      if (lt.id === undefined && lt.name === undefined) ctx.addIssue({ code: "custom", message: "names neither id nor name", params: { fix: "give the launch template's id (lt-…) or its name" } });
    }),
  { description: "the node group's launch template", example: '{ id: lt-0a1b2c3d4e5f60718, version: "3" }' },
);

const remoteAccess = hint(
  z
    .object({
      ec2SshKey: hint(z.string().min(1), { description: "EC2 key pair name", example: "ops" }).optional(),
      sourceSecurityGroupIds: hint(z.array(z.string().regex(SECURITY_GROUP)), { description: "security groups allowed to SSH", example: "[sg-0a1b2c3d4e5f60718]" }).optional(),
    })
    .strict(),
  { description: "SSH access to the nodes (node groups without a launch template)", example: "{ ec2SshKey: ops }" },
);

// terraform-provider-aws `update_config`: each field IntBetween(1, 100), ExactlyOneOf the two.
const updateConfig = hint(
  z
    .object({
      maxUnavailable: hint(z.number().int().min(1).max(100), { description: "nodes updated at once", example: "1" }).optional(),
      maxUnavailablePercentage: hint(z.number().int().min(1).max(100), { description: "percentage of nodes updated at once", example: "33" }).optional(),
    })
    .strict()
    .superRefine((u, ctx) => {
      if ((u.maxUnavailable === undefined) === (u.maxUnavailablePercentage === undefined))
        ctx.addIssue({ code: "custom", message: "needs exactly one of maxUnavailable and maxUnavailablePercentage", params: { fix: "keep the one EKS reports for the node group" } });
    }),
  { description: "how many nodes EKS replaces at once in a version update", example: "{ maxUnavailablePercentage: 33 }" },
);

const instanceTypes = hint(z.array(str(INSTANCE_TYPE, { description: "an EC2 instance type", example: "m6i.xlarge" })).min(1), {
  description: "EC2 instance types (leave out where the launch template sets the type)",
  example: "[m6i.xlarge]",
});
const amiType = hint(z.enum(AMI_TYPES), { description: "EKS AMI type", example: "AL2023_x86_64_STANDARD" });
const capacityType = hint(z.enum(["ON_DEMAND", "SPOT", "CAPACITY_BLOCK"]), { description: "EC2 capacity type", example: "ON_DEMAND" });
const diskSize = hint(z.number().int().min(1).max(16384), { description: "root volume GiB (node groups without a launch template)", example: "50" });
const nodeRoleArn = str(ROLE_ARN, { description: "IAM role of the nodes", example: "arn:aws:iam::123456789012:role/eks-nodes" });
const subnetIds = hint(z.array(str(SUBNET, { description: "a subnet id", example: "subnet-0a1b2c3d4e5f60718" })).min(1), {
  description: "subnets of the node group",
  example: "[subnet-0a1b2c3d4e5f60718]",
});
const azNames = hint(z.array(z.string().min(1)).min(1), { description: "availability zones", example: "[eu-central-1a, eu-central-1b]" });

/** What EKS reports of a managed node group, as the stack file holds it (`unchain adopt` writes it). */
const nodeGroupShape = {
  availabilityZones: azNames.optional(),
  subnetIds: subnetIds.optional(),
  nodeRoleArn: nodeRoleArn.optional(),
  instanceTypes: instanceTypes.optional(),
  amiType: amiType.optional(),
  capacityType: capacityType.optional(),
  diskSize: diskSize.optional(),
  releaseVersion: hint(z.string().min(1), { description: "AMI release version EKS reports", example: "1.31.2-20241115" }).optional(),
  version: hint(z.string().regex(K8S_VERSION), { description: "Kubernetes version of the nodes", example: '"1.31"' }).optional(),
  launchTemplate: launchTemplate.optional(),
  remoteAccess: remoteAccess.optional(),
  updateConfig: updateConfig.optional(),
  labels: labels.optional(),
  taints: taints.optional(),
  tags: tags.optional(),
};

const nodeGroupName = str(NODE_GROUP_NAME, { description: "the EKS node group's name (at most 63 characters)", example: "general-20230412" });

/** A node group that exists in the cluster, exactly as EKS describes it. */
const liveNodeGroup = hint(
  z
    .object({
      nodeGroupName,
      ...nodeGroupShape,
      size: size,
    })
    .strict(),
  { description: "a node group as it runs", example: "{ nodeGroupName: aws-general-a, subnetIds: [...], size: {...} }" },
);

const chainedPool = hint(
  z
    .object({
      name: str(POOL_NAME, { description: "pool name", example: "general (lowercase letters, digits and -, up to 32)" }),
      nodeGroupName: nodeGroupName.optional(),
      importId: str(/^[^:]+:[^:]+$/, { description: "`<cluster>:<nodeGroupName>`, the id `pulumi import` uses", example: "prod-eu-1:general-20230412" }).optional(),
      ...nodeGroupShape,
      size,
    })
    .strict(),
  {
    description: "the node groups that run chained Cilium today, as EKS describes them; adopted (import), never recreated",
    example: "[{ name, nodeGroupName, subnetIds, nodeRoleArn, size: { min, desired, max }, launchTemplate?, instanceTypes?, labels?, taints?, tags? }]",
  },
);

const newPool = (role: "aws" | "cilium") =>
  hint(
    z
      .object({
        name: str(POOL_NAME, { description: "pool name", example: "general (lowercase letters, digits and -, up to 32)" }),
        from: str(POOL_NAME, {
          description: role === "aws" ? "the chained pool this pool succeeds (default: the chained pool of the same name)" : "the aws or chained pool this pool succeeds (default: the pool of the same name)",
          example: "general",
        }).optional(),
        sizePerAz: size.optional(),
        ...nodeGroupShape,
        nodeGroups: hint(z.array(liveNodeGroup).min(1), {
          description: "the pool's node groups where they already run (a cluster adopted part-way): imported, never recreated",
          example: "[{ nodeGroupName: aws-general-a, availabilityZones: [eu-central-1a], ... }]",
        }).optional(),
      })
      .strict(),
    {
      description: `${role} pools: one node group per AZ, each inheriting the shape of the pool it succeeds (launch template, node role, instance types, labels, dedicated taints, sizes per AZ) unless set here`,
      example: `[{ name: general, from: general }]`,
    },
  );

const availabilityZone = hint(
  z
    .object({
      name: hint(z.string().min(1), { description: "AZ name", example: "eu-central-1a" }),
      subnetIds: subnetIds.optional(),
    })
    .strict(),
  { description: "an availability zone and its subnets", example: "{ name: eu-central-1a, subnetIds: [subnet-0a1b2c3d4e5f60718] }" },
);

const cluster = hint(
  z
    .object({
      name: str(EKS_CLUSTER_NAME, { description: "EKS cluster name", example: "prod-eu-1 (letters, digits, - and _, up to 100)" }),
      region: str(REGION, { description: "AWS region", example: "eu-central-1" }),
      availabilityZones: hint(z.array(availabilityZone).min(1), { description: "the AZs of the cluster's node groups, with their subnets", example: "[{ name: eu-central-1a, subnetIds: [subnet-0a1b2c3d4e5f60718] }]" }),
      nodeRoleArn: nodeRoleArn.optional(),
      kubeContext: hint(z.string().min(1), { description: "kubeconfig context to reach the cluster", example: "prod-eu-1" }).optional(),
      arn: str(CLUSTER_ARN, { description: "the cluster's ARN, as adopt read it", example: "arn:aws:eks:eu-central-1:123456789012:cluster/prod-eu-1" }).optional(),
      endpoint: hint(z.url(), { description: "the cluster's API endpoint, as adopt read it", example: "https://ABCDEF.gr7.eu-central-1.eks.amazonaws.com" }).optional(),
      version: hint(z.string().regex(K8S_VERSION), { description: "the cluster's Kubernetes version, as adopt read it", example: '"1.31"' }).optional(),
    })
    .strict(),
  { description: "the EKS cluster", example: "{ name, region, availabilityZones: [{ name, subnetIds }], nodeRoleArn?, kubeContext? }" },
);

const values = hint(z.record(z.string(), z.unknown()), { description: "Helm values", example: "{ hubble: { enabled: true } }" });

const ciliumRelease = hint(
  z
    .object({
      name: hint(z.string().regex(K8S_NAME), { description: "Helm release name", example: "cilium" }).default("cilium"),
      namespace: hint(z.string().regex(K8S_NAME), { description: "its namespace", example: "kube-system" }).default("kube-system"),
      chartVersion: str(SEMVER, { description: "chart version it runs", example: "1.16.6" }),
      values: values.default({}),
      caSecret: hint(z.string().regex(K8S_NAME), {
        description: "the CA Secret the release made itself (the chart's cilium-ca): copied in phase 1, before the release goes, so that the ENI release signs Hubble and ClusterMesh certificates with the same CA",
        example: "cilium-ca",
      }).optional(),
    })
    .strict(),
  {
    description: "the Cilium Helm release that runs in the cluster, as Helm recorded it (the values the team supplied); `unchain adopt` writes it",
    example: "{ name: cilium, namespace: kube-system, chartVersion: 1.16.6, values: {...} }",
  },
);

const vpcCni = hint(
  z
    .object({
      addonVersion: str(ADDON_VERSION, { description: "add-on version", example: "v1.18.3-eksbuild.1" }).default("v1.18.3-eksbuild.1"),
      configurationValues: hint(z.union([z.string(), z.record(z.string(), z.unknown())]), {
        description: "configurationValues exactly as EKS holds them (a JSON or YAML string, or an object unchain writes as JSON)",
        example: "'{\"env\":{\"ENABLE_PREFIX_DELEGATION\":\"true\"}}'",
      }).optional(),
      serviceAccountRoleArn: str(ROLE_ARN, { description: "IRSA role of aws-node", example: "arn:aws:iam::123456789012:role/vpc-cni" }).optional(),
      tags: tags.optional(),
      resolveConflictsOnUpdate: hint(z.enum(["OVERWRITE", "PRESERVE", "NONE"]), {
        description: "how EKS treats hand edits of aws-node when unchain updates the add-on",
        example: "OVERWRITE",
        fix: "use OVERWRITE so hand edits to aws-node cannot keep it on the wrong pools",
      }).default("OVERWRITE"),
    })
    .strict(),
  { description: "the vpc-cni add-on, as EKS describes it", example: "{ addonVersion, configurationValues?, serviceAccountRoleArn?, tags? }" },
);

const operatorRole = hint(
  z
    .object({
      roleArn: str(ROLE_ARN, { description: "a role with the EC2 permissions", example: "arn:aws:iam::123456789012:role/cilium-operator" }).optional(),
      create: hint(z.literal(true), { description: "have unchain create the role", example: "true" }).optional(),
      oidcProviderArn: str(OIDC_ARN, { description: "the cluster's IAM OIDC provider", example: "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-central-1.amazonaws.com/id/EXAMPLE" }).optional(),
    })
    .strict(),
  {
    description: "IAM role of the cilium-operator (ENI IPAM): `{ roleArn }` to use a role, or `{ create: true, oidcProviderArn }` to have unchain create it",
    example: "{ roleArn: arn:aws:iam::123456789012:role/cilium-operator }",
  },
);

const POOL_ROLE = z.enum(["chained", "aws", "cilium"]);
const nodeAgent = hint(
  z
    .object({
      name: str(K8S_NAME, { description: "agent name", example: "node-local-dns" }),
      chart: hint(z.string().min(1), { description: "chart", example: "node-local-dns" }),
      version: str(SEMVER, { description: "chart version", example: "2.1.0" }),
      repository: str(/^(https?|oci):\/\/\S+$/, { description: "chart repository", example: "https://charts.example.com" }),
      namespace: hint(z.string().regex(K8S_NAME), { description: "namespace", example: "kube-system" }).default("kube-system"),
      values: values.default({}),
      roles: hint(z.array(POOL_ROLE).min(1), { description: "pool roles the agent follows", example: "[aws]", fix: "use roles from chained, aws, cilium" }),
    })
    .strict(),
  { description: "a chart of DaemonSets that must follow pools of some roles (e.g. node-local DNS)", example: "[{ name, chart, version, repository, namespace?, values?, roles: [chained|aws|cilium] }]" },
);

const awsPool = newPool("aws");
const ciliumPool = newPool("cilium");

/** A list of `item`, described as the item is. */
function listOf<T extends z.ZodType>(item: T) {
  return hint(z.array(item), hints.get(item) ?? { description: "" });
}

/** One entry per `unchain:<key>`: its schema, and whether Pulumi.yaml declares it with a type and default. */
export interface KeySpec {
  schema: z.ZodType;
  /** Declared in Pulumi.yaml's `config:` block (scalars only: Pulumi project config types are string, integer, boolean). */
  project?: { type: "string" | "integer" | "boolean"; default?: string | number | boolean };
  /** Read as a string even where YAML would read a number (a chart version `1.16`). */
  string?: boolean;
}

export const STACK_KEYS = {
  phase: { schema: hint(z.number().int().min(0).max(6), { description: "the phase this stack is at (0–6)", example: "0", fix: "set it to the phase this cluster is at, e.g. 0 for a cluster not yet migrated" }) },
  adoptedPhase: {
    schema: hint(z.number().int().min(0).max(6), { description: "the phase the cluster was at when `unchain adopt` read it: what runs then is imported, exactly as it ran", example: "0" }),
  },
  cluster: { schema: cluster },
  chainedPools: { schema: listOf(chainedPool) },
  awsPools: { schema: listOf(awsPool) },
  ciliumPools: { schema: listOf(ciliumPool) },
  awsPoolTaintKey: {
    schema: hint(
      z.string().superRefine((k, ctx) => {
        const p = eksTaintKeyProblem(k);
        if (p) ctx.addIssue({ code: "custom", message: `taint key "${k}" ${eksSays(p)}`, params: { fix: "use at most 63 characters, prefix included: an optional lowercase DNS prefix and '/', then letters, digits, '-', '_' and '.', like example.com/cni" } });
      }),
      { description: "taint key that closes aws pools in phase 5 (the runbook's `<org>/cni`)", example: "example.com/cni" },
    ),
    project: { type: "string", default: DEFAULTS.awsPoolTaintKey },
    string: true,
  },
  minSchedulableNodesPerAz: {
    schema: hint(z.number().int().min(0).max(10000), { description: "nodes open to workloads that every AZ keeps in every phase and step", example: "2" }),
    project: { type: "integer", default: DEFAULTS.minSchedulableNodesPerAz },
  },
  ciliumChartVersion: {
    schema: str(SEMVER, { description: "Cilium chart version of the ENI release (adopt sets it to the version that runs)", example: "1.16.6" }),
    project: { type: "string", default: DEFAULTS.ciliumChartVersion },
    string: true,
  },
  ciliumRepository: {
    schema: str(/^(https?|oci):\/\/\S+$/, { description: "Helm repository of the Cilium chart", example: "https://helm.cilium.io" }),
    project: { type: "string", default: DEFAULTS.ciliumRepository },
    string: true,
  },
  ciliumRelease: { schema: ciliumRelease },
  ciliumValues: {
    schema: hint(
      z
        .object({
          common: values.optional(),
          chained: values.optional(),
          eni: values.optional(),
        })
        .strict(),
      { description: "Helm values unchain adds to what runs: `{ common?, chained?, eni? }` (affinity is narrowed to the phase's roles, never replaced)", example: "{ eni: { eni: { awsEnablePrefixDelegation: true } } }" },
    ),
  },
  ciliumOperatorRole: { schema: operatorRole },
  vpcCni: { schema: vpcCni },
  nodeAgents: { schema: listOf(nodeAgent) },
  sandbox: { schema: hint(z.boolean(), { description: "also create the VPC and the EKS cluster (rehearsal accounts only)", example: "true" }), project: { type: "boolean", default: DEFAULTS.sandbox } },
  kubernetesVersion: { schema: str(K8S_VERSION, { description: "Kubernetes version of a sandbox cluster", example: '"1.31"' }), string: true },
} satisfies Record<string, KeySpec>;

export type StackKey = keyof typeof STACK_KEYS;
export const KEY_NAMES = Object.keys(STACK_KEYS) as StackKey[];

/** Keys that moved, with where they went (a clear message instead of "unknown key"). */
export const MOVED_KEYS: Readonly<Record<string, string>> = {
  vpcCniVersion: "unchain:vpcCni.addonVersion",
  vpcCniConfigurationValues: "unchain:vpcCni.configurationValues",
  vpcCniResolveConflicts: "unchain:vpcCni.resolveConflictsOnUpdate",
};

/** The parsed (schema-shaped) values of each key. */
export type RawConfig = { [K in StackKey]?: z.output<(typeof STACK_KEYS)[K]["schema"]> };
export type LiveNodeGroupInput = z.output<typeof liveNodeGroup>;
export type ChainedPoolInput = z.output<typeof chainedPool>;
export type NewPoolInput = z.output<typeof awsPool>;
export type NodeGroupShapeInput = { [K in keyof typeof nodeGroupShape]?: z.output<(typeof nodeGroupShape)[K]> };
