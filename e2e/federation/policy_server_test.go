package fede2e

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	pdu "github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/signing"
)

// policyServer is a Policy Server as the spec defines one
// (server-server-api "Policy Servers"): a server with a joined user in the
// room (a rogue, which also publishes its server key and takes
// transactions) that answers POST /_matrix/policy/v1/sign with its
// signature under ed25519:policy_server, made with a key of its own that is
// not its server key, or with an error. It refuses events whose body holds
// "SPAM"; hangUp makes it drop the connection without an answer.
type policyServer struct {
	*rogue
	key signing.SigningKey

	mu     sync.Mutex
	hangUp bool
	asked  []string // event IDs it was asked to sign
}

func newPolicyServer(t *testing.T, c *cluster) *policyServer {
	t.Helper()
	seed := make([]byte, 32)
	_, _ = rand.Read(seed)
	key, err := signing.NewSigningKey("policy_server", seed)
	if err != nil {
		t.Fatal(err)
	}
	ps := &policyServer{rogue: newRogue(t, c, "policy", nil), key: key}
	ps.handle("POST /_matrix/policy/v1/sign", ps.sign)
	return ps
}

func (ps *policyServer) sign(w http.ResponseWriter, req *http.Request) {
	ps.mu.Lock()
	hangUp := ps.hangUp
	ps.mu.Unlock()
	if hangUp {
		panic(http.ErrAbortHandler) // the connection closes without an answer
	}
	if !strings.HasPrefix(req.Header.Get("Authorization"), "X-Matrix ") {
		writeJSONBytes(w, http.StatusUnauthorized, []byte(`{"errcode":"M_UNAUTHORIZED","error":"signed requests only"}`))
		return
	}
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	ev, err := pdu.Parse(body, roomversion.MustGet("12"))
	if err != nil {
		writeJSONBytes(w, http.StatusBadRequest, []byte(`{"errcode":"M_BAD_JSON","error":"not a PDU"}`))
		return
	}
	ps.mu.Lock()
	ps.asked = append(ps.asked, ev.EventID())
	ps.mu.Unlock()
	if strings.Contains(string(ev.Content()), "SPAM") {
		writeJSONBytes(w, http.StatusBadRequest, []byte(`{"errcode":"M_FORBIDDEN","error":"This message looks like spam"}`))
		return
	}
	signed, err := ev.AddSignature(ps.name, ps.key)
	if err != nil {
		writeJSONBytes(w, http.StatusBadRequest, []byte(`{"errcode":"M_BAD_JSON","error":"cannot sign"}`))
		return
	}
	// Only the Policy Server's signature is returned.
	resp := mustJSON(map[string]any{ps.name: map[string]string{string(ps.key.ID): signed.Signatures()[ps.name][ps.key.ID]}})
	writeJSONBytes(w, http.StatusOK, resp)
}

// speak sends a message of sender, a user of r, to hs and waits until c,
// a user of hs, sees it.
func speak(t testing.TB, r *rogue, hs *homeserver, c *client, roomID, sender, body string) *pdu.Event {
	t.Helper()
	ev := r.newEvent(t, roomID, message(sender, body))
	r.sendPDUs(t, []*homeserver{hs}, ev.FederationJSON())
	r.accept(ev)
	c.syncUntil(t, fmt.Sprintf("%q from %s", body, r.label), syncBound, func(v *syncView) bool { return v.hasBody(roomID, body) })
	return ev
}

func (ps *policyServer) wasAsked(eventID string) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return slices.Contains(ps.asked, eventID)
}

func (ps *policyServer) setHangUp(on bool) {
	ps.mu.Lock()
	ps.hangUp = on
	ps.mu.Unlock()
}

