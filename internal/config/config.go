// Package config reads the operator's homeserver.yaml.
//
// Key names are Synapse's, as its Configuration Manual documents them, so an
// existing Synapse configuration can be pointed at Myelin; Myelin-only knobs
// live under the top-level "myelin:" key. Keys Myelin does not know produce
// warnings (never silent), and invalid values stop loading with an error that
// names the key and says how to fix it.
//
// Merging: Load accepts several files and directories (a directory means its
// *.yaml files in lexical order). Like Synapse, the merge is shallow: a
// top-level key in a later file replaces the whole value from an earlier file,
// so a later "database:" block replaces the earlier block entirely rather than
// merging into it.
//
// Relative paths in a file resolve against that file's directory (Synapse
// resolves them against the working directory; ours does not depend on where
// the server was started). Defaults that are paths resolve against the
// directory of the last file read, which Synapse also treats as the config
// directory.
package config

import (
	"crypto/ed25519"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"time"
)

// Config is a loaded, validated configuration. Zero durations mean "no
// limit" unless a field says otherwise. Paths are absolute once loaded.
type Config struct {
	// ServerName is the domain in user and room IDs (server_name).
	ServerName string
	// PublicBaseURL is the URL clients use to reach the client API
	// (public_baseurl). It always ends in "/". When unset it defaults to
	// "https://<server_name>/", as in Synapse.
	PublicBaseURL string
	// PIDFile is where the server writes its process ID; empty means none.
	PIDFile string
	// ServeServerWellKnown serves /.well-known/matrix/server pointing at
	// port 443 of the public_baseurl host (serve_server_wellknown).
	ServeServerWellKnown bool
	// AdminContact is how to reach the server's administrator
	// (admin_contact, e.g. "mailto:admin@example.org"); Myelin announces it
	// on /.well-known/matrix/support.
	AdminContact string

	Listeners []Listener

	TLSCertificatePath string
	TLSPrivateKeyPath  string

	Database Database

	// MediaStorePath is the directory for uploaded and cached media
	// (media_store_path, default "media_store").
	MediaStorePath string
	// MaxUploadSize is the largest accepted upload in bytes
	// (max_upload_size, default "50M").
	MaxUploadSize int64
	// EnableAuthenticatedMedia freezes the unauthenticated media download
	// endpoints (enable_authenticated_media, default true, as in Synapse):
	// media stored while it is on is only served on the authenticated
	// ones (client-server-api "Content repository", the freeze).
	EnableAuthenticatedMedia bool
	// MaxPendingMediaUploads bounds the IDs a user may hold from
	// POST /media/v1/create without uploading (max_pending_media_uploads,
	// default 5).
	MaxPendingMediaUploads int
	// UnusedExpirationTime is how long such an ID waits for its upload
	// (unused_expiration_time, default 24h, the spec's recommendation).
	UnusedExpirationTime time.Duration
	// MediaRetention deletes media not accessed for a while
	// (media_retention; zero lifetimes keep media forever).
	MediaRetention MediaRetention

	// SigningKeyPath is the Synapse-format key file (signing_key_path,
	// default "<config dir>/<server_name>.signing.key").
	SigningKeyPath string
	// OldSigningKeys are retired keys still published for verification,
	// keyed by key ID ("ed25519:abc").
	OldSigningKeys map[string]OldSigningKey
	// KeyRefreshInterval is how long other servers may cache our keys
	// (key_refresh_interval, default 1 day).
	KeyRefreshInterval time.Duration
	// TrustedKeyServers are notaries asked for other servers' keys
	// (trusted_key_servers, default matrix.org). An explicit empty list
	// means none.
	TrustedKeyServers        []TrustedKeyServer
	SuppressKeyServerWarning bool

	// RegistrationSharedSecret enables shared-secret registration through
	// the admin API; see also RegistrationSharedSecretPath and
	// (*Config).SharedSecret. At most one of the two is set.
	RegistrationSharedSecret     string
	RegistrationSharedSecretPath string

	EnableRegistration                    bool
	EnableRegistrationWithoutVerification bool
	AllowGuestAccess                      bool
	// RegistrationRequiresToken is parsed but not acted on yet.
	RegistrationRequiresToken bool

	PasswordConfig PasswordConfig
	// BcryptRounds is the bcrypt cost for new password hashes (default 12).
	BcryptRounds int

	MacaroonSecretKey string
	FormSecret        string
	// ReportStats is nil when unset. Myelin never phones home; the key is
	// read so Synapse configs load without a warning.
	ReportStats *bool
	// LogConfig is a Python logging config path; Myelin does not read it
	// (see Myelin.LogLevel and Myelin.LogFormat) and warns when it is set.
	LogConfig string

	// Rate limits, with Synapse's keys and defaults (fields.go says where
	// each applies).
	RCMessage      RateLimit
	RCRegistration RateLimit
	RCLogin        LoginRateLimits
	// RCAdminRedaction, when set, counts redactions of other users'
	// events instead of RCMessage; nil counts them as messages.
	RCAdminRedaction *RateLimit
	RCRoomCreation   RateLimit
	RCJoins          JoinRateLimits
	RCJoinsPerRoom   RateLimit
	RCInvites        InviteRateLimits
	// RCMediaCreate limits POST /media/v1/create per user.
	RCMediaCreate RateLimit
	// RCReports limits reports of events, rooms and users per user.
	RCReports RateLimit
	// RC3PIDValidation is read and checked now and applied by 3PID
	// validation once it exists.
	RC3PIDValidation RateLimit
	// RCThirdPartyInvite limits invites by third-party identifier per
	// inviting user (POST /invite with id_server, createRoom's invite_3pid).
	RCThirdPartyInvite RateLimit
	RCFederation       FederationRateLimits

	// AppServiceConfigFiles are the appservice registration files
	// (app_service_config_files), absolute. Like every path in the
	// configuration, a relative one resolves against the directory of the
	// file that names it (Synapse resolves against the working directory,
	// which is the configuration directory in its usual deployments).
	// internal/appservice reads and checks them at start.
	AppServiceConfigFiles []string

	// FederationDomainWhitelist limits federation to these servers; nil
	// means any server, an empty non-nil slice means none.
	FederationDomainWhitelist    []string
	FederationVerifyCertificates bool
	FederationCustomCAList       []string
	// IPRangeBlacklist are destinations outgoing requests must not reach
	// (federation, push, identity servers). Synapse's default private and
	// reserved ranges apply when unset, and 0.0.0.0 and :: are always
	// added, as in Synapse.
	IPRangeBlacklist []netip.Prefix
	// IPRangeWhitelist punches holes in the blacklist (e.g. for a LAN
	// federation test on 127.0.0.0/8).
	IPRangeWhitelist []netip.Prefix
	// FederationIPRangeBlacklist is the deprecated federation-only list;
	// it equals IPRangeBlacklist unless federation_ip_range_blacklist is
	// set.
	FederationIPRangeBlacklist []netip.Prefix

	// DefaultRoomVersion is used for new rooms (default "12").
	DefaultRoomVersion string
	EnableMetrics      bool
	Caches             Caches
	LimitRemoteRooms   LimitRemoteRooms

	AllowPublicRoomsWithoutAuth    bool
	AllowPublicRoomsOverFederation bool
	Presence                       Presence
	TURN                           TURN
	UserDirectory                  UserDirectory
	Email                          Email
	ServerNotices                  ServerNotices
	Experimental                   ExperimentalFeatures
	// RegistrationsRequire3PID lists the media a new account must validate
	// an address of (registrations_require_3pid); only "email" is served.
	RegistrationsRequire3PID []string
	// Enable3PIDChanges lets users add and remove their email addresses
	// (enable_3pid_changes, default true).
	Enable3PIDChanges bool
	// RequestTokenInhibit3PIDErrors answers requestToken calls for
	// addresses that are (or are not) bound as if a mail went out
	// (request_token_inhibit_3pid_errors), so they tell nobody which
	// addresses have accounts.
	RequestTokenInhibit3PIDErrors bool

	// RefreshableAccessTokenLifetime defaults to 5 minutes, as in Synapse;
	// the other lifetimes default to 0 (no expiry).
	RefreshableAccessTokenLifetime    time.Duration
	RefreshTokenLifetime              time.Duration
	SessionLifetime                   time.Duration
	NonrefreshableAccessTokenLifetime time.Duration

	RequireAuthForProfileRequests bool

	// ForgetRoomsOnLeave forgets a room for a local user as their leave,
	// kick or ban is stored (Synapse's forget_rooms_on_leave, default
	// false; the m.forget_forced_upon_leave capability of spec v1.18).
	ForgetRoomsOnLeave bool

	// MaxImagePixels: an image declaring more pixels is never decoded for
	// a thumbnail (max_image_pixels, default "32M", as in Synapse).
	MaxImagePixels int64
	// DynamicThumbnails lets clients ask for any thumbnail size; when
	// false only ThumbnailSizes are made and the nearest is served
	// (dynamic_thumbnails, default false).
	DynamicThumbnails bool
	// ThumbnailSizes are the thumbnails made of each image
	// (thumbnail_sizes, default DefaultThumbnailSizes).
	ThumbnailSizes []ThumbnailSize

	// URLPreviewEnabled turns on GET /media/preview_url
	// (url_preview_enabled, default false).
	URLPreviewEnabled bool
	// URLPreviewIPRangeBlacklist are the addresses a preview fetch may
	// not reach; it is required when previews are enabled, and 0.0.0.0
	// and :: are always added (Synapse's rules).
	URLPreviewIPRangeBlacklist []netip.Prefix
	// URLPreviewIPRangeWhitelist punches holes in it.
	URLPreviewIPRangeWhitelist []netip.Prefix
	// URLPreviewURLBlacklist are URLs never previewed
	// (url_preview_url_blacklist).
	URLPreviewURLBlacklist []URLBlacklistRule
	// MaxSpiderSize bounds a fetched page or image (max_spider_size,
	// default "10M").
	MaxSpiderSize int64
	// URLPreviewAcceptLanguage is sent as Accept-Language
	// (url_preview_accept_language, default ["en"]).
	URLPreviewAcceptLanguage []string

	Myelin Myelin

	// Files lists the files read, in merge order.
	Files []string
	// ConfigDir is the directory of the last file read; path defaults
	// resolve against it.
	ConfigDir string
}

