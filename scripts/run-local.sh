#!/usr/bin/env bash
# Starts a local Myelin homeserver for trying it out: server name "localhost",
# SQLite, open registration (this demo config only), listening on
# http://localhost:8008 (or $MYELIN_LOCAL_PORT). Config, keys and data live in
# ./local (or $MYELIN_LOCAL_DIR), kept between runs. Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${MYELIN_LOCAL_DIR:-local}
port=${MYELIN_LOCAL_PORT:-8008}
mkdir -p "$dir" bin
echo "==> building bin/myelin (the first build downloads modules and takes a minute)" >&2
go build -o bin/myelin ./cmd/myelin
if [ ! -f "$dir/homeserver.yaml" ]; then
  echo "==> writing a demo configuration and signing key into $dir" >&2
  ./bin/myelin generate-config --server-name localhost --config-path "$dir/homeserver.yaml" \
    --data-dir "$dir" --report-stats no --open-registration --listen-port "$port" \
    --bind-address 127.0.0.1 --public-baseurl "http://localhost:$port/"
fi
# Written on every run and loaded after homeserver.yaml (a later file's
# top-level keys win), so the port follows MYELIN_LOCAL_PORT each time and a
# developer logging in again and again is not held up by Synapse's
# production login limits.
cat >"$dir/local-run.yaml" <<YAML
# Written by scripts/run-local.sh on every run; edit homeserver.yaml instead.
public_baseurl: "http://localhost:$port/"
listeners:
  - port: $port
    bind_addresses: ["127.0.0.1"]
    type: http
    resources: [{names: [client, federation]}]
rc_login:
  address: {per_second: 10, burst_count: 100}
  account: {per_second: 10, burst_count: 100}
  failed_attempts: {per_second: 10, burst_count: 100}
YAML
cat <<MSG

Myelin is starting at http://localhost:$port/ (server name "localhost").
Register a user from another terminal with:
    ./bin/myelin register-user -c $dir/homeserver.yaml -u alice -p 'a long password' --no-admin http://localhost:$port
or let any Matrix client register on http://localhost:$port/ (registration is open in this demo config).

MSG
exec ./bin/myelin serve -c "$dir/homeserver.yaml" -c "$dir/local-run.yaml"
