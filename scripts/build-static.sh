#!/usr/bin/env bash
# Builds the release binary: static (no cgo, so no libc; the SQLite driver
# is pure Go), reproducible paths, symbols stripped, version stamped.
# The Dockerfile and e2e/packaging_test.go both build through this script,
# so the test checks the binary the image ships.
#
#   scripts/build-static.sh OUT [VERSION]
set -euo pipefail
out="${1:?usage: scripts/build-static.sh OUT [VERSION]}"
version="${2:-${MYELIN_VERSION:-$(git -C "$(dirname "$0")/.." describe --tags --always --dirty 2>/dev/null || echo dev)}}"
cd "$(dirname "$0")/.."
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${version}" -o "$out" ./cmd/myelin