// Listener is one entry of "listeners".
type Listener struct {
	Port int
	// BindAddresses are IP literals (default "::" and "0.0.0.0"). On Linux
	// a socket on "::" usually accepts IPv4 too, so binding "0.0.0.0" next
	// may fail with "address in use"; Synapse tolerates that failure when
	// another address of the listener bound, and the serve wiring should
	// too.
	BindAddresses []string
	// Type is "http" or "metrics".
	Type string
	TLS  bool
	// XForwarded trusts X-Forwarded-For/-Proto from a reverse proxy.
	XForwarded bool
	// RequestIDHeader names a header whose value becomes the request ID.
	RequestIDHeader string
	Resources       []ListenerResource
}

// ListenerResource groups resource names served with the same options.
type ListenerResource struct {
	Names    []string
	Compress bool
}

// impliedResources follows Synapse's documented resource names: "client"
// also serves media and static, "federation" also serves media, keys and
// openid, and health is served on every HTTP listener.
var impliedResources = map[string][]string{
	"client":     {"media", "static"},
	"federation": {"media", "keys", "openid"},
}

// Serves reports whether the listener serves the named resource, directly
// or through the implications Synapse documents.
func (l Listener) Serves(name string) bool {
	if l.Type == "metrics" {
		return name == "metrics"
	}
	if name == "health" {
		return true
	}
	for _, r := range l.Resources {
		for _, n := range r.Names {
			if n == name || slices.Contains(impliedResources[n], name) {
				return true
			}
		}
	}
	return false
}

