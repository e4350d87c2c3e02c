package config

import (
	"crypto/ed25519"
	"encoding/base64"
	"slices"
	"strings"
	"time"

	"github.com/myelin-chat/myelin/internal/keyfile"
	"gopkg.in/yaml.v3"
)

// present records raw facts the defaults and cross-key checks need after
// every key has been read.
type present struct {
	keys              map[string]*yaml.Node // top-level keys that had values
	files             map[string]string     // which file each came from
	useLegacyPresence *bool
}

// topLevel maps every supported top-level key to the code that reads it.
func (d *decoder) topLevel(c *Config, p *present) handlers {
	return handlers{
		"server_name": func(key string, n *yaml.Node) {
			if d.describe(key, "string (a server name)", "") {
				return
			}
			s, ok := d.scalarString(key, n)
			if !ok {
				return
			}
			if err := validServerName(s); err != nil {
				d.fail(key, n, "%q %v; use the domain in your users' IDs, e.g. \"example.org\" or \"example.org:8448\"", s, err)
				return
			}
			c.ServerName = s
		},
		"public_baseurl":         d.str(&c.PublicBaseURL),
		"pid_file":               d.path(&c.PIDFile),
		"serve_server_wellknown": d.boolean(&c.ServeServerWellKnown),
		"admin_contact":          d.str(&c.AdminContact),
		"listeners": func(key string, n *yaml.Node) {
			c.Listeners = []Listener{}
			d.list(key, n, func(k string, item *yaml.Node) {
				if l, ok := d.listener(k, item); ok {
					c.Listeners = append(c.Listeners, l)
				}
			})
		},
		"tls_certificate_path": d.path(&c.TLSCertificatePath),
		"tls_private_key_path": d.path(&c.TLSPrivateKeyPath),
		"database":             func(key string, n *yaml.Node) { d.database(key, n, &c.Database) },
		"media_store_path":     d.path(&c.MediaStorePath),
		"max_upload_size":      d.size(&c.MaxUploadSize),
		// Media repository (Synapse's "Media Store" section, same keys and
		// defaults; internal/media applies them).
		"enable_authenticated_media": d.boolean(&c.EnableAuthenticatedMedia),
		"max_pending_media_uploads":  d.integer(&c.MaxPendingMediaUploads, 1, 1<<20),
		"unused_expiration_time":     d.duration(&c.UnusedExpirationTime),
		"media_retention": func(key string, n *yaml.Node) {
			d.object(key, n, handlers{
				"local_media_lifetime":  d.duration(&c.MediaRetention.LocalMediaLifetime),
				"remote_media_lifetime": d.duration(&c.MediaRetention.RemoteMediaLifetime),
			})
		},
		"signing_key_path":     d.path(&c.SigningKeyPath),
		"old_signing_keys":     func(key string, n *yaml.Node) { d.oldSigningKeys(key, n, c) },
		"key_refresh_interval": d.duration(&c.KeyRefreshInterval),
		"trusted_key_servers": func(key string, n *yaml.Node) {
			servers := []TrustedKeyServer{}
			if d.list(key, n, func(k string, item *yaml.Node) {
				if s, ok := d.trustedKeyServer(k, item); ok {
					servers = append(servers, s)
				}
			}) {
				c.TrustedKeyServers = servers
			}
		},
		"suppress_key_server_warning":              d.boolean(&c.SuppressKeyServerWarning),
		"registration_shared_secret":               d.str(&c.RegistrationSharedSecret),
		"registration_shared_secret_path":          d.path(&c.RegistrationSharedSecretPath),
		"enable_registration":                      d.boolean(&c.EnableRegistration),
		"enable_registration_without_verification": d.boolean(&c.EnableRegistrationWithoutVerification),
		"allow_guest_access":                       d.boolean(&c.AllowGuestAccess),
		"registration_requires_token":              d.boolean(&c.RegistrationRequiresToken),
		"password_config":                          func(key string, n *yaml.Node) { d.passwordConfig(key, n, &c.PasswordConfig) },
		"bcrypt_rounds":                            d.integer(&c.BcryptRounds, 4, 31),
		"macaroon_secret_key":                      d.str(&c.MacaroonSecretKey),
		"form_secret":                              d.str(&c.FormSecret),
		"report_stats":                             d.optBool(&c.ReportStats),
		"log_config":                               d.path(&c.LogConfig),
		// Rate limits (Synapse's "Ratelimiting" section: same keys, same
		// defaults; internal/ratelimit applies them). A per_second or
		// burst_count of 0 turns a limit off. Server admins are exempt from
		// every limit counted against a user; appservice users will be,
		// as in Synapse, when appservices exist.
		//
		// rc_message: per user, every event sent that is not a membership
		// change (messages, state, redactions), room creation and profile
		// changes. A retried transaction already stored costs nothing.
		"rc_message": d.rateLimit(&c.RCMessage),
		// rc_registration: per client address, each registration.
		"rc_registration": d.rateLimit(&c.RCRegistration),
		// rc_login: per client address and per account for each login;
		// failed_attempts per account for wrong passwords (including in
		// user-interactive auth).
		"rc_login": func(key string, n *yaml.Node) {
			d.object(key, n, handlers{
				"address":         d.rateLimit(&c.RCLogin.Address),
				"account":         d.rateLimit(&c.RCLogin.Account),
				"failed_attempts": d.rateLimit(&c.RCLogin.FailedAttempts),
			})
		},
		// rc_admin_redaction: per user, redactions of other users' events,
		// instead of rc_message; unset, they count as messages. A missing
		// per_second or burst_count takes Synapse's generic default.
		"rc_admin_redaction": func(key string, n *yaml.Node) {
			rl := RateLimit{PerSecond: 0.17, BurstCount: 3}
			d.rateLimit(&rl)(key, n)
			c.RCAdminRedaction = &rl
		},
		// rc_room_creation: per user, each createRoom (which also costs an
		// rc_message token).
		"rc_room_creation": d.rateLimit(&c.RCRoomCreation),
		// rc_joins: per user, joins to rooms this server is in (local) and
		// to rooms joined over federation (remote). Rejoining while joined
		// (a profile change) is free.
		"rc_joins": func(key string, n *yaml.Node) {
			d.object(key, n, handlers{
				"local":  d.rateLimit(&c.RCJoins.Local),
				"remote": d.rateLimit(&c.RCJoins.Remote),
			})
		},
		// rc_joins_per_room: per room, every join event (local or
		// received); while exhausted, local joins and make_join from other
		// servers are refused.
		"rc_joins_per_room": d.rateLimit(&c.RCJoinsPerRoom),
		// rc_invites: per_room (per room; createRoom's invites count one
		// each), per_user (per invitee, including invites from other
		// servers) and per_issuer (per inviter).
		"rc_invites": func(key string, n *yaml.Node) {
			d.object(key, n, handlers{
				"per_room":   d.rateLimit(&c.RCInvites.PerRoom),
				"per_user":   d.rateLimit(&c.RCInvites.PerUser),
				"per_issuer": d.rateLimit(&c.RCInvites.PerIssuer),
			})
		},
		// rc_media_create: per user, POST /media/v1/create.
		"rc_media_create": d.rateLimit(&c.RCMediaCreate),
		// rc_reports: per user, each report of an event, room or user.
		"rc_reports": d.rateLimit(&c.RCReports),
		// rc_3pid_validation: per user or address, 3PID validation
		// requests. Myelin has no 3PID support yet: read and validated
		// now, applied when it lands.
		"rc_3pid_validation": d.rateLimit(&c.RC3PIDValidation),
		// rc_third_party_invite: per inviting user, each invite by
		// third-party identifier, taken before the identity server is asked
		// (as Synapse does).
		"rc_third_party_invite": d.rateLimit(&c.RCThirdPartyInvite),
		// rc_federation: per origin server, every authenticated inbound
		// federation request.
		"rc_federation": func(key string, n *yaml.Node) {
			f := &c.RCFederation
			d.object(key, n, handlers{
				"window_size":  d.millis(&f.WindowSize, 1),
				"sleep_limit":  d.integer(&f.SleepLimit, 1, 1<<30),
				"sleep_delay":  d.millis(&f.SleepDelay, 0),
				"reject_limit": d.integer(&f.RejectLimit, 0, 1<<30),
				"concurrent":   d.integer(&f.Concurrent, 1, 1<<20),
			})
		},
		"app_service_config_files":       d.strList(&c.AppServiceConfigFiles, d.pathItem),
		"federation_domain_whitelist":    d.strList(&c.FederationDomainWhitelist, d.serverNameItem),
		"federation_verify_certificates": d.boolean(&c.FederationVerifyCertificates),
		"federation_custom_ca_list":      d.strList(&c.FederationCustomCAList, d.pathItem),
		"ip_range_blacklist":             d.ipRanges(&c.IPRangeBlacklist),
		"ip_range_whitelist":             d.ipRanges(&c.IPRangeWhitelist),
		"federation_ip_range_blacklist":  d.ipRanges(&c.FederationIPRangeBlacklist),
		"default_room_version": func(key string, n *yaml.Node) {
			d.choice(&c.DefaultRoomVersion, knownRoomVersions...)(key, n)
		},
		"enable_metrics": d.boolean(&c.EnableMetrics),
		"caches": func(key string, n *yaml.Node) {
			d.object(key, n, handlers{
				"global_factor": d.number(&c.Caches.GlobalFactor, 0),
				"per_cache_factors": func(k string, v *yaml.Node) {
					c.Caches.PerCacheFactors = map[string]float64{}
					d.dict(k, v, func(kk, name string, vv *yaml.Node) {
						var f float64
						d.number(&f, 0)(kk, vv)
						c.Caches.PerCacheFactors[name] = f
					})
				},
			}, "expire_caches", "cache_entry_ttl", "sync_response_cache_duration", "cache_autotuning")
		},
		"limit_remote_rooms": func(key string, n *yaml.Node) {
			l := &c.LimitRemoteRooms
			d.object(key, n, handlers{
				"enabled":          d.boolean(&l.Enabled),
				"complexity":       d.number(&l.Complexity, 0),
				"complexity_error": d.str(&l.ComplexityError),
				"admins_can_join":  d.boolean(&l.AdminsCanJoin),
			})
		},
		"allow_public_rooms_without_auth":    d.boolean(&c.AllowPublicRoomsWithoutAuth),
		"allow_public_rooms_over_federation": d.boolean(&c.AllowPublicRoomsOverFederation),
		"presence": func(key string, n *yaml.Node) {
			d.object(key, n, handlers{"enabled": func(k string, v *yaml.Node) {
				if s := resolve(v); s.Kind == yaml.ScalarNode && s.Value == "untracked" {
					d.warn(k, v, "%s: \"untracked\" presence is not supported by Myelin; presence is disabled instead", k)
					c.Presence.Enabled = false
					return
				}
				d.boolean(&c.Presence.Enabled)(k, v)
			}}, "include_offline_users_on_sync", "presence_router")
		},
		// user_directory: Synapse's keys and defaults; exclude_remote_users
		// and show_locked_users are not implemented (remote users are
		// listed, locked users too).
		"user_directory": func(key string, n *yaml.Node) {
			d.object(key, n, handlers{
				"enabled":            d.boolean(&c.UserDirectory.Enabled),
				"search_all_users":   d.boolean(&c.UserDirectory.SearchAllUsers),
				"prefer_local_users": d.boolean(&c.UserDirectory.PreferLocalUsers),
			}, "exclude_remote_users", "show_locked_users")
		},
		"use_presence": func(key string, n *yaml.Node) {
			d.warn(key, n, "%s is Synapse's old name; write presence: {enabled: ...} instead", key)
			var b bool
			if v, ok := d.parseBool(key, n); ok {
				b = v
				p.useLegacyPresence = &b
			}
		},
		"refreshable_access_token_lifetime":    d.duration(&c.RefreshableAccessTokenLifetime),
		"refresh_token_lifetime":               d.duration(&c.RefreshTokenLifetime),
		"session_lifetime":                     d.duration(&c.SessionLifetime),
		"nonrefreshable_access_token_lifetime": d.duration(&c.NonrefreshableAccessTokenLifetime),
		"require_auth_for_profile_requests":    d.boolean(&c.RequireAuthForProfileRequests),
		"forget_rooms_on_leave":                d.boolean(&c.ForgetRoomsOnLeave),
		"myelin": func(key string, n *yaml.Node) {
			d.object(key, n, handlers{
				"log_format":                  d.choice(&c.Myelin.LogFormat, "text", "json"),
				"log_level":                   d.choice(&c.Myelin.LogLevel, "debug", "info", "warn", "error"),
				"max_connections_per_address": d.integer(&c.Myelin.MaxConnectionsPerAddress, 0, 1<<20),
				"request_body_timeout":        d.duration(&c.Myelin.RequestBodyTimeout),
				"memory_limit":                d.size(&c.Myelin.MemoryLimit),
			})
		},
	}
}

