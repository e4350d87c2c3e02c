#!/usr/bin/env bash
# The matrix-js-sdk tests (e2e/js_test.go, e2e/js_e2ee_test.go and
# e2e/federation/js_e2ee_test.go, driving the scripts of e2e/jsclient)
# run inside "go test ./...", which hides a passing package's output, so a
# machine without node or the SDK would skip it silently. This repeats the
# check where it is seen: a loud warning on a developer machine, a failure
# under CI=true (where .ci/run installs both).
set -euo pipefail

if command -v node >/dev/null && [[ -f e2e/jsclient/node_modules/matrix-js-sdk/package.json ]]; then
	printf '==> matrix-js-sdk found (node %s); e2e/js_test.go ran it\n' "$(node --version)" >&2
	exit 0
fi

msg="node or e2e/jsclient/node_modules is missing: the real-client tests e2e/TestJSClient_* and e2e/federation/TestFederation_JSClient* DID NOT RUN. Install with: npm ci --prefix e2e/jsclient"
if [[ "${CI:-}" == "true" ]]; then
	echo "error: $msg" >&2
	exit 1
fi
printf '\n!!! WARNING: %s\n\n' "$msg" >&2
