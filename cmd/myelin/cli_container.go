package main

import (
	"fmt"
	"os"
)

// Defaults of the container image (Dockerfile): one volume, /data, holds
// the config, signing key, SQLite database and media, like Synapse's image.
const (
	containerConfigPath = "/data/homeserver.yaml"
	containerDataDir    = "/data"
)

// runContainer is the container image's entrypoint. The image holds only
// the static binary (no shell), so what Synapse's image does in its start
// script happens here, driven by the same kind of environment variables:
//
//	SERVER_NAME   the server name; needed when no config exists yet
//	REPORT_STATS  yes or no (default no); Myelin sends no statistics either way
//	CONFIG_PATH   default /data/homeserver.yaml
//	DATA_DIR      default /data
//	HTTP_PORT     port of the client and federation listener (default 8008)
//
// "myelin container" writes a config on first start (listening on all
// interfaces, since the container's network is the boundary)
// and serves; "myelin container generate" only writes it, so that an
// operator can edit it before the first start, as with Synapse's
// "generate" mode.
func runContainer(e *env, args []string) int {
	f := newFlagSet("container", "[generate]",
		"Entrypoint of the container image: generate the configuration on first start\n"+
			"(SERVER_NAME, REPORT_STATS, CONFIG_PATH, DATA_DIR, HTTP_PORT in the environment) and\n"+
			"serve it; with \"generate\", only write the configuration.", e.stderr)
	pos, code, done := parseFlags(f, args)
	if done {
		return code
	}
	generateOnly := len(pos) == 1 && pos[0] == "generate"
	if len(pos) > 1 || len(pos) == 1 && !generateOnly {
		fmt.Fprintf(e.stderr, "myelin container: unexpected argument %q\n", pos[0])
		return 2
	}
	configPath := e.env("CONFIG_PATH", containerConfigPath)
	dataDir := e.env("DATA_DIR", containerDataDir)
	if _, err := os.Stat(configPath); err != nil || generateOnly {
		serverName := e.env("SERVER_NAME", "")
		if serverName == "" && err != nil {
			fmt.Fprintf(e.stderr, "myelin container: %s does not exist; set SERVER_NAME (e.g. -e SERVER_NAME=example.org) to generate it\n", configPath)
			return 1
		}
		gen := []string{"--config-path", configPath, "--data-dir", dataDir,
			"--report-stats", e.env("REPORT_STATS", "no"), "--bind-address", "0.0.0.0",
			"--listen-port", e.env("HTTP_PORT", "8008")}
		if serverName != "" {
			gen = append(gen, "--server-name", serverName)
		}
		if code := runGenerateConfig(e, gen); code != 0 || generateOnly {
			return code
		}
	}
	return runServe(e, []string{"-c", configPath})
}

// env returns the environment variable key, or def when it is unset or
// empty.
func (e *env) env(key, def string) string {
	get := e.getenv
	if get == nil {
		get = os.Getenv
	}
	if v := get(key); v != "" {
		return v
	}
	return def
}
