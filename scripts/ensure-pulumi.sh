#!/usr/bin/env bash
# Prints the path of a `pulumi` CLI the tests and the driver can use.
#
#   1. UNCHAIN_PULUMI, if set, names the binary to use.
#   2. A `pulumi` on PATH (a user's machine with the CLI installed).
#   3. Otherwise the CLI is built once from the Go module proxy into a cache outside the
#      repo, keyed by version: ${UNCHAIN_CACHE:-~/.cache/unchain}/pulumi/<version>/bin/pulumi.
#      pkg/go.mod carries replace directives, so `go install pkg@v` is refused; a wrapper
#      module is built instead. The version ldflag is required: the Automation API parses
#      `pulumi version`.
# Progress goes to stderr; stdout is only the path.
set -euo pipefail
version="${UNCHAIN_PULUMI_VERSION:-v3.274.1}"
cache="${UNCHAIN_CACHE:-$HOME/.cache/unchain}/pulumi/$version"
bin="$cache/bin/pulumi"

if [ -n "${UNCHAIN_PULUMI:-}" ]; then
  [ -x "$UNCHAIN_PULUMI" ] || { echo "UNCHAIN_PULUMI=$UNCHAIN_PULUMI is not an executable file" >&2; exit 1; }
  echo "$UNCHAIN_PULUMI"; exit 0
fi
if [ "${UNCHAIN_BUILD_PULUMI:-}" != "1" ] && command -v pulumi >/dev/null 2>&1; then
  command -v pulumi; exit 0
fi
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  cat >&2 <<MSG
unchain: no pulumi CLI found.
  Install it (https://www.pulumi.com/docs/install/) so that \`pulumi\` is on PATH,
  or set UNCHAIN_PULUMI=/path/to/pulumi,
  or install Go >= 1.25 so that scripts/ensure-pulumi.sh can build $version from the Go module proxy.
MSG
  exit 1
fi

echo "unchain: building pulumi $version from the Go module proxy into $cache (once; several minutes)" >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(
  cd "$work"
  go mod init unchain-pulumi-build >/dev/null 2>&1
  go get "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@$version" >&2
  mkdir -p "$cache/bin.tmp"
  go build -trimpath \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version" \
    -o "$cache/bin.tmp/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi >&2
)
# Rename into place only when the build is whole, so an interrupted build is never mistaken for a cached one.
rm -rf "$cache/bin" && mv "$cache/bin.tmp" "$cache/bin"
"$bin" version >&2
echo "$bin"
