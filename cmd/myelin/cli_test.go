package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/config"
	"github.com/myelin-chat/myelin/internal/keyfile"
	"github.com/myelin-chat/myelin/internal/sharedsecret"
	"golang.org/x/crypto/bcrypt"
)

// runCLI runs the command in-process with stdin text and returns the exit
// code and both outputs.
func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestGenerateConfig_SecondRunKeepsConfigAndKey(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "homeserver.yaml")
	data := filepath.Join(dir, "data")
	code, out, errs := runCLI(t, "", "generate-config", "-H", "example.org", "--config-path", cfgPath, "--data-dir", data, "--report-stats=no")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	keyPath := filepath.Join(data, "example.org.signing.key")
	for _, want := range []string{"Wrote " + cfgPath, "Generated signing key ed25519:a_", keyPath, "myelin serve -c " + cfgPath} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	cfg, warns, err := config.Load(cfgPath)
	if err != nil || len(warns) != 0 {
		t.Fatalf("generated config: %v %v", err, warns)
	}
	if cfg.SigningKeyPath != keyPath || cfg.MediaStorePath != filepath.Join(data, "media_store") {
		t.Errorf("paths: %q %q", cfg.SigningKeyPath, cfg.MediaStorePath)
	}
	if st, err := os.Stat(cfg.MediaStorePath); err != nil || !st.IsDir() {
		t.Errorf("media store not created: %v", err)
	}
	if st, _ := os.Stat(cfgPath); st.Mode().Perm() != 0o600 {
		t.Errorf("config mode %v, want 0600 (it holds secrets)", st.Mode().Perm())
	}
	key1, _ := os.ReadFile(keyPath)
	conf1, _ := os.ReadFile(cfgPath)

	code, out, errs = runCLI(t, "", "generate-config", "--server-name", "other.org", "-c", cfgPath, "--data-dir", data)
	if code != 0 {
		t.Fatalf("second run exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "already exists; leaving it unchanged") || !strings.Contains(out, "already exists at "+keyPath+"; keeping it") {
		t.Errorf("second run output:\n%s", out)
	}
	key2, _ := os.ReadFile(keyPath)
	conf2, _ := os.ReadFile(cfgPath)
	if !bytes.Equal(key1, key2) || !bytes.Equal(conf1, conf2) {
		t.Error("second run changed the key or the config")
	}

	// --force replaces the config but still keeps the key.
	code, out, errs = runCLI(t, "", "generate-config", "--server-name", "example.org", "-c", cfgPath, "--data-dir", data, "--force", "--open-registration")
	if code != 0 {
		t.Fatalf("forced run exit %d: %s", code, errs)
	}
	conf3, _ := os.ReadFile(cfgPath)
	key3, _ := os.ReadFile(keyPath)
	if bytes.Equal(conf1, conf3) || !bytes.Equal(key1, key3) || !strings.Contains(out, "Replaced") {
		t.Errorf("--force should replace the config and keep the key:\n%s", out)
	}
	if cfg, _, err := config.Load(cfgPath); err != nil || !cfg.EnableRegistration {
		t.Errorf("forced config: %v", err)
	}
}

func TestGenerateConfig_ExistingConfigGetsMissingKey(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "homeserver.yaml")
	os.WriteFile(cfgPath, []byte("server_name: example.org\nsigning_key_path: keys/k.key\n"), 0o600)
	code, out, errs := runCLI(t, "", "generate-config", "-c", cfgPath)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if _, err := keyfile.ReadFile(filepath.Join(dir, "keys/k.key")); err != nil {
		t.Errorf("key not created where the config says: %v\n%s", err, out)
	}
}