// knownRoomVersions are the stable room versions of the spec (v1.19).
var knownRoomVersions = []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"}

// pathItem resolves a list item that is a path.
func (d *decoder) pathItem(_ string, _ *yaml.Node, s string) (string, bool) {
	return d.resolvePath(s), true
}

func (d *decoder) serverNameItem(key string, n *yaml.Node, s string) (string, bool) {
	if err := validServerName(s); err != nil {
		d.fail(key, n, "%q %v; list server names such as \"example.org\"", s, err)
		return "", false
	}
	return s, true
}

// dict calls fn for each entry of a mapping whose keys are data (names),
// not config keys.
func (d *decoder) dict(key string, n *yaml.Node, fn func(key, name string, v *yaml.Node)) {
	if d.ref != nil {
		fn(join(key, "<name>"), "<name>", probe)
		return
	}
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		d.fail(key, n, "must be a mapping, found %s", kindName(n))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind != yaml.ScalarNode {
			d.fail(key, k, "keys must be plain strings")
			continue
		}
		fn(join(key, k.Value), k.Value, n.Content[i+1])
	}
}

func (d *decoder) rateLimit(dst *RateLimit) func(string, *yaml.Node) {
	return func(key string, n *yaml.Node) {
		d.object(key, n, handlers{
			"per_second":  d.number(&dst.PerSecond, 0),
			"burst_count": d.number(&dst.BurstCount, 0),
		})
	}
}

