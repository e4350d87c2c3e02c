package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadString loads one file holding content and fails the test on error.
func loadString(t *testing.T, content string) (*Config, []Warning) {
	t.Helper()
	path := writeFile(t, t.TempDir(), "homeserver.yaml", content)
	c, warns, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c, warns
}

func messages(ws []Warning) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.Message)
	}
	return out
}

func TestLoad_DefaultsForMinimalFile(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "homeserver.yaml", "server_name: example.org\n")
	c, warns, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		// Synapse: public_baseurl defaults to https://<server_name>/.
		{"public_baseurl", c.PublicBaseURL, "https://example.org/"},
		{"signing_key_path", c.SigningKeyPath, filepath.Join(dir, "example.org.signing.key")},
		{"media_store_path", c.MediaStorePath, filepath.Join(dir, "media_store")},
		{"database", c.Database, Database{Name: SQLite, Args: DatabaseArgs{Database: filepath.Join(dir, "homeserver.db"), CPMin: 5, CPMax: 10}}},
		{"max_upload_size", c.MaxUploadSize, int64(50 << 20)},
		{"bcrypt_rounds", c.BcryptRounds, 12},
		{"default_room_version", c.DefaultRoomVersion, "12"},
		{"key_refresh_interval", c.KeyRefreshInterval, 24 * time.Hour},
		{"trusted_key_servers", c.TrustedKeyServers, []TrustedKeyServer{{ServerName: "matrix.org"}}},
		{"password_config", c.PasswordConfig, PasswordConfig{Enabled: true, LocalDBEnabled: true}},
		{"rc_message", c.RCMessage, RateLimit{0.2, 10}},
		{"rc_registration", c.RCRegistration, RateLimit{0.17, 3}},
		{"rc_login.failed_attempts", c.RCLogin.FailedAttempts, RateLimit{0.17, 3}},
		{"rc_login.address", c.RCLogin.Address, RateLimit{0.003, 5}},
		{"rc_admin_redaction", c.RCAdminRedaction, (*RateLimit)(nil)},
		{"rc_room_creation", c.RCRoomCreation, RateLimit{0.016, 10}},
		{"rc_joins", c.RCJoins, JoinRateLimits{Local: RateLimit{0.1, 10}, Remote: RateLimit{0.01, 10}}},
		{"rc_joins_per_room", c.RCJoinsPerRoom, RateLimit{1, 10}},
		{"rc_invites", c.RCInvites, InviteRateLimits{PerRoom: RateLimit{0.3, 10}, PerUser: RateLimit{0.003, 5}, PerIssuer: RateLimit{0.3, 10}}},
		{"rc_media_create", c.RCMediaCreate, RateLimit{10, 50}},
		{"rc_reports", c.RCReports, RateLimit{1, 5}},
		{"enable_authenticated_media", c.EnableAuthenticatedMedia, true},
		{"max_pending_media_uploads", c.MaxPendingMediaUploads, 5},
		{"unused_expiration_time", c.UnusedExpirationTime, 24 * time.Hour},
		{"media_retention", c.MediaRetention, MediaRetention{}},
		{"rc_3pid_validation", c.RC3PIDValidation, RateLimit{0.003, 5}},
		{"rc_third_party_invite", c.RCThirdPartyInvite, RateLimit{0.2, 10}},
		{"rc_federation", c.RCFederation, FederationRateLimits{WindowSize: time.Second, SleepLimit: 10, SleepDelay: 500 * time.Millisecond, RejectLimit: 50, Concurrent: 3}},
		{"federation_verify_certificates", c.FederationVerifyCertificates, true},
		{"federation_domain_whitelist", c.FederationDomainWhitelist, []string(nil)},
		{"caches.global_factor", c.Caches.GlobalFactor, 0.5},
		{"presence.enabled", c.Presence.Enabled, true},
		{"user_directory", c.UserDirectory, UserDirectory{Enabled: true}},
		{"refreshable_access_token_lifetime", c.RefreshableAccessTokenLifetime, 5 * time.Minute},
		{"session_lifetime", c.SessionLifetime, time.Duration(0)},
		{"enable_registration", c.EnableRegistration, false},
		{"report_stats", c.ReportStats, (*bool)(nil)},
		{"myelin", c.Myelin, Myelin{LogFormat: "text", LogLevel: "info", MaxConnectionsPerAddress: 256, RequestBodyTimeout: time.Minute}},
		{"listeners", c.Listeners, []Listener(nil)},
		{"config dir", c.ConfigDir, dir},
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("%s = %#v, want %#v", ck.name, ck.got, ck.want)
		}
	}
	for _, want := range []string{"127.0.0.0/8", "fc00::/7", "0.0.0.0/32", "::/128"} {
		if !slices.Contains(c.IPRangeBlacklist, netip.MustParsePrefix(want)) {
			t.Errorf("default ip_range_blacklist lacks %s", want)
		}
	}
	if !reflect.DeepEqual(c.FederationIPRangeBlacklist, c.IPRangeBlacklist) {
		t.Error("federation blacklist should follow ip_range_blacklist when unset")
	}
	// The default notary draws Synapse's warning.
	if len(warns) != 1 || !strings.Contains(warns[0].Message, "matrix.org is trusted") {
		t.Errorf("warnings = %q", messages(warns))
	}
}