func TestGenerateConfig_UsageErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"generate-config", "-H", "example.org"}, 1, "--config-path is required"},
		{[]string{"generate-config", "-c", filepath.Join(dir, "a.yaml")}, 1, "--server-name is required"},
		{[]string{"generate-config", "-H", "bad name", "-c", filepath.Join(dir, "b.yaml")}, 1, "server name \"bad name\""},
		{[]string{"generate-config", "-H", "x.org", "-c", filepath.Join(dir, "c.yaml"), "--report-stats", "maybe"}, 1, "--report-stats must be yes or no"},
		{[]string{"generate-config", "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"generate-config", "-h"}, 0, "Usage: myelin generate-config"},
	}
	for _, tt := range tests {
		code, _, errs := runCLI(t, "", tt.args...)
		if code != tt.code || !strings.Contains(errs, tt.want) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", tt.args, code, errs, tt.code, tt.want)
		}
	}
}

func TestHashPassword_HashesPasswordPlusPepperWithConfiguredRounds(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "homeserver.yaml")
	os.WriteFile(cfgPath, []byte("server_name: example.org\nbcrypt_rounds: 5\npassword_config: {pepper: PEPPER}\n"), 0o600)

	// From the flag.
	code, out, errs := runCLI(t, "", "hash-password", "-c", cfgPath, "-p", "hunter2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	hash := []byte(strings.TrimSpace(out))
	if err := bcrypt.CompareHashAndPassword(hash, []byte("hunter2PEPPER")); err != nil {
		t.Errorf("hash does not verify password+pepper: %v", err)
	}
	if cost, _ := bcrypt.Cost(hash); cost != 5 {
		t.Errorf("cost = %d, want bcrypt_rounds 5", cost)
	}

	// From stdin when it is not a terminal, default rounds without config.
	code, out, errs = runCLI(t, "correct horse\n", "hash-password")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	hash = []byte(strings.TrimSpace(out))
	if err := bcrypt.CompareHashAndPassword(hash, []byte("correct horse")); err != nil {
		t.Errorf("stdin password: %v", err)
	}
	if cost, _ := bcrypt.Cost(hash); cost != 12 {
		t.Errorf("default cost = %d, want 12", cost)
	}
	if !strings.Contains(errs, "Password: ") || strings.Contains(out, "Password") {
		t.Errorf("prompt should go to stderr only; stdout %q", out)
	}
}

func TestHashPassword_LongInputMatchesFullPassword(t *testing.T) {
	long := strings.Repeat("x", 80)
	code, out, errs := runCLI(t, "", "hash-password", "-p", long)
	if code != 0 || !strings.Contains(errs, "first 72 bytes") {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(strings.TrimSpace(out)), []byte(long)); err != nil {
		t.Errorf("full password does not verify: %v", err)
	}
}

func TestHashPassword_EmptyInputFails(t *testing.T) {
	if code, _, errs := runCLI(t, "", "hash-password"); code != 1 || !strings.Contains(errs, "end of input") {
		t.Errorf("exit %d: %s", code, errs)
	}
	if code, _, errs := runCLI(t, "\n", "hash-password"); code != 1 || !strings.Contains(errs, "must not be empty") {
		t.Errorf("exit %d: %s", code, errs)
	}
}

// fakeRegistrar implements the server side of shared-secret registration
// as Synapse documents it: GET hands out a nonce, POST checks the MAC.
type fakeRegistrar struct {
	secret string
	got    map[string]any
}

