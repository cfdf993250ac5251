/**
 * Reading a cluster through the AWS SDK for JavaScript v3: the cluster (DescribeCluster), every node
 * group (ListNodegroups, DescribeNodegroup), the launch template versions they use
 * (DescribeLaunchTemplateVersions), their subnets (DescribeSubnets) and the vpc-cni add-on
 * (DescribeAddon). Read-only: adopt needs `eks:Describe*`, `eks:List*` and `ec2:Describe*`.
 *
 * `unchain drain` reads the free IP addresses of the subnets of the pools that stay open
 * (DescribeSubnets, `AvailableIpAddressCount`): it needs `ec2:DescribeSubnets`.
 *
 * Credentials: a named profile, or a role to assume (from the profile's or the ambient credentials),
 * else the SDK's default chain. `AWS_ENDPOINT_URL` (the SDK's endpoint override) points every client
 * at another endpoint: the tests run the real SDK against a local one.
 */
import { DescribeLaunchTemplateVersionsCommand, DescribeSubnetsCommand, EC2Client } from "@aws-sdk/client-ec2";
import { DescribeAddonCommand, DescribeClusterCommand, DescribeNodegroupCommand, EKSClient, ListNodegroupsCommand, Nodegroup } from "@aws-sdk/client-eks";
import { fromIni, fromTemporaryCredentials } from "@aws-sdk/credential-providers";
import { createHash } from "node:crypto";

// The SDK warns on Node 20 that versions published after January 2027 will need Node 22: nothing a user of
// unchain can act on (unchain pins its SDK version and supports Node 20); say so once in the README instead.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
import { EnvironmentError, UserError } from "../config/problems";
import { EksTaintEffect, LiveAddon, LiveCluster, LiveLaunchTemplate, LiveNodeGroup, LiveSubnet } from "./snapshot";

export interface AwsTarget {
  cluster: string;
  region: string;
  profile?: string;
  /** A role to assume (from the profile's credentials where a profile is given). */
  roleArn?: string;
}

export interface AwsRead {
  cluster: LiveCluster;
  /** The cluster's CA and OIDC issuer: for a kubeconfig and the operator role, never stored. */
  certificateAuthority?: string;
  oidcIssuer?: string;
  subnets: LiveSubnet[];
  nodeGroups: LiveNodeGroup[];
  launchTemplates: LiveLaunchTemplate[];
  vpcCni?: LiveAddon;
}

/** What unchain was doing with AWS, for the messages of its failures: who asks, what it needs, how to give it credentials. */
export interface AwsUse {
  /** The command, as the user runs it again: `adopt`, `drain`. */
  command: string;
  /** The IAM actions it calls. */
  permissions: string[];
  /** How this command is told which credentials to use. */
  credentialsFrom: string;
  /** What else the user can do about a failure (e.g. a flag that goes without the call). */
  otherwise?: string;
}

export const ADOPT_USE: AwsUse = {
  command: "adopt",
  permissions: ["eks:DescribeCluster", "eks:ListNodegroups", "eks:DescribeNodegroup", "eks:DescribeAddon", "ec2:DescribeSubnets", "ec2:DescribeLaunchTemplateVersions"],
  credentialsFrom: "Pass --profile or --role-arn",
};

function credentials(t: AwsTarget, session = "unchain-adopt") {
  const base = t.profile ? fromIni({ profile: t.profile }) : undefined;
  if (t.roleArn)
    return fromTemporaryCredentials({
      params: { RoleArn: t.roleArn, RoleSessionName: session },
      ...(base ? { masterCredentials: base } : {}),
      clientConfig: { region: t.region },
    });
  return base;
}

/** Where the credentials came from, for messages. */
function whose(t: AwsTarget): string {
  return [t.profile ? `profile ${t.profile}` : undefined, t.roleArn ? `role ${t.roleArn}` : undefined].filter(Boolean).join(" then ") || "the default credential chain (AWS_PROFILE, environment, SSO, instance role)";
}

