package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/template"
)

// GenerateOptions controls Generate.
type GenerateOptions struct {
	// ServerName is required.
	ServerName string
	// ConfigDir is the directory the file will be written to. Paths inside
	// it are written relative to it, so the whole directory can move.
	ConfigDir string
	// DataDir holds the database, media store and signing key (default
	// ConfigDir).
	DataDir string
	// ReportStats is written to report_stats; Myelin itself sends nothing.
	ReportStats bool
	// OpenRegistration turns on registration without verification. It is
	// meant for local demos only.
	OpenRegistration bool
	// ListenPort is the client/federation HTTP port (default 8008).
	ListenPort int
	// BindAddresses default to loopback ("::1", "127.0.0.1"), expecting a
	// reverse proxy in front, as Synapse's generated config does.
	BindAddresses []string
	// PublicBaseURL is written when set; otherwise the key is left
	// commented out and defaults to https://<server_name>/.
	PublicBaseURL string
	// Rand supplies the secrets; pass crypto/rand.Reader.
	Rand io.Reader
}

// Generate returns a commented homeserver.yaml for a new server, with fresh
// random secrets and SQLite storage. It only renders text; writing files
// (and the signing key) is the caller's job.
func Generate(opts GenerateOptions) ([]byte, error) {
	if err := validServerName(opts.ServerName); err != nil {
		return nil, fmt.Errorf("server name %q %v", opts.ServerName, err)
	}
	if opts.Rand == nil {
		return nil, errors.New("GenerateOptions.Rand is required (use crypto/rand.Reader)")
	}
	if opts.ListenPort == 0 {
		opts.ListenPort = 8008
	}
	if opts.ListenPort < 1 || opts.ListenPort > 65535 {
		return nil, fmt.Errorf("listen port %d is out of range 1-65535", opts.ListenPort)
	}
	if len(opts.BindAddresses) == 0 {
		opts.BindAddresses = []string{"::1", "127.0.0.1"}
	}
	for _, a := range opts.BindAddresses {
		if _, err := parsePrefix(a); err != nil || strings.Contains(a, "/") {
			return nil, fmt.Errorf("bind address %q is not an IP address", a)
		}
	}
	if opts.DataDir == "" {
		opts.DataDir = opts.ConfigDir
	}
	secrets := make([]string, 3)
	for i := range secrets {
		s, err := randomString(opts.Rand, 50)
		if err != nil {
			return nil, err
		}
		secrets[i] = s
	}
	data := map[string]any{
		"ServerName":       opts.ServerName,
		"PublicBaseURL":    opts.PublicBaseURL,
		"Port":             opts.ListenPort,
		"BindAddresses":    opts.BindAddresses,
		"Database":         relTo(opts.ConfigDir, filepath.Join(opts.DataDir, "homeserver.db")),
		"MediaStore":       relTo(opts.ConfigDir, filepath.Join(opts.DataDir, "media_store")),
		"SigningKey":       relTo(opts.ConfigDir, filepath.Join(opts.DataDir, opts.ServerName+".signing.key")),
		"PIDFile":          relTo(opts.ConfigDir, filepath.Join(opts.DataDir, "homeserver.pid")),
		"ReportStats":      opts.ReportStats,
		"OpenRegistration": opts.OpenRegistration,
		"RegSecret":        secrets[0],
		"MacaroonSecret":   secrets[1],
		"FormSecret":       secrets[2],
	}
	var b strings.Builder
	if err := generated.Execute(&b, data); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

// relTo writes path relative to dir when it lies inside dir, so a config
// directory can be moved as a whole; otherwise it returns path unchanged.
func relTo(dir, path string) string {
	if dir == "" {
		return path
	}
	rel, err := filepath.Rel(dir, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return path
	}
	return rel
}

const secretChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// randomString draws n characters uniformly from secretChars (about 5.95
// bits each, so 50 characters carry ~297 bits), rejecting biased bytes.
func randomString(r io.Reader, n int) (string, error) {
	limit := byte(256 - 256%len(secretChars))
	out := make([]byte, 0, n)
	buf := make([]byte, 64)
	for len(out) < n {
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", fmt.Errorf("reading randomness for secrets: %w", err)
		}
		for _, c := range buf {
			if c < limit && len(out) < n {
				out = append(out, secretChars[int(c)%len(secretChars)])
			}
		}
	}
	return string(out), nil
}

