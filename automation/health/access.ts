/**
 * Reaching a cluster's API server, and saying plainly why not. In real life the common failures are
 * a VPN that is down, an expired SSO session behind `aws eks get-token`, and missing RBAC; each is
 * reported with the context and the server it was about, and what to do. The permissions the checks
 * and drains need are shipped as a ClusterRole (automation/health/rbac.yaml).
 */
import * as path from "node:path";
import * as k8s from "@kubernetes/client-node";
import { EnvironmentError, UserError } from "../../config/problems";

/** Where the RBAC the checks and drains need is, relative to the project. */
export const RBAC_FILE = path.join("automation", "health", "rbac.yaml");

/** The context and server a kubeconfig points at, for every message about the cluster. */
export function whereOf(kc: k8s.KubeConfig): { context: string; server: string } {
  return { context: kc.getCurrentContext(), server: kc.getCurrentCluster()?.server ?? "(no server)" };
}

export class KubeAccessError extends EnvironmentError {
  constructor(message: string) {
    super(message);
    this.name = "KubeAccessError";
  }
}

interface ApiFailure {
  code?: number;
  body?: unknown;
  message?: string;
  cause?: unknown;
}

function bodyMessage(body: unknown): string | undefined {
  if (typeof body === "string") {
    try {
      return (JSON.parse(body) as { message?: string }).message ?? body;
    } catch {
      return body;
    }
  }
  return (body as { message?: string } | undefined)?.message;
}

/** What a failed call to the API server means, in the user's terms: context, server, cause, fix. */
export function explainKubeFailure(kc: k8s.KubeConfig, e: unknown, what: string): string {
  const { context, server } = whereOf(kc);
  const f = e as ApiFailure;
  const text = `${f.message ?? String(e)} ${String((f.cause as { message?: string } | undefined)?.message ?? "")}`;
  const at = `context ${context} (${server})`;
  if (f.code === 401)
    return `${what}: the API server at ${at} refused the credentials (401 Unauthorized). Fix: renew them (aws sso login, or the profile aws eks get-token uses) and check that the context's user is the one with access to this cluster`;
  if (f.code === 403) {
    const m = bodyMessage(f.body) ?? "forbidden";
    return `${what}: ${m} (403, ${at}). Fix: the checks and drains need the permissions of the ClusterRole in ${RBAC_FILE}; bind it to this user (kubectl apply -f ${RBAC_FILE}, then a ClusterRoleBinding), or use a context with them`;
  }
  if (/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|ECONNRESET|socket hang up|getaddrinfo|connect /.test(text))
    return `${what}: cannot reach the API server at ${at}: ${text.trim().split("\n")[0]}. Fix: check that this machine reaches the cluster endpoint (VPN, private endpoint access, security groups) and that --kubeconfig/--context or unchain:cluster.kubeContext point at this cluster`;
  // No HTTP answer and a credential command in the kubeconfig: that command failed before any request.
  const exec = kc.getCurrentUser()?.exec as { command?: string; args?: string[] } | undefined;
  if (exec && f.code === undefined) {
    const cmd = [exec.command, ...(exec.args ?? [])].join(" ");
    return `${what}: the kubeconfig's credential command for ${at} failed (${cmd}): ${text.trim().split("\n")[0]}. Fix: run it by hand and fix what it says (an expired SSO session: aws sso login; the aws CLI missing from PATH)`;
  }
  return `${what}: the API server at ${at} answered ${f.code ?? "with an error"}: ${bodyMessage(f.body) ?? text.trim().split("\n")[0]}`;
}

/** Runs `fn` against the cluster; an API failure becomes a KubeAccessError naming context, server and fix. */
export async function withCluster<T>(kc: k8s.KubeConfig, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new KubeAccessError(explainKubeFailure(kc, e, what));
  }
}
