// Package istest runs an identity server for tests: a small
// implementation of the Identity Service API (v2) parts homeservers use,
// over HTTPS on a loopback address, with a certificate from a test CA
// (fedtest). It signs with ed25519 as the spec says, answers
// /hash_details, /lookup (sha256), /store-invite, /pubkey/isvalid and
// /pubkey/ephemeral/isvalid, and, when a test binds an address, sends the
// pending invites to the user's homeserver at /3pid/onbind. It is only
// imported by tests.
package istest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/federation/fedtest"
	"github.com/myelin-chat/myelin/internal/signing"
)

// AccessToken is the only access token the server accepts.
const AccessToken = "istest-access-token"

// KeyID is the server's long-term signing key ID.
const KeyID = "ed25519:0"

// Server is a running identity server.
type Server struct {
	// Name is "host:port", what a client gives as id_server.
	Name string
	// Pepper is the lookup pepper it hands out.
	Pepper string

	t       testing.TB
	srv     *fedtest.Server
	key     ed25519.PrivateKey
	onbind  *http.Client
	mu      sync.Mutex
	binds   map[string]string // "address medium" → mxid
	invites []storedInvite
	revoked map[string]bool // public keys no longer valid
	stores  int
}

type storedInvite struct {
	Medium, Address, RoomID, Sender, Token string
	Ephemeral                              ed25519.PrivateKey
}

// Start runs an identity server on ip with a certificate from ca; the
// onbind notices it sends trust ca too.
func Start(t testing.TB, ca *fedtest.CA, ip string) *Server {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Pepper: "matrixrocks", t: t, key: key, binds: map[string]string{}, revoked: map[string]bool{},
		onbind: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}}}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_matrix/identity/v2/hash_details", s.authed(s.hashDetails))
	mux.HandleFunc("POST /_matrix/identity/v2/lookup", s.authed(s.lookup))
	mux.HandleFunc("POST /_matrix/identity/v2/store-invite", s.authed(s.storeInvite))
	mux.HandleFunc("GET /_matrix/identity/v2/pubkey/isvalid", s.isValid(false))
	mux.HandleFunc("GET /_matrix/identity/v2/pubkey/ephemeral/isvalid", s.isValid(true))
	s.srv = fedtest.Serve(t, ip, ca.Issue(t, ip), mux)
	s.Name = s.srv.Addr
	return s
}

// Close stops the server, so that it can no longer be reached.
func (s *Server) Close() { s.srv.Close() }

// PublicKey is the long-term public key, unpadded base64.
func (s *Server) PublicKey() string {
	return base64.RawStdEncoding.EncodeToString(s.key.Public().(ed25519.PublicKey))
}

// Revoke makes /pubkey/isvalid answer false for the long-term key.
func (s *Server) Revoke() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked[s.PublicKey()] = true
}

// Stores counts the invites stored so far.
func (s *Server) Stores() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stores
}

// PreBind records that mxid owns the address without notifying anyone,
// as if it had been bound before.
func (s *Server) PreBind(medium, address, mxid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.binds[address+" "+medium] = mxid
}

// Bind records that mxid owns the address and sends the pending invites
// for it to hsURL (the homeserver's federation base URL) at
// /_matrix/federation/v1/3pid/onbind, signed as Sydent signs them. It
// returns the homeserver's status and body.
func (s *Server) Bind(medium, address, mxid, hsURL string) (int, []byte) {
	s.t.Helper()
	s.mu.Lock()
	s.binds[address+" "+medium] = mxid
	var invites []map[string]any
	for _, inv := range s.invites {
		if inv.Medium != medium || inv.Address != address {
			continue
		}
		signed := s.Sign(mxid, inv.Token)
		invites = append(invites, map[string]any{"medium": medium, "address": address, "mxid": mxid,
			"room_id": inv.RoomID, "sender": inv.Sender, "signed": signed})
	}
	s.mu.Unlock()
	return s.Notify(hsURL, map[string]any{"medium": medium, "address": address, "mxid": mxid, "invites": invites})
}