// quote renders a YAML double-quoted scalar; JSON strings are valid YAML.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

var generated = template.Must(template.New("homeserver.yaml").Funcs(template.FuncMap{"q": quote}).Parse(`# Myelin homeserver configuration.
#
# Key names follow Synapse's configuration manual, so most Synapse options
# keep their meaning here. Myelin-only settings live under "myelin:" at the
# end. Relative paths are resolved against the directory of this file.
# Durations accept "30s", "5m", "1h", "7d" (or a number of milliseconds);
# sizes accept "512K", "50M", "1G" (or a number of bytes).

## Server ##

# The domain in every user and room ID on this server (@alice:<server_name>).
# It cannot be changed once users exist.
server_name: {{q .ServerName}}

# The URL at which clients reach this server. Defaults to
# https://<server_name>/ when not set.
{{if .PublicBaseURL}}public_baseurl: {{q .PublicBaseURL}}{{else}}#public_baseurl: "https://matrix.example.org/"{{end}}

# Where to write the process ID while running.
pid_file: {{q .PIDFile}}

# Where the server listens. "client" serves the client API (and media);
# "federation" serves the server-server API (and the key API). With
# x_forwarded: true the client address is taken from X-Forwarded-For, which
# is only safe behind a reverse proxy that sets it.
listeners:
  - port: {{.Port}}
    type: http
    tls: false
    x_forwarded: false
    bind_addresses: [{{range $i, $a := .BindAddresses}}{{if $i}}, {{end}}{{q $a}}{{end}}]
    resources:
      - names: [client, federation]
        compress: false

## Database ##

# SQLite needs no setup and suits small servers. For PostgreSQL use
#   database:
#     name: psycopg2
#     args: {user: myelin, password: "...", dbname: myelin, host: localhost}
database:
  name: sqlite3
  args:
    database: {{q .Database}}

## Media ##

# Uploaded and cached remote media.
media_store_path: {{q .MediaStore}}
# The largest upload accepted.
max_upload_size: "50M"

## Signing keys ##

# The key this server signs events and requests with. Keep it safe and
# never replace it casually: other servers remember it.
signing_key_path: {{q .SigningKey}}

# Servers trusted to vouch for other servers' keys when those cannot be
# fetched directly. matrix.org is the usual choice.
trusted_key_servers:
  - server_name: "matrix.org"
# Acknowledge the choice above so the server does not warn about it.
suppress_key_server_warning: true

## Registration ##

# Lets anyone create an account. Open registration without any verification
# attracts spam accounts; it is only sensible for a local test server.
enable_registration: {{.OpenRegistration}}
enable_registration_without_verification: {{.OpenRegistration}}

# Accounts can always be created by an administrator with
# "myelin register-user", which proves knowledge of this secret.
registration_shared_secret: {{q .RegSecret}}

## Secrets ##

# Signs login tokens and similar short-lived values.
macaroon_secret_key: {{q .MacaroonSecret}}
# Protects HTML forms (such as consent pages) against forgery.
form_secret: {{q .FormSecret}}

## Statistics ##

# Synapse's anonymous usage reporting switch. Myelin never sends statistics;
# the value is kept for compatibility.
report_stats: {{.ReportStats}}

## Myelin-only settings ##

myelin:
  # "text" for people, "json" for log collectors.
  log_format: text
  # One of debug, info, warn, error.
  log_level: info
  # How many connections one client address (an IPv4 address or an IPv6
  # /64) may hold open at once; 0 means no cap. Listeners with x_forwarded
  # are not capped: the reverse proxy in front should cap its clients.
  max_connections_per_address: 256
  # How long a client may take to send a request body once its headers
  # are in; 0 means no bound.
  request_body_timeout: 60s
  # A soft limit on the server's memory ("512M", "2G"), kept by collecting
  # garbage more often as it nears; 0 means none. Useful in a container
  # with a memory limit: set it somewhat below that limit. GOMEMLIMIT in
  # the environment takes precedence.
  memory_limit: 0
`))
