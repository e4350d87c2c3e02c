package server_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/federation/fedtest"
	"github.com/myelin-chat/myelin/internal/identity/istest"
	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// tpiRig is a homeserver that trusts a test identity server's CA and may
// reach loopback, the identity server, and the homeserver's federation API
// (where the identity server sends /3pid/onbind).
type tpiRig struct {
	s      *servertest.Server
	is     *istest.Server
	fedURL string
}

func eachServerWithIS(t *testing.T, extraYAML string, fn func(t *testing.T, r *tpiRig)) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		fn(t, startWithIS(t, db, extraYAML))
	})
}

func startWithIS(t *testing.T, db *sqldb.DB, extraYAML string) *tpiRig {
	ca := fedtest.NewCA(t)
	is := istest.Start(t, ca, "127.0.0.1")
	s := servertest.Start(t, db, servertest.Options{ExtraYAML: fmt.Sprintf("federation_custom_ca_list: [%q]\nip_range_whitelist: [\"127.0.0.0/8\"]\n%s",
		ca.PEMPath, extraYAML)})
	fed := httptest.NewServer(s.Federation)
	t.Cleanup(fed.Close)
	return &tpiRig{s: s, is: is, fedURL: fed.URL}
}

// invite3pid is POST /rooms/{roomId}/invite with a third-party identifier.
func (r *tpiRig) invite3pid(c *servertest.Client, roomID, address string) (int, []byte) {
	return c.Do("POST", servertest.Room(roomID)+"/invite", map[string]any{
		"id_server": r.is.Name, "id_access_token": istest.AccessToken, "medium": "email", "address": address}, nil)
}

func memberOf(t *testing.T, c *servertest.Client, roomID, userID string) map[string]any {
	t.Helper()
	var content map[string]any
	status, raw := c.Do("GET", servertest.Room(roomID)+"/state/m.room.member/"+url.PathEscape(userID), nil, &content)
	if status != http.StatusOK {
		return nil
	}
	_ = raw
	return content
}

// client-server-api "Third-party invites", "Server behaviour": when the
// identity server's /lookup finds a user for the address, that user is
// invited as any user is, and nothing is stored at the identity server.
func TestThirdPartyInvite_BoundAddressBecomesAnInvite(t *testing.T) {
	eachServerWithIS(t, "", func(t *testing.T, r *tpiRig) {
		alice, bob := r.s.Register("alice"), r.s.Register("bob")
		r.is.PreBind("email", "bob@example.org", bob.UserID)
		room := alice.CreateRoom(map[string]any{})
		if status, raw := r.invite3pid(alice, room, "bob@example.org"); status != http.StatusOK {
			t.Fatalf("3pid invite: %d %s", status, raw)
		}
		m := memberOf(t, alice, room, bob.UserID)
		if m["membership"] != "invite" || m["third_party_invite"] != nil {
			t.Errorf("bob's membership: %v, want a plain invite", m)
		}
		if n := r.is.Stores(); n != 0 {
			t.Errorf("the identity server stored %d invites for a bound address", n)
		}
	})
}