func (f *fakeRegistrar) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != registerPath {
		http.NotFound(w, r)
		return
	}
	const nonce = "f00dface"
	if r.Method == http.MethodGet {
		json.NewEncoder(w).Encode(map[string]string{"nonce": nonce})
		return
	}
	var body struct {
		Nonce, Username, Password, MAC string
		Admin                          bool
	}
	json.NewDecoder(r.Body).Decode(&body)
	f.got = map[string]any{"username": body.Username, "password": body.Password, "admin": body.Admin}
	if body.Nonce != nonce || !sharedsecret.Verify(body.MAC, f.secret, nonce, body.Username, body.Password, body.Admin, "") {
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"errcode":"M_FORBIDDEN","error":"HMAC incorrect"}`))
		return
	}
	json.NewEncoder(w).Encode(map[string]string{"user_id": "@" + body.Username + ":example.org", "access_token": "t", "device_id": "D"})
}

func TestRegisterUser_NonceAndMACFlow(t *testing.T) {
	reg := &fakeRegistrar{secret: "s3cret"}
	srv := httptest.NewServer(reg)
	defer srv.Close()

	code, out, errs := runCLI(t, "", "register-user", "-k", "s3cret", "-u", "alice", "-p", "pw", "-a", srv.URL)
	if code != 0 || !strings.Contains(out, "Registered @alice:example.org (server admin)") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errs)
	}
	if reg.got["admin"] != true || reg.got["password"] != "pw" {
		t.Errorf("server saw %v", reg.got)
	}

	// Missing answers are asked for; the URL may come before the flags.
	code, out, errs = runCLI(t, "bob\nsecret pw\nno\n", "register-user", srv.URL+"/", "-k", "s3cret")
	if code != 0 || !strings.Contains(out, "Registered @bob:example.org\n") {
		t.Fatalf("prompted: exit %d\nstdout %s\nstderr %s", code, out, errs)
	}
	if reg.got["username"] != "bob" || reg.got["password"] != "secret pw" || reg.got["admin"] != false {
		t.Errorf("server saw %v", reg.got)
	}
	for _, p := range []string{"New user localpart: ", "Password: ", "Make admin [no]: "} {
		if !strings.Contains(errs, p) {
			t.Errorf("missing prompt %q in %q", p, errs)
		}
	}
}

func TestRegisterUser_PrintsServerErrorBody(t *testing.T) {
	srv := httptest.NewServer(&fakeRegistrar{secret: "right"})
	defer srv.Close()
	code, _, errs := runCLI(t, "", "register-user", "-k", "wrong", "-u", "eve", "-p", "pw", "--no-admin", srv.URL)
	if code != 1 || !strings.Contains(errs, "403 Forbidden") || !strings.Contains(errs, "HMAC incorrect") {
		t.Errorf("exit %d, stderr %s", code, errs)
	}
}

func TestRegisterUser_URLAndSecretFromConfig(t *testing.T) {
	reg := &fakeRegistrar{secret: "from-config"}
	srv := httptest.NewServer(reg)
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "homeserver.yaml")
	os.WriteFile(cfgPath, []byte(`server_name: example.org
registration_shared_secret: from-config
listeners:
  - {port: 1, type: metrics}
  - {port: 2, type: http, resources: [{names: [federation]}]}
  - port: `+port+`
    type: http
    bind_addresses: ["0.0.0.0"]
    resources: [{names: [client]}]
