package fede2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/identity/istest"
)

// A third-party invite across two servers (client-server-api and
// server-server-api "Third-party invites"): alice on hs1 invites an email
// address nobody has bound, so hs1 stores the invite at the identity
// server and sends an m.room.third_party_invite. When bob of hs2 binds the
// address, the identity server tells hs2 (/3pid/onbind); hs2 is not in the
// room and the inviter is hs1's, so hs2 asks hs1 at
// /exchange_third_party_invite, and hs1 checks the identity server's
// signature and key, builds the invite and has hs2 countersign it (/invite).
// Bob sees the invite, joins, and they talk. A notice whose signature is
// not the identity server's makes no invite.
func TestFederation_ThirdPartyInviteExchange(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hs1, hs2 := c.add("hs1"), c.add("hs2")
	is := istest.Start(t, c.ca, allocHost(t))
	alice := hs1.register(t, "alice")
	bob := hs2.register(t, "bob")

	roomID := alice.createRoom(t, map[string]any{"preset": "private_chat", "name": "invited by email"})
	alice.must(t, "POST", roomPath(roomID)+"/invite", map[string]any{
		"id_server": is.Name, "id_access_token": istest.AccessToken, "medium": "email", "address": "bob@example.org"}, nil)
	token := is.Token("email", "bob@example.org")
	if token == "" {
		t.Fatal("hs1 stored no invite at the identity server")
	}
	if _, ok := alice.state(t, roomID)[stateKey{"m.room.third_party_invite", token}]; !ok {
		t.Fatal("no m.room.third_party_invite in the room's state")
	}

	// A forged proof: signed by a key the room does not know.
	forger := istest.Start(t, c.ca, allocHost(t))
	status, raw := is.Notify(hs2.url, map[string]any{"medium": "email", "address": "bob@example.org", "mxid": bob.userID,
		"invites": []any{map[string]any{"medium": "email", "address": "bob@example.org", "mxid": bob.userID,
			"room_id": roomID, "sender": alice.userID, "signed": forger.Sign(bob.userID, token)}}})
	if status != http.StatusForbidden || !strings.Contains(string(raw), "signature") {
		t.Errorf("onbind with a forged signature: %d %s, want 403 passing on hs1's refusal", status, raw)
	}
	if got := alice.state(t, roomID).membershipOf(bob.userID); got != "" {
		t.Fatalf("after a forged onbind bob's membership on hs1 is %q", got)
	}

	if status, raw := is.Bind("email", "bob@example.org", bob.userID, hs2.url); status != http.StatusOK {
		t.Fatalf("onbind: %d %s", status, raw)
	}
	st := alice.state(t, roomID)
	m := st[stateKey{"m.room.member", bob.userID}]
	var content struct {
		Membership       string `json:"membership"`
		ThirdPartyInvite struct {
			Signed struct {
				MXID  string `json:"mxid"`
				Token string `json:"token"`
			} `json:"signed"`
		} `json:"third_party_invite"`
	}
	_ = json.Unmarshal(m.Content, &content)
	if content.Membership != "invite" || content.ThirdPartyInvite.Signed.MXID != bob.userID || content.ThirdPartyInvite.Signed.Token != token || m.Sender != alice.userID {
		t.Fatalf("bob's member event on hs1: %+v", m)
	}
	bob.syncUntil(t, "the invite to "+roomID, syncBound, func(v *syncView) bool {
		return v.section[roomID] == "invite"
	})
	if got := bob.join(t, roomID); got != roomID {
		t.Fatalf("join answered room_id %s, want %s", got, roomID)
	}
	exchangeMessages(t, alice, bob, roomID, "third-party invite")
}