// A room that names a Policy Server in m.room.policy has every event
// checked by it (spec v1.18, client-server-api and server-server-api
// "Policy Servers"): hs1 asks it to sign alice's events before storing
// them and passes its refusal to alice verbatim; hs2 takes what carries a
// valid signature; events received without one are signed on request or
// soft-failed; the origin's signature survives when the Policy Server is
// the origin (v1.19); and the room can always drop its Policy Server.
func TestFederation_PolicyServer(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hs1, hs2 := c.add("hs1"), c.add("hs2")
	alice, bob := hs1.register(t, "alice"), hs2.register(t, "bob")
	roomID := alice.createRoom(t, map[string]any{"room_version": "12", "preset": "public_chat", "name": "policed"})
	bob.join(t, roomID, hs1.name)

	ps := newPolicyServer(t, c)
	bot := ps.userID("bot")
	ps.join(t, hs1, roomID, "bot")
	spam := newRogue(t, c, "spammer", nil)
	mallory := spam.userID("mallory")
	spam.join(t, hs1, roomID, "mallory")
	waitMembership(t, roomID, map[string]string{bob.userID: "join", bot: "join", mallory: "join"}, alice, bob)

	// Enabling it is the one event the Policy Server is never asked about.
	policyContent := map[string]any{"via": ps.name, "public_keys": map[string]any{"ed25519": signing.EncodeBase64(ps.key.Public())}}
	var resp struct {
		EventID string `json:"event_id"`
	}
	alice.must(t, "PUT", roomPath(roomID)+"/state/m.room.policy/", policyContent, &resp)
	if ps.wasAsked(resp.EventID) {
		t.Errorf("the Policy Server was asked to sign the m.room.policy state event")
	}
	waitMembership(t, roomID, map[string]string{bot: "join"}, alice, bob)
	c.eventually(t, "hs2 has m.room.policy", syncBound, func() string {
		if st := bob.state(t, roomID); st[stateKey{"m.room.policy", ""}].EventID != resp.EventID {
			return "not yet"
		}
		return ""
	})

	t.Run("an allowed event carries the Policy Server's signature", func(t *testing.T) {
		id := alice.sendText(t, roomID, "hello, policed room")
		if !ps.wasAsked(id) {
			t.Fatalf("hs1 stored %s without asking the Policy Server", id)
		}
		// The room's servers send it on with both signatures: the Policy
		// Server, in the room, receives it.
		c.eventually(t, "the Policy Server receives alice's event", syncBound, func() string {
			ev := ps.known(id)
			if ev == nil {
				return "not received"
			}
			sigs := ev.Signatures()
			if sigs[ps.name]["ed25519:policy_server"] == "" || len(sigs[hs1.name]) == 0 {
				return fmt.Sprintf("signatures %v", sigs)
			}
			return ""
		})
		bob.syncUntil(t, "alice's signed message on hs2", syncBound, func(v *syncView) bool { return v.hasBody(roomID, "hello, policed room") })
		// And hs2's own events are signed for hs1's clients to see.
		reply := bob.sendText(t, roomID, "bob's reply")
		if !ps.wasAsked(reply) {
			t.Errorf("hs2 stored %s without asking the Policy Server", reply)
		}
		alice.syncUntil(t, "bob's signed message on hs1", syncBound, func(v *syncView) bool { return v.hasBody(roomID, "bob's reply") })
		// An invite of another server's user is signed before that
		// server countersigns it.
		carol := hs2.register(t, "carol")
		alice.membership(t, roomID, "invite", carol.userID)
		st := waitMembership(t, roomID, map[string]string{carol.userID: "invite"}, alice)
		if id := st[stateKey{"m.room.member", carol.userID}].EventID; !ps.wasAsked(id) {
			t.Errorf("the invite %s was sent without asking the Policy Server", id)
		}
	})

	t.Run("a refused event gets the Policy Server's error and is not stored", func(t *testing.T) {
		x, err := alice.do(t.Context(), "PUT", roomPath(roomID)+"/send/m.room.message/"+newTxnID(), textContent("buy SPAM now"))
		if err != nil {
			t.Fatal(err)
		}
		if x.Status != http.StatusBadRequest || x.Errcode() != "M_FORBIDDEN" || !strings.Contains(string(x.RespBody), "This message looks like spam") {
			t.Fatalf("want the Policy Server's 400 M_FORBIDDEN verbatim, got\n%s", x)
		}
		if b := bodies(alice.messages(t, roomID)); slices.Contains(b, "buy SPAM now") {
			t.Errorf("the refused event was stored: %q", b)
		}
	})

	t.Run("a received event without the signature is signed on request or soft-failed", func(t *testing.T) {
		// mallory's server never asks the Policy Server. hs1 asks for
		// her clean message and shows it; her spam is refused, so hs1
		// soft-fails it: stored, never shown, never a prev event.
		clean := speak(t, spam, hs1, alice, roomID, mallory, "mallory, unsigned but clean")
		if !ps.wasAsked(clean.EventID()) {
			t.Errorf("hs1 showed mallory's unsigned event without asking the Policy Server")
		}

		bad := spam.newEvent(t, roomID, message(mallory, "mallory's SPAM"))
		spam.sendPDUs(t, []*homeserver{hs1}, bad.FederationJSON())
		c.eventually(t, "hs1 asks the Policy Server about mallory's spam", syncBound, func() string {
			if !ps.wasAsked(bad.EventID()) {
				return "not asked"
			}
			return ""
		})
		after := alice.sendText(t, roomID, "after the spam")
		c.eventually(t, "the Policy Server receives alice's next event", syncBound, func() string {
			if ps.known(after) == nil {
				return "not received"
			}
			return ""
		})
		if slices.Contains(ps.known(after).PrevEventIDs(), bad.EventID()) {
			t.Errorf("alice's event cites the soft-failed event as a prev event")
		}
		if b := bodies(alice.messages(t, roomID)); slices.Contains(b, "mallory's SPAM") {
			t.Errorf("hs1 shows the soft-failed event: %q", b)
		}
	})

	t.Run("the origin's signature is kept when the Policy Server is the origin", func(t *testing.T) {
		// The Policy Server's bot speaks, signed with its server key
		// only; hs1 asks the Policy Server (the same name) and adds its
		// answer beside the origin's signature.
		own := speak(t, ps.rogue, hs1, alice, roomID, bot, "the bot speaks")
		var got struct {
			PDUs []json.RawMessage `json:"pdus"`
		}
		ps.mustExchange(t, hs1, "GET", "/_matrix/federation/v1/event/"+url.PathEscape(own.EventID()), nil, &got)
		if len(got.PDUs) != 1 {
			t.Fatalf("hs1 served %d PDUs", len(got.PDUs))
		}
		var served struct {
			Signatures map[string]map[string]string `json:"signatures"`
		}
		if err := json.Unmarshal(got.PDUs[0], &served); err != nil {
			t.Fatal(err)
		}
		sigs := served.Signatures[ps.name]
		if sigs[string(ps.rogue.key.ID)] == "" || sigs["ed25519:policy_server"] == "" {
			t.Errorf("hs1 holds the bot's event with signatures %v, want the origin's and the Policy Server's", served.Signatures)
		}
	})

	t.Run("an unreachable Policy Server fails the send, and the room can drop it", func(t *testing.T) {
		ps.setHangUp(true)
		x, err := alice.do(t.Context(), "PUT", roomPath(roomID)+"/send/m.room.message/"+newTxnID(), textContent("while it is down"))
		if err != nil {
			t.Fatal(err)
		}
		if x.Status != http.StatusBadGateway || !strings.Contains(string(x.RespBody), ps.name) {
			t.Fatalf("want 502 naming the Policy Server, got\n%s", x)
		}
		if b := bodies(alice.messages(t, roomID)); slices.Contains(b, "while it is down") {
			t.Errorf("the event sent while the Policy Server was down was stored: %q", b)
		}
		// m.room.policy is set without asking, so the room can turn its
		// Policy Server off while it is down (client-server-api "Policy
		// Servers", security considerations).
		alice.must(t, "PUT", roomPath(roomID)+"/state/m.room.policy/", map[string]any{}, nil)
		alice.sendText(t, roomID, "without a Policy Server")
		bob.syncUntil(t, "the message sent without a Policy Server", syncBound, func(v *syncView) bool {
			return v.hasBody(roomID, "without a Policy Server")
		})
	})

	t.Run("a room naming this server as its Policy Server is one without, here", func(t *testing.T) {
		// hs1 is not a Policy Server: it neither asks itself nor
		// soft-fails what it cannot sign (Synapse's rule too).
		alice.must(t, "PUT", roomPath(roomID)+"/state/m.room.policy/", map[string]any{
			"via": hs1.name, "public_keys": map[string]any{"ed25519": signing.EncodeBase64(ps.key.Public())}}, nil)
		alice.sendText(t, roomID, "hs1 names itself")
		speak(t, spam, hs1, alice, roomID, mallory, "mallory, in a room naming hs1")
	})

	t.Run("a Policy Server without a joined user is not used", func(t *testing.T) {
		// No user of this server is in the room, so the room does not use
		// it (server-server-api "Determining if a Policy Server is enabled
		// in a room"); asking it would fail, as nothing listens there.
		alice.must(t, "PUT", roomPath(roomID)+"/state/m.room.policy/", map[string]any{
			"via": "127.0.0.1:1", "public_keys": map[string]any{"ed25519": signing.EncodeBase64(ps.key.Public())}}, nil)
		alice.sendText(t, roomID, "no joined Policy Server")
		speak(t, spam, hs1, alice, roomID, mallory, "mallory, in a room whose Policy Server is not in it")
	})
}
