#!/usr/bin/env bash
# Runs Myelin's test suite: go vet, staticcheck, gofmt, go test on SQLite and
# PostgreSQL, then the extra suites in scripts/test.d/
#
#   ./scripts/test.sh                         everything
#   ./scripts/test.sh -run Foo ./internal/... go vet + go test with these args
#                                             (extra suites are skipped)
#
# PostgreSQL: unless MYELIN_TEST_POSTGRES already names a server, a throwaway
# cluster is started in a temp directory (fsync off, random port on
# 127.0.0.1) and removed on exit, and MYELIN_REQUIRE_POSTGRES=1 makes every
# storage test run on it. Without PostgreSQL binaries the tests run on SQLite
# only, with a warning, except under CI=true, where that is an error.
# MYELIN_PG_BINDIR overrides where the binaries are looked for, and
# MYELIN_PG_TMPDIR where the cluster lives (default: /dev/shm if it has
# 1 GB free, else $TMPDIR or /tmp).
#
# Extra suites: every executable scripts/test.d/*.sh, in name order, run from
# the repository root with the same environment. They run only on a full run
# (no arguments); set MYELIN_SKIP_SUITES=1 to skip them.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf '==> %s\n' "$*" >&2; }
warn() { printf '\n!!! %s\n\n' "$*" >&2; }

pg_tmp=""
cleanup() {
	if [[ -n "$pg_tmp" && -d "$pg_tmp" ]]; then
		as_pg "$pg_bindir/pg_ctl" -D "$pg_tmp/data" -m immediate -w stop >/dev/null 2>&1 || true
		rm -rf "$pg_tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# as_pg runs a PostgreSQL server binary. The server refuses to run as root,
# so as root it runs as the postgres user.
as_pg() {
	if [[ $EUID -eq 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

find_pg_bindir() {
	if [[ -n "${MYELIN_PG_BINDIR:-}" ]]; then
		echo "$MYELIN_PG_BINDIR"
		return
	fi
	local d
	# PostgreSQL 15 is what CI installs; fall back to the newest other.
	for d in /usr/lib/postgresql/15/bin $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -Vr); do
		if [[ -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
			echo "$d"
			return
		fi
	done
	if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
		# Resolve symlinks: the server binary lives next to the real initdb.
		dirname "$(readlink -f "$(command -v initdb)")"
	fi
}

port_in_use() {
	# A successful connect means something listens there.
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start_postgres() {
	if [[ $EUID -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
		echo "running as root but there is no postgres user to run the server as" >&2
		return 1
	fi
	# A tmpfs makes CREATE DATABASE (one per storage test) about ten times
	# faster than a disk.
	local base="${MYELIN_PG_TMPDIR:-}"
	if [[ -z "$base" ]]; then
		base="${TMPDIR:-/tmp}"
		# Docker's default /dev/shm is 64 MB, too small for a cluster plus
		# a database per concurrently running test.
		local shm_kb
		shm_kb="$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }')"
		if [[ -w /dev/shm && "${shm_kb:-0}" -ge 1048576 ]]; then
			base=/dev/shm
		fi
	fi
	pg_tmp="$(mktemp -d "$base/myelin-pg.XXXXXX")"
	mkdir -p "$pg_tmp/sock"
	if [[ $EUID -eq 0 ]]; then
		chown -R postgres: "$pg_tmp"
	fi
	as_pg "$pg_bindir/initdb" -D "$pg_tmp/data" -U postgres --auth=trust \
		--encoding=UTF8 --locale=C >"$pg_tmp/initdb.log" 2>&1 || {
		cat "$pg_tmp/initdb.log" >&2
		return 1
	}
	local attempt port
	for attempt in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 40000))
		port_in_use "$port" && continue
		# fsync and friends off: the cluster is thrown away, and speed is
		# what matters here. Durability is SQLite's and production's concern.
		if as_pg "$pg_bindir/pg_ctl" -D "$pg_tmp/data" -l "$pg_tmp/server.log" -w -t 60 \
			-o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$pg_tmp/sock -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
			start >/dev/null; then
			export MYELIN_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
			export MYELIN_REQUIRE_POSTGRES=1
			say "PostgreSQL $("$pg_bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $pg_tmp)"
			return 0
		fi
		say "PostgreSQL did not start on port $port (attempt $attempt):"
		tail -n 5 "$pg_tmp/server.log" >&2 || true
	done
	return 1
}

if [[ -n "${MYELIN_TEST_POSTGRES:-}" ]]; then
	say "using PostgreSQL from MYELIN_TEST_POSTGRES"
else
	pg_bindir="$(find_pg_bindir)"
	if [[ -z "$pg_bindir" ]]; then
		if [[ "${CI:-}" == "true" ]]; then
			echo "error: no PostgreSQL binaries found (install postgresql-15, or set MYELIN_TEST_POSTGRES)" >&2
			exit 1
		fi
		warn "WARNING: no PostgreSQL binaries found; storage tests run on SQLite ONLY. Install postgresql-15 or set MYELIN_TEST_POSTGRES."
	elif ! start_postgres; then
		echo "error: could not start a throwaway PostgreSQL cluster with $pg_bindir" >&2
		exit 1
	fi
fi

# Split arguments: package patterns go to vet and test, flags only to test.
pkgs=()
for arg in "$@"; do
	case "$arg" in
	. | ./* | ../* | github.com/myelin-chat/myelin*) pkgs+=("$arg") ;;
	esac
done
test_args=("$@")
# go test's default of 10 minutes per package is tight for the packages
# that start thousands of rooms on both backends on a 2-core machine.
if [[ " $* " != *" -timeout"* ]]; then
	test_args=(-timeout 20m "${test_args[@]}")
fi
# Never answer from go test's result cache: the end-to-end tests build and
# run the server binary and run node and python scripts, none of which the
# cache sees, so a cached pass could hide a broken server.
if [[ " $* " != *" -count"* ]]; then
	test_args=(-count=1 "${test_args[@]}")
fi
if [[ ${#pkgs[@]} -eq 0 ]]; then
	pkgs=(./...)
	test_args+=(./...)
fi

failed=()

say "go vet ${pkgs[*]}"
go vet "${pkgs[@]}" || failed+=("go vet")

# staticcheck is pinned in go.mod's tool directive, so it needs nothing
# beyond the module cache.
say "staticcheck ${pkgs[*]}"
go tool staticcheck "${pkgs[@]}" || failed+=("staticcheck")

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*'))
if [[ -n "$unformatted" ]]; then
	say "gofmt: not formatted:"
	printf '  %s\n' $unformatted >&2
	failed+=("gofmt")
fi

say "go test ${test_args[*]}"
go test "${test_args[@]}" || failed+=("go test")

if [[ $# -gt 0 || "${MYELIN_SKIP_SUITES:-}" == "1" ]]; then
	say "skipping scripts/test.d suites (only run on a full run without arguments)"
else
	shopt -s nullglob
	for suite in scripts/test.d/*.sh; do
		if [[ ! -x "$suite" ]]; then
			say "skipping $suite (not executable)"
			continue
		fi
		say "suite $suite"
		"$suite" || failed+=("$suite")
	done
fi

if [[ ${#failed[@]} -gt 0 ]]; then
	printf '\nFAILED: %s\n' "${failed[*]}" >&2
	exit 1
fi
say "all tests passed"