`), 0o600)
	code, out, errs := runCLI(t, "", "register-user", "-c", cfgPath, "-u", "carol", "-p", "pw", "--no-admin")
	if code != 0 || !strings.Contains(out, "@carol:example.org") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
}

func TestRegisterUser_NeedsASecret(t *testing.T) {
	code, _, errs := runCLI(t, "", "register-user", "-u", "x", "-p", "y", "--no-admin")
	if code != 1 || !strings.Contains(errs, "no shared secret") {
		t.Errorf("exit %d: %s", code, errs)
	}
	code, _, errs = runCLI(t, "", "register-user", "-k", "s", "-a", "--no-admin")
	if code != 1 || !strings.Contains(errs, "contradict") {
		t.Errorf("exit %d: %s", code, errs)
	}
}

func TestClientURL_PrefersLoopbackOfBindAddresses(t *testing.T) {
	tests := []struct {
		binds []string
		tls   bool
		want  string
	}{
		{[]string{"::", "0.0.0.0"}, false, "http://127.0.0.1:8008"},
		{[]string{"::1"}, false, "http://[::1]:8008"},
		{[]string{"10.1.2.3"}, true, "https://10.1.2.3:8008"},
	}
	for _, tt := range tests {
		cfg := &config.Config{Listeners: []config.Listener{{Port: 8008, Type: "http", TLS: tt.tls, BindAddresses: tt.binds,
			Resources: []config.ListenerResource{{Names: []string{"client"}}}}}}
		if got := clientURL(cfg); got != tt.want {
			t.Errorf("clientURL(%v) = %q, want %q", tt.binds, got, tt.want)
		}
	}
	if got := clientURL(&config.Config{PublicBaseURL: "https://m.example.org/"}); got != "https://m.example.org/" {
		t.Errorf("fallback = %q", got)
	}
}

func TestServe_LoadsConfigAndCallsHook(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "homeserver.yaml")
	os.WriteFile(base, []byte("server_name: example.org\nsuppress_key_server_warning: true\nmyelin: {log_format: json}\nfoo: 1\n"), 0o600)
	confd := filepath.Join(dir, "conf.d")
	os.Mkdir(confd, 0o755)
	os.WriteFile(filepath.Join(confd, "10-size.yaml"), []byte("max_upload_size: 1M\n"), 0o600)

	saved := runServer
	defer func() { runServer = saved }()
	var got *config.Config
	runServer = func(ctx context.Context, cfg *config.Config, logger *slog.Logger) error {
		got = cfg
		logger.Info("hello")
		return nil
	}
	code, _, errs := runCLI(t, "", "serve", "-c", base, "--config-path", confd)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if got == nil || got.MaxUploadSize != 1<<20 {
		t.Errorf("hook got %+v", got)
	}
	if !strings.Contains(errs, "warning: ") || !strings.Contains(errs, "unknown key foo") {
		t.Errorf("warnings not printed: %s", errs)
	}
	if !strings.Contains(errs, `"msg":"hello"`) {
		t.Errorf("log_format json not applied: %s", errs)
	}

	runServer = nil
	if code, _, errs := runCLI(t, "", "serve", "-c", base); code != 1 || !strings.Contains(errs, "server not built yet") {
		t.Errorf("nil hook: exit %d: %s", code, errs)
	}
	if code, _, errs := runCLI(t, "", "serve"); code != 2 || !strings.Contains(errs, "no configuration given") {
		t.Errorf("no -c: exit %d: %s", code, errs)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("server_name: example.org\ndatabase: {name: mysql}\n"), 0o600)
	if code, _, errs := runCLI(t, "", "serve", "-c", bad); code != 1 || !strings.Contains(errs, `database.name: "mysql" is not supported`) {
		t.Errorf("invalid config: exit %d: %s", code, errs)
	}
}

func TestHelpAndVersion(t *testing.T) {
	code, out, _ := runCLI(t, "", "help")
	if code != 0 || !strings.Contains(out, "generate-config") || !strings.Contains(out, "register-user") {
		t.Errorf("help: %d %s", code, out)
	}
	code, out, _ = runCLI(t, "", "help", "register-user")
	if code != 0 || !strings.Contains(out, "Usage: myelin register-user") || !strings.Contains(out, "-shared-secret") {
		t.Errorf("help register-user: %d %s", code, out)
	}
	code, _, errs := runCLI(t, "", "serve", "-h")
	if code != 0 || !strings.Contains(errs, "Usage: myelin serve") {
		t.Errorf("serve -h: %d %s", code, errs)
	}
	if code, _, _ := runCLI(t, ""); code != 2 {
		t.Errorf("no command: exit %d", code)
	}
	if code, _, errs := runCLI(t, "", "frobnicate"); code != 2 || !strings.Contains(errs, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %d %s", code, errs)
	}
	code, out, _ = runCLI(t, "", "version")
	if code != 0 || !strings.HasPrefix(out, "myelin ") {
		t.Errorf("version: %d %q", code, out)
	}
}
