package users

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"
	"time"

	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/sharedsecret"
)

// Shared-secret registration (Synapse admin API POST
// /_synapse/admin/v1/register; the Matrix spec does not define it). The
// values below are Synapse's, so its register_new_matrix_user script works.
const (
	// nonceLifetime: Synapse forgets nonces after 60 seconds.
	nonceLifetime = 60 * time.Second
	// maxNonces bounds memory if someone requests nonces in a loop; the
	// oldest are forgotten first.
	maxNonces = 10_000
	// maxSharedSecretField: Synapse refuses usernames and passwords longer
	// than 512 characters here.
	maxSharedSecretField = 512
)

// sharedSecretUserTypes are the user_type values Synapse accepts.
var sharedSecretUserTypes = map[string]bool{"": true, "bot": true, "support": true}

// nonceStore keeps issued nonces until used or expired. It is in memory:
// a nonce must be used against the process that issued it, which holds for
// register_new_matrix_user (it uses the nonce immediately).
type nonceStore struct {
	now   func() time.Time
	mu    sync.Mutex
	items map[string]time.Time
	order []string // issue order, for expiry and eviction
}

func newNonceStore(now func() time.Time) *nonceStore {
	return &nonceStore{now: now, items: make(map[string]time.Time)}
}

func (n *nonceStore) issue() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	nonce := hex.EncodeToString(b[:])
	now := n.now()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.expire(now)
	for len(n.items) >= maxNonces && len(n.order) > 0 {
		delete(n.items, n.order[0])
		n.order = n.order[1:]
	}
	n.items[nonce] = now.Add(nonceLifetime)
	n.order = append(n.order, nonce)
	return nonce
}

// take consumes nonce, reporting whether it was issued and is unexpired.
func (n *nonceStore) take(nonce string) bool {
	now := n.now()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.expire(now)
	exp, ok := n.items[nonce]
	if !ok {
		return false
	}
	delete(n.items, nonce)
	return now.Before(exp)
}

// expire drops nonces past their lifetime and compacts the order list.
func (n *nonceStore) expire(now time.Time) {
	i := 0
	for ; i < len(n.order); i++ {
		exp, ok := n.items[n.order[i]]
		if ok && now.Before(exp) {
			break
		}
		delete(n.items, n.order[i])
	}
	n.order = n.order[i:]
	if cap(n.order) > 4*len(n.order)+64 {
		n.order = append([]string(nil), n.order...)
	}
}

// SharedSecretEnabled reports whether a registration shared secret is set.
func (s *Service) SharedSecretEnabled() bool { return s.opts.SharedSecret != "" }

// ErrSharedSecretDisabled is Synapse's answer when no secret is configured
// (400, "Shared secret registration is not enabled").
var ErrSharedSecretDisabled = merr.BadRequest(merr.CodeUnknown, "Shared secret registration is not enabled")

// RegistrationNonce issues a nonce for shared-secret registration.
func (s *Service) RegistrationNonce() (string, error) {
	if !s.SharedSecretEnabled() {
		return "", ErrSharedSecretDisabled
	}
	return s.nonces.issue(), nil
}

// SharedSecretRequest is the body of POST /_synapse/admin/v1/register.
type SharedSecretRequest struct {
	Nonce       string
	Username    string
	Password    string
	Admin       bool
	UserType    string
	DisplayName string
	MAC         string
	IP          string
	UserAgent   string
}

// SharedSecretRegister creates a user authorised by an HMAC of the request
// under the shared secret (internal/sharedsecret), and logs it in. The
// checks and their order are Synapse's: the nonce is consumed before
// anything else is checked, so it is single-use even when the request
// fails.
func (s *Service) SharedSecretRegister(ctx context.Context, req SharedSecretRequest) (*LoginResult, error) {
	if !s.SharedSecretEnabled() {
		return nil, ErrSharedSecretDisabled
	}
	if !s.nonces.take(req.Nonce) {
		return nil, merr.BadRequest(merr.CodeUnknown, "unrecognised nonce")
	}
	switch {
	case req.Username == "":
		return nil, merr.MissingParam("username must be specified")
	case len(req.Username) > maxSharedSecretField || strings.IndexByte(req.Username, 0) >= 0:
		return nil, merr.InvalidParam("Invalid username")
	case req.Password == "":
		return nil, merr.MissingParam("password must be specified")
	case len(req.Password) > maxSharedSecretField || strings.IndexByte(req.Password, 0) >= 0:
		return nil, merr.InvalidParam("Invalid password")
	case !sharedSecretUserTypes[req.UserType]:
		return nil, merr.InvalidParam("Invalid user type")
	case req.MAC == "":
		return nil, merr.MissingParam("mac must be specified")
	}
	// The MAC covers the fields exactly as sent, before any normalisation.
	if !sharedsecret.Verify(req.MAC, s.opts.SharedSecret, req.Nonce, req.Username, req.Password, req.Admin, req.UserType) {
		return nil, merr.Forbidden("HMAC incorrect")
	}
	return s.Register(ctx, RegisterRequest{
		Username: req.Username, Password: req.Password, Admin: req.Admin, UserType: req.UserType,
		DisplayName: req.DisplayName, SkipPasswordPolicy: true, IP: req.IP, UserAgent: req.UserAgent,
	})
}
