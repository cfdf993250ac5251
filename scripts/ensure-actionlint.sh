#!/usr/bin/env bash
# Prints the path of `actionlint`, the linter the workflow test (test/workflows.test.ts) runs over
# .github/workflows/*.yml:
#
#   1. UNCHAIN_ACTIONLINT, if set, names the binary to use.
#   2. Otherwise actionlint is built once from the Go module proxy (github.com/rhysd/actionlint, no
#      replace directives: go install works) into
#      ${UNCHAIN_CACHE:-~/.cache/unchain}/actionlint/<version>/bin/actionlint.
#      An actionlint on PATH is not used: another release knows other action inputs and expression
#      rules, and the test would pass or fail for reasons of that machine.
# The build is kept light (one package at a time, niced): tests may be running beside it on 2 cores.
# Progress goes to stderr; stdout is only the path.
set -euo pipefail
version="${UNCHAIN_ACTIONLINT_VERSION:-v1.7.12}"
cache="${UNCHAIN_CACHE:-$HOME/.cache/unchain}/actionlint/$version"
bin="$cache/bin/actionlint"

if [ -n "${UNCHAIN_ACTIONLINT:-}" ]; then
  [ -x "$UNCHAIN_ACTIONLINT" ] || { echo "UNCHAIN_ACTIONLINT=$UNCHAIN_ACTIONLINT is not an executable file" >&2; exit 1; }
  echo "$UNCHAIN_ACTIONLINT"; exit 0
fi
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  echo "unchain: no actionlint for the workflow test. Set UNCHAIN_ACTIONLINT to an actionlint binary, or install Go >= 1.24 so that scripts/ensure-actionlint.sh can build actionlint $version." >&2
  exit 1
fi
echo "unchain: building actionlint $version from the Go module proxy into $cache (once; well under a minute)" >&2
rm -rf "$cache/bin.tmp"
mkdir -p "$cache/bin.tmp"
GOFLAGS="${GOFLAGS:+$GOFLAGS }-p=1" GOBIN="$cache/bin.tmp" nice -n 10 go install -trimpath \
  -ldflags "-s -w -X github.com/rhysd/actionlint.version=$version" \
  "github.com/rhysd/actionlint/cmd/actionlint@$version" >&2
# Rename into place only when the build is whole.
rm -rf "$cache/bin" && mv "$cache/bin.tmp" "$cache/bin"
"$bin" -version >&2
echo "$bin"
