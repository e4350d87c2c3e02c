#!/usr/bin/env bash
# The appservice library test (e2e/appservice_bridge_test.go, driving
# e2e/appservice-js/bridge.mjs) runs inside "go test ./...", which hides a
# passing package's output, so a machine without node or the libraries
# would skip it silently. This repeats the check where it is seen: a loud
# warning on a developer machine, a failure under CI=true (where .ci/run
# installs both).
set -euo pipefail

if command -v node >/dev/null && [[ -f e2e/appservice-js/node_modules/matrix-appservice/package.json ]]; then
	printf '==> matrix-appservice found (node %s); e2e/appservice_bridge_test.go ran it\n' "$(node --version)" >&2
	exit 0
fi

msg="node or e2e/appservice-js/node_modules is missing: the appservice library test e2e/TestAppserviceJS_* DID NOT RUN. Install with: npm ci --prefix e2e/appservice-js"
if [[ "${CI:-}" == "true" ]]; then
	echo "error: $msg" >&2
	exit 1
fi
printf '\n!!! WARNING: %s\n\n' "$msg" >&2