func TestLoad_SynapseExampleFile(t *testing.T) {
	c, warns, err := Load("testdata/synapse-homeserver.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := filepath.Abs("testdata")
	yes := true
	if c.ServerName != "example.org" || c.PublicBaseURL != "https://matrix.example.org/" || !c.ServeServerWellKnown {
		t.Errorf("server: %q %q %v", c.ServerName, c.PublicBaseURL, c.ServeServerWellKnown)
	}
	wantListeners := []Listener{
		{Port: 8448, Type: "http", TLS: true, BindAddresses: []string{"::"}, Resources: []ListenerResource{{Names: []string{"federation"}}}},
		{Port: 8008, Type: "http", XForwarded: true, BindAddresses: []string{"::1", "127.0.0.1"}, RequestIDHeader: "X-Request-ID",
			Resources: []ListenerResource{{Names: []string{"client", "federation"}}}},
		{Port: 9000, Type: "metrics", BindAddresses: []string{"127.0.0.1"}},
	}
	if !reflect.DeepEqual(c.Listeners, wantListeners) {
		t.Errorf("listeners =\n%#v\nwant\n%#v", c.Listeners, wantListeners)
	}
	if c.TLSCertificatePath != filepath.Join(dir, "certs/example.org.crt") {
		t.Errorf("tls_certificate_path = %q (relative paths resolve against the file's directory)", c.TLSCertificatePath)
	}
	wantDB := Database{Name: Postgres, Args: DatabaseArgs{User: "synapse_user", Password: "secretpassword", Database: "synapse",
		Host: "localhost", Port: 5432, CPMin: 5, CPMax: 10, SSLMode: "require"}}
	if !reflect.DeepEqual(c.Database, wantDB) {
		t.Errorf("database = %#v", c.Database)
	}
	if got := c.Database.PostgresConnString(); got != "host=localhost port=5432 user=synapse_user password=secretpassword dbname=synapse sslmode=require" {
		t.Errorf("PostgresConnString = %q", got)
	}
	if c.MediaStorePath != "/var/lib/matrix/media" || c.MaxUploadSize != 100<<20 {
		t.Errorf("media: %q %d", c.MediaStorePath, c.MaxUploadSize)
	}
	if k, ok := c.OldSigningKeys["ed25519:id"]; !ok || k.ExpiredTS != 123456789123 || len(k.Key) != 32 {
		t.Errorf("old_signing_keys = %#v", c.OldSigningKeys)
	}
	if c.KeyRefreshInterval != 48*time.Hour {
		t.Errorf("key_refresh_interval = %v", c.KeyRefreshInterval)
	}
	if len(c.TrustedKeyServers) != 2 || c.TrustedKeyServers[0].ServerName != "my-trusted-server.example.com" ||
		len(c.TrustedKeyServers[0].VerifyKeys["ed25519:auto"]) != 32 || c.TrustedKeyServers[1].VerifyKeys != nil {
		t.Errorf("trusted_key_servers = %#v", c.TrustedKeyServers)
	}
	if !c.EnableRegistration || !c.RegistrationRequiresToken || c.RegistrationSharedSecret != "<PRIVATE STRING>" {
		t.Errorf("registration: %v %v %q", c.EnableRegistration, c.RegistrationRequiresToken, c.RegistrationSharedSecret)
	}
	wantPC := PasswordConfig{Enabled: true, OnlyForReauth: true, Pepper: "EVEN_MORE_SECRET",
		Policy: PasswordPolicy{Enabled: true, MinimumLength: 15, RequireDigit: true, RequireSymbol: true, RequireLowercase: true, RequireUppercase: true}}
	if !reflect.DeepEqual(c.PasswordConfig, wantPC) {
		t.Errorf("password_config = %#v", c.PasswordConfig)
	}
	if c.BcryptRounds != 14 || c.MacaroonSecretKey != "<macaroon>" || c.FormSecret != "<form>" || !reflect.DeepEqual(c.ReportStats, &yes) {
		t.Errorf("secrets/bcrypt/report_stats wrong")
	}
	if c.RCMessage != (RateLimit{0.5, 15}) || c.RCRegistration != (RateLimit{0.15, 2}) ||
		c.RCLogin != (LoginRateLimits{RateLimit{0.15, 5}, RateLimit{0.18, 4}, RateLimit{0.19, 7}}) {
		t.Errorf("rate limits: %+v %+v %+v", c.RCMessage, c.RCRegistration, c.RCLogin)
	}
	// Only rc_joins.local.per_second is given: the rest keep their defaults.
	if c.RCJoins != (JoinRateLimits{Local: RateLimit{0.2, 10}, Remote: RateLimit{0.01, 10}}) {
		t.Errorf("rc_joins = %+v", c.RCJoins)
	}
	if !reflect.DeepEqual(c.FederationDomainWhitelist, []string{"lon.example.com", "nyc.example.com"}) || c.FederationVerifyCertificates {
		t.Errorf("federation: %v %v", c.FederationDomainWhitelist, c.FederationVerifyCertificates)
	}
	if !reflect.DeepEqual(c.AppServiceConfigFiles, []string{filepath.Join(dir, "appservices/irc.yaml"), "/etc/synapse/telegram-registration.yaml"}) {
		t.Errorf("app_service_config_files = %q (relative paths resolve against the file's directory)", c.AppServiceConfigFiles)
	}
	if !reflect.DeepEqual(c.FederationCustomCAList, []string{filepath.Join(dir, "myCA1.pem"), "/path/to/ca2.pem"}) {
		t.Errorf("federation_custom_ca_list = %q", c.FederationCustomCAList)
	}
	wantBL := mustPrefixes([]string{"127.0.0.0/8", "10.0.0.0/8", "fe80::/10", "0.0.0.0/32", "::/128"})
	if !reflect.DeepEqual(c.IPRangeBlacklist, wantBL) || !reflect.DeepEqual(c.IPRangeWhitelist, mustPrefixes([]string{"192.168.1.1/32"})) {
		t.Errorf("ip ranges: %v / %v", c.IPRangeBlacklist, c.IPRangeWhitelist)
	}
	if c.DefaultRoomVersion != "11" || !c.EnableMetrics {
		t.Errorf("room version %q metrics %v", c.DefaultRoomVersion, c.EnableMetrics)
	}
	if c.Caches.GlobalFactor != 1.0 || c.Caches.PerCacheFactors["get_users_who_share_room_with_user"] != 2.0 {
		t.Errorf("caches = %+v", c.Caches)
	}
	if c.LimitRemoteRooms != (LimitRemoteRooms{true, 0.5, "I can't let you do that, Dave.", true}) {
		t.Errorf("limit_remote_rooms = %+v", c.LimitRemoteRooms)
	}
	if !c.AllowPublicRoomsWithoutAuth || !c.AllowPublicRoomsOverFederation || c.Presence.Enabled || !c.RequireAuthForProfileRequests || c.URLPreviewEnabled {
		t.Error("room directory / presence / profile flags wrong")
	}
	if c.UserDirectory != (UserDirectory{Enabled: true, SearchAllUsers: true, PreferLocalUsers: true}) {
		t.Errorf("user_directory = %+v", c.UserDirectory)
	}
	if c.RefreshableAccessTokenLifetime != 10*time.Minute || c.RefreshTokenLifetime != 24*time.Hour ||
		c.SessionLifetime != 24*time.Hour || c.NonrefreshableAccessTokenLifetime != 24*time.Hour {
		t.Error("token lifetimes wrong")
	}
	// Synapse options Myelin does not implement are named as such.
	wantWarn := []string{
		"ignored key web_client_location: Myelin does not support this Synapse option",
		"ignored key database.txn_limit: Myelin does not support this Synapse option",
		"ignored key database.args.keepalives_idle: Myelin does not support this Synapse option",
		"ignored key enable_media_repo: Myelin does not support this Synapse option",
		"ignored key caches.expire_caches: Myelin does not support this Synapse option",
		"ignored key user_directory.show_locked_users: Myelin does not support this Synapse option",
	}
	if got := messages(warns); !reflect.DeepEqual(got, wantWarn) {
		t.Errorf("warnings =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantWarn, "\n"))
	}
}

// Synapse's media keys: the freeze switch, the async upload bounds and
// media_retention's two lifetimes.
func TestLoad_MediaRepositoryKeys(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "homeserver.yaml", `
server_name: example.org
enable_authenticated_media: false
max_pending_media_uploads: 2
unused_expiration_time: 1h
media_retention:
  local_media_lifetime: 90d
  remote_media_lifetime: 14d
`)
	c, _, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := MediaRetention{LocalMediaLifetime: 90 * 24 * time.Hour, RemoteMediaLifetime: 14 * 24 * time.Hour}
	if c.EnableAuthenticatedMedia || c.MaxPendingMediaUploads != 2 || c.UnusedExpirationTime != time.Hour ||
		c.MediaRetention != want {
		t.Errorf("got %v %d %v %+v", c.EnableAuthenticatedMedia, c.MaxPendingMediaUploads, c.UnusedExpirationTime, c.MediaRetention)
	}
	bad := writeFile(t, dir, "bad.yaml", "server_name: example.org\nmax_pending_media_uploads: 0\n")
	if _, _, err := Load(bad); err == nil {
		t.Error("max_pending_media_uploads: 0 was accepted")
	}
}

func TestLoad_LaterFilesReplaceWholeTopLevelKeys(t *testing.T) {
	dir := t.TempDir()
	base := writeFile(t, dir, "base.yaml", `
server_name: example.org
database:
  name: psycopg2
  args: {user: a, host: db1, cp_max: 20}
max_upload_size: 10M
`)
	override := writeFile(t, dir, "override.yaml", `
database:
  name: psycopg2
  args: {user: b}
max_upload_size: 20M
`)
	c, _, err := Load(base, override)
	if err != nil {
		t.Fatal(err)
	}
	// Shallow merge: host and cp_max from base.yaml do not survive.
	want := DatabaseArgs{User: "b", CPMin: 5, CPMax: 10}
	if !reflect.DeepEqual(c.Database.Args, want) || c.MaxUploadSize != 20<<20 {
		t.Errorf("args = %+v, size = %d", c.Database.Args, c.MaxUploadSize)
	}
	if !reflect.DeepEqual(c.Files, []string{base, override}) {
		t.Errorf("Files = %q", c.Files)
	}
	// Reversed order, reversed winner.
	c, _, err = Load(override, base)
	if err != nil {
		t.Fatal(err)
	}
	if c.Database.Args.Host != "db1" || c.MaxUploadSize != 10<<20 {
		t.Errorf("reversed: %+v %d", c.Database.Args, c.MaxUploadSize)
	}
}

func TestLoad_DirectoryReadsYAMLFilesInLexicalOrder(t *testing.T) {
	root := t.TempDir()
	main := writeFile(t, root, "homeserver.yaml", "server_name: example.org\nmax_upload_size: 1M\nbcrypt_rounds: 10\n")
	confd := filepath.Join(root, "conf.d")
	writeFile(t, confd, "20-later.yaml", "max_upload_size: 3M\n")
	writeFile(t, confd, "10-first.yaml", "max_upload_size: 2M\nbcrypt_rounds: 11\n")
	writeFile(t, confd, "30-wrong-suffix.yml", "bcrypt_rounds: 30\n")
	writeFile(t, confd, ".hidden.yaml", "bcrypt_rounds: 31\n")
	writeFile(t, confd, "sub/40-nested.yaml", "bcrypt_rounds: 29\n")
	c, warns, err := Load(main, confd)
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxUploadSize != 3<<20 || c.BcryptRounds != 11 {
		t.Errorf("size %d rounds %d", c.MaxUploadSize, c.BcryptRounds)
	}
	wantFiles := []string{main, filepath.Join(confd, "10-first.yaml"), filepath.Join(confd, "20-later.yaml")}
	if !reflect.DeepEqual(c.Files, wantFiles) {
		t.Errorf("Files = %q", c.Files)
	}
	if c.ConfigDir != confd {
		t.Errorf("ConfigDir = %q, want the last file's directory", c.ConfigDir)
	}
	found := false
	for _, w := range warns {
		if strings.HasSuffix(w.File, "30-wrong-suffix.yml") && strings.Contains(w.Message, "only files ending in .yaml") {
			found = true
		}
	}
	if !found {
		t.Errorf("no warning about the .yml file: %q", messages(warns))
	}
}

func TestLoad_RelativePathsResolveAgainstTheirOwnFile(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	fa := writeFile(t, a, "a.yaml", "server_name: example.org\nmedia_store_path: media\n")
	fb := writeFile(t, b, "b.yaml", "signing_key_path: keys/signing.key\ndatabase: {name: sqlite3, args: {database: db/hs.db}}\n")
	c, _, err := Load(fa, fb)
	if err != nil {
		t.Fatal(err)
	}
	if c.MediaStorePath != filepath.Join(a, "media") || c.SigningKeyPath != filepath.Join(b, "keys/signing.key") ||
		c.Database.Args.Database != filepath.Join(b, "db/hs.db") {
		t.Errorf("paths: %q %q %q", c.MediaStorePath, c.SigningKeyPath, c.Database.Args.Database)
	}
	// ":memory:" is not a path.
	c, _ = loadString(t, "server_name: example.org\ndatabase: {name: sqlite3, args: {database: \":memory:\"}}\n")
	if c.Database.Args.Database != ":memory:" {
		t.Errorf("memory database = %q", c.Database.Args.Database)
	}
}

func TestLoad_UnknownKeysWarnWithTheirPath(t *testing.T) {
	_, warns := loadString(t, `
server_name: example.org
suppress_key_server_warning: true
enable_registation: false
listeners:
  - port: 8008
    portt: 8009
    type: http
    resources: [{names: [client], compres: true}]
database:
  name: sqlite3
  args: {database: hs.db, foo: 1}
myelin:
  log_levle: debug
server_name: example.com
`)
	want := []string{
		`unknown key enable_registation (did you mean "enable_registration"?)`,
		`unknown key listeners[0].portt (did you mean "port"?)`,
		`unknown key listeners[0].resources[0].compres (did you mean "compress"?)`,
		`unknown key database.args.foo`,
		`unknown key myelin.log_levle (did you mean "log_level"?)`,
		`duplicate key server_name (first on line 2); the last value wins`,
	}
	got := messages(warns)
	slices.Sort(got)
	slices.Sort(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("warnings =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, w := range warns {
		if w.Line == 0 || !strings.HasSuffix(w.File, "homeserver.yaml") || !strings.Contains(w.String(), ":") {
			t.Errorf("warning without location: %+v", w)
		}
	}
}

// Each invalid value stops loading with an error naming the key and the fix.
func TestLoad_InvalidValuesNameKeyAndFix(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"missing server_name", "report_stats: false\n", []string{"server_name: missing; set it to the domain"}},
		{"bad server_name", "server_name: \"exa mple.org\"\n", []string{`server_name: "exa mple.org" may only contain letters`}},
		{"server_name bad port", "server_name: \"example.org:0\"\n", []string{"invalid port; use a number from 1 to 65535"}},
		{"unsupported database", "database: {name: mysql, args: {}}\n", []string{`database.name: "mysql" is not supported; use "sqlite3" or "psycopg2"`}},
		{"database without name", "database: {args: {database: x}}\n", []string{`database.name: missing; use "sqlite3" or "psycopg2"`}},
		{"sqlite without file", "database: {name: sqlite3}\n", []string{"database.args.database: missing; set the SQLite file"}},
		{"dsn with fields", "database: {name: psycopg2, args: {dsn: 'postgres://x', user: u}}\n", []string{"database.args.dsn: cannot be combined"}},
		{"dbname conflict", "database: {name: psycopg2, args: {database: a, dbname: b}}\n", []string{"keep only one of database and dbname"}},
		{"cp_min above cp_max", "database: {name: psycopg2, args: {cp_min: 20, cp_max: 10}}\n", []string{"database.args.cp_min: 20 is larger than cp_max 10"}},
		{"bad sslmode", "database: {name: psycopg2, args: {sslmode: maybe}}\n", []string{`database.args.sslmode: "maybe" is not supported; use "disable"`}},
		{"port not a number", "listeners: [{port: eighty, type: http}]\n", []string{`listeners[0].port: must be a whole number, found "eighty"`}},
		{"port out of range", "listeners: [{port: 70000, type: http}]\n", []string{"listeners[0].port: 70000 is out of range; use a value from 1 to 65535"}},
		{"listener without type", "listeners: [{port: 8008}]\n", []string{"listeners[0].type: missing; set type: http"}},
		{"listener without port", "listeners: [{type: http}]\n", []string{"listeners[0].port: missing"}},
		{"manhole listener", "listeners: [{port: 9000, type: manhole}]\n", []string{`listeners[0].type: "manhole" listeners are not supported by Myelin; use "http" or "metrics"`}},
		{"unknown resource", "listeners: [{port: 8008, type: http, resources: [{names: [clientt]}]}]\n", []string{`listeners[0].resources[0].names[0]: "clientt" is not a resource; use "client"`}},
		{"bind address hostname", "listeners: [{port: 8008, type: http, bind_addresses: [localhost]}]\n", []string{`listeners[0].bind_addresses[0]: "localhost" is not an IP address`}},
		{"tls without cert", "listeners: [{port: 8448, type: http, tls: true}]\n", []string{"listeners[0].tls: is true but tls_certificate_path and tls_private_key_path are not both set"}},
		{"size", "max_upload_size: 50MB\n", []string{`max_upload_size: "50MB" is not a size; write bytes or a number with K, M or G`}},
		{"duration", "session_lifetime: 1 day\n", []string{`session_lifetime: "1 day" is not a duration`}},
		{"bool", "enable_metrics: maybe\n", []string{`enable_metrics: must be true or false, found "maybe"`}},
		{"quoted bool", "enable_metrics: \"yes\"\n", []string{`enable_metrics: must be true or false`}},
		{"bcrypt rounds", "bcrypt_rounds: 3\n", []string{"bcrypt_rounds: 3 is out of range; use a value from 4 to 31"}},
		{"room version", "default_room_version: \"13\"\n", []string{`default_room_version: "13" is not supported; use "1"`}},
		{"open registration", "enable_registration: true\n", []string{"enable_registration: open registration without verification invites spam accounts; set registration_requires_token: true"}},
		{"two shared secrets", "registration_shared_secret: a\nregistration_shared_secret_path: s\n", []string{"registration_shared_secret_path: cannot be used together with registration_shared_secret"}},
		{"two TURN secrets", "turn_shared_secret: a\nturn_shared_secret_path: s\n", []string{"turn_shared_secret_path: cannot be used together with turn_shared_secret"}},
		{"TURN lifetime", "turn_user_lifetime: 0\n", []string{"turn_user_lifetime: must be a positive duration"}},
		{"public_baseurl", "public_baseurl: matrix.example.org\n", []string{`public_baseurl: "matrix.example.org" is not a base URL`}},
		{"ip range", "ip_range_whitelist: [10.0.0.0/33]\n", []string{`ip_range_whitelist[0]: "10.0.0.0/33" is not an IP range`}},
		{"whitelist entry", "federation_domain_whitelist: [\"bad domain\"]\n", []string{`federation_domain_whitelist[0]: "bad domain"`}},
		{"old key id", "old_signing_keys: {\"rsa:1\": {key: AAAA, expired_ts: 1}}\n", []string{`old_signing_keys.rsa:1: "rsa:1" is not a key ID`}},
		{"old key without expiry", "old_signing_keys: {\"ed25519:1\": {key: nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A}}\n", []string{"old_signing_keys.ed25519:1.expired_ts: missing"}},
		{"notary key", "trusted_key_servers: [{server_name: a.org, verify_keys: {\"ed25519:a\": short}}]\n", []string{"trusted_key_servers[0].verify_keys.ed25519:a: the key must be a 32-byte Ed25519 public key"}},
		{"notary without name", "trusted_key_servers: [{verify_keys: {}}]\n", []string{"trusted_key_servers[0].server_name: missing"}},
		{"log format", "myelin: {log_format: xml}\n", []string{`myelin.log_format: "xml" is not supported; use "text" or "json"`}},
		{"mapping expected", "password_config: true\n", []string{"password_config: must be a mapping"}},
		{"list expected", "listeners: {port: 8008}\n", []string{"listeners: must be a list"}},
		{"rate limit not a number", "rc_invites: {per_user: {per_second: fast}}\n", []string{`rc_invites.per_user.per_second: must be a number, found "fast"`}},
		{"negative rate limit", "rc_room_creation: {burst_count: -1}\n", []string{"rc_room_creation.burst_count: -1 is too small"}},
		{"media limit checked before media exists", "rc_media_create: {per_second: [1]}\n", []string{"rc_media_create.per_second: must be a number"}},
		{"3pid limit checked before 3pids exist", "rc_3pid_validation: 5\n", []string{"rc_3pid_validation: must be a mapping"}},
		{"federation window", "rc_federation: {window_size: 0}\n", []string{"rc_federation.window_size: 0 is out of range"}},
		{"federation sleep limit", "rc_federation: {sleep_limit: 0}\n", []string{"rc_federation.sleep_limit: 0 is out of range"}},
		{"federation concurrency", "rc_federation: {concurrent: 0.5}\n", []string{"rc_federation.concurrent: must be a whole number"}},
		{"several errors at once", "bcrypt_rounds: 100\nenable_metrics: 3\n", []string{"bcrypt_rounds: 100", "enable_metrics: must be true or false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			content := tt.yaml
			if !strings.Contains(content, "server_name") && tt.name != "missing server_name" {
				content = "server_name: example.org\n" + content
			}
			path := writeFile(t, t.TempDir(), "homeserver.yaml", content)
			c, _, err := Load(path)
			if err == nil {
				t.Fatalf("Load succeeded: %+v", c)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("error is not a *FieldError: %T", err)
			}
		})
	}
}