// millis reads a whole number of milliseconds, as Synapse's rc_federation
// takes them, of at least lo.
func (d *decoder) millis(dst *time.Duration, lo int64) func(string, *yaml.Node) {
	return func(key string, n *yaml.Node) {
		if d.describe(key, "milliseconds", *dst) {
			return
		}
		if v, ok := d.parseInt(key, n, lo, int64(24*time.Hour/time.Millisecond)); ok {
			*dst = time.Duration(v) * time.Millisecond
		}
	}
}

// Listener types and resources. Synapse's other names are recognised so
// that a Synapse config gets a precise message rather than "unknown".
var (
	listenerTypes        = []string{"http", "metrics"}
	synapseListenerTypes = []string{"manhole", "replication"}
	listenerResources    = []string{"client", "federation", "keys", "media", "metrics", "openid", "health"}
	synapseResources     = []string{"consent", "replication", "static", "webclient"}
)

func (d *decoder) listener(key string, n *yaml.Node) (Listener, bool) {
	var l Listener
	nerr := len(d.errs)
	var bindAddrs, legacyBind []string
	var typeNode *yaml.Node
	d.object(key, n, handlers{
		"port":           d.integer(&l.Port, 1, 65535),
		"bind_addresses": d.strList(&bindAddrs, d.ipLiteral),
		"bind_address": func(k string, v *yaml.Node) {
			if d.describe(k, "string (deprecated: bind_addresses)", "") {
				return
			}
			if s, ok := d.scalarString(k, v); ok {
				if s, ok = d.ipLiteral(k, v, s); ok {
					legacyBind = []string{s}
				}
			}
		},
		"type": func(k string, v *yaml.Node) {
			if d.describe(k, "one of "+orList(listenerTypes), "\"http\"") {
				return
			}
			typeNode = v
			s, ok := d.scalarString(k, v)
			switch {
			case !ok:
			case slices.Contains(listenerTypes, s):
				l.Type = s
			case slices.Contains(synapseListenerTypes, s):
				d.fail(k, v, "%q listeners are not supported by Myelin; use %s", s, orList(listenerTypes))
			default:
				d.fail(k, v, "%q is not a listener type; use %s", s, orList(listenerTypes))
			}
		},
		"tls":               d.boolean(&l.TLS),
		"x_forwarded":       d.boolean(&l.XForwarded),
		"request_id_header": d.str(&l.RequestIDHeader),
		"resources": func(k string, v *yaml.Node) {
			l.Resources = []ListenerResource{}
			d.list(k, v, func(rk string, rv *yaml.Node) {
				var r ListenerResource
				d.object(rk, rv, handlers{
					"names":    d.strList(&r.Names, d.resourceName),
					"compress": d.boolean(&r.Compress),
				})
				l.Resources = append(l.Resources, r)
			})
		},
	}, "tag", "path", "mode", "additional_resources", "http_options")
	if isNull(n) || resolve(n).Kind != yaml.MappingNode {
		return l, false
	}
	if l.Type == "" && typeNode == nil {
		d.fail(join(key, "type"), n, "missing; set type: http (or metrics)")
	}
	if l.Port == 0 && len(d.errs) == nerr {
		d.fail(join(key, "port"), n, "missing; set the TCP port to listen on, e.g. port: 8008")
	}
	switch {
	case bindAddrs != nil:
		l.BindAddresses = bindAddrs
	case legacyBind != nil:
		l.BindAddresses = legacyBind
	default:
		l.BindAddresses = []string{"::", "0.0.0.0"}
	}
	if l.Type == "http" && len(l.Resources) == 0 && len(d.errs) == nerr {
		d.warn(join(key, "resources"), n, "%s: an http listener without resources serves only the health check; add e.g. resources: [{names: [client, federation]}]", join(key, "resources"))
	}
	return l, len(d.errs) == nerr
}

