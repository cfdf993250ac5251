#!/usr/bin/env bash
# Prints a folder holding `pulumi-resource-kubernetes`, the Kubernetes provider the tests run for
# real (the Pulumi engine uses a provider it finds on PATH):
#
#   1. UNCHAIN_K8S_PROVIDER, if set, names the binary to use.
#   2. A `pulumi-resource-kubernetes` on PATH, or the plugin of that version installed by
#      `pulumi plugin install` (~/.pulumi/plugins/resource-kubernetes-v<version>).
#   3. Otherwise the provider is built once from the Go module proxy into a cache outside the repo,
#      keyed by version: ${UNCHAIN_CACHE:-~/.cache/unchain}/pulumi-kubernetes/<version>-<module>/bin.
#      The module cannot be built with `go install`: main.go embeds schema-embed.json and
#      terraform-mapping-embed.json, which the project's `go generate` derives from schema.json and
#      terraform-mapping.json, and go.mod replaces sdk/v4 with ../sdk. So: a writable copy of the
#      module, its own generate step, the replace pointed at the published sdk/v4, then go build.
# Progress goes to stderr; stdout is only the folder.
set -euo pipefail
module="${UNCHAIN_K8S_PROVIDER_MODULE:-v4.0.0-20260115033456-f47bc2d6f199}"
# The plugin version @pulumi/kubernetes asks the engine for (package.json "pulumi.version").
version="${UNCHAIN_K8S_PROVIDER_VERSION:-4.34.2}"
sdk="${UNCHAIN_K8S_SDK_VERSION:-v4.24.0}"
cache="${UNCHAIN_CACHE:-$HOME/.cache/unchain}/pulumi-kubernetes/v$version-${module##*-}"
bin="$cache/bin/pulumi-resource-kubernetes"

if [ -n "${UNCHAIN_K8S_PROVIDER:-}" ]; then
  [ -x "$UNCHAIN_K8S_PROVIDER" ] || { echo "UNCHAIN_K8S_PROVIDER=$UNCHAIN_K8S_PROVIDER is not an executable file" >&2; exit 1; }
  dirname "$UNCHAIN_K8S_PROVIDER"; exit 0
fi
if [ "${UNCHAIN_BUILD_K8S_PROVIDER:-}" != "1" ] && command -v pulumi-resource-kubernetes >/dev/null 2>&1; then
  dirname "$(command -v pulumi-resource-kubernetes)"; exit 0
fi
# The plugin as `pulumi plugin install resource kubernetes v<version>` leaves it.
installed="${PULUMI_HOME:-$HOME/.pulumi}/plugins/resource-kubernetes-v$version"
if [ "${UNCHAIN_BUILD_K8S_PROVIDER:-}" != "1" ] && [ -x "$installed/pulumi-resource-kubernetes" ]; then echo "$installed"; exit 0; fi
if [ -x "$bin" ]; then echo "$cache/bin"; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  cat >&2 <<MSG
unchain: no pulumi-resource-kubernetes for the tests.
  Install the provider plugin so that pulumi-resource-kubernetes is on PATH,
  or set UNCHAIN_K8S_PROVIDER=/path/to/pulumi-resource-kubernetes,
  or install Go >= 1.26 so that scripts/ensure-k8s-provider.sh can build it from the Go module proxy.
MSG
  exit 1
fi

echo "unchain: building pulumi-resource-kubernetes v$version (module $module) from the Go module proxy into $cache (once; several minutes)" >&2
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
src=$(cd "$work" && go mod download -json "github.com/pulumi/pulumi-kubernetes/provider/v4@$module" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
cp -r "$src" "$work/provider"
chmod -R u+w "$work/provider"
mkdir -p "$cache/bin.tmp"
(
  cd "$work/provider"
  go mod edit -replace "github.com/pulumi/pulumi-kubernetes/sdk/v4=github.com/pulumi/pulumi-kubernetes/sdk/v4@$sdk"
  (cd cmd/pulumi-resource-kubernetes && VERSION="v$version" go run ./generate.go)
  go mod tidy >&2
  go build -trimpath -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=v$version" \
    -o "$cache/bin.tmp/pulumi-resource-kubernetes" ./cmd/pulumi-resource-kubernetes >&2
)
# Rename into place only when the build is whole, so an interrupted build is never mistaken for a cached one.
rm -rf "$cache/bin" && mv "$cache/bin.tmp" "$cache/bin"
echo "$cache/bin"
