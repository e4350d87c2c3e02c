// Package transport builds Myelin's federation transport from the
// configuration: the IP guard, the signed federation client, our key
// publisher, the key ring of other servers' keys (persisted in the key
// store), the X-Matrix authenticator for inbound requests, and the public
// key and version endpoints. The room-engine side of federation builds on
// the pieces it exposes; server wiring calls New once and mounts the
// handlers on the federation listener.
package transport

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/myelin-chat/myelin/internal/config"
	"github.com/myelin-chat/myelin/internal/federation/discovery"
	"github.com/myelin-chat/myelin/internal/federation/fedauth"
	"github.com/myelin-chat/myelin/internal/federation/fedclient"
	"github.com/myelin-chat/myelin/internal/federation/keys"
	"github.com/myelin-chat/myelin/internal/federation/netguard"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/signing"
	"github.com/myelin-chat/myelin/internal/storage/keystore"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// Options are what New needs besides the configuration.
type Options struct {
	Config *config.Config
	// Key is our signing key (server.Server.Key).
	Key signing.SigningKey
	DB  *sqldb.DB
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Version is reported by GET /_matrix/federation/v1/version and in
	// the User-Agent.
	Version string
	// DNS replaces the system resolver (tests).
	DNS discovery.DNS
	// OnOrigin is called after each authenticated inbound request, e.g.
	// with the federation sender's MarkAlive, so that a server that just
	// talked to us gets its queued transactions without waiting out a
	// back-off.
	OnOrigin func(ctx context.Context, origin string)
}

// Transport holds the federation transport's parts. All are safe for
// concurrent use.
type Transport struct {
	// Guard is the outbound IP policy (ip_range_blacklist and
	// ip_range_whitelist); URL previews and push should dial through it
	// too.
	Guard *netguard.Guard
	// Client sends signed federation requests.
	Client *fedclient.Client
	// Publisher builds our key document.
	Publisher *keys.Publisher
	// KeyRing verifies other servers' signatures: use
	// KeyRing.Verifier(version.EnforceKeyValidity) as the event.KeyRing
	// after KeyRing.Prefetch.
	KeyRing *keys.KeyRing
	// KeyStore persists fetched keys.
	KeyStore *keystore.Store
	// Auth authenticates inbound requests: wrap every
	// /_matrix/federation/* handler in Auth.RequireServerAuth (or
	// Auth.Require).
	Auth *fedauth.Authenticator

	version string
}

// New builds the transport and migrates the key store.
func New(ctx context.Context, o Options) (*Transport, error) {
	cfg := o.Config
	if cfg == nil || o.DB == nil {
		return nil, errors.New("transport: Config and DB are required")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Version == "" {
		o.Version = "dev"
	}

	notaries, err := notariesFrom(cfg)
	if err != nil {
		return nil, err
	}
	old := make(map[signing.KeyID]signing.OldVerifyKey, len(cfg.OldSigningKeys))
	for id, k := range cfg.OldSigningKeys {
		old[signing.KeyID(id)] = signing.OldVerifyKey{Key: signing.Base64Bytes(k.Key), ExpiredTS: k.ExpiredTS}
	}
	pub, err := keys.NewPublisher(keys.PublisherConfig{
		ServerName: cfg.ServerName, Keys: []signing.SigningKey{o.Key}, OldKeys: old,
		RefreshInterval: cfg.KeyRefreshInterval, Now: o.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}

	roots, err := fedclient.LoadCAPool(cfg.FederationCustomCAList)
	if err != nil {
		return nil, err
	}
	blocklist := cfg.FederationIPRangeBlacklist
	if blocklist == nil {
		blocklist = cfg.IPRangeBlacklist
	}
	guard := netguard.New(blocklist, cfg.IPRangeWhitelist)
	client, err := fedclient.New(fedclient.Config{
		ServerName:         cfg.ServerName,
		Key:                o.Key,
		Guard:              guard,
		DomainWhitelist:    cfg.FederationDomainWhitelist,
		InsecureSkipVerify: !cfg.FederationVerifyCertificates,
		RootCAs:            roots,
		DNS:                o.DNS,
		UserAgent:          "Myelin/" + o.Version,
		Log:                o.Log,
	})
	if err != nil {
		return nil, err
	}

	store, err := keystore.New(ctx, o.DB)
	if err != nil {
		return nil, fmt.Errorf("database migrations (server keys): %w", err)
	}
	ring, err := keys.New(keys.Config{
		Publisher: pub, Store: store, Client: client, Notaries: notaries, Now: o.Now, Log: o.Log,
	})
	if err != nil {
		return nil, err
	}
	auth, err := fedauth.New(fedauth.Config{
		ServerName: cfg.ServerName, Keys: ring, DomainWhitelist: cfg.FederationDomainWhitelist, OnOrigin: o.OnOrigin,
	})
	if err != nil {
		return nil, err
	}
	if !cfg.FederationVerifyCertificates {
		o.Log.Warn("federation_verify_certificates is false: federation traffic is open to interception")
	}
	return &Transport{Guard: guard, Client: client, Publisher: pub, KeyRing: ring, KeyStore: store, Auth: auth, version: o.Version}, nil
}

// notariesFrom reads trusted_key_servers. As Synapse does, a notary whose
// keys are not pinned is only trusted over a verified TLS connection,
// unless accept_keys_insecurely says otherwise.
func notariesFrom(cfg *config.Config) ([]keys.Notary, error) {
	out := make([]keys.Notary, 0, len(cfg.TrustedKeyServers))
	for _, ts := range cfg.TrustedKeyServers {
		if ts.ServerName == cfg.ServerName {
			continue // asking ourselves about others would only ask them
		}
		n := keys.Notary{ServerName: ts.ServerName}
		if len(ts.VerifyKeys) == 0 && !cfg.FederationVerifyCertificates && !ts.AcceptKeysInsecurely {
			return nil, fmt.Errorf("trusted_key_servers: %s has no verify_keys and federation_verify_certificates is false, "+
				"so anyone able to spoof its DNS could forge keys; pin its verify_keys or set accept_keys_insecurely", ts.ServerName)
		}
		if len(ts.VerifyKeys) > 0 {
			n.VerifyKeys = make(map[signing.KeyID]ed25519.PublicKey, len(ts.VerifyKeys))
			for id, k := range ts.VerifyKeys {
				n.VerifyKeys[signing.KeyID(id)] = k
			}
		}
		out = append(out, n)
	}
	return out, nil
}

// Router is what the handlers are registered on (httpapi.Router
// satisfies it).
type Router interface {
	Handle(pattern string, h http.Handler)
}

// RegisterPublic mounts the endpoints that need no authentication, on
// the federation listener (the key endpoints also belong on any listener
// serving the "keys" resource):
//
//	GET  /_matrix/key/v2/server
//	GET  /_matrix/key/v2/query/{serverName}
//	POST /_matrix/key/v2/query
//	GET  /_matrix/federation/v1/version
func (t *Transport) RegisterPublic(r Router) {
	(&keys.Handlers{Ring: t.KeyRing}).Register(r)
	r.Handle("GET /_matrix/federation/v1/version", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"server": map[string]string{"name": "Myelin", "version": t.version}})
	}))
}

// Close releases idle connections.
func (t *Transport) Close() { t.Client.CloseIdleConnections() }