func (d *decoder) ipLiteral(key string, n *yaml.Node, s string) (string, bool) {
	if _, err := parsePrefix(s); err != nil || strings.Contains(s, "/") {
		d.fail(key, n, "%q is not an IP address; bind to addresses such as \"::\", \"0.0.0.0\" or \"127.0.0.1\"", s)
		return "", false
	}
	return s, true
}

func (d *decoder) resourceName(key string, n *yaml.Node, s string) (string, bool) {
	switch {
	case slices.Contains(listenerResources, s):
		return s, true
	case slices.Contains(synapseResources, s):
		d.warn(key, n, "%s: resource %q is not served by Myelin and is ignored", key, s)
		return "", false
	}
	d.fail(key, n, "%q is not a resource; use %s", s, orList(listenerResources))
	return "", false
}

// database reads the "database" block. The args depend on the engine, so
// they are read after the name.
func (d *decoder) database(key string, n *yaml.Node, db *Database) {
	*db = Database{}
	var argsKey string
	var argsNode *yaml.Node
	nameSeen := false
	d.object(key, n, handlers{
		"name": func(k string, v *yaml.Node) {
			nameSeen = true
			d.choice(&db.Name, SQLite, Postgres)(k, v)
		},
		"args": func(k string, v *yaml.Node) {
			if !d.describe(k, "mapping (sqlite3: database; psycopg2: dsn, or libpq's connection keys)", "") {
				argsKey, argsNode = k, v
			}
		},
		"allow_unsafe_locale": d.boolean(&db.AllowUnsafeLocale),
	}, "txn_limit")
	if !nameSeen {
		d.fail(join(key, "name"), n, "missing; use %s", orList([]string{SQLite, Postgres}))
		return
	}
	if argsKey == "" {
		argsKey = join(key, "args")
	}
	a := &db.Args
	a.CPMin, a.CPMax = 5, 10
	cpMinSet := false
	common := handlers{
		"cp_min": func(k string, v *yaml.Node) {
			cpMinSet = true
			d.integer(&a.CPMin, 0, 1000)(k, v)
		},
		"cp_max": d.integer(&a.CPMax, 1, 1000),
	}
	switch db.Name {
	case SQLite:
		common["database"] = func(k string, v *yaml.Node) {
			if s, ok := d.scalarString(k, v); ok {
				if s != ":memory:" {
					s = d.resolvePath(s)
				}
				a.Database = s
			}
		}
		d.object(argsKey, argsNode, common, "check_same_thread")
		if a.Database == "" {
			d.fail(join(argsKey, "database"), n, "missing; set the SQLite file, e.g. database: /var/lib/myelin/homeserver.db")
		}
	case Postgres:
		var dbname, database string
		for name, dst := range map[string]*string{"user": &a.User, "password": &a.Password, "host": &a.Host, "dsn": &a.DSN} {
			common[name] = d.str(dst)
		}
		common["database"] = d.str(&database)
		common["dbname"] = d.str(&dbname)
		common["sslmode"] = d.choice(&a.SSLMode, "disable", "allow", "prefer", "require", "verify-ca", "verify-full")
		common["port"] = func(k string, v *yaml.Node) {
			if s := resolve(v); s.Kind == yaml.ScalarNode && s.ShortTag() == "!!str" && s.Value != "" && strings.Trim(s.Value, "0123456789") == "" {
				// libpq takes the port as text too; accept "5432".
				v = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: s.Value, Line: s.Line}
			}
			d.integer(&a.Port, 1, 65535)(k, v)
		}
		for _, name := range pgxParams {
			common[name] = func(k string, v *yaml.Node) {
				if s, ok := d.scalarString(k, v); ok {
					if a.Extra == nil {
						a.Extra = map[string]string{}
					}
					a.Extra[name] = s
				}
			}
		}
		d.object(argsKey, argsNode, common, "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "options")
		switch {
		case dbname != "" && database != "" && dbname != database:
			d.fail(join(argsKey, "dbname"), argsNode, "conflicts with database %q; keep only one of database and dbname", database)
		case dbname != "":
			a.Database = dbname
		default:
			a.Database = database
		}
		if a.DSN != "" && (a.User != "" || a.Password != "" || a.Host != "" || a.Port != 0 || a.Database != "" || a.SSLMode != "" || len(a.Extra) > 0) {
			d.fail(join(argsKey, "dsn"), argsNode, "cannot be combined with user, password, host, port, database or other connection settings; put everything in dsn or remove it")
		}
	}
	if !cpMinSet && a.CPMin > a.CPMax {
		a.CPMin = a.CPMax // only cp_max was lowered; follow it
	}
	if a.CPMin > a.CPMax {
		d.fail(join(argsKey, "cp_min"), argsNode, "%d is larger than cp_max %d; make cp_min at most cp_max", a.CPMin, a.CPMax)
	}
}

