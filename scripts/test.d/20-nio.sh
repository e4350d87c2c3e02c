#!/usr/bin/env bash
# The real-client test (e2e/nio_test.go, driving e2e/nio_client.py) runs
# inside "go test ./...", which hides a passing package's output, so a
# machine without matrix-nio would skip it silently. This repeats the check
# where it is seen: a loud warning on a developer machine, a failure under
# CI=true (where .ci/run installs python3-matrix-nio). The same pythons are
# tried as in the Go test: $MYELIN_PYTHON, /usr/bin/python3, python3.
set -euo pipefail

for py in ${MYELIN_PYTHON:+"$MYELIN_PYTHON"} /usr/bin/python3 "$(command -v python3 || true)"; do
	if [[ -n "$py" && -x "$py" ]] && "$py" -c 'import nio' 2>/dev/null; then
		printf '==> matrix-nio found (%s); e2e/nio_test.go ran it\n' "$py" >&2
		exit 0
	fi
done

msg="matrix-nio is not installed: the real-client test e2e/TestNioClient_* DID NOT RUN. Install it with: apt-get install -y python3-matrix-nio"
if [[ "${CI:-}" == "true" ]]; then
	echo "error: $msg" >&2
	exit 1
fi
printf '\n!!! WARNING: %s\n\n' "$msg" >&2