// "Server behaviour": when nobody bound the address, the invite is stored
// at the identity server and an m.room.third_party_invite event carries
// its token (state key), display name and keys; the onbind notice then
// turns it into an m.room.member invite with the identity server's signed
// proof, and the invitee can join.
func TestThirdPartyInvite_UnboundAddressThenOnBind(t *testing.T) {
	eachServerWithIS(t, "", func(t *testing.T, r *tpiRig) {
		alice := r.s.Register("alice")
		room := alice.CreateRoom(map[string]any{})
		if status, raw := r.invite3pid(alice, room, "carol@example.org"); status != http.StatusOK {
			t.Fatalf("3pid invite: %d %s", status, raw)
		}
		token := r.is.Token("email", "carol@example.org")
		if token == "" {
			t.Fatal("the identity server holds no invite")
		}
		var tpi struct {
			DisplayName    string `json:"display_name"`
			PublicKey      string `json:"public_key"`
			KeyValidityURL string `json:"key_validity_url"`
			PublicKeys     []struct {
				PublicKey      string `json:"public_key"`
				KeyValidityURL string `json:"key_validity_url"`
			} `json:"public_keys"`
		}
		alice.MustDo("GET", servertest.Room(room)+"/state/m.room.third_party_invite/"+url.PathEscape(token), nil, &tpi)
		if tpi.DisplayName == "" || strings.Contains(tpi.DisplayName, "carol@example.org") {
			t.Errorf("display_name %q: want the identity server's redacted form", tpi.DisplayName)
		}
		if tpi.PublicKey != r.is.PublicKey() || len(tpi.PublicKeys) != 2 || tpi.PublicKeys[0].PublicKey != r.is.PublicKey() ||
			!strings.HasSuffix(tpi.KeyValidityURL, "/_matrix/identity/v2/pubkey/isvalid") {
			t.Errorf("keys of the m.room.third_party_invite: %+v", tpi)
		}

		carol := r.s.Register("carol")
		if status, raw := r.is.Bind("email", "carol@example.org", carol.UserID, r.fedURL); status != http.StatusOK {
			t.Fatalf("onbind: %d %s", status, raw)
		}
		m := memberOf(t, alice, room, carol.UserID)
		third, _ := m["third_party_invite"].(map[string]any)
		signed, _ := third["signed"].(map[string]any)
		if m["membership"] != "invite" || signed["mxid"] != carol.UserID || signed["token"] != token || third["display_name"] != tpi.DisplayName {
			t.Fatalf("carol's membership after onbind: %v", m)
		}
		carol.MustDo("POST", servertest.Room(room)+"/join", map[string]any{}, nil)
		if m := memberOf(t, alice, room, carol.UserID); m["membership"] != "join" {
			t.Errorf("carol's membership after joining: %v", m)
		}
		// An identity server may notify again: nothing more happens.
		if status, raw := r.is.Bind("email", "carol@example.org", carol.UserID, r.fedURL); status != http.StatusOK {
			t.Errorf("repeated onbind: %d %s", status, raw)
		}
		if m := memberOf(t, alice, room, carol.UserID); m["membership"] != "join" {
			t.Errorf("carol's membership after a repeated onbind: %v", m)
		}
	})
}

// "All homeservers MUST verify the signature in the m.room.member event's
// content.third_party_invite.signed object": a notice whose signed object
// is not signed by a key of the m.room.third_party_invite is refused, and
// so is one whose key the identity server says is no longer valid
// ("MUST validate that the public key used for signing is still valid").
func TestThirdPartyInvite_OnBindChecksSignatureAndKeyValidity(t *testing.T) {
	eachServerWithIS(t, "", func(t *testing.T, r *tpiRig) {
		alice, dave := r.s.Register("alice"), r.s.Register("dave")
		room := alice.CreateRoom(map[string]any{})
		if status, raw := r.invite3pid(alice, room, "dave@example.org"); status != http.StatusOK {
			t.Fatalf("3pid invite: %d %s", status, raw)
		}
		token := r.is.Token("email", "dave@example.org")

		ca := fedtest.NewCA(t)
		forger := istest.Start(t, ca, "127.0.0.1") // another key
		notice := func(signed json.RawMessage) map[string]any {
			return map[string]any{"medium": "email", "address": "dave@example.org", "mxid": dave.UserID,
				"invites": []any{map[string]any{"medium": "email", "address": "dave@example.org", "mxid": dave.UserID,
					"room_id": room, "sender": alice.UserID, "signed": signed}}}
		}
		status, raw := r.is.Notify(r.fedURL, notice(forger.Sign(dave.UserID, token)))
		if status != http.StatusForbidden || servertest.Errcode(raw) != "M_FORBIDDEN" {
			t.Errorf("forged signature: %d %s, want 403 M_FORBIDDEN", status, raw)
		}
		// A signature over another user ID does not make dave's invite.
		status, raw = r.is.Notify(r.fedURL, notice(r.is.Sign("@mallory:localhost", token)))
		if status != http.StatusBadRequest {
			t.Errorf("signed for another user: %d %s, want 400", status, raw)
		}
		r.is.Revoke()
		status, raw = r.is.Notify(r.fedURL, notice(r.is.Sign(dave.UserID, token)))
		if status != http.StatusForbidden || !strings.Contains(string(raw), "no longer valid") {
			t.Errorf("revoked key: %d %s, want 403 naming the key's validity", status, raw)
		}
		if m := memberOf(t, alice, room, dave.UserID); m != nil {
			t.Errorf("dave has a membership after refused notices: %v", m)
		}
	})
}

