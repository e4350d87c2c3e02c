#!/usr/bin/env bash
# Measures a throwaway Myelin server with myelin-bench.
#
#   scripts/bench.sh [--postgres DSN] [--out DIR] [--label NAME] [--keep]
#                    [--myelin BINARY] [--bcrypt-rounds N] [--server-log-level LEVEL]
#                    [--pprof-port N] [myelin-bench flags...]
#
# Builds bin/myelin and bin/myelin-bench, generates a configuration for
# server "localhost" on a free loopback port (SQLite in a temp directory by
# default; --postgres DSN uses that database instead, which should be empty
# or used only for benchmarks), with open registration, every rc_* rate
# limit raised out of the way and
# bcrypt_rounds 4, starts the server, runs myelin-bench against it with
# --pid (memory sampling) and --config (secret, bcrypt cost), writes
# results.json, results.txt, the server's log and configuration into DIR
# (default bin/bench-results/<UTC time>-<label>), and stops the server.
# --myelin runs that server binary instead of building bin/myelin (to
# compare builds); --bcrypt-rounds sets another cost (12 is the default of
# Synapse and Myelin); --keep keeps the server's data directory;
# --pprof-port N adds a metrics listener on 127.0.0.1:N with Go's profiles
# under /debug/pprof/ (MYELIN_PPROF=1), e.g. for a heap profile during a run:
#   go tool pprof -sample_index=inuse_space http://127.0.0.1:N/debug/pprof/heap
#
# Everything else is passed to myelin-bench, e.g.:
#   scripts/bench.sh --scenario send,fanout --fanout-users 10,100,1000
#   scripts/bench.sh --preset small
#   scripts/bench.sh --postgres 'postgres://bench@127.0.0.1/bench?sslmode=disable' --label postgres
#
# Charts from the results (docs/performance.md has the full set of runs):
#   bin/myelin-bench plot --in 'bin/bench-results/*/results.json' --out DIR
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit "${1:-0}"; }

postgres="" out="" label="" keep=0 log_level=info myelin="" bcrypt=4 pprof_port=""
bench_args=()
while [[ $# -gt 0 ]]; do
	case "$1" in
	--postgres) postgres=${2:?--postgres needs a DSN}; shift 2 ;;
	--postgres=*) postgres=${1#*=}; shift ;;
	--out) out=${2:?--out needs a directory}; shift 2 ;;
	--out=*) out=${1#*=}; shift ;;
	--label) label=${2:?--label needs a name}; shift 2 ;;
	--label=*) label=${1#*=}; shift ;;
	--server-log-level) log_level=${2:?}; shift 2 ;;
	--bcrypt-rounds) bcrypt=${2:?--bcrypt-rounds needs a number}; shift 2 ;;
	--myelin) myelin=${2:?--myelin needs a binary}; shift 2 ;;
	--myelin=*) myelin=${1#*=}; shift ;;
	--keep) keep=1; shift ;;
	--pprof-port) pprof_port=${2:?--pprof-port needs a port}; shift 2 ;;
	-h | --help) usage ;;
	*) bench_args+=("$1"); shift ;;
	esac
done
if [[ -z "$label" ]]; then
	label=sqlite
	[[ -n "$postgres" ]] && label=postgres
fi
out=${out:-bin/bench-results/$(date -u +%Y%m%dT%H%M%SZ)-$label}
mkdir -p bin "$out"

say() { printf '==> %s\n' "$*" >&2; }

if [[ -z "$myelin" ]]; then
	say "building bin/myelin and bin/myelin-bench"
	go build -o bin/myelin ./cmd/myelin
	myelin=./bin/myelin
else
	say "building bin/myelin-bench; the server is $myelin"
	[[ -x "$myelin" ]] || { echo "$myelin is not an executable" >&2; exit 1; }
fi
go build -o bin/myelin-bench ./cmd/myelin-bench

