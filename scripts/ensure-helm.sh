#!/usr/bin/env bash
# Prints the path of a `helm` CLI for the tests (a team installs its chained release with it):
#
#   1. UNCHAIN_HELM, if set, names the binary to use.
#   2. A `helm` on PATH.
#   3. Otherwise helm is built once from the Go module proxy (helm.sh/helm/v3, no replace
#      directives: go install works) into ${UNCHAIN_CACHE:-~/.cache/unchain}/helm/<version>/bin/helm.
# Progress goes to stderr; stdout is only the path.
set -euo pipefail
version="${UNCHAIN_HELM_VERSION:-v3.22.0}"
cache="${UNCHAIN_CACHE:-$HOME/.cache/unchain}/helm/$version"
bin="$cache/bin/helm"

if [ -n "${UNCHAIN_HELM:-}" ]; then
  [ -x "$UNCHAIN_HELM" ] || { echo "UNCHAIN_HELM=$UNCHAIN_HELM is not an executable file" >&2; exit 1; }
  echo "$UNCHAIN_HELM"; exit 0
fi
if [ "${UNCHAIN_BUILD_HELM:-}" != "1" ] && command -v helm >/dev/null 2>&1; then
  command -v helm; exit 0
fi
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  echo "unchain: no helm CLI for the tests. Install helm so that it is on PATH, set UNCHAIN_HELM, or install Go >= 1.26 so that scripts/ensure-helm.sh can build $version." >&2
  exit 1
fi
echo "unchain: building helm $version from the Go module proxy into $cache (once; a few minutes)" >&2
mkdir -p "$cache/bin.tmp"
GOBIN="$cache/bin.tmp" go install -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$version" "helm.sh/helm/v3/cmd/helm@$version" >&2
rm -rf "$cache/bin" && mv "$cache/bin.tmp" "$cache/bin"
"$bin" version --short >&2
echo "$bin"