func TestLoad_FileLevelErrors(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := Load(); err == nil {
		t.Error("Load() with no paths succeeded")
	}
	if _, _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	bad := writeFile(t, dir, "bad.yaml", "server_name: [unclosed\n")
	if _, _, err := Load(bad); err == nil || !strings.Contains(err.Error(), "not valid YAML") {
		t.Errorf("bad YAML: %v", err)
	}
	list := writeFile(t, dir, "list.yaml", "- a\n- b\n")
	if _, _, err := Load(list); err == nil || !strings.Contains(err.Error(), "must be a mapping") {
		t.Errorf("top-level list: %v", err)
	}
	two := writeFile(t, dir, "two.yaml", "server_name: a.org\n---\nserver_name: b.org\n")
	if _, _, err := Load(two); err == nil || !strings.Contains(err.Error(), "more than one YAML document") {
		t.Errorf("two documents: %v", err)
	}
	empty := writeFile(t, dir, "empty.yaml", "# nothing\n")
	good := writeFile(t, dir, "good.yaml", "server_name: a.org\n")
	if _, warns, err := Load(empty, good); err != nil || !slices.Contains(messages(warns), "file is empty") {
		t.Errorf("empty file: %v %q", err, messages(warns))
	}
	emptyDir := t.TempDir()
	if _, _, err := Load(emptyDir); err == nil || !strings.Contains(err.Error(), "no *.yaml files") {
		t.Errorf("empty dir: %v", err)
	}
}