// Compressed reports whether responses of the named resource should be
// compressed on this listener.
func (l Listener) Compressed(name string) bool {
	for _, r := range l.Resources {
		for _, n := range r.Names {
			if n == name || slices.Contains(impliedResources[n], name) {
				return r.Compress
			}
		}
	}
	return false
}

// Database is the "database" block.
type Database struct {
	// Name is "sqlite3" or "psycopg2" (PostgreSQL), Synapse's driver names.
	Name              string
	Args              DatabaseArgs
	AllowUnsafeLocale bool
}

// Database engine names.
const (
	SQLite   = "sqlite3"
	Postgres = "psycopg2"
)

// DatabaseArgs is "database.args".
type DatabaseArgs struct {
	// Database is the SQLite file path (absolute, or ":memory:") or the
	// PostgreSQL database name ("database" or "dbname").
	Database string
	User     string
	Password string
	Host     string
	Port     int
	// CPMin and CPMax size the connection pool (defaults 5 and 10).
	CPMin   int
	CPMax   int
	SSLMode string
	// DSN is Myelin's own alternative: a complete PostgreSQL connection
	// string (URL or keyword/value form). It excludes the separate fields.
	DSN string
	// Extra holds other libpq connection parameters that pgx understands
	// (sslrootcert, connect_timeout, application_name, ...).
	Extra map[string]string
}

