#!/usr/bin/env bash
# Prints the path of an S3-compatible server for the shared-backend tests (test/s3Harness.ts): the
# Versity S3 Gateway, `versitygw`, serving a folder through its posix backend.
#
#   1. UNCHAIN_S3_SERVER, if set, names the binary to use (a versitygw new enough for conditional writes).
#   2. Otherwise versitygw is built once from the Go module proxy (github.com/versity/versitygw, no replace
#      directives: go install works) into ${UNCHAIN_CACHE:-~/.cache/unchain}/versitygw/<version>/bin/versitygw.
#
# Why versitygw: driver locks rely on S3 conditional writes (PutObject with If-None-Match: * or If-Match:
# <etag> answers 412 PreconditionFailed when the condition fails), and versitygw's posix backend implements
# them atomically, under a per-object publish lock. A versitygw on PATH is not used: older releases accept
# the headers and ignore them, which would make lock tests pass for the wrong reason.
# The build is kept light (one package at a time, niced): tests may be running beside it on 2 cores.
# Progress goes to stderr; stdout is only the path.
set -euo pipefail
version="${UNCHAIN_S3_SERVER_VERSION:-v1.8.0}"
cache="${UNCHAIN_CACHE:-$HOME/.cache/unchain}/versitygw/$version"
bin="$cache/bin/versitygw"

if [ -n "${UNCHAIN_S3_SERVER:-}" ]; then
  [ -x "$UNCHAIN_S3_SERVER" ] || { echo "UNCHAIN_S3_SERVER=$UNCHAIN_S3_SERVER is not an executable file" >&2; exit 1; }
  echo "$UNCHAIN_S3_SERVER"; exit 0
fi
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  echo "unchain: no S3 server for the tests. Set UNCHAIN_S3_SERVER to a versitygw binary, or install Go >= 1.25 so that scripts/ensure-s3.sh can build versitygw $version." >&2
  exit 1
fi
echo "unchain: building versitygw $version from the Go module proxy into $cache (once; about 2 minutes)" >&2
rm -rf "$cache/bin.tmp"
mkdir -p "$cache/bin.tmp"
GOFLAGS="${GOFLAGS:+$GOFLAGS }-p=1" GOBIN="$cache/bin.tmp" nice -n 10 go install -trimpath \
  -ldflags "-s -w -X main.Version=$version -X main.Build=module-proxy" \
  "github.com/versity/versitygw/cmd/versitygw@$version" >&2
# Rename into place only when the build is whole.
rm -rf "$cache/bin" && mv "$cache/bin.tmp" "$cache/bin"
"$bin" --version >&2
echo "$bin"