// pgxParams are libpq connection parameters that pgx also understands and
// that Synapse users put in database.args; they are passed through.
var pgxParams = []string{"sslrootcert", "sslcert", "sslkey", "sslpassword", "connect_timeout", "application_name", "target_session_attrs", "passfile", "service"}

func (d *decoder) oldSigningKeys(key string, n *yaml.Node, c *Config) {
	keys := map[string]OldSigningKey{}
	d.dict(key, n, func(k, id string, v *yaml.Node) {
		var encoded string
		var expired int64
		expiredSeen := false
		d.object(k, v, handlers{
			"key": d.str(&encoded),
			"expired_ts": func(kk string, vv *yaml.Node) {
				if d.describe(kk, "integer (milliseconds since the epoch)", "") {
					return
				}
				if x, ok := d.parseInt(kk, vv, 0, 1<<53); ok {
					expired, expiredSeen = x, true
				}
			},
		})
		pub, ok := d.verifyKey(k, v, id, encoded)
		if !ok {
			return
		}
		if !expiredSeen {
			d.fail(join(k, "expired_ts"), v, "missing; set when the key stopped being used, in milliseconds since 1970")
			return
		}
		keys[id] = OldSigningKey{Key: pub, ExpiredTS: expired}
	})
	c.OldSigningKeys = keys
}