// PostgresConnString returns a connection string for pgx: the DSN when
// given, otherwise a keyword/value string built from the fields.
func (d Database) PostgresConnString() string {
	a := d.Args
	if a.DSN != "" {
		return a.DSN
	}
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+quoteConnValue(v))
		}
	}
	add("host", a.Host)
	if a.Port != 0 {
		add("port", fmt.Sprint(a.Port))
	}
	add("user", a.User)
	add("password", a.Password)
	add("dbname", a.Database)
	add("sslmode", a.SSLMode)
	keys := make([]string, 0, len(a.Extra))
	for k := range a.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add(k, a.Extra[k])
	}
	return strings.Join(parts, " ")
}

// quoteConnValue quotes a keyword/value connection string value the way
// libpq reads it: single quotes, with backslash escaping ' and \.
func quoteConnValue(v string) string {
	if v != "" && !strings.ContainsAny(v, " '\\\t\n") {
		return v
	}
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	return "'" + r.Replace(v) + "'"
}

// OldSigningKey is a retired verify key ("old_signing_keys" entry).
type OldSigningKey struct {
	Key ed25519.PublicKey
	// ExpiredTS is when the key stopped being used, in ms since the epoch.
	ExpiredTS int64
}

// TrustedKeyServer is one notary in "trusted_key_servers".
type TrustedKeyServer struct {
	ServerName string
	// VerifyKeys pins the notary's keys by key ID; empty means trust what
	// the notary serves over TLS.
	VerifyKeys           map[string]ed25519.PublicKey
	AcceptKeysInsecurely bool
}

// PasswordConfig is "password_config".
type PasswordConfig struct {
	// Enabled allows password login (default true).
	Enabled bool
	// OnlyForReauth is set when enabled is "only_for_reauth": passwords
	// may confirm a session but not log in.
	OnlyForReauth bool
	// LocalDBEnabled checks passwords against the local database
	// (default true).
	LocalDBEnabled bool
	// Pepper is appended to every password before hashing; changing it
	// invalidates every stored hash.
	Pepper string
	Policy PasswordPolicy
}

// PasswordPolicy is "password_config.policy"; it applies to new passwords.
type PasswordPolicy struct {
	Enabled          bool
	MinimumLength    int
	RequireDigit     bool
	RequireSymbol    bool
	RequireLowercase bool
	RequireUppercase bool
}

// RateLimit is a token bucket: PerSecond refill, BurstCount capacity.
type RateLimit struct {
	PerSecond  float64
	BurstCount float64
}

// LoginRateLimits is "rc_login".
type LoginRateLimits struct {
	Address        RateLimit
	Account        RateLimit
	FailedAttempts RateLimit
}

// JoinRateLimits is "rc_joins".
type JoinRateLimits struct {
	Local  RateLimit
	Remote RateLimit
}

// InviteRateLimits is "rc_invites".
type InviteRateLimits struct {
	PerRoom   RateLimit
	PerUser   RateLimit
	PerIssuer RateLimit
}

