/**
 * Fitting a long Markdown report into a GitHub comment (65,536 characters): the details of the
 * largest sections are folded away first, one at a time, until the text fits; every summary line
 * stays. `build` renders the report with the given sections' details left out.
 */
export const GITHUB_COMMENT_LIMIT = 65_536;

export function fitToLimit(build: (folded: ReadonlySet<string>) => string, sizes: ReadonlyArray<readonly [string, number]>, limit = GITHUB_COMMENT_LIMIT): string {
  const folded = new Set<string>();
  let text = build(folded);
  for (const [key] of [...sizes].sort((a, b) => b[1] - a[1])) {
    if (text.length <= limit) break;
    folded.add(key);
    text = build(folded);
  }
  return text;
}
