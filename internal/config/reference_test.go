package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// docs/config.md is the reference generated from the decoder itself; a
// key added, removed or given a new default without regenerating it fails
// here (the brief: "the config reference is generated in CI and the test
// fails when it is out of date").
func TestReference_DocsConfigIsUpToDate(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "config.md")
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := ReferenceMarkdown(); !bytes.Equal(got, want) {
		t.Fatalf("docs/config.md is out of date; regenerate it with:\n    go run ./cmd/myelin config-reference > docs/config.md")
	}
}

// The reference lists each key once, with its type, nested keys by path,
// and Synapse's options that Myelin ignores.
func TestReference_DescribesKeysFromTheHandlers(t *testing.T) {
	byKey := map[string]KeyDoc{}
	for _, k := range Reference() {
		if _, dup := byKey[k.Key]; dup {
			t.Errorf("%s is described twice", k.Key)
		}
		byKey[k.Key] = k
		if !k.Ignored && k.Type == "" {
			t.Errorf("%s has no type", k.Key)
		}
	}
	for key, want := range map[string]KeyDoc{
		"server_name":                 {Type: "string (a server name)"},
		"max_upload_size":             {Type: "size", Default: "50M"},
		"turn_user_lifetime":          {Type: "duration", Default: "1h"},
		"listeners[].port":            {Type: "integer"},
		"rc_message.per_second":       {Type: "number", Default: "0.2"},
		"myelin.log_format":           {Type: `one of "text" or "json"`, Default: `"text"`},
		"password_config.pepper":      {Type: "string"},
		"old_signing_keys.<name>.key": {Type: "string"},
	} {
		got, ok := byKey[key]
		if !ok {
			t.Errorf("%s is not described", key)
			continue
		}
		if got.Type != want.Type || (want.Default != "" && got.Default != want.Default) {
			t.Errorf("%s: %+v, want %+v", key, got, want)
		}
	}
	for _, k := range synapseOnlyKeys {
		if d, ok := byKey[k]; !ok || !d.Ignored {
			t.Errorf("ignored Synapse key %s is not listed as ignored", k)
		}
	}
	if !strings.Contains(string(ReferenceMarkdown()), "| `myelin.log_level` |") {
		t.Error("Myelin's own keys are not listed without a Synapse link")
	}
}

// Describing reads the defaults and changes nothing: loading afterwards
// still yields the defaults.
func TestReference_DoesNotDisturbLoading(t *testing.T) {
	_ = Reference()
	c, _ := loadString(t, "server_name: example.org\n")
	if c.MaxUploadSize != 50<<20 || c.TURN.UserLifetime.Hours() != 1 {
		t.Fatalf("defaults after Reference: %+v", c)
	}
}