// verifyKey checks a key ID ("ed25519:<version>") and its unpadded base64
// public key.
func (d *decoder) verifyKey(key string, n *yaml.Node, id, encoded string) (ed25519.PublicKey, bool) {
	version, ok := strings.CutPrefix(id, "ed25519:")
	if !ok || !keyfile.ValidVersion(version) {
		d.fail(key, n, "%q is not a key ID; write \"ed25519:\" followed by letters, digits or _", id)
		return nil, false
	}
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(encoded, "="))
	if err != nil || len(raw) != ed25519.PublicKeySize {
		d.fail(key, n, "the key must be a 32-byte Ed25519 public key in unpadded base64")
		return nil, false
	}
	return ed25519.PublicKey(raw), true
}

func (d *decoder) trustedKeyServer(key string, n *yaml.Node) (TrustedKeyServer, bool) {
	var s TrustedKeyServer
	nerr := len(d.errs)
	d.object(key, n, handlers{
		"server_name": func(k string, v *yaml.Node) {
			if d.describe(k, "string (a server name)", "") {
				return
			}
			if name, ok := d.scalarString(k, v); ok {
				if name, ok = d.serverNameItem(k, v, name); ok {
					s.ServerName = name
				}
			}
		},
		"verify_keys": func(k string, v *yaml.Node) {
			if d.describe(k, "mapping of key IDs to base64 Ed25519 public keys", "") {
				return
			}
			s.VerifyKeys = map[string]ed25519.PublicKey{}
			d.dict(k, v, func(kk, id string, vv *yaml.Node) {
				if enc, ok := d.scalarString(kk, vv); ok {
					if pub, ok := d.verifyKey(kk, vv, id, enc); ok {
						s.VerifyKeys[id] = pub
					}
				}
			})
		},
		"accept_keys_insecurely": d.boolean(&s.AcceptKeysInsecurely),
	})
	if s.ServerName == "" && len(d.errs) == nerr {
		d.fail(join(key, "server_name"), n, "missing; name the notary server, e.g. server_name: \"matrix.org\"")
	}
	return s, len(d.errs) == nerr
}

func (d *decoder) passwordConfig(key string, n *yaml.Node, pc *PasswordConfig) {
	pol := &pc.Policy
	d.object(key, n, handlers{
		"enabled": func(k string, v *yaml.Node) {
			if s := resolve(v); s.Kind == yaml.ScalarNode && s.Value == "only_for_reauth" {
				pc.Enabled, pc.OnlyForReauth = true, true
				return
			}
			pc.OnlyForReauth = false
			d.boolean(&pc.Enabled)(k, v)
		},
		"localdb_enabled": d.boolean(&pc.LocalDBEnabled),
		"pepper":          d.str(&pc.Pepper),
		"policy": func(k string, v *yaml.Node) {
			d.object(k, v, handlers{
				"enabled":           d.boolean(&pol.Enabled),
				"minimum_length":    d.integer(&pol.MinimumLength, 0, 1<<20),
				"require_digit":     d.boolean(&pol.RequireDigit),
				"require_symbol":    d.boolean(&pol.RequireSymbol),
				"require_lowercase": d.boolean(&pol.RequireLowercase),
				"require_uppercase": d.boolean(&pol.RequireUppercase),
			})
		},
	})
}