work=$(mktemp -d "${TMPDIR:-/tmp}/myelin-bench.XXXXXX")
pid=""
cleanup() {
	if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
		say "stopping the server (pid $pid)"
		kill -TERM "$pid" 2>/dev/null || true
		# The server drains in-flight requests for up to 30 s.
		for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	if [[ $keep -eq 0 ]]; then rm -rf "$work"; else say "kept the server's directory $work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A free loopback port: nothing answers a connection to it. It is taken
# below the kernel's range for outgoing connections' local ports, which
# answer nothing either but cannot be bound: the tool's own connections
# took one there once. (Another process could take the port before the
# server does; the server then fails to start and the run stops with its
# log.)
ephemeral_low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
span=$((ephemeral_low > 21024 ? ephemeral_low - 20000 : 1024))
port=""
for _ in $(seq 1 50); do
	p=$((20000 + RANDOM % span))
	if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[[ -n "$port" ]] || { echo "no free port found" >&2; exit 1; }

cfg="$work/homeserver.yaml"
"$myelin" generate-config --server-name localhost --config-path "$cfg" --data-dir "$work/data" \
	--report-stats no --open-registration --listen-port "$port" --bind-address 127.0.0.1 \
	--public-baseurl "http://127.0.0.1:$port/" >/dev/null
# The generated file has "log_level: info" in its myelin: block.
sed -i -e "s/^  log_level: .*/  log_level: $log_level/" "$cfg"
# Later top-level keys replace earlier ones, so these override the
# generated values.
{
	echo
	echo "# ---- appended by scripts/bench.sh ----"
	echo "bcrypt_rounds: $bcrypt"
	echo "rc_message: {per_second: 1000000, burst_count: 1000000}"
	echo "rc_registration: {per_second: 1000000, burst_count: 1000000}"
	echo "rc_login:"
	echo "  address: {per_second: 1000000, burst_count: 1000000}"
	echo "  account: {per_second: 1000000, burst_count: 1000000}"
	echo "  failed_attempts: {per_second: 1000000, burst_count: 1000000}"
	echo "rc_room_creation: {per_second: 1000000, burst_count: 1000000}"
	echo "rc_joins:"
	echo "  local: {per_second: 1000000, burst_count: 1000000}"
	echo "  remote: {per_second: 1000000, burst_count: 1000000}"
	echo "rc_joins_per_room: {per_second: 1000000, burst_count: 1000000}"
	echo "rc_invites:"
	echo "  per_room: {per_second: 1000000, burst_count: 1000000}"
	echo "  per_user: {per_second: 1000000, burst_count: 1000000}"
	echo "  per_issuer: {per_second: 1000000, burst_count: 1000000}"
	echo "rc_federation: {window_size: 1000, sleep_limit: 1000000, sleep_delay: 0, reject_limit: 1000000, concurrent: 100000}"
	if [[ -n "$pprof_port" ]]; then
		echo "enable_metrics: true"
		echo "listeners:"
		echo "  - {port: $port, type: http, bind_addresses: ['127.0.0.1'], resources: [{names: [client, federation]}]}"
		echo "  - {port: $pprof_port, type: metrics, bind_addresses: ['127.0.0.1']}"
	fi
	if [[ -n "$postgres" ]]; then
		dsn=${postgres//\\/\\\\}
		dsn=${dsn//\"/\\\"}
		echo "database: {name: psycopg2, args: {dsn: \"$dsn\"}}"
	fi
} >>"$cfg"
grep -v -e '_secret' -e 'secret_key' -e 'dsn:' "$cfg" >"$out/homeserver.yaml" # for the record, without secrets

db=SQLite
[[ -n "$postgres" ]] && db=PostgreSQL
say "starting Myelin on http://127.0.0.1:$port ($db, bcrypt_rounds $bcrypt, rate limits off); log in $out/server.log"
MYELIN_PPROF=$([[ -n "$pprof_port" ]] && echo 1 || echo 0) "$myelin" serve -c "$cfg" >"$out/server.log" 2>&1 &
pid=$!

# The machine may be shared (other builds and tests): the load average
# before and after goes into results.txt, to judge how noisy a run was.
load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown; }
load_start=$(load)
say "running myelin-bench; results in $out"
status=0
./bin/myelin-bench --url "http://127.0.0.1:$port" --config "$cfg" --register-via dummy \
	--pid "$pid" --wait 60s --label "$label" --json "$out/results.json" "${bench_args[@]}" |
	tee "$out/results.txt" || status=$?
if ! kill -0 "$pid" 2>/dev/null; then
	echo "the server exited during the run; the end of its log:" >&2
	tail -n 40 "$out/server.log" >&2
	status=1
fi
echo "bcrypt_rounds $bcrypt (set by scripts/bench.sh); database $db; results in $out" | tee -a "$out/results.txt"
echo "load average (1/5/15 min) at start: $load_start; at end: $(load); $(nproc 2>/dev/null || echo '?') CPUs" | tee -a "$out/results.txt"
exit "$status"
