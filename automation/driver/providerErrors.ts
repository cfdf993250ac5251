/**
 * What the providers' own errors mean for someone walking a cluster, and what to do about them. The
 * engine reports a provider's error as the provider wrote it (client-go, Helm); these are the ones a
 * phase meets on a real cluster, matched on the text those libraries print:
 * - client-go cannot reach the API server: `dial tcp …: connect: connection refused`, `i/o timeout`,
 *   `no such host`; pulumi-kubernetes says `configured Kubernetes cluster is unreachable` or `failed to
 *   read resource state due to unreachable cluster`;
 * - Helm refuses to act on a release whose last operation never finished: `another operation
 *   (install/upgrade/rollback) is in progress` (helm pkg/action errPending, returned for a release in
 *   pending-install, pending-upgrade or pending-rollback);
 * - the API server's RBAC refusal: `<resource> is forbidden: User "<u>" cannot <verb> resource
 *   "<resource>" in API group "<g>" in the namespace "<ns>"` (k8s.io/apiserver authorization).
 */

/** What the runner knows of the stack, to name things in the user's terms. */
export interface ExplainContext {
  /** The Helm release the phase works on: `<namespace>/<name>`. */
  helmRelease?: string;
}

export interface Explained {
  /** One line: what is wrong, in the words of the migration. */
  what: string;
  /** What to do before running the same command again. */
  fix: string;
}

const UNREACHABLE = /configured Kubernetes cluster is unreachable|due to unreachable cluster|dial tcp [^:]*:\d+: connect: connection refused|dial tcp: lookup [^ ]+ .*no such host|dial tcp [^ ]+: i\/o timeout|Unable to connect to the server|TLS handshake timeout/;
const PENDING = /another operation \(install\/upgrade\/rollback\) is in progress/;
const FORBIDDEN = /(\S+) is forbidden: User "([^"]+)" cannot (\w+) resource "([^"]+)"(?: in API group "([^"]*)")?(?: in the namespace "([^"]+)"| at the cluster scope)/;

/** The explanation of a provider error, or undefined when it is none of the known ones. */
export function explainProviderError(text: string, ctx: ExplainContext = {}): Explained | undefined {
  const forbidden = FORBIDDEN.exec(text);
  if (forbidden) {
    const [, , user, verb, resource, group, namespace] = forbidden;
    const where = namespace ? `in namespace ${namespace}` : "at cluster scope";
    return {
      what: `the Kubernetes credentials (user ${user}) may not ${verb} ${group ? `${resource}.${group}` : resource} ${where}`,
      fix: `unchain installs Cilium and the node agents and keeps Helm's release records ${where}: use credentials allowed to manage them there (the cluster's admin access entry, or RBAC granting ${verb} on ${resource}), via the stack's kubeconfig or unchain:cluster.kubeContext`,
    };
  }
  if (PENDING.test(text)) {
    const [namespace, name] = ctx.helmRelease?.split("/") ?? [];
    const release = name ? `${name} in namespace ${namespace}` : "";
    const cmd = (c: string) => (name ? `\`helm ${c.replace("<release>", name)} -n ${namespace}\`` : `\`helm ${c} -n <namespace>\``);
    return {
      what: `Helm's record of the Cilium release${release ? ` ${release}` : ""} says an install, upgrade or rollback is still in progress (status pending-*), so Helm refuses to change it`,
      fix: `if someone is running helm on it, wait for that to finish; if an earlier run was interrupted, find the last deployed revision with ${cmd("history <release>")} and roll back to it with ${cmd("rollback <release> <revision>")}, then run again`,
    };
  }
  if (UNREACHABLE.test(text)) {
    return {
      what: "the cluster's Kubernetes API server cannot be reached from here",
      fix: "check that this machine reaches the cluster endpoint (VPN, private endpoint access, security groups) and that the stack's kubeconfig or unchain:cluster.kubeContext points at it, then run again. Do not set PULUMI_K8S_DELETE_UNREACHABLE, which the provider suggests: the cluster is still there, and that would drop its Cilium release and node agents from the stack's state",
    };
  }
  return undefined;
}

/** The provider's own advice to forget an unreachable cluster's resources: wrong while the cluster runs. */
const DELETE_UNREACHABLE_HINT = / ?If the cluster was deleted, you can remove this resource from Pulumi state by rerunning the operation with the PULUMI_K8S_DELETE_UNREACHABLE environment variable set to "true"\.?/g;

/** The engine's error text with the explanation before it, when there is one. */
export function withExplanation(text: string, ctx: ExplainContext = {}): string {
  const e = explainProviderError(text, ctx);
  if (!e) return text;
  const said = text.replace(DELETE_UNREACHABLE_HINT, "");
  return `${e.what}\n  fix: ${e.fix}\n  (the provider said: ${said.split("\n").join("\n  ")})`;
}