func TestLoad_YAML11BooleansAndNulls(t *testing.T) {
	// Synapse reads YAML 1.1, where yes/no/on/off are booleans, and treats
	// a key with no value as unset.
	c, _ := loadString(t, "server_name: example.org\nreport_stats: no\nenable_metrics: On\nallow_guest_access: YES\npid_file:\nlisteners:\n")
	if c.ReportStats == nil || *c.ReportStats || !c.EnableMetrics || !c.AllowGuestAccess || c.PIDFile != "" || c.Listeners != nil {
		t.Errorf("got report_stats=%v metrics=%v guests=%v pid=%q listeners=%v", c.ReportStats, c.EnableMetrics, c.AllowGuestAccess, c.PIDFile, c.Listeners)
	}
}

func TestLoad_AnchorsAndAliases(t *testing.T) {
	c, _ := loadString(t, `
server_name: example.org
rc_message: &limits {per_second: 1, burst_count: 2}
rc_registration: *limits
`)
	if c.RCRegistration != (RateLimit{1, 2}) {
		t.Errorf("alias not followed: %+v", c.RCRegistration)
	}
}

func TestLoad_DeprecatedAndRiskyKeysWarn(t *testing.T) {
	c, warns := loadString(t, `
server_name: example.org
use_presence: false
federation_ip_range_blacklist: [10.0.0.0/8]
log_config: example.log.config
enable_metrics: false
listeners:
  - {port: 9000, type: metrics}
  - {port: 8008, type: http}
`)
	if c.Presence.Enabled {
		t.Error("use_presence: false should disable presence when presence: is absent")
	}
	if want := mustPrefixes([]string{"10.0.0.0/8", "0.0.0.0/32", "::/128"}); !reflect.DeepEqual(c.FederationIPRangeBlacklist, want) {
		t.Errorf("federation blacklist = %v", c.FederationIPRangeBlacklist)
	}
	all := strings.Join(messages(warns), "\n")
	for _, w := range []string{
		"use_presence is Synapse's old name",
		"federation_ip_range_blacklist is deprecated",
		"log_config: Myelin does not read Python logging configs",
		"listeners[0] is a metrics listener but enable_metrics is false",
		"listeners[1].resources: an http listener without resources",
		"matrix.org is trusted",
	} {
		if !strings.Contains(all, w) {
			t.Errorf("missing warning %q in\n%s", w, all)
		}
	}
}

