#!/usr/bin/env bash
# Starts a local Myelin homeserver for trying it out: server name "localhost",
# SQLite, open registration (this demo config only), listening on
# http://localhost:8008. Config, keys and data live in ./local (kept between
# runs). Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${MYELIN_LOCAL_DIR:-local}
port=${MYELIN_LOCAL_PORT:-8008}
mkdir -p "$dir" bin
go build -o bin/myelin ./cmd/myelin
if [ ! -f "$dir/homeserver.yaml" ]; then
  ./bin/myelin generate-config --server-name localhost --config-path "$dir/homeserver.yaml" \
    --data-dir "$dir" --report-stats no --open-registration --listen-port "$port" \
    --bind-address 127.0.0.1 --public-baseurl "http://localhost:$port/"
fi
cat <<MSG

Myelin is starting at http://localhost:$port/ (server name "localhost").
Register a user from another terminal with:
    ./bin/myelin register-user -c $dir/homeserver.yaml -u alice -p 'a long password' --no-admin http://localhost:$port
or let any Matrix client register on http://localhost:$port/ (registration is open in this demo config).

MSG
exec ./bin/myelin serve -c "$dir/homeserver.yaml"