// Notify sends an onbind body as given (for tests of bad notices).
func (s *Server) Notify(hsURL string, body any) (int, []byte) {
	s.t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPut, strings.TrimSuffix(hsURL, "/")+"/_matrix/federation/v1/3pid/onbind", bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.onbind.Do(req)
	if err != nil {
		s.t.Fatalf("onbind: %v", err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// Sign returns the signed object of an invite's binding: {mxid, token}
// signed with the long-term key (identity-service-api "Invitation
// storage").
func (s *Server) Sign(mxid, token string) json.RawMessage {
	raw, _ := json.Marshal(map[string]string{"mxid": mxid, "token": token})
	signed, err := signing.SignJSON(raw, s.Name, signing.SigningKey{ID: signing.KeyID(KeyID), Private: s.key})
	if err != nil {
		s.t.Fatal(err)
	}
	return signed
}

// Token returns the token of the invite stored for an address ("" if none).
func (s *Server) Token(medium, address string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, inv := range s.invites {
		if inv.Medium == medium && inv.Address == address {
			return inv.Token
		}
	}
	return ""
}

func (s *Server) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+AccessToken {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"errcode": "M_UNAUTHORIZED", "error": "Unrecognised access token"})
			return
		}
		h(w, r)
	}
}

func (s *Server) hashDetails(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"lookup_pepper": s.Pepper, "algorithms": []string{"none", "sha256"}})
}

func (s *Server) lookup(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Algorithm string   `json:"algorithm"`
		Pepper    string   `json:"pepper"`
		Addresses []string `json:"addresses"`
	}
	if json.NewDecoder(r.Body).Decode(&body) != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"errcode": "M_BAD_JSON", "error": "bad body"})
		return
	}
	if body.Pepper != s.Pepper {
		writeJSON(w, http.StatusBadRequest, map[string]string{"errcode": "M_INVALID_PEPPER", "error": "Unknown or invalid pepper"})
		return
	}
	if body.Algorithm != "sha256" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"errcode": "M_INVALID_PARAM", "error": "only sha256 here"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mappings := map[string]string{}
	for k, mxid := range s.binds {
		sum := sha256.Sum256([]byte(k + " " + s.Pepper))
		h := base64.RawURLEncoding.EncodeToString(sum[:])
		for _, a := range body.Addresses {
			if a == h {
				mappings[a] = mxid
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"mappings": mappings})
}

func (s *Server) storeInvite(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Medium  string `json:"medium"`
		Address string `json:"address"`
		RoomID  string `json:"room_id"`
		Sender  string `json:"sender"`
	}
	if json.NewDecoder(r.Body).Decode(&body) != nil || body.Medium == "" || body.Address == "" || body.RoomID == "" || body.Sender == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"errcode": "M_MISSING_PARAMS", "error": "missing fields"})
		return
	}
	if body.Medium != "email" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"errcode": "M_UNRECOGNIZED", "error": "only email"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if mxid, ok := s.binds[body.Address+" "+body.Medium]; ok {
		writeJSON(w, http.StatusBadRequest, map[string]string{"errcode": "M_THREEPID_IN_USE", "error": "Binding already known", "mxid": mxid})
		return
	}
	_, eph, _ := ed25519.GenerateKey(rand.Reader)
	tok := make([]byte, 16)
	_, _ = rand.Read(tok)
	inv := storedInvite{Medium: body.Medium, Address: body.Address, RoomID: body.RoomID, Sender: body.Sender,
		Token: base64.RawURLEncoding.EncodeToString(tok), Ephemeral: eph}
	s.invites = append(s.invites, inv)
	s.stores++
	base := "https://" + s.Name + "/_matrix/identity/v2/pubkey"
	// display_name is a redacted form of the address, as Sydent makes it.
	at := strings.IndexByte(body.Address, '@')
	display := body.Address[:1] + "..."
	if at > 0 {
		display += "@" + body.Address[at+1:at+2] + "..."
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"token":        inv.Token,
		"display_name": display,
		"public_keys": []map[string]string{
			{"public_key": s.PublicKey(), "key_validity_url": base + "/isvalid"},
			{"public_key": base64.RawStdEncoding.EncodeToString(eph.Public().(ed25519.PublicKey)), "key_validity_url": base + "/ephemeral/isvalid"},
		},
	})
}

func (s *Server) isValid(ephemeral bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.Query().Get("public_key")
		s.mu.Lock()
		defer s.mu.Unlock()
		valid := false
		if ephemeral {
			for _, inv := range s.invites {
				if base64.RawStdEncoding.EncodeToString(inv.Ephemeral.Public().(ed25519.PublicKey)) == key {
					valid = true
				}
			}
		} else {
			valid = key == s.PublicKey() && !s.revoked[key]
		}
		writeJSON(w, http.StatusOK, map[string]bool{"valid": valid})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		panic(fmt.Sprintf("istest: %v", err))
	}
}