/** An SDK failure as a message a user can act on. */
export function awsError(e: unknown, t: AwsTarget, action: string, use: AwsUse = ADOPT_USE): UserError {
  const err = e as { name?: string; message?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const name = err.name ?? "";
  const what = `${action} for cluster ${t.cluster} in ${t.region} with ${whose(t)}`;
  if (name === "ResourceNotFoundException")
    return new UserError(`${what}: not found (${err.message}). Check the cluster name and region, and that the credentials are for the account that holds the cluster.`);
  const otherwise = use.otherwise ? ` ${use.otherwise}` : "";
  if (name === "AccessDeniedException" || name === "UnauthorizedOperation" || err.$metadata?.httpStatusCode === 403)
    return new EnvironmentError(`${what}: access denied (${err.message}). ${use.command} needs ${use.permissions.slice(0, -1).join(", ")}${use.permissions.length > 1 ? " and " : ""}${use.permissions[use.permissions.length - 1]}.${otherwise}`);
  if (/ExpiredToken|InvalidClientTokenId|UnrecognizedClient|SignatureDoesNotMatch|AuthFailure/.test(name))
    return new EnvironmentError(`${what}: the credentials were refused (${name}: ${err.message}). Log in again (aws sso login${t.profile ? ` --profile ${t.profile}` : ""}) and run ${use.command} again.${otherwise}`);
  if (name === "CredentialsProviderError" || /Could not load credentials|Profile .* could not be found/.test(err.message ?? ""))
    return new EnvironmentError(`${what}: no credentials (${err.message}). ${use.credentialsFrom}, or log in first.${otherwise}`);
  if (/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET/.test(`${err.code ?? ""} ${err.message ?? ""}`))
    return new EnvironmentError(`${what}: cannot reach AWS (${err.message}).${process.env.AWS_ENDPOINT_URL ? ` AWS_ENDPOINT_URL is ${process.env.AWS_ENDPOINT_URL}.` : ""}${otherwise}`);
  return new UserError(`${what}: ${name || "error"}: ${err.message ?? String(e)}${otherwise}`);
}

const TAINT_EFFECTS: readonly EksTaintEffect[] = ["NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"];

function nodeGroupOf(n: Nodegroup): LiveNodeGroup {
  return {
    nodegroupName: n.nodegroupName ?? "",
    status: n.status ?? "UNKNOWN",
    nodeRole: n.nodeRole ?? "",
    subnets: n.subnets ?? [],
    scalingConfig: { minSize: n.scalingConfig?.minSize ?? 0, maxSize: n.scalingConfig?.maxSize ?? 0, desiredSize: n.scalingConfig?.desiredSize ?? 0 },
    ...(n.instanceTypes?.length ? { instanceTypes: n.instanceTypes } : {}),
    ...(n.amiType ? { amiType: n.amiType } : {}),
    ...(n.capacityType ? { capacityType: n.capacityType } : {}),
    ...(n.diskSize !== undefined && n.diskSize !== null ? { diskSize: n.diskSize } : {}),
    ...(n.releaseVersion ? { releaseVersion: n.releaseVersion } : {}),
    ...(n.version ? { version: n.version } : {}),
    ...(n.launchTemplate ? { launchTemplate: { ...(n.launchTemplate.id ? { id: n.launchTemplate.id } : {}), ...(n.launchTemplate.name ? { name: n.launchTemplate.name } : {}), ...(n.launchTemplate.version ? { version: n.launchTemplate.version } : {}) } } : {}),
    ...(n.remoteAccess ? { remoteAccess: { ...(n.remoteAccess.ec2SshKey ? { ec2SshKey: n.remoteAccess.ec2SshKey } : {}), ...(n.remoteAccess.sourceSecurityGroups?.length ? { sourceSecurityGroups: n.remoteAccess.sourceSecurityGroups } : {}) } } : {}),
    ...(n.updateConfig && (n.updateConfig.maxUnavailable || n.updateConfig.maxUnavailablePercentage)
      ? { updateConfig: { ...(n.updateConfig.maxUnavailable ? { maxUnavailable: n.updateConfig.maxUnavailable } : {}), ...(n.updateConfig.maxUnavailablePercentage ? { maxUnavailablePercentage: n.updateConfig.maxUnavailablePercentage } : {}) } }
      : {}),
    labels: { ...(n.labels ?? {}) },
    taints: (n.taints ?? []).filter((t) => t.key && TAINT_EFFECTS.includes(t.effect as EksTaintEffect)).map((t) => ({ key: t.key!, ...(t.value ? { value: t.value } : {}), effect: t.effect as EksTaintEffect })),
    tags: { ...(n.tags ?? {}) },
  };
}

/** Runs `fn` over `items`, `width` at a time, keeping the order. */
async function pool<T, R>(items: T[], width: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i]);
    }),
  );
  return out;
}

