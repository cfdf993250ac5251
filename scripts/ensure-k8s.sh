#!/usr/bin/env bash
# Prints a folder holding `kube-apiserver` and `etcd` for the health-gate tests, the way envtest
# finds them:
#
#   1. KUBEBUILDER_ASSETS, if set (a user with setup-envtest has it).
#   2. Otherwise they are built once from the Go module proxy into a cache outside the repo, keyed by
#      version: ${UNCHAIN_CACHE:-~/.cache/unchain}/k8s/<kubernetes>-etcd<etcd>/.
#      k8s.io/kubernetes points its staging modules (k8s.io/api, …) at ./staging with replace
#      directives, which a dependent module cannot use; the wrapper module replaces each with the
#      published v0.x of the same release instead.
# Progress goes to stderr; stdout is only the folder.
set -euo pipefail
k8s="${UNCHAIN_KUBERNETES_VERSION:-v1.37.2}"
etcd="${UNCHAIN_ETCD_VERSION:-v3.6.16}"
cache="${UNCHAIN_CACHE:-$HOME/.cache/unchain}/k8s/$k8s-etcd$etcd"

if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
  for b in kube-apiserver etcd; do
    [ -x "$KUBEBUILDER_ASSETS/$b" ] || { echo "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS has no executable $b" >&2; exit 1; }
  done
  echo "$KUBEBUILDER_ASSETS"; exit 0
fi
if [ -x "$cache/bin/kube-apiserver" ] && [ -x "$cache/bin/etcd" ]; then echo "$cache/bin"; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  cat >&2 <<MSG
unchain: no kube-apiserver and etcd for the tests.
  Set KUBEBUILDER_ASSETS to a folder holding both (setup-envtest use -p path),
  or install Go >= 1.26 so that scripts/ensure-k8s.sh can build kubernetes $k8s and etcd $etcd.
MSG
  exit 1
fi

echo "unchain: building kube-apiserver $k8s and etcd $etcd from the Go module proxy into $cache (once; several minutes)" >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
staging="v0.${k8s#v1.}"
mkdir -p "$cache/bin.tmp"
(
  cd "$work"
  mkdir apiserver etcd
  cd apiserver
  go mod init unchain-kube-apiserver-build >/dev/null 2>&1
  gomod=$(go mod download -json "k8s.io/kubernetes@$k8s" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  # Every staging module k8s.io/kubernetes replaces with ./staging/src/… → its published version.
  for m in $(sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod"); do
    go mod edit -replace "$m=$m@$staging"
  done
  go get "k8s.io/kubernetes/cmd/kube-apiserver@$k8s" >&2
  go build -trimpath -ldflags "-s -w" -o "$cache/bin.tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2
  cd ../etcd
  go mod init unchain-etcd-build >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@$etcd" >&2
  go build -trimpath -ldflags "-s -w" -o "$cache/bin.tmp/etcd" go.etcd.io/etcd/server/v3 >&2
)
# Rename into place only when both builds are whole.
rm -rf "$cache/bin" && mv "$cache/bin.tmp" "$cache/bin"
"$cache/bin/kube-apiserver" --version >&2
"$cache/bin/etcd" --version >&2 | head -1
echo "$cache/bin"