func TestLoad_PostgresVariants(t *testing.T) {
	c, warns := loadString(t, `
server_name: example.org
database:
  name: psycopg2
  args:
    database: myelin
    port: "5433"
    password: "it's a secret"
    sslrootcert: /etc/ssl/ca.pem
    application_name: myelin
`)
	if c.Database.Args.Database != "myelin" || c.Database.Args.Port != 5433 {
		t.Errorf("args = %+v", c.Database.Args)
	}
	want := `port=5433 password='it\'s a secret' dbname=myelin application_name=myelin sslrootcert=/etc/ssl/ca.pem`
	if got := c.Database.PostgresConnString(); got != want {
		t.Errorf("PostgresConnString =\n%s\nwant\n%s", got, want)
	}
	if len(warns) != 1 {
		t.Errorf("warnings: %q", messages(warns))
	}
	c, _ = loadString(t, "server_name: example.org\ndatabase: {name: psycopg2, args: {dsn: 'postgres://u@h/db', cp_max: 3}}\n")
	if c.Database.PostgresConnString() != "postgres://u@h/db" || c.Database.Args.CPMax != 3 {
		t.Errorf("dsn: %+v", c.Database.Args)
	}
}

func TestListener_ServesImpliedResources(t *testing.T) {
	// Synapse documents: client implies media (and static); federation
	// implies media, keys and openid; health is on every HTTP listener.
	l := Listener{Type: "http", Resources: []ListenerResource{{Names: []string{"federation"}, Compress: true}}}
	for name, want := range map[string]bool{"federation": true, "keys": true, "media": true, "openid": true, "health": true, "client": false, "metrics": false} {
		if got := l.Serves(name); got != want {
			t.Errorf("federation listener Serves(%q) = %v", name, got)
		}
	}
	if !l.Compressed("keys") || l.Compressed("client") {
		t.Error("Compressed should follow the resource group")
	}
	m := Listener{Type: "metrics"}
	if !m.Serves("metrics") || m.Serves("health") || m.Serves("client") {
		t.Error("metrics listener serves only metrics")
	}
}