// FederationRateLimits is "rc_federation": how inbound federation
// requests from one server are throttled.
type FederationRateLimits struct {
	// WindowSize is the window over which requests are counted.
	WindowSize time.Duration
	// SleepLimit is how many requests a window may hold before later ones
	// are delayed by SleepDelay.
	SleepLimit int
	SleepDelay time.Duration
	// RejectLimit is how many requests may wait (delayed or queued) before
	// more are refused with 429.
	RejectLimit int
	// Concurrent is how many requests are processed at once.
	Concurrent int
}

// Caches is "caches".
type Caches struct {
	// GlobalFactor scales every cache size (default 0.5, as in Synapse).
	GlobalFactor float64
	// PerCacheFactors overrides GlobalFactor for named caches.
	PerCacheFactors map[string]float64
}

// LimitRemoteRooms is "limit_remote_rooms".
type LimitRemoteRooms struct {
	Enabled bool
	// Complexity is the largest room complexity (roughly thousands of
	// state events) local users may join (default 1.0).
	Complexity      float64
	ComplexityError string
	AdminsCanJoin   bool
}

// UserDirectory is Synapse's "user_directory" block (internal/userdir).
type UserDirectory struct {
	// Enabled: when false, searches answer no results (default true).
	Enabled bool
	// SearchAllUsers: every user the server knows is searchable, not
	// only those sharing a room with the searcher or in public rooms.
	SearchAllUsers bool
	// PreferLocalUsers ranks this server's users first.
	PreferLocalUsers bool
}

// Presence is "presence".
type Presence struct {
	Enabled bool
}

// Myelin holds Myelin-only settings (the "myelin:" block).
type Myelin struct {
	// LogFormat is "text" (default) or "json".
	LogFormat string
	// LogLevel is "debug", "info" (default), "warn" or "error".
	LogLevel string
	// MaxConnectionsPerAddress caps the connections one client address
	// (an IPv4 address, or an IPv6 /64, which one host usually holds
	// whole) may keep open at once on the listeners
	// (max_connections_per_address, default 256; 0 means no cap).
	// Connections beyond it are closed as soon as they are accepted, so
	// one address cannot take every file descriptor of the process.
	// Listeners with x_forwarded are not capped: every connection there
	// comes from the reverse proxy, which should cap its clients itself.
	MaxConnectionsPerAddress int
	// RequestBodyTimeout bounds the time to receive one request body
	// (request_body_timeout, default 60s; 0 means no bound), so a client
	// that trickles a body cannot hold a connection forever. It starts
	// once the headers are in, which http.Server bounds separately.
	RequestBodyTimeout time.Duration
	// MemoryLimit is a soft limit on the process's memory in bytes
	// (memory_limit, default 0: none), given to the Go runtime as
	// GOMEMLIMIT would be: the collector runs more often as the process
	// nears it, instead of letting the heap grow to twice what is live,
	// and the parsed-event cache takes at most a quarter of it. It is not
	// a hard cap: memory in use is never refused. GOMEMLIMIT in the
	// environment, when set, takes precedence.
	MemoryLimit int64
}

// SharedSecret returns the registration shared secret, reading
// registration_shared_secret_path when that is how it was configured. An
// empty result with a nil error means shared-secret registration is off.
func (c *Config) SharedSecret() (string, error) {
	return secret(c.RegistrationSharedSecret, c.RegistrationSharedSecretPath, "registration_shared_secret_path")
}

// TURNSharedSecret returns turn_shared_secret, reading
// turn_shared_secret_path when that is how it was configured; empty means
// none.
func (c *Config) TURNSharedSecret() (string, error) {
	return secret(c.TURN.SharedSecret, c.TURN.SharedSecretPath, "turn_shared_secret_path")
}

// secret is a secret given in the config or in a file named by pathKey.
func secret(value, path, pathKey string) (string, error) {
	if value != "" || path == "" {
		return value, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", pathKey, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s: %s is empty", pathKey, path)
	}
	return s, nil
}

// defaultIPRangeBlacklist is Synapse's documented default for
// ip_range_blacklist: loopback, private, link-local, shared, documentation,
// benchmarking and multicast ranges.
var defaultIPRangeBlacklist = []string{
	"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
	"100.64.0.0/10", "192.0.0.0/24", "169.254.0.0/16", "192.88.99.0/24",
	"198.18.0.0/15", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24",
	"224.0.0.0/4", "::1/128", "fe80::/10", "fc00::/7", "2001:db8::/32",
	"ff00::/8", "fec0::/10",
}

