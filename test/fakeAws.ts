/**
 * A local endpoint that answers the AWS calls `unchain adopt` and `unchain drain` make, as EKS, EC2 and STS answer them
 * (REST-JSON for EKS, the EC2 query protocol's XML, the STS query protocol's XML), for clusters the
 * tests describe. The real AWS SDK talks to it through `AWS_ENDPOINT_URL`: requests are signed as
 * for AWS, the access key in each signature picks the account whose clusters the caller sees, and
 * AssumeRole hands out keys of the role's account. Nothing here is unchain's code: it stands in for
 * AWS, which cannot run here.
 */
import { randomBytes } from "node:crypto";
import * as http from "node:http";
import { AddressInfo } from "node:net";

export interface FakeNodeGroup {
  nodegroupName: string;
  nodeRole: string;
  subnets: string[];
  scalingConfig: { minSize: number; maxSize: number; desiredSize: number };
  instanceTypes?: string[];
  amiType?: string;
  capacityType?: string;
  diskSize?: number;
  releaseVersion?: string;
  version?: string;
  launchTemplate?: { id: string; name: string; version: string };
  remoteAccess?: { ec2SshKey?: string; sourceSecurityGroups?: string[] };
  updateConfig?: { maxUnavailable?: number; maxUnavailablePercentage?: number };
  labels?: Record<string, string>;
  taints?: Array<{ key: string; value?: string; effect: "NO_SCHEDULE" | "NO_EXECUTE" | "PREFER_NO_SCHEDULE" }>;
  tags?: Record<string, string>;
  status?: string;
}

export interface FakeLaunchTemplate {
  id: string;
  name: string;
  version: number;
  instanceType?: string;
  imageId?: string;
  securityGroupIds?: string[];
  userData?: string;
  httpTokens?: string;
}

export interface FakeCluster {
  account: string;
  region: string;
  name: string;
  version?: string;
  endpoint?: string;
  oidcIssuer?: string;
  /** `availableIpAddressCount`: the subnet's free addresses (default 8000). */
  subnets: Array<{ subnetId: string; availabilityZone: string; cidrBlock?: string; vpcId?: string; availableIpAddressCount?: number }>;
  nodeGroups: FakeNodeGroup[];
  launchTemplates?: FakeLaunchTemplate[];
  addon?: { addonVersion: string; configurationValues?: string; serviceAccountRoleArn?: string; tags?: Record<string, string> };
}

export interface FakeAwsWorld {
  /** Access key id → account and secret. */
  keys: Record<string, { account: string; secret: string }>;
  /** Role ARN → account (AssumeRole gives keys of that account). */
  roles?: Record<string, string>;
  /** Access key id → the EC2 actions its identity may not call (answered as IAM would: UnauthorizedOperation, 403). */
  denied?: Record<string, string[]>;
  clusters: FakeCluster[];
}

export interface SeenRequest {
  service: string;
  action: string;
  accessKeyId: string;
  region: string;
}

const xmlEscape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const el = (name: string, inner: string | number | undefined) => (inner === undefined ? "" : `<${name}>${typeof inner === "string" ? xmlEscape(inner) : inner}</${name}>`);
const set = (name: string, items: string[]) => `<${name}>${items.map((i) => `<item>${i}</item>`).join("")}</${name}>`;

export class FakeAws {
  readonly requests: SeenRequest[] = [];
  private server?: http.Server;
  private temp = new Map<string, string>();
  url = "";