// An identity server that cannot be reached is the identity server's
// failure, not ours: 502 naming it; so is one at an address the
// ip_range_blacklist refuses. The access token the identity server does
// not know is the user's to fix: 403 with its errcode.
func TestThirdPartyInvite_IdentityServerFailuresAreClear(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		r := startWithIS(t, db, "")
		alice := r.s.Register("alice")
		room := alice.CreateRoom(map[string]any{})

		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := ln.Addr().String()
		ln.Close()
		status, raw := alice.Do("POST", servertest.Room(room)+"/invite", map[string]any{
			"id_server": closed, "id_access_token": istest.AccessToken, "medium": "email", "address": "x@example.org"}, nil)
		if status != http.StatusBadGateway || !strings.Contains(string(raw), closed) {
			t.Errorf("unreachable identity server: %d %s, want 502 naming %s", status, raw, closed)
		}

		status, raw = alice.Do("POST", servertest.Room(room)+"/invite", map[string]any{
			"id_server": r.is.Name, "id_access_token": "wrong", "medium": "email", "address": "x@example.org"}, nil)
		if status != http.StatusForbidden || servertest.Errcode(raw) != "M_UNAUTHORIZED" {
			t.Errorf("unknown id_access_token: %d %s, want 403 M_UNAUTHORIZED", status, raw)
		}

		status, raw = alice.Do("POST", servertest.Room(room)+"/invite", map[string]any{
			"id_server": "id.example.org/evil?", "id_access_token": "x", "medium": "email", "address": "x@example.org"}, nil)
		if status != http.StatusBadRequest || servertest.Errcode(raw) != "M_INVALID_PARAM" {
			t.Errorf("id_server with a path: %d %s", status, raw)
		}
		status, raw = alice.Do("POST", servertest.Room(room)+"/invite", map[string]any{"id_server": r.is.Name, "medium": "email", "address": "x@example.org"}, nil)
		if status != http.StatusBadRequest || servertest.Errcode(raw) != "M_MISSING_PARAM" {
			t.Errorf("no id_access_token: %d %s", status, raw)
		}
	})
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ca := fedtest.NewCA(t)
		is := istest.Start(t, ca, "127.0.0.1")
		// Loopback is in the default ip_range_blacklist.
		s := servertest.Start(t, db, servertest.Options{ExtraYAML: fmt.Sprintf("federation_custom_ca_list: [%q]\n", ca.PEMPath)})
		alice := s.Register("alice")
		room := alice.CreateRoom(map[string]any{})
		status, raw := alice.Do("POST", servertest.Room(room)+"/invite", map[string]any{
			"id_server": is.Name, "id_access_token": istest.AccessToken, "medium": "email", "address": "x@example.org"}, nil)
		if status != http.StatusBadGateway || !strings.Contains(string(raw), is.Name) || !strings.Contains(string(raw), "may not contact") {
			t.Errorf("identity server in a blocked range: %d %s, want 502 naming it", status, raw)
		}
	})
}

// createRoom's invite_3pid makes the same invites as POST /invite: an
// m.room.third_party_invite for an unbound address, an invite for a bound
// one.
func TestThirdPartyInvite_CreateRoomInvite3PID(t *testing.T) {
	eachServerWithIS(t, "", func(t *testing.T, r *tpiRig) {
		alice, bob := r.s.Register("alice"), r.s.Register("bob")
		r.is.PreBind("email", "bob@example.org", bob.UserID)
		entry := func(addr string) map[string]any {
			return map[string]any{"id_server": r.is.Name, "id_access_token": istest.AccessToken, "medium": "email", "address": addr}
		}
		room := alice.CreateRoom(map[string]any{"invite_3pid": []any{entry("erin@example.org"), entry("bob@example.org")}})
		token := r.is.Token("email", "erin@example.org")
		if status, raw := alice.Do("GET", servertest.Room(room)+"/state/m.room.third_party_invite/"+url.PathEscape(token), nil, nil); token == "" || status != http.StatusOK {
			t.Errorf("erin's m.room.third_party_invite: %d %s", status, raw)
		}
		if m := memberOf(t, alice, room, bob.UserID); m["membership"] != "invite" {
			t.Errorf("bob's membership: %v", m)
		}
		status, raw := alice.Do("POST", "/_matrix/client/v3/createRoom", map[string]any{"invite_3pid": []any{map[string]any{"medium": "email"}}}, nil)
		if status != http.StatusBadRequest || servertest.Errcode(raw) != "M_MISSING_PARAM" {
			t.Errorf("incomplete invite_3pid: %d %s", status, raw)
		}
	})
}