export async function readAws(t: AwsTarget): Promise<AwsRead> {
  const creds = credentials(t);
  const config = { region: t.region, ...(creds ? { credentials: creds } : {}), maxAttempts: 3 };
  const eks = new EKSClient(config);
  const ec2 = new EC2Client(config);
  try {
    const step = async <R>(action: string, fn: () => Promise<R>): Promise<R> => {
      try {
        return await fn();
      } catch (e) {
        throw awsError(e, t, action);
      }
    };
    const c = (await step("DescribeCluster", () => eks.send(new DescribeClusterCommand({ name: t.cluster })))).cluster;
    if (!c?.arn || !c.endpoint) throw new UserError(`DescribeCluster for ${t.cluster} in ${t.region} returned no ARN or endpoint (status ${c?.status ?? "unknown"}); is the cluster still being created?`);
    const accountId = c.arn.split(":")[4] ?? "";
    const clusterRegion = c.arn.split(":")[3] ?? t.region;
    if (clusterRegion !== t.region) throw new UserError(`cluster ${t.cluster} is in ${clusterRegion}, not ${t.region} (its ARN ${c.arn}); pass --region ${clusterRegion}`);

    const names: string[] = [];
    let token: string | undefined;
    do {
      const page = await step("ListNodegroups", () => eks.send(new ListNodegroupsCommand({ clusterName: t.cluster, ...(token ? { nextToken: token } : {}) })));
      names.push(...(page.nodegroups ?? []));
      token = page.nextToken;
    } while (token);
    const nodeGroups = (await pool(names, 4, (name) => step(`DescribeNodegroup ${name}`, () => eks.send(new DescribeNodegroupCommand({ clusterName: t.cluster, nodegroupName: name }))))).map((r) => nodeGroupOf(r.nodegroup ?? {}));
    nodeGroups.sort((a, b) => a.nodegroupName.localeCompare(b.nodegroupName));

    let vpcCni: LiveAddon | undefined;
    try {
      const a = (await eks.send(new DescribeAddonCommand({ clusterName: t.cluster, addonName: "vpc-cni" }))).addon;
      if (a)
        vpcCni = {
          addonName: a.addonName ?? "vpc-cni",
          addonVersion: a.addonVersion ?? "",
          status: a.status ?? "UNKNOWN",
          ...(a.configurationValues ? { configurationValues: a.configurationValues } : {}),
          ...(a.serviceAccountRoleArn ? { serviceAccountRoleArn: a.serviceAccountRoleArn } : {}),
          tags: { ...(a.tags ?? {}) },
        };
    } catch (e) {
      if ((e as { name?: string }).name !== "ResourceNotFoundException") throw awsError(e, t, "DescribeAddon vpc-cni");
    }

    const subnetIds = [...new Set([...nodeGroups.flatMap((g) => g.subnets), ...(c.resourcesVpcConfig?.subnetIds ?? [])])].sort();
    const subnets: LiveSubnet[] = [];
    for (let i = 0; i < subnetIds.length; i += 100) {
      const r = await step("DescribeSubnets", () => ec2.send(new DescribeSubnetsCommand({ SubnetIds: subnetIds.slice(i, i + 100) })));
      for (const s of r.Subnets ?? [])
        if (s.SubnetId && s.AvailabilityZone) subnets.push({ subnetId: s.SubnetId, availabilityZone: s.AvailabilityZone, ...(s.VpcId ? { vpcId: s.VpcId } : {}), ...(s.CidrBlock ? { cidrBlock: s.CidrBlock } : {}) });
    }
    subnets.sort((a, b) => a.availabilityZone.localeCompare(b.availabilityZone) || a.subnetId.localeCompare(b.subnetId));

    const refs = new Map<string, { id?: string; name?: string; version: string }>();
    for (const g of nodeGroups) if (g.launchTemplate?.version && (g.launchTemplate.id || g.launchTemplate.name)) refs.set(`${g.launchTemplate.id ?? g.launchTemplate.name}@${g.launchTemplate.version}`, { ...g.launchTemplate, version: g.launchTemplate.version });
    const launchTemplates: LiveLaunchTemplate[] = [];
    for (const ref of refs.values()) {
      const r = await step(`DescribeLaunchTemplateVersions ${ref.id ?? ref.name} version ${ref.version}`, () =>
        ec2.send(new DescribeLaunchTemplateVersionsCommand({ ...(ref.id ? { LaunchTemplateId: ref.id } : { LaunchTemplateName: ref.name }), Versions: [ref.version] })),
      );
      for (const v of r.LaunchTemplateVersions ?? []) {
        const d = v.LaunchTemplateData ?? {};
        const sgs = [...(d.SecurityGroupIds ?? []), ...(d.NetworkInterfaces ?? []).flatMap((n) => n.Groups ?? [])];
        launchTemplates.push({
          id: v.LaunchTemplateId ?? ref.id ?? "",
          name: v.LaunchTemplateName ?? ref.name ?? "",
          version: String(v.VersionNumber ?? ref.version),
          ...(d.InstanceType ? { instanceType: d.InstanceType } : {}),
          ...(d.ImageId ? { imageId: d.ImageId } : {}),
          securityGroupIds: [...new Set(sgs)].sort(),
          ...(d.UserData ? { userData: `sha256:${createHash("sha256").update(d.UserData).digest("hex").slice(0, 16)}` } : {}),
          ...(d.MetadataOptions?.HttpTokens ? { httpTokens: d.MetadataOptions.HttpTokens } : {}),
          ...(d.MetadataOptions?.HttpPutResponseHopLimit ? { httpPutResponseHopLimit: d.MetadataOptions.HttpPutResponseHopLimit } : {}),
        });
      }
    }
    launchTemplates.sort((a, b) => a.id.localeCompare(b.id) || Number(a.version) - Number(b.version));

    return {
      cluster: {
        name: c.name ?? t.cluster,
        arn: c.arn,
        endpoint: c.endpoint,
        region: t.region,
        version: c.version ?? "",
        status: c.status ?? "UNKNOWN",
        accountId,
        ...(c.resourcesVpcConfig?.vpcId ? { vpcId: c.resourcesVpcConfig.vpcId } : {}),
      },
      ...(c.certificateAuthority?.data ? { certificateAuthority: c.certificateAuthority.data } : {}),
      ...(c.identity?.oidc?.issuer ? { oidcIssuer: c.identity.oidc.issuer } : {}),
      subnets,
      nodeGroups,
      launchTemplates,
      ...(vpcCni ? { vpcCni } : {}),
    };
  } finally {
    eks.destroy();
    ec2.destroy();
  }
}