  constructor(public world: FakeAwsWorld) {}

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        try {
          this.handle(req, Buffer.concat(chunks).toString("utf8"), res);
        } catch (e) {
          res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ message: String(e) }));
        }
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  /** The environment for a process that should talk to this endpoint with the given access key. */
  env(accessKeyId?: string): Record<string, string> {
    const out: Record<string, string> = { AWS_ENDPOINT_URL: this.url, AWS_EC2_METADATA_DISABLED: "true" };
    if (accessKeyId) Object.assign(out, { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: this.world.keys[accessKeyId].secret });
    return out;
  }

  private account(akid: string): string | undefined {
    return this.world.keys[akid]?.account ?? this.temp.get(akid);
  }

  private handle(req: http.IncomingMessage, body: string, res: http.ServerResponse): void {
    const auth = String(req.headers.authorization ?? "");
    const m = /Credential=([^/]+)\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/.exec(auth);
    const [akid, region, service] = m ? [m[1], m[2], m[3]] : ["", "", ""];
    const url = new URL(req.url ?? "/", "http://x");
    const form = new URLSearchParams(body);
    const action = service === "eks" ? `${req.method} ${url.pathname}` : form.get("Action") ?? "?";
    this.requests.push({ service, action, accessKeyId: akid, region });
    const account = this.account(akid);
    if (!account) {
      if (service === "eks") return void res.writeHead(403, { "content-type": "application/json", "x-amzn-errortype": "UnrecognizedClientException" }).end(JSON.stringify({ message: "The security token included in the request is invalid." }));
      return void res.writeHead(401, { "content-type": "text/xml" }).end(`<Response><Errors><Error><Code>AuthFailure</Code><Message>AWS was not able to validate the provided access credentials</Message></Error></Errors><RequestID>r</RequestID></Response>`);
    }
    if (service === "eks") return this.eks(req.method ?? "GET", url, account, region, res);
    if (service === "ec2" && this.world.denied?.[akid]?.includes(action))
      return void res
        .writeHead(403, { "content-type": "text/xml" })
        .end(`<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation. User: arn:aws:iam::${account}:user/test is not authorized to perform: ec2:${xmlEscape(action)} because no identity-based policy allows the ec2:${xmlEscape(action)} action</Message></Error></Errors><RequestID>r</RequestID></Response>`);
    if (service === "ec2") return this.ec2(form, account, region, res);
    if (service === "sts") return this.sts(form, account, res);
    res.writeHead(400).end(`unknown service ${service}`);
  }

  private cluster(account: string, region: string, name: string): FakeCluster | undefined {
    return this.world.clusters.find((c) => c.account === account && c.region === region && c.name === name);
  }

  private eks(method: string, url: URL, account: string, region: string, res: http.ServerResponse): void {
    const json = (status: number, body: unknown, type?: string): void => {
      res.writeHead(status, { "content-type": "application/json", ...(type ? { "x-amzn-errortype": type } : {}) }).end(JSON.stringify(body));
    };
    const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    if (method !== "GET" || parts[0] !== "clusters" || !parts[1]) return json(404, { message: `no route ${method} ${url.pathname}` }, "ResourceNotFoundException");
    const c = this.cluster(account, region, parts[1]);
    if (!c) return json(404, { message: `No cluster found for name: ${parts[1]}.` }, "ResourceNotFoundException");
    const arn = `arn:aws:eks:${c.region}:${c.account}:cluster/${c.name}`;
    if (parts.length === 2)
      return json(200, {
        cluster: {
          name: c.name,
          arn,
          createdAt: 1680000000,
          version: c.version ?? "1.31",
          endpoint: c.endpoint ?? `https://${c.name.toUpperCase().replace(/[^A-Z0-9]/g, "")}.gr7.${c.region}.eks.amazonaws.com`,
          roleArn: `arn:aws:iam::${c.account}:role/${c.name}-cluster`,
          resourcesVpcConfig: { subnetIds: c.subnets.map((s) => s.subnetId), vpcId: c.subnets[0]?.vpcId ?? "vpc-0a1b2c3d4e5f60718" },
          status: "ACTIVE",
          certificateAuthority: { data: Buffer.from("fake-ca").toString("base64") },
          platformVersion: "eks.20",
          identity: { oidc: { issuer: c.oidcIssuer ?? `https://oidc.eks.${c.region}.amazonaws.com/id/${c.name.toUpperCase().replace(/[^A-Z0-9]/g, "")}` } },
        },
      });
    if (parts[2] === "node-groups" && parts.length === 3) {
      // Two per page, so that every reader pages.
      const names = c.nodeGroups.map((g) => g.nodegroupName);
      const start = Number(url.searchParams.get("nextToken") ?? "0");
      const page = names.slice(start, start + 2);
      return json(200, { nodegroups: page, ...(start + 2 < names.length ? { nextToken: String(start + 2) } : {}) });
    }
    if (parts[2] === "node-groups" && parts[3]) {
      const g = c.nodeGroups.find((x) => x.nodegroupName === parts[3]);
      if (!g) return json(404, { message: `No node group found for name: ${parts[3]}.` }, "ResourceNotFoundException");
      return json(200, {
        nodegroup: {
          ...g,
          nodegroupArn: `arn:aws:eks:${c.region}:${c.account}:nodegroup/${c.name}/${g.nodegroupName}/0`,
          clusterName: c.name,
          status: g.status ?? "ACTIVE",
          labels: g.labels ?? {},
          taints: g.taints ?? [],
          tags: g.tags ?? {},
          capacityType: g.capacityType ?? "ON_DEMAND",
          createdAt: 1680000000,
          health: { issues: [] },
        },
      });
    }
    if (parts[2] === "addons" && parts[3]) {
      if (parts[3] !== "vpc-cni" || !c.addon) return json(404, { message: `No addon: ${parts[3]} found in cluster: ${c.name}` }, "ResourceNotFoundException");
      return json(200, { addon: { addonName: "vpc-cni", clusterName: c.name, status: "ACTIVE", addonArn: `arn:aws:eks:${c.region}:${c.account}:addon/${c.name}/vpc-cni/0`, tags: {}, ...c.addon } });
    }
    json(404, { message: `no route ${url.pathname}` }, "ResourceNotFoundException");
  }

  private ec2(form: URLSearchParams, account: string, region: string, res: http.ServerResponse): void {
    const xml = (body: string, status = 200): void => {
      res.writeHead(status, { "content-type": "text/xml;charset=UTF-8" }).end(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`);
    };
    const list = (prefix: string) => [...form.keys()].filter((k) => k.startsWith(`${prefix}.`)).map((k) => form.get(k)!);
    const mine = this.world.clusters.filter((c) => c.account === account && c.region === region);
    const action = form.get("Action");
    if (action === "DescribeSubnets") {
      const wanted = list("SubnetId");
      const all = mine.flatMap((c) => c.subnets);
      const missing = wanted.filter((w) => !all.some((s) => s.subnetId === w));
      if (missing.length) return xml(`<Response><Errors><Error><Code>InvalidSubnetID.NotFound</Code><Message>The subnet ID '${missing[0]}' does not exist</Message></Error></Errors><RequestID>r</RequestID></Response>`, 400);
      const found = wanted.map((w) => all.find((s) => s.subnetId === w)!);
      return xml(
        `<DescribeSubnetsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><subnetSet>${found
          .map((s) => `<item>${el("subnetId", s.subnetId)}${el("availabilityZone", s.availabilityZone)}${el("vpcId", s.vpcId ?? "vpc-0a1b2c3d4e5f60718")}${el("cidrBlock", s.cidrBlock ?? "10.0.0.0/19")}${el("availableIpAddressCount", s.availableIpAddressCount ?? 8000)}${el("state", "available")}</item>`)
          .join("")}</subnetSet></DescribeSubnetsResponse>`,
      );
    }
    if (action === "DescribeLaunchTemplateVersions") {
      const id = form.get("LaunchTemplateId");
      const name = form.get("LaunchTemplateName");
      const versions = list("LaunchTemplateVersion");
      const lts = mine.flatMap((c) => c.launchTemplates ?? []).filter((t) => (id ? t.id === id : t.name === name) && (versions.length === 0 || versions.includes(String(t.version))));
      if (!lts.length) return xml(`<Response><Errors><Error><Code>InvalidLaunchTemplateId.NotFound</Code><Message>The specified launch template, with template ID ${id ?? name}, does not exist.</Message></Error></Errors><RequestID>r</RequestID></Response>`, 400);
      return xml(
        `<DescribeLaunchTemplateVersionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><launchTemplateVersionSet>${lts
          .map(
            (t) =>
              `<item>${el("launchTemplateId", t.id)}${el("launchTemplateName", t.name)}${el("versionNumber", t.version)}${el("defaultVersion", "true")}<launchTemplateData>${el("instanceType", t.instanceType)}${el("imageId", t.imageId)}${
                t.securityGroupIds ? set("securityGroupIdSet", t.securityGroupIds) : ""
              }${el("userData", t.userData)}${t.httpTokens ? `<metadataOptions>${el("httpTokens", t.httpTokens)}${el("httpPutResponseHopLimit", 2)}</metadataOptions>` : ""}</launchTemplateData></item>`,
          )
          .join("")}</launchTemplateVersionSet></DescribeLaunchTemplateVersionsResponse>`,
      );
    }
    xml(`<Response><Errors><Error><Code>InvalidAction</Code><Message>${xmlEscape(String(action))}</Message></Error></Errors><RequestID>r</RequestID></Response>`, 400);
  }

  private sts(form: URLSearchParams, account: string, res: http.ServerResponse): void {
    const xml = (body: string, status = 200): void => {
      res.writeHead(status, { "content-type": "text/xml" }).end(body);
    };
    const action = form.get("Action");
    if (action === "AssumeRole") {
      const role = form.get("RoleArn") ?? "";
      const target = this.world.roles?.[role];
      if (!target) return xml(`<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:iam::${account}:user/test is not authorized to perform: sts:AssumeRole on resource: ${role}</Message></Error><RequestId>r</RequestId></ErrorResponse>`, 403);
      const akid = `ASIA${randomBytes(8).toString("hex").toUpperCase()}`;
      this.temp.set(akid, target);
      const expires = new Date(Date.now() + 3600_000).toISOString();
      return xml(
        `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials><AccessKeyId>${akid}</AccessKeyId><SecretAccessKey>${randomBytes(20).toString("hex")}</SecretAccessKey><SessionToken>${randomBytes(20).toString("hex")}</SessionToken><Expiration>${expires}</Expiration></Credentials><AssumedRoleUser><Arn>${role}/unchain-adopt</Arn><AssumedRoleId>AROA:unchain-adopt</AssumedRoleId></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></AssumeRoleResponse>`,
      );
    }
    if (action === "GetCallerIdentity")
      return xml(`<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::${account}:user/test</Arn><UserId>U</UserId><Account>${account}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>`);
    xml(`<ErrorResponse><Error><Code>InvalidAction</Code><Message>${String(action)}</Message></Error></ErrorResponse>`, 400);
  }
}