func TestConfig_SharedSecretFromFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "secret.txt", "  s3cret\n")
	path := writeFile(t, dir, "homeserver.yaml", "server_name: example.org\nregistration_shared_secret_path: secret.txt\n")
	c, _, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := c.SharedSecret(); err != nil || s != "s3cret" {
		t.Errorf("SharedSecret = %q, %v", s, err)
	}
	c.RegistrationSharedSecretPath = filepath.Join(dir, "missing")
	if _, err := c.SharedSecret(); err == nil {
		t.Error("missing secret file should be an error")
	}
	c.RegistrationSharedSecretPath = ""
	if s, err := c.SharedSecret(); s != "" || err != nil {
		t.Error("no secret configured should give empty, nil")
	}
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte("server_name: example.org\nlisteners: [{port: 8008, type: http, resources: [{names: [client]}]}]\n"))
	f.Add([]byte("database: {name: psycopg2, args: {port: '5432', dbname: x}}\nold_signing_keys: {a: {key: b}}\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "h.yaml")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		c, _, err := Load(path)
		if err == nil && c.ServerName == "" {
			t.Fatal("loaded a config without server_name")
		}
	})
}

func TestLoad_SynapseSpellingVariants(t *testing.T) {
	// An explicit empty notary list means "no notary"; bind_address is
	// Synapse's older single-address form; presence "untracked" is read
	// as disabled with a warning.
	c, warns := loadString(t, `
server_name: example.org
trusted_key_servers: []
listeners: [{port: 8008, type: http, bind_address: "127.0.0.1", resources: [{names: [client]}]}]
presence: {enabled: untracked}
password_config: {enabled: false}
`)
	if c.TrustedKeyServers == nil || len(c.TrustedKeyServers) != 0 {
		t.Errorf("trusted_key_servers = %#v, want empty non-nil", c.TrustedKeyServers)
	}
	if !reflect.DeepEqual(c.Listeners[0].BindAddresses, []string{"127.0.0.1"}) {
		t.Errorf("bind_address: %v", c.Listeners[0].BindAddresses)
	}
	if c.Presence.Enabled || c.PasswordConfig.Enabled || c.PasswordConfig.OnlyForReauth {
		t.Errorf("presence %v, password %+v", c.Presence.Enabled, c.PasswordConfig)
	}
	if got := messages(warns); len(got) != 1 || !strings.Contains(got[0], "untracked") {
		t.Errorf("warnings = %q", got)
	}
}