/** A subnet's free IP addresses, as EC2 counts them (`AvailableIpAddressCount`). */
export interface SubnetFree {
  subnetId: string;
  availabilityZone: string;
  availableIps: number;
}

/**
 * The free IP addresses of these subnets (EC2 DescribeSubnets, 100 at a time), for the drain's check
 * that the pools receiving the pods have addresses for them. A failure is a UserError naming the
 * permission (`ec2:DescribeSubnets`) and what `use` says to do otherwise.
 */
export async function subnetFreeIps(t: AwsTarget, subnetIds: string[], use: AwsUse): Promise<SubnetFree[]> {
  const creds = credentials(t, `unchain-${use.command}`);
  const ec2 = new EC2Client({ region: t.region, ...(creds ? { credentials: creds } : {}), maxAttempts: 3 });
  const ids = [...new Set(subnetIds)].sort();
  const out: SubnetFree[] = [];
  try {
    for (let i = 0; i < ids.length; i += 100) {
      let r;
      try {
        r = await ec2.send(new DescribeSubnetsCommand({ SubnetIds: ids.slice(i, i + 100) }));
      } catch (e) {
        throw awsError(e, t, "DescribeSubnets", use);
      }
      for (const s of r.Subnets ?? [])
        if (s.SubnetId && s.AvailabilityZone) out.push({ subnetId: s.SubnetId, availabilityZone: s.AvailabilityZone, availableIps: s.AvailableIpAddressCount ?? 0 });
    }
  } finally {
    ec2.destroy();
  }
  return out;
}
