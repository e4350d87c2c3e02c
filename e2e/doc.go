// Package e2e tests the real myelin binary from the outside, as an operator
// and a client would: it builds cmd/myelin once, writes a configuration
// with "myelin generate-config", runs "myelin serve" as a subprocess on a
// free loopback port and talks to it over HTTP (docs/testing.md, layers 3,
// 5 and 6).
//
// Every scenario runs on SQLite and, when MYELIN_TEST_POSTGRES names a
// PostgreSQL server (./scripts/test.sh starts one), again on a fresh
// database created there and dropped afterwards. MYELIN_REQUIRE_POSTGRES=1
// turns a missing PostgreSQL into a failure.
//
// The server's stdout and stderr go to a file in the test's temporary
// directory; a failing test prints its tail. MYELIN_TEST_LOG=1 prints the
// whole log of every run and raises the server's log level to debug.
//
// The tests are all in _test.go files: this package holds nothing that the
// binary uses. "go test -short" skips them.
package e2e
