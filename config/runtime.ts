/**
 * Reading a stack's `unchain:*` config inside the Pulumi program (the CLI has already merged the
 * project defaults of Pulumi.yaml into it).
 */
import * as pulumi from "@pulumi/pulumi";
import { parseConfigValue } from "./load";
import { AwsKeys, NAMESPACE } from "./validate";

export function runtimeConfig(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(pulumi.runtime.allConfig())) {
    if (!k.startsWith(`${NAMESPACE}:`)) continue;
    const key = k.slice(NAMESPACE.length + 1);
    out[key] = parseConfigValue(key, v);
  }
  return out;
}

/** The AWS provider's keys of the stack, as the program receives them. */
export function runtimeAwsKeys(): AwsKeys {
  const all = pulumi.runtime.allConfig();
  const out: AwsKeys = {};
  if (all["aws:region"] !== undefined) out.region = all["aws:region"];
  if (all["aws:profile"] !== undefined) out.profile = all["aws:profile"];
  if (all["aws:assumeRoles"] !== undefined) out.assumeRoles = parseConfigValue("aws:assumeRoles", all["aws:assumeRoles"]);
  return out;
}
