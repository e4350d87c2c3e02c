package config

import (
	"bytes"
	"crypto/rand"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestGenerate_RoundTripsThroughLoad(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	out, err := Generate(GenerateOptions{
		ServerName: "example.org:8448", ConfigDir: dir, DataDir: data,
		ReportStats: true, ListenPort: 8118, BindAddresses: []string{"0.0.0.0"},
		PublicBaseURL: "https://matrix.example.org", Rand: rand.Reader,
	})
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, dir, "homeserver.yaml", string(out))
	c, warns, err := Load(path)
	if err != nil {
		t.Fatalf("Load of generated config: %v\n%s", err, out)
	}
	if len(warns) != 0 {
		t.Errorf("generated config draws warnings: %q", messages(warns))
	}
	yes := true
	checks := []struct {
		name      string
		got, want any
	}{
		{"server_name", c.ServerName, "example.org:8448"},
		{"public_baseurl", c.PublicBaseURL, "https://matrix.example.org/"},
		{"listeners", c.Listeners, []Listener{{Port: 8118, Type: "http", BindAddresses: []string{"0.0.0.0"},
			Resources: []ListenerResource{{Names: []string{"client", "federation"}}}}}},
		{"database", c.Database, Database{Name: SQLite, Args: DatabaseArgs{Database: filepath.Join(data, "homeserver.db"), CPMin: 5, CPMax: 10}}},
		{"media_store_path", c.MediaStorePath, filepath.Join(data, "media_store")},
		{"signing_key_path", c.SigningKeyPath, filepath.Join(data, "example.org:8448.signing.key")},
		{"pid_file", c.PIDFile, filepath.Join(data, "homeserver.pid")},
		{"max_upload_size", c.MaxUploadSize, int64(50 << 20)},
		{"report_stats", c.ReportStats, &yes},
		{"enable_registration", c.EnableRegistration, false},
		{"without verification", c.EnableRegistrationWithoutVerification, false},
		{"trusted_key_servers", c.TrustedKeyServers, []TrustedKeyServer{{ServerName: "matrix.org"}}},
		{"myelin", c.Myelin, Myelin{LogFormat: "text", LogLevel: "info", MaxConnectionsPerAddress: 256, RequestBodyTimeout: time.Minute}},
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("%s = %#v, want %#v", ck.name, ck.got, ck.want)
		}
	}
	secrets := []string{c.RegistrationSharedSecret, c.MacaroonSecretKey, c.FormSecret}
	for i, s := range secrets {
		if len(s) != 50 {
			t.Errorf("secret %d has length %d, want 50", i, len(s))
		}
		if !strings.Contains(string(out), s) {
			t.Errorf("secret %d not in the file as generated", i)
		}
	}
	if secrets[0] == secrets[1] || secrets[1] == secrets[2] {
		t.Error("secrets repeat")
	}
	// Paths inside the config directory are written relatively, so the
	// directory can be moved.
	if !strings.Contains(string(out), `database: "data/homeserver.db"`) {
		t.Errorf("database path not relative:\n%s", out)
	}
}

func TestGenerate_DefaultsAndOpenRegistration(t *testing.T) {
	dir := t.TempDir()
	out, err := Generate(GenerateOptions{ServerName: "localhost", ConfigDir: dir, OpenRegistration: true, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	c, warns, err := Load(writeFile(t, dir, "homeserver.yaml", string(out)))
	if err != nil || len(warns) != 0 {
		t.Fatalf("Load: %v %q", err, messages(warns))
	}
	if c.Listeners[0].Port != 8008 || !reflect.DeepEqual(c.Listeners[0].BindAddresses, []string{"::1", "127.0.0.1"}) {
		t.Errorf("listener = %+v", c.Listeners[0])
	}
	if !c.EnableRegistration || !c.EnableRegistrationWithoutVerification {
		t.Error("OpenRegistration should enable registration without verification")
	}
	if c.PublicBaseURL != "https://localhost/" || c.SigningKeyPath != filepath.Join(dir, "localhost.signing.key") {
		t.Errorf("defaults: %q %q", c.PublicBaseURL, c.SigningKeyPath)
	}
	if c.ReportStats == nil || *c.ReportStats {
		t.Error("report_stats should be written as false")
	}
}

func TestGenerate_DataDirOutsideConfigDirStaysAbsolute(t *testing.T) {
	cfg, data := t.TempDir(), t.TempDir()
	out, err := Generate(GenerateOptions{ServerName: "example.org", ConfigDir: cfg, DataDir: data, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), quote(filepath.Join(data, "homeserver.db"))) {
		t.Errorf("absolute data dir not kept:\n%s", out)
	}
}

func TestGenerate_RejectsBadOptions(t *testing.T) {
	tests := map[string]GenerateOptions{
		"bad server name": {ServerName: "bad name", Rand: rand.Reader},
		"no randomness":   {ServerName: "example.org"},
		"dry randomness":  {ServerName: "example.org", Rand: bytes.NewReader(make([]byte, 10))},
		"bad port":        {ServerName: "example.org", ListenPort: 70000, Rand: rand.Reader},
		"bad bind":        {ServerName: "example.org", BindAddresses: []string{"localhost"}, Rand: rand.Reader},
	}
	for name, opts := range tests {
		if _, err := Generate(opts); err == nil {
			t.Errorf("%s: Generate succeeded", name)
		}
	}
}

func TestGenerate_IsDeterministicGivenRandomness(t *testing.T) {
	opts := func() GenerateOptions {
		return GenerateOptions{ServerName: "example.org", ConfigDir: "/etc/myelin", Rand: bytes.NewReader(bytes.Repeat([]byte("0123456789"), 100))}
	}
	a, err1 := Generate(opts())
	b, err2 := Generate(opts())
	if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
		t.Fatal("same randomness should give the same file")
	}
}
