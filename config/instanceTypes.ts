/**
 * vCPUs and memory of EC2 instance types, for invariant 4's offline measure in CPU and memory
 * (steps/invariants.ts): the families the example fleet's stack files use (m6i, r6i, c6i, t3, m7g,
 * c7g) and the common current ones beside them. A type not listed here is not guessed: the measure
 * says it was not computed for its pool.
 *
 * Source: the Amazon EC2 Instance Types Guide, "Specifications" of the general purpose, compute
 * optimized and memory optimized families (https://docs.aws.amazon.com/ec2/latest/instancetypes/gp.html,
 * co.html, mo.html; columns "Default vCPUs" and "Memory (GiB)"), which are the figures
 * DescribeInstanceTypes returns (VCpuInfo.DefaultVCpus, MemoryInfo.SizeInMiB / 1024). Each entry was
 * checked against the guide's tables and against a table generated from DescribeInstanceTypes.
 *
 * Within each family below, memory is the same number of GiB per vCPU at every size (m: 4, c: 2,
 * r: 8), and the size gives the vCPUs: medium 1, large 2, xlarge 4, Nxlarge 4N (c5.9xlarge: 36
 * vCPU, 72 GiB). Each family lists only the sizes EC2 offers (no m6i.medium, no m7i.32xlarge). The
 * burstable families (t3, t3a, t4g) do not follow the rule (t3.micro has 2 vCPUs and 1 GiB): their
 * sizes are listed one by one. Bare-metal sizes are left out.
 */

export interface InstanceCapacity {
  vcpu: number;
  memoryGiB: number;
}

type Size = "medium" | "large" | "xlarge" | "2xlarge" | "4xlarge" | "8xlarge" | "9xlarge" | "12xlarge" | "16xlarge" | "18xlarge" | "24xlarge" | "32xlarge" | "48xlarge";

const TO_16: Size[] = ["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"];
/** Intel 5th generation: up to 24xlarge. */
const GEN5: Size[] = [...TO_16, "24xlarge"];
/** Intel 6th generation: up to 32xlarge. */
const GEN6I: Size[] = [...GEN5, "32xlarge"];
/** AMD 6th generation and 7th (m7a, c7a, r7a add medium): up to 48xlarge. */
const GEN6A: Size[] = [...GEN6I, "48xlarge"];
/** Intel 7th generation: up to 48xlarge, no 32xlarge. */
const GEN7I: Size[] = [...GEN5, "48xlarge"];
/** Graviton 2 and 3: medium to 16xlarge. */
const GRAVITON: Size[] = ["medium", ...TO_16];

/** Families whose memory is a fixed number of GiB per vCPU, with the sizes each offers. */
const FAMILIES: Array<{ family: string; gibPerVcpu: number; sizes: Size[] }> = [
  // General purpose: 4 GiB per vCPU.
  { family: "m5", gibPerVcpu: 4, sizes: GEN5 },
  { family: "m5a", gibPerVcpu: 4, sizes: GEN5 },
  { family: "m6i", gibPerVcpu: 4, sizes: GEN6I },
  { family: "m6a", gibPerVcpu: 4, sizes: GEN6A },
  { family: "m6g", gibPerVcpu: 4, sizes: GRAVITON },
  { family: "m7i", gibPerVcpu: 4, sizes: GEN7I },
  { family: "m7a", gibPerVcpu: 4, sizes: ["medium", ...GEN6A] },
  { family: "m7g", gibPerVcpu: 4, sizes: GRAVITON },
  // Compute optimized: 2 GiB per vCPU.
  { family: "c5", gibPerVcpu: 2, sizes: ["large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "12xlarge", "18xlarge", "24xlarge"] },
  { family: "c6i", gibPerVcpu: 2, sizes: GEN6I },
  { family: "c6a", gibPerVcpu: 2, sizes: GEN6A },
  { family: "c6g", gibPerVcpu: 2, sizes: GRAVITON },
  { family: "c7i", gibPerVcpu: 2, sizes: GEN7I },
  { family: "c7a", gibPerVcpu: 2, sizes: ["medium", ...GEN6A] },
  { family: "c7g", gibPerVcpu: 2, sizes: GRAVITON },
  // Memory optimized: 8 GiB per vCPU.
  { family: "r5", gibPerVcpu: 8, sizes: GEN5 },
  { family: "r5a", gibPerVcpu: 8, sizes: GEN5 },
  { family: "r6i", gibPerVcpu: 8, sizes: GEN6I },
  { family: "r6a", gibPerVcpu: 8, sizes: GEN6A },
  { family: "r6g", gibPerVcpu: 8, sizes: GRAVITON },
  { family: "r7i", gibPerVcpu: 8, sizes: GEN7I },
  { family: "r7a", gibPerVcpu: 8, sizes: ["medium", ...GEN6A] },
  { family: "r7g", gibPerVcpu: 8, sizes: GRAVITON },
];

/** Burstable sizes, the same in t3, t3a and t4g: [vCPUs, GiB]. */
const BURSTABLE: Record<string, [number, number]> = {
  nano: [2, 0.5],
  micro: [2, 1],
  small: [2, 2],
  medium: [2, 4],
  large: [2, 8],
  xlarge: [4, 16],
  "2xlarge": [8, 32],
};

const vcpusOf = (size: Size): number => (size === "medium" ? 1 : size === "large" ? 2 : 4 * Number(size.replace("xlarge", "") || "1"));

/** Every instance type of the table, by name. */
export const INSTANCE_TYPES: ReadonlyMap<string, InstanceCapacity> = new Map<string, InstanceCapacity>([
  ...FAMILIES.flatMap(({ family, gibPerVcpu, sizes }) => sizes.map((s): [string, InstanceCapacity] => [`${family}.${s}`, { vcpu: vcpusOf(s), memoryGiB: vcpusOf(s) * gibPerVcpu }])),
  ...["t3", "t3a", "t4g"].flatMap((family) => Object.entries(BURSTABLE).map(([s, [vcpu, memoryGiB]]): [string, InstanceCapacity] => [`${family}.${s}`, { vcpu, memoryGiB }])),
]);

/** The vCPUs and memory of an instance type, or undefined where the table does not hold it. */
export function instanceCapacity(instanceType: string): InstanceCapacity | undefined {
  return INSTANCE_TYPES.get(instanceType);
}