// rc_third_party_invite limits invites by third-party identifier per
// inviter, before the identity server is asked (Synapse's rule).
func TestThirdPartyInvite_RateLimited(t *testing.T) {
	eachServerWithIS(t, "rc_third_party_invite: {per_second: 0.001, burst_count: 1}\n", func(t *testing.T, r *tpiRig) {
		alice := r.s.Register("alice")
		room := alice.CreateRoom(map[string]any{})
		if status, raw := r.invite3pid(alice, room, "one@example.org"); status != http.StatusOK {
			t.Fatalf("first 3pid invite: %d %s", status, raw)
		}
		status, raw := r.invite3pid(alice, room, "two@example.org")
		if status != http.StatusTooManyRequests || servertest.Errcode(raw) != "M_LIMIT_EXCEEDED" {
			t.Errorf("second 3pid invite: %d %s, want 429", status, raw)
		}
		if n := r.is.Stores(); n != 1 {
			t.Errorf("the identity server stored %d invites, want 1", n)
		}
	})
}

// Only members with the invite power level may invite by address: the
// identity server is not asked to store an invite the room would refuse.
func TestThirdPartyInvite_NeedsInvitePower(t *testing.T) {
	eachServerWithIS(t, "", func(t *testing.T, r *tpiRig) {
		alice, bob := r.s.Register("alice"), r.s.Register("bob")
		room := alice.CreateRoom(map[string]any{"preset": "public_chat",
			"power_level_content_override": map[string]any{"invite": 50}})
		bob.MustDo("POST", servertest.Room(room)+"/join", map[string]any{}, nil)
		if status, raw := r.invite3pid(bob, room, "x@example.org"); status != http.StatusForbidden {
			t.Errorf("3pid invite without the invite level: %d %s", status, raw)
		}
		if status, raw := r.invite3pid(r.s.Register("carol"), room, "x@example.org"); status != http.StatusForbidden {
			t.Errorf("3pid invite by a non-member: %d %s", status, raw)
		}
		if n := r.is.Stores(); n != 0 {
			t.Errorf("the identity server stored %d invites", n)
		}
	})
}

// client-server-api "Invite permission": a user who blocks invites is not
// invited by address either when they bind it; the identity server hears
// M_INVITE_BLOCKED.
func TestThirdPartyInvite_OnBindRespectsInviteBlocking(t *testing.T) {
	eachServerWithIS(t, "", func(t *testing.T, r *tpiRig) {
		alice, frank := r.s.Register("alice"), r.s.Register("frank")
		setInvitePermission(t, frank, map[string]any{"default_action": "block"})
		room := alice.CreateRoom(map[string]any{})
		if status, raw := r.invite3pid(alice, room, "frank@example.org"); status != http.StatusOK {
			t.Fatalf("3pid invite: %d %s", status, raw)
		}
		status, raw := r.is.Bind("email", "frank@example.org", frank.UserID, r.fedURL)
		if status != http.StatusForbidden || servertest.Errcode(raw) != "M_INVITE_BLOCKED" {
			t.Errorf("onbind for a user blocking invites: %d %s", status, raw)
		}
		if m := memberOf(t, alice, room, frank.UserID); m != nil {
			t.Errorf("frank's membership: %v", m)
		}
	})
}

// /exchange_third_party_invite is a federation request like any other:
// without X-Matrix authentication it is refused. /3pid/onbind has no
// authentication in the spec, but a notice for another server's user is
// refused.
func TestThirdPartyInvite_FederationEndpointsRefuseStrangers(t *testing.T) {
	eachServerWithIS(t, "", func(t *testing.T, r *tpiRig) {
		req, _ := http.NewRequest("PUT", r.fedURL+"/_matrix/federation/v1/exchange_third_party_invite/"+url.PathEscape("!r:localhost"), strings.NewReader(`{}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("unauthenticated exchange: %d", resp.StatusCode)
		}
		status, raw := r.is.Notify(r.fedURL, map[string]any{"medium": "email", "address": "x@example.org", "mxid": "@x:elsewhere.example", "invites": []any{}})
		if status != http.StatusBadRequest || servertest.Errcode(raw) != "M_INVALID_PARAM" {
			t.Errorf("onbind for another server's user: %d %s", status, raw)
		}
	})
}
