/** How unchain writes YAML for people to review: the shape of a hand-written stack file. */
import { isMap, isScalar, isSeq, Node, Scalar, YAMLMap, YAMLSeq } from "yaml";

/** Small collections on one line (`{ min: 1, desired: 2, max: 3 }`), the rest as blocks: how people write stack files. */
export function styleNode(node: unknown, depth = 0): void {
  if (isMap(node) || isSeq(node)) {
    const items = (node as YAMLMap | YAMLSeq).items as Array<unknown>;
    for (const it of items) styleNode(isMap(node) ? (it as { value: unknown }).value : it, depth + 1);
    const json = JSON.stringify((node as Node).toJSON());
    const flat = items.every((it) => {
      const v = isMap(node) ? (it as { value: unknown }).value : it;
      return isScalar(v) || ((isMap(v) || isSeq(v)) && (v as YAMLMap).flow);
    });
    if (depth > 1 && flat && json.length <= 90) (node as YAMLMap).flow = true;
  }
  if (isScalar(node) && typeof (node as Scalar).value === "string" && /^\d+(\.\d+)?$/.test((node as Scalar).value as string)) (node as Scalar).type = "QUOTE_DOUBLE";
}