// alwaysBlacklisted are added to every blacklist, as Synapse does: the
// unspecified addresses reach the local host.
var alwaysBlacklisted = []string{"0.0.0.0/32", "::/128"}

// defaults returns a Config holding every default that does not depend on
// other keys; Load fills the rest (paths, public_baseurl) afterwards.
func defaults() *Config {
	return &Config{
		MaxUploadSize:            50 << 20,
		EnableAuthenticatedMedia: true,
		MaxPendingMediaUploads:   5,
		UnusedExpirationTime:     24 * time.Hour,
		MaxImagePixels:           32 << 20,
		MaxSpiderSize:            10 << 20,
		KeyRefreshInterval:       24 * time.Hour,
		TrustedKeyServers:        []TrustedKeyServer{{ServerName: "matrix.org"}},
		PasswordConfig:           PasswordConfig{Enabled: true, LocalDBEnabled: true},
		BcryptRounds:             12,
		RCMessage:                RateLimit{PerSecond: 0.2, BurstCount: 10},
		RCRegistration:           RateLimit{PerSecond: 0.17, BurstCount: 3},
		RCLogin:                  LoginRateLimits{Address: RateLimit{0.003, 5}, Account: RateLimit{0.003, 5}, FailedAttempts: RateLimit{0.17, 3}},
		RCRoomCreation:           RateLimit{PerSecond: 0.016, BurstCount: 10},
		RCJoins:                  JoinRateLimits{Local: RateLimit{0.1, 10}, Remote: RateLimit{0.01, 10}},
		RCJoinsPerRoom:           RateLimit{PerSecond: 1, BurstCount: 10},
		RCInvites:                InviteRateLimits{PerRoom: RateLimit{0.3, 10}, PerUser: RateLimit{0.003, 5}, PerIssuer: RateLimit{0.3, 10}},
		RCMediaCreate:            RateLimit{PerSecond: 10, BurstCount: 50},
		RCReports:                RateLimit{PerSecond: 1, BurstCount: 5},
		RC3PIDValidation:         RateLimit{PerSecond: 0.003, BurstCount: 5},
		RCThirdPartyInvite:       RateLimit{PerSecond: 0.2, BurstCount: 10},
		RCFederation: FederationRateLimits{WindowSize: time.Second, SleepLimit: 10, SleepDelay: 500 * time.Millisecond,
			RejectLimit: 50, Concurrent: 3},
		FederationVerifyCertificates: true,
		DefaultRoomVersion:           "12",
		Caches:                       Caches{GlobalFactor: 0.5},
		LimitRemoteRooms:             LimitRemoteRooms{Complexity: 1.0, ComplexityError: "This room is too complex for this homeserver to join. Please ask your server administrator."},
		Presence:                     Presence{Enabled: true},
		TURN:                         TURN{UserLifetime: time.Hour, AllowGuests: true},
		Email: Email{SMTPHost: "localhost", SMTPPort: 25, EnableTLS: true, AppName: "Matrix",
			ValidationTokenLifetime: time.Hour},
		Enable3PIDChanges:              true,
		ServerNotices:                  ServerNotices{RoomName: "Server Notices"},
		Experimental:                   ExperimentalFeatures{MSC3814Enabled: true},
		UserDirectory:                  UserDirectory{Enabled: true},
		RefreshableAccessTokenLifetime: 5 * time.Minute,
		Myelin: Myelin{LogFormat: "text", LogLevel: "info",
			MaxConnectionsPerAddress: 256, RequestBodyTimeout: time.Minute},
	}
}

// MediaRetention is Synapse's media_retention block: media whose last
// access is older than a lifetime is deleted (zero: never).
type MediaRetention struct {
	// LocalMediaLifetime applies to media uploaded here.
	LocalMediaLifetime time.Duration
	// RemoteMediaLifetime applies to cached copies of other servers' media.
	RemoteMediaLifetime time.Duration
}
