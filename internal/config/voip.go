package config

import (
	"time"

	"gopkg.in/yaml.v3"
)

// TURN is Synapse's VoIP section: the TURN servers clients are told to use
// for calls (GET /voip/turnServer).
type TURN struct {
	// URIs are turn_uris, e.g. "turn:turn.example.org:3478?transport=udp";
	// none means the server offers no TURN.
	URIs []string
	// SharedSecret is turn_shared_secret (or the content of
	// turn_shared_secret_path): credentials are minted per user as coturn's
	// REST API (use-auth-secret) expects.
	SharedSecret     string
	SharedSecretPath string
	// Username and Password are fixed credentials, used when no shared
	// secret is configured.
	Username, Password string
	// UserLifetime is how long minted credentials last (turn_user_lifetime,
	// default one hour).
	UserLifetime time.Duration
	// AllowGuests lets guest accounts have credentials (default true).
	AllowGuests bool
}

func (d *decoder) voipKeys(c *Config) handlers {
	return handlers{
		"turn_uris":               d.strList(&c.TURN.URIs, nil),
		"turn_shared_secret":      d.str(&c.TURN.SharedSecret),
		"turn_shared_secret_path": d.path(&c.TURN.SharedSecretPath),
		"turn_username":           d.str(&c.TURN.Username),
		"turn_password":           d.str(&c.TURN.Password),
		"turn_user_lifetime":      d.duration(&c.TURN.UserLifetime),
		"turn_allow_guests":       d.boolean(&c.TURN.AllowGuests),
	}
}

// voipDefaults checks the TURN keys against each other once all are read.
func (d *decoder) voipDefaults(c *Config, at func(string) (string, *yaml.Node)) {
	if c.TURN.SharedSecret != "" && c.TURN.SharedSecretPath != "" {
		key, n := at("turn_shared_secret_path")
		d.fail(key, n, "cannot be used together with turn_shared_secret; keep only one of them")
	}
	if c.TURN.UserLifetime <= 0 {
		key, n := at("turn_user_lifetime")
		d.fail(key, n, "must be a positive duration, e.g. 1h")
	}
}