// Every rc_* key Synapse documents for a feature Myelin has (or will have)
// is read with Synapse's names and units; rc_admin_redaction's missing
// fields take Synapse's generic default.
func TestLoad_RateLimitKeys(t *testing.T) {
	path := writeFile(t, t.TempDir(), "homeserver.yaml", `server_name: example.org
suppress_key_server_warning: true
rc_admin_redaction: {burst_count: 50}
rc_room_creation: {per_second: 0.5, burst_count: 2}
rc_joins: {local: {per_second: 1, burst_count: 2}, remote: {per_second: 3, burst_count: 4}}
rc_joins_per_room: {per_second: 5, burst_count: 6}
rc_invites: {per_room: {per_second: 7, burst_count: 8}, per_user: {per_second: 9, burst_count: 10}, per_issuer: {per_second: 11, burst_count: 12}}
rc_media_create: {per_second: 13, burst_count: 14}
rc_3pid_validation: {per_second: 15, burst_count: 16}
rc_third_party_invite: {per_second: 17, burst_count: 18}
rc_federation: {window_size: 750, sleep_limit: 15, sleep_delay: 400, reject_limit: 40, concurrent: 5}
`)
	c, warns, err := Load(path)
	if err != nil || len(warns) != 0 {
		t.Fatalf("err %v, warnings %v", err, warns)
	}
	want := Config{
		RCAdminRedaction:   &RateLimit{0.17, 50},
		RCRoomCreation:     RateLimit{0.5, 2},
		RCJoins:            JoinRateLimits{Local: RateLimit{1, 2}, Remote: RateLimit{3, 4}},
		RCJoinsPerRoom:     RateLimit{5, 6},
		RCInvites:          InviteRateLimits{PerRoom: RateLimit{7, 8}, PerUser: RateLimit{9, 10}, PerIssuer: RateLimit{11, 12}},
		RCMediaCreate:      RateLimit{13, 14},
		RC3PIDValidation:   RateLimit{15, 16},
		RCThirdPartyInvite: RateLimit{17, 18},
		RCFederation: FederationRateLimits{WindowSize: 750 * time.Millisecond, SleepLimit: 15,
			SleepDelay: 400 * time.Millisecond, RejectLimit: 40, Concurrent: 5},
	}
	got := Config{RCAdminRedaction: c.RCAdminRedaction, RCRoomCreation: c.RCRoomCreation, RCJoins: c.RCJoins,
		RCJoinsPerRoom: c.RCJoinsPerRoom, RCInvites: c.RCInvites, RCMediaCreate: c.RCMediaCreate,
		RC3PIDValidation: c.RC3PIDValidation, RCThirdPartyInvite: c.RCThirdPartyInvite, RCFederation: c.RCFederation}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

// myelin.memory_limit is a size, 0 (none) by default.
func TestLoad_MemoryLimit(t *testing.T) {
	c, _ := loadString(t, "server_name: example.org\nreport_stats: false\nmyelin: {memory_limit: 300M}\n")
	if c.Myelin.MemoryLimit != 300<<20 {
		t.Errorf("memory_limit = %d, want %d", c.Myelin.MemoryLimit, 300<<20)
	}
	path := writeFile(t, t.TempDir(), "homeserver.yaml", "server_name: example.org\nreport_stats: false\nmyelin: {memory_limit: lots}\n")
	if _, _, err := Load(path); err == nil || !strings.Contains(err.Error(), "myelin.memory_limit") {
		t.Errorf("memory_limit: lots gave %v, want an error naming the key", err)
	}
}
