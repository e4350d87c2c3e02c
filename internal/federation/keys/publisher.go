// Package keys publishes this server's signing keys, answers the notary
// API, and keeps the KeyRing of other servers' keys that request and event
// verification use (server-server API, "Retrieving server keys",
// "Publishing Keys", "Querying Keys Through Another Server").
package keys

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/myelin-chat/myelin/internal/signing"
)

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	// ServerName is our server name.
	ServerName string
	// Keys are our current signing keys; the first signs requests and
	// notary responses. All are published in verify_keys.
	Keys []signing.SigningKey
	// OldKeys are retired keys (old_signing_keys), published in
	// old_verify_keys so that events they signed can still be checked.
	OldKeys map[signing.KeyID]signing.OldVerifyKey
	// RefreshInterval is how far ahead valid_until_ts is set
	// (key_refresh_interval; 0 means Synapse's default of one day).
	RefreshInterval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Publisher builds our key response for GET /_matrix/key/v2/server.
// Responses are cached and rebuilt when part of their validity has passed,
// so each one still has most of RefreshInterval to run: the spec asks
// originating servers not to hand out responses that expire within the
// hour.
type Publisher struct {
	cfg PublisherConfig

	mu      sync.Mutex
	doc     []byte
	builtAt time.Time
}

// DefaultRefreshInterval is Synapse's default key_refresh_interval.
const DefaultRefreshInterval = 24 * time.Hour

// NewPublisher checks cfg and returns a Publisher.
func NewPublisher(cfg PublisherConfig) (*Publisher, error) {
	if cfg.ServerName == "" {
		return nil, errors.New("keys: publisher needs a server name")
	}
	if len(cfg.Keys) == 0 {
		return nil, errors.New("keys: publisher needs at least one signing key")
	}
	for _, k := range cfg.Keys {
		if k.Public() == nil {
			return nil, fmt.Errorf("keys: signing key %s has no private key", k.ID)
		}
		if _, old := cfg.OldKeys[k.ID]; old {
			return nil, fmt.Errorf("keys: %s is both a current and an old signing key", k.ID)
		}
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Publisher{cfg: cfg}
	if _, err := p.Document(); err != nil {
		return nil, err
	}
	return p, nil
}

// ServerName is our server name.
func (p *Publisher) ServerName() string { return p.cfg.ServerName }

// SigningKey is the key that signs requests and notary responses.
func (p *Publisher) SigningKey() signing.SigningKey { return p.cfg.Keys[0] }

// Document returns our current signed key response (canonical JSON), with
// valid_until_ts = build time + RefreshInterval.
func (p *Publisher) Document() ([]byte, error) {
	now := p.cfg.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	rebuildAfter := min(p.cfg.RefreshInterval/2, time.Hour)
	if p.doc != nil && now.Sub(p.builtAt) < rebuildAfter && !now.Before(p.builtAt) {
		return p.doc, nil
	}
	doc, err := signing.BuildServerKeys(p.cfg.ServerName, p.cfg.Keys, p.cfg.OldKeys, now.Add(p.cfg.RefreshInterval).UnixMilli())
	if err != nil {
		return nil, err
	}
	p.doc, p.builtAt = doc, now
	return doc, nil
}

// key returns our own public key id, if valid for a signature made at ts.
// Our current keys are valid at any time (we hold them); old keys until
// their expired_ts when validity is enforced.
func (p *Publisher) key(id signing.KeyID, ts int64, enforce, currentOnly bool) (ed25519.PublicKey, bool) {
	for _, k := range p.cfg.Keys {
		if k.ID == id {
			return k.Public(), true
		}
	}
	if currentOnly {
		return nil, false
	}
	if o, ok := p.cfg.OldKeys[id]; ok && len(o.Key) == ed25519.PublicKeySize && (!enforce || ts <= o.ExpiredTS) {
		return ed25519.PublicKey(o.Key), true
	}
	return nil, false
}
