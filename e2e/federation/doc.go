// Package fede2e tests federation between real myelin processes
// (docs/testing.md, layer 4): it builds cmd/myelin once, then starts several
// homeservers, each on its own loopback address (127.0.0.2, 127.0.0.3, …;
// all of 127.0.0.0/8 is loopback on Linux) with its own data directory,
// SQLite database, signing key and a TLS certificate from a CA made for the
// test run. Each server's name is its address with its port
// ("127.0.0.2:40123"), an IP literal with an explicit port, so server
// discovery needs no DNS and connects straight to it (server-server-api
// "Resolving server names", step 1). The servers trust the test CA through
// federation_custom_ca_list and may reach each other because
// ip_range_whitelist lists 127.0.0.0/8; trusted_key_servers is empty, so
// they fetch each other's keys directly.
//
// Test clients talk HTTPS to each server, trusting the same CA, and check
// outcomes by polling /sync, /messages and /state within bounds that only
// stop a broken run from hanging.
//
// Servers use SQLite; MYELIN_FEDE2E_BACKEND=postgres gives each a fresh
// database on the PostgreSQL server MYELIN_TEST_POSTGRES names instead.
//
// A failing test prints the tail of every server's log. MYELIN_TEST_LOG=1
// prints whole logs and raises the servers' log level to debug. "go test
// -short" skips the package's tests, since they build and run the server.
//
// Everything is in _test.go files: nothing here is part of the binary.
package fede2e
