/**
 * Runs the real Pulumi program offline: Pulumi mocks stand in for the engine and the clouds, and
 * everything the program registers is recorded with its inputs, parent, dependencies, import id and
 * transforms. One process evaluates many (stack, phase) pairs in a row: each evaluation gets fresh
 * mocks and config, and waits for the runtime's RPC queue to drain before reading what it captured.
 */
import * as pulumi from "@pulumi/pulumi";
import * as runtimeSettings from "@pulumi/pulumi/runtime/settings";

// `getMonitor` is public; `waitForRPCs` (drain the RPC queue) is marked internal in the SDK's typings.
const settings = runtimeSettings as unknown as { getMonitor(): unknown; waitForRPCs(): Promise<void> };

export interface CapturedResource {
  urn: string;
  type: string;
  name: string;
  custom: boolean;
  parent?: string;
  inputs: Record<string, unknown>;
  importId?: string;
  dependencies: string[];
  ignoreChanges: string[];
  protect: boolean;
  /** Number of transforms attached to the resource (the engine runs them; mocks do not). */
  transforms: number;
}

export interface Evaluation {
  stack: string;
  resources: CapturedResource[];
  outputs?: Record<string, unknown>;
  /** The program refused to run (config problem, broken invariant), with its message. */
  error?: string;
}

/** Stand-in state for resources and calls the program reads back. */
function mockState(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  switch (type) {
    case "aws:iam/role:Role":
      return { ...inputs, name: inputs.name ?? name, arn: `arn:aws:iam::123456789012:role/${name}` };
    case "aws:iam/policy:Policy":
      return { ...inputs, arn: `arn:aws:iam::123456789012:policy/${name}` };
    case "kubernetes:helm.sh/v3:Release":
      return { ...inputs, status: { status: "deployed" } };
    // Remote (multi-language) components: one opaque resource under mocks; give them the outputs
    // the sandbox reads.
    case "eks:index:Cluster":
      return {
        ...inputs,
        oidcProviderArn: `arn:aws:iam::123456789012:oidc-provider/oidc.eks.example/id/${name}`,
        kubeconfigJson: "{}",
        eksCluster: { name: inputs.name ?? name },
      };
    case "awsx:ec2:Vpc":
      return { ...inputs, vpcId: `vpc-${name}`, privateSubnetIds: ((inputs.availabilityZoneNames as string[] | undefined) ?? []).map((az) => `subnet-private-${az}`), publicSubnetIds: [] };
    default:
      return { ...inputs };
  }
}

const mocks: pulumi.runtime.Mocks = {
  newResource: (args) => {
    // A Secret read from the cluster (the Cilium CA copied in phase 1): stand-in data, never a key.
    if (args.id && args.type === "kubernetes:core/v1:Secret") return { id: args.id, state: { data: { "ca.crt": "<ca.crt of the release's CA>", "ca.key": "<ca.key of the release's CA>" } } };
    return { id: args.id || `${args.name}-id`, state: mockState(args.type, args.name, args.inputs) };
  },
  call: (args) => {
    if (args.token === "aws:eks/getCluster:getCluster")
      return { name: args.inputs.name, endpoint: "https://cluster.eks.example", certificateAuthorities: [{ data: "Q0EK" }] };
    return {};
  },
};

interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getCustom(): boolean;
  getImportid(): string;
  getDependenciesList(): string[];
  getIgnorechangesList(): string[];
  getProtect(): boolean;
  getTransformsList(): unknown[];
}
interface RegisterResponse {
  getUrn(): string;
}
type Callback = (err: Error | null, resp?: RegisterResponse) => void;
interface MonitorLike {
  registerResource(req: RegisterRequest, cb: Callback): void;
}

/** The signature of a serialized secret (sdk/nodejs/runtime/rpc.ts `specialSigKey`, `specialSecretSig`). */
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
/** What a plan shows for a secret value: the marker, never the value. */
export const SECRET_MARKER = "[secret]";

/** Inputs with every secret replaced by the marker: a plan, a review or a test snapshot never holds one. */
export function masked(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(masked);
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (o[SIG_KEY] === SECRET_SIG) return SECRET_MARKER;
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, masked(x)]));
  }
  return v;
}

/** The SDK's runtime (mocks, config, the monitor) is one per process: evaluations take turns. */
let turn: Promise<unknown> = Promise.resolve();

/** Runs `program` once as stack `stack` with `config` (the `ns:key` → string map the CLI would pass). */
export function evaluateProgram(
  stack: string,
  config: Record<string, string>,
  program: () => Promise<Record<string, unknown> | object>,
  project = "unchain",
): Promise<Evaluation> {
  const mine = turn.then(() => evaluateAlone(stack, config, program, project));
  turn = mine.catch(() => undefined);
  return mine;
}

async function evaluateAlone(
  stack: string,
  config: Record<string, string>,
  program: () => Promise<Record<string, unknown> | object>,
  project = "unchain",
): Promise<Evaluation> {
  pulumi.runtime.setAllConfig(config);
  await pulumi.runtime.setMocks(mocks, project, stack, false);
  const monitor = settings.getMonitor() as unknown as MonitorLike;
  const captured = new Map<string, CapturedResource>();
  const original = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    const meta = {
      type: req.getType(),
      name: req.getName(),
      custom: req.getCustom(),
      ...(req.getParent() ? { parent: req.getParent() } : {}),
      ...(req.getImportid() ? { importId: req.getImportid() } : {}),
      dependencies: req.getDependenciesList(),
      ignoreChanges: req.getIgnorechangesList(),
      protect: req.getProtect(),
      transforms: req.getTransformsList().length,
    };
    original(req, (err, resp) => {
      if (!err && resp) captured.set(resp.getUrn(), { urn: resp.getUrn(), inputs: {}, ...meta });
      cb(err, resp);
    });
  };
  // Inputs as the mocks received them (deserialized, secrets unwrapped by the mock monitor).
  const inputsByTypeName = new Map<string, Record<string, unknown>>();
  const originalNew = mocks.newResource;
  mocks.newResource = (args) => {
    inputsByTypeName.set(`${args.type}::${args.name}`, masked(args.inputs) as Record<string, unknown>);
    return originalNew(args);
  };
  let outputs: Record<string, unknown> | undefined;
  let error: string | undefined;
  // The SDK stamps `new Error().stack` on every promise it makes (leak diagnostics for real runs);
  // under mocks that is most of the cost of an evaluation and nothing reads it. Errors raised here
  // are reported by message, so stack capture is off while the program runs, and restored after.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    const result = (await program()) as Record<string, unknown>;
    outputs = await new Promise<Record<string, unknown>>((resolve) => pulumi.output(result).apply((o) => resolve(o as Record<string, unknown>)));
    await settings.waitForRPCs();
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
    await settings.waitForRPCs().catch(() => undefined);
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
    mocks.newResource = originalNew;
  }
  const resources = [...captured.values()].map((r) => ({ ...r, inputs: inputsByTypeName.get(`${r.type}::${r.name}`) ?? {} }));
  return { stack, resources, ...(outputs ? { outputs } : {}), ...(error ? { error } : {}) };
}
