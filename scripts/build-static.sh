#!/usr/bin/env sh
# Builds the static sidecar binary. The Dockerfile and CI both run this script, so their flags
# cannot drift apart. Usage: scripts/build-static.sh OUTPUT [VERSION] [COMMIT]
set -eu
out=${1:?usage: build-static.sh OUTPUT [VERSION] [COMMIT]}
version=${2:-dev}
commit=${3:-unknown}
# cgo (mattn/go-sqlite3), linked statically: pure-Go DNS and user lookups (netgo, osusergo), no
# SQLite extension loading (it needs dlopen).
CGO_ENABLED=1 go build -trimpath \
  -tags 'osusergo,netgo,sqlite_omit_load_extension' \
  -ldflags "-s -w -extldflags '-static' -X main.version=${version} -X main.commit=${commit}" \
  -o "$out" ./cmd/sidecar
