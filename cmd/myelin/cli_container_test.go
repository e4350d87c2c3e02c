package main

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/config"
)

func containerEnv(vars map[string]string) (*env, *bytes.Buffer) {
	var out bytes.Buffer
	return &env{stdout: &out, stderr: &out, rand: rand.Reader, getenv: func(k string) string { return vars[k] }}, &out
}

// Without a config and without SERVER_NAME the image cannot know what to
// generate: it says which variable to set instead of serving nothing.
func TestContainer_FirstStartWithoutServerNameExplains(t *testing.T) {
	dir := t.TempDir()
	e, out := containerEnv(map[string]string{"CONFIG_PATH": filepath.Join(dir, "homeserver.yaml"), "DATA_DIR": dir})
	if code := runContainer(e, nil); code != 1 {
		t.Fatalf("exit %d, want 1; output:\n%s", code, out)
	}
	if !strings.Contains(out.String(), "SERVER_NAME") {
		t.Errorf("the refusal does not name SERVER_NAME:\n%s", out)
	}
}

// "container generate" writes the config from the environment (listening
// on all interfaces at HTTP_PORT, data under DATA_DIR) and stops, as
// Synapse's image does in its generate mode; a second run keeps it.
func TestContainer_GenerateWritesTheConfigFromTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "homeserver.yaml")
	vars := map[string]string{"CONFIG_PATH": path, "DATA_DIR": dir, "SERVER_NAME": "example.org", "HTTP_PORT": "8118"}
	e, out := containerEnv(vars)
	if code := runContainer(e, []string{"generate"}); code != 0 {
		t.Fatalf("exit %d; output:\n%s", code, out)
	}
	cfg, _, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ServerName != "example.org" || len(cfg.Listeners) != 1 || cfg.Listeners[0].Port != 8118 ||
		strings.Join(cfg.Listeners[0].BindAddresses, ",") != "0.0.0.0" {
		t.Errorf("generated server %q, listeners %+v", cfg.ServerName, cfg.Listeners)
	}
	before, _ := os.ReadFile(path)
	e, out = containerEnv(vars)
	if code := runContainer(e, []string{"generate"}); code != 0 {
		t.Fatalf("second generate: exit %d; output:\n%s", code, out)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Errorf("a second generate replaced the config")
	}
}
