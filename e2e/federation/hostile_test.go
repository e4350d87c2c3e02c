package fede2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/e2e/harness"
	pdu "github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/signing"
)

// A server that does not follow the rules cannot push anything past
// Myelin's checks (server-server-api, "Checks performed on receipt of a
// PDU", "Validating hashes and signatures on received events",
// "Transactions", "Retrieving server keys", "Request Authentication").
//
// hs1 holds alice, who creates a public room (version 12); bob on hs2
// joins it, and so does @mallory on a rogue server run by the test (see
// rogue_test.go), through a genuine make_join/send_join. Mallory's good
// messages reach alice and bob, which shows the channel works; what she
// sends outside the rules must never reach a client of either server, and
// the room's state must not move.
func TestFederation_HostileServer(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hs1, hs2 := c.add("hs1"), c.add("hs2")
	honest := []*homeserver{hs1, hs2}
	alice, bob := hs1.register(t, "alice"), hs2.register(t, "bob")
	roomID := alice.createRoom(t, map[string]any{
		"room_version": "12", "preset": "public_chat", "name": "hostile", "topic": "the real topic",
	})
	bob.join(t, roomID, hs1.name)
	waitMembership(t, roomID, map[string]string{bob.userID: "join"}, alice, bob)

	mal := newRogue(t, c, "rogue", nil)
	mallory := mal.userID("mallory")
	mal.join(t, hs1, roomID, "mallory")
	waitMembership(t, roomID, map[string]string{mallory: "join"}, alice, bob)

	// A good message from mallory arrives: the rogue's channel works, so
	// what is refused below is refused for what it is.
	hello := mal.newEvent(t, roomID, message(mallory, "hello from mallory"))
	mal.sendPDUs(t, honest, hello.FederationJSON())
	mal.accept(hello)
	for _, u := range []*client{alice, bob} {
		u.syncUntil(t, "mallory's good message", syncBound, func(v *syncView) bool { return v.hasBody(roomID, "hello from mallory") })
	}

	var liarForHS2 *rogue // a key server that published a key as hs2's
	t.Run("servers lying about their keys are not trusted", func(t *testing.T) {
		liarForHS2 = lyingKeyServers(t, c, hs1, hs2, roomID, mal)
	})
	if liarForHS2 == nil {
		t.FailNow()
	}

	t.Run("forged, tampered, unauthorised and replayed events", func(t *testing.T) {
		hostileEvents(t, roomID, alice, bob, mal, liarForHS2)
	})

	t.Run("ban evasion through an old part of the room is soft-failed", func(t *testing.T) {
		// Mallory cites the room as it was before alice banned her. Her
		// message passes the auth rules at its own position, so it is not
		// rejected, but fails against the current state: soft-failed, not
		// shown (server-server-api, "Soft failure").
		before := mal.point(t, roomID)
		alice.membership(t, roomID, "ban", mallory)
		banned := waitMembership(t, roomID, map[string]string{mallory: "ban"}, alice, bob)
		since := sinceTokens(t, alice, bob)

		b := message(mallory, "EVADES-BAN")
		v := mal.prepare(t, roomID, before, b)
		evade := mal.sign(t, v, b, mal.name, mal.key)
		mal.sendPDUs(t, honest, evade.FederationJSON())
		// hs1 and hs2 processed the transaction before answering it, so a
		// message alice sends afterwards marks the end of what to check.
		alice.sendText(t, roomID, "after the ban evasion attempt")

		for i, u := range []*client{alice, bob} {
			tl := u.timelineSince(t, roomID, since[i], "alice's message after the ban evasion attempt", func(evs []event) bool {
				return hasBody(evs, "after the ban evasion attempt")
			})
			checkNeverShown(t, u, roomID, tl, []string{evade.EventID()}, []string{"EVADES-BAN"})
		}
		st := requireSameState(t, roomID, alice, bob)
		if d := banned.diff(st); d != "" {
			t.Errorf("the ban evasion attempt changed the room's state:\n%s", d)
		}
	})
}

// lyingKeyServers runs servers whose key documents lie, one lie each, and
// checks that hs1 refuses their signed requests (401, server-server-api
// "Request Authentication": the key must be one the origin publishes,
// fetched from "/_matrix/key/v2/server" and self-signed, "Retrieving
// server keys") and does not pass their keys on as a notary. It returns
// the server that published a key under hs2's name, whose key
// hostileEvents then tries to pass off as hs2's.
func lyingKeyServers(t *testing.T, c *cluster, hs1, hs2 *homeserver, roomID string, mal *rogue) *rogue {
	otherKey := func() signing.SigningKey {
		k, err := signing.GenerateSigningKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	hour := time.Hour.Milliseconds()
	lies := []struct {
		name string
		doc  func(name string, key signing.SigningKey) []byte
		// forgeRequests signs requests with another private key under
		// the published key's ID.
		forgeRequests bool
		// notary: check that hs1 does not vouch for this key.
		notary bool
		// asHS2: the document claims to be hs2's.
		asHS2 bool
	}{
		{name: "key document not signed by the key it lists", notary: true,
			doc: func(name string, key signing.SigningKey) []byte {
				doc := mustKeyDoc(t, name, key, time.Now().UnixMilli()+hour)
				forged, err := signing.SignJSON(doc, name, signing.SigningKey{ID: key.ID, Private: otherKey().Private})
				if err != nil {
					t.Fatal(err)
				}
				return forged
			}},
		{name: "key document naming another server (hs2)", notary: true, asHS2: true,
			doc: func(_ string, key signing.SigningKey) []byte {
				return mustKeyDoc(t, hs2.name, key, time.Now().UnixMilli()+hour)
			}},
		{name: "key document whose valid_until_ts has passed",
			doc: func(name string, key signing.SigningKey) []byte {
				return mustKeyDoc(t, name, key, time.Now().UnixMilli()-hour)
			}},
		{name: "requests signed with a key other than the published one", forgeRequests: true},
	}
	var forHS2 *rogue
	for i, lie := range lies {
		liar := newRogue(t, c, fmt.Sprintf("liar%d", i+1), lie.doc)
		if lie.asHS2 {
			forHS2 = liar
		}
		if lie.forgeRequests {
			liar.reqKey = signing.SigningKey{ID: liar.key.ID, Private: otherKey().Private}
		}
		// A join attempt and a transaction carrying a message from the
		// liar, built on the room as mallory sees it.
		x := liar.exchange(t, hs1, "GET", makeJoinPath(roomID, liar.userID("liar")), nil)
		checkUnauthorized(t, lie.name+": make_join", x, hs1)
		b := message(liar.userID("liar"), "LIAR-MESSAGE")
		v := mal.prepare(t, roomID, mal.point(t, roomID), b)
		ev := liar.sign(t, v, b, liar.name, liar.key)
		x = liar.exchange(t, hs1, "PUT", "/_matrix/federation/v1/send/"+newTxnID(), liar.txnBody(ev.FederationJSON()))
		checkUnauthorized(t, lie.name+": /send", x, hs1)

		if lie.notary {
			// Nothing hs1 fetched from the liar may come back out of its
			// notary API, under the liar's name or hs2's.
			for _, server := range []string{liar.name, hs2.name} {
				notaryMustNotList(t, hs1, server, liar.key)
			}
		}
	}
	return forHS2
}

// mustKeyDoc is a correctly self-signed key document for server with key.
func mustKeyDoc(t testing.TB, server string, key signing.SigningKey, validUntil int64) []byte {
	doc, err := signing.BuildServerKeys(server, []signing.SigningKey{key}, nil, validUntil)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// checkUnauthorized requires a 401 for a request whose X-Matrix signature
// cannot be trusted.
func checkUnauthorized(t testing.TB, what string, x *harness.Exchange, hs *homeserver) {
	t.Helper()
	if x.Status != http.StatusUnauthorized {
		t.Errorf("%s: want 401, got\n%s\n%s log lines for this path:\n%s", what, x, hs.label, hs.proc.LogLinesAbout(x))
	}
}

// notaryMustNotList asks hs as a notary for server's keys (GET
// /_matrix/key/v2/query/{serverName}) and fails if an answer lists key.
func notaryMustNotList(t testing.TB, hs *homeserver, server string, key signing.SigningKey) {
	t.Helper()
	x, err := hs.do(context.Background(), "", "GET", "/_matrix/key/v2/query/"+url.PathEscape(server), nil)
	if err != nil {
		t.Fatal(err)
	}
	if x.Status != http.StatusOK && x.Status != http.StatusNotFound {
		t.Errorf("notary query for %s: unexpected answer:\n%s", server, x)
		return
	}
	pub := signing.EncodeBase64(key.Public())
	if bytes.Contains(x.RespBody, []byte(pub)) || bytes.Contains(x.RespBody, []byte(key.ID)) {
		t.Errorf("%s vouches for the lying key %s as %s's:\n%s", hs.label, key.ID, server, x)
	}
}

// hostileEvents sends events that break the rules, each in a transaction
// of its own to hs1 and hs2, and replays a transaction; then checks through
// alice's and bob's /sync, /messages and /event that none of them shows,
// that the replayed event shows once, and that the state did not move.
func hostileEvents(t *testing.T, roomID string, alice, bob *client, mal *rogue, liarForHS2 *rogue) {
	honest := []*homeserver{alice.s, bob.s}
	mallory := mal.userID("mallory")
	stateBefore := requireSameState(t, roomID, alice, bob)
	since := sinceTokens(t, alice, bob)

	// Every hostile event sits at the same place in the room, on events
	// both servers hold, so nothing but its own fault can refuse it.
	p := mal.point(t, roomID)
	v := mal.version(roomID)
	build := func(b *pdu.Builder, server string, key signing.SigningKey) *pdu.Event {
		mal.prepare(t, roomID, p, b)
		return mal.sign(t, v, b, server, key)
	}
	stranger, err := signing.GenerateSigningKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pl := map[string]any{}
	_ = json.Unmarshal(p.state[pdu.StateTuple{Type: "m.room.power_levels"}].Content(), &pl)
	users, _ := pl["users"].(map[string]any)
	if users == nil {
		users = map[string]any{}
	}
	users[mallory] = 100
	pl["users"] = users
	expiredTS := mal.validUntil + time.Minute.Milliseconds()
	lateMsg := message(mallory, "AFTER-KEY-EXPIRY")
	lateMsg.OriginServerTS = expiredTS

	// refused are dropped (steps 1–2: signatures) or rejected (steps 4–5:
	// auth rules); either way no client may see them.
	refused := []struct {
		what   string
		ev     *pdu.Event
		marker string // text in its content that must never show
	}{
		{"signed under mallory's server key ID by a key it never published",
			build(message(mallory, "FORGED-SIGNATURE"), mal.name, signing.SigningKey{ID: mal.key.ID, Private: stranger.Private}), "FORGED-SIGNATURE"},
		{"sent as alice, signed only by the rogue",
			build(message(alice.userID, "IMPERSONATES-ALICE"), mal.name, mal.key), "IMPERSONATES-ALICE"},
		{"sent as bob, signed as hs2 with the key the liar published under hs2's name",
			build(message(bob.userID, "IMPERSONATES-BOB"), bob.s.name, liarForHS2.key), "IMPERSONATES-BOB"},
		{"created after the key that signed it stopped being valid (valid_until_ts)",
			build(lateMsg, mal.name, mal.key), "AFTER-KEY-EXPIRY"},
		{"mallory raising herself to power 100",
			build(stateEvent(mallory, "m.room.power_levels", "", pl), mal.name, mal.key), ""},
		{"mallory setting the topic without the power to",
			build(stateEvent(mallory, "m.room.topic", "", map[string]any{"topic": "MALLORY-TOPIC"}), mal.name, mal.key), "MALLORY-TOPIC"},
		{"mallory banning alice without the power to",
			build(stateEvent(mallory, "m.room.member", alice.userID, map[string]any{"membership": "ban", "reason": "MALLORY-BAN"}), mal.name, mal.key), "MALLORY-BAN"},
	}
	// A corrupted auth chain (issue 17): mallory's member event cites an
	// auth event nobody can produce (the rogue answers 404 for it, and so
	// would anyone asked), and a message cites that member event as her
	// membership and as its prev event. Neither may enter the room nor
	// move its state: an event is rejected unless it passes the auth rules
	// on its auth events (server-server-api, "Checks performed on receipt
	// of a PDU", step 4), and an event citing a rejected one is rejected
	// too ("Rejection").
	ghostID := "$" + strings.Repeat("G", 43)
	ghostly := stateEvent(mallory, "m.room.member", mallory, map[string]any{"membership": "join", "displayname": "GHOST-AUTHED"})
	mal.prepare(t, roomID, p, ghostly)
	ghostly.AuthEvents = append(ghostly.AuthEvents, ghostID)
	ghostMember := mal.sign(t, v, ghostly, mal.name, mal.key)
	onGhost := message(mallory, "BUILT-ON-GHOST")
	mal.prepare(t, roomID, p, onGhost)
	ownMember := p.state[pdu.StateTuple{Type: "m.room.member", StateKey: mallory}].EventID()
	for i, id := range onGhost.AuthEvents {
		if id == ownMember {
			onGhost.AuthEvents[i] = ghostMember.EventID()
		}
	}
	onGhost.PrevEvents = []string{ghostMember.EventID()}
	onGhost.Depth = ghostMember.Depth() + 1
	refused = append(refused,
		struct {
			what   string
			ev     *pdu.Event
			marker string
		}{"mallory's member event citing an auth event that does not exist", ghostMember, "GHOST-AUTHED"},
		struct {
			what   string
			ev     *pdu.Event
			marker string
		}{"a message citing that member event as mallory's membership", mal.sign(t, v, onGhost, mal.name, mal.key), "BUILT-ON-GHOST"},
	)

	for _, r := range refused {
		t.Logf("sending the event %s: %s", r.what, r.ev.EventID())
		mal.sendPDUs(t, honest, r.ev.FederationJSON())
	}

	// A message whose content was changed after it was hashed and signed:
	// the signature (over the redacted form) holds, the content hash does
	// not, so servers keep only the redacted event (step 3). Its event ID,
	// a hash of the redacted form, is the untampered event's.
	hashed := build(message(mallory, "HASHED-ORIGINAL"), mal.name, mal.key)
	tampered := withContent(t, hashed.FederationJSON(), textContent("TAMPERED-BODY"))
	mal.sendPDUs(t, honest, tampered)

	// A transaction sent twice under one ID, then its PDU again under a
	// new ID: the event is stored and shown once (the spec's transaction
	// IDs let a receiver recognise a retry).
	once := mal.newEvent(t, roomID, message(mallory, "REPLAYED ONCE"))
	body := mal.txnBody(once.FederationJSON())
	for _, hs := range honest {
		txnID := newTxnID()
		first := mal.send(t, hs, txnID, body)
		again := mal.send(t, hs, txnID, body)
		t.Logf("%s: the transaction and its replay answered %v and %v", hs.label, first, again)
		mal.send(t, hs, newTxnID(), mal.txnBody(once.FederationJSON()))
	}
	mal.accept(once)

	// A last good message: once it shows, everything before it was
	// processed (each /send was answered after processing anyway).
	last := mal.newEvent(t, roomID, message(mallory, "mallory's last good message"))
	mal.sendPDUs(t, honest, last.FederationJSON())
	mal.accept(last)

	var refusedIDs, markers []string
	for _, r := range refused {
		refusedIDs = append(refusedIDs, r.ev.EventID())
		if r.marker != "" {
			markers = append(markers, r.marker)
		}
	}
	markers = append(markers, "HASHED-ORIGINAL", "TAMPERED-BODY", "LIAR-MESSAGE")
	for i, u := range []*client{alice, bob} {
		tl := u.timelineSince(t, roomID, since[i], "mallory's last good message", func(evs []event) bool {
			return hasBody(evs, "mallory's last good message")
		})
		checkNeverShown(t, u, roomID, tl, refusedIDs, markers)
		for _, good := range []string{once.EventID(), last.EventID()} {
			if n := countID(tl, good); n != 1 {
				t.Errorf("%s: /sync carried mallory's good event %s %d times, want once", u.s.label, good, n)
			}
			if n := countID(u.messages(t, roomID), good); n != 1 {
				t.Errorf("%s: /messages lists mallory's good event %s %d times, want once", u.s.label, good, n)
			}
		}
		// The tampered event is kept redacted: its content is gone.
		if u.hasEvent(t, roomID, hashed.EventID()) {
			if e := u.event(t, roomID, hashed.EventID()); e.str("body") != "" || len(bytes.TrimSpace(e.Content)) > 2 {
				t.Errorf("%s: the event with the wrong content hash is served with content %s, want it redacted ({})", u.s.label, e.Content)
			}
		} else {
			t.Errorf("%s: the event with the wrong content hash (%s) is missing; it should be kept in its redacted form "+
				"(server-server-api, \"Checks performed on receipt of a PDU\", step 3)", u.s.label, hashed.EventID())
		}
	}

	st := requireSameState(t, roomID, alice, bob)
	if d := stateBefore.diff(st); d != "" {
		t.Errorf("the hostile events changed the room's state:\n%s", d)
	}
}

// withContent returns the PDU pdu with its content replaced, leaving its
// hashes and signatures as they were.
func withContent(t testing.TB, pdu []byte, content any) []byte {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(pdu, &obj); err != nil {
		t.Fatal(err)
	}
	obj["content"] = mustJSON(content)
	return mustJSON(obj)
}

// sinceTokens returns a /sync since token for each client, taken now.
func sinceTokens(t testing.TB, clients ...*client) []string {
	t.Helper()
	out := make([]string, len(clients))
	for i, c := range clients {
		c.syncOnce(t, 0)
		out[i] = c.since
	}
	return out
}

// timelineSince long-polls /sync from since and keeps every event each
// answer carries in roomID's timeline, repeats included, so that a
// duplicate delivery shows, until done holds of them. It fails the test
// after syncBound. It does not touch the client's own view.
func (c *client) timelineSince(t testing.TB, roomID, since, what string, done func([]event) bool) []event {
	t.Helper()
	var all []event
	deadline := time.Now().Add(syncBound)
	for {
		q := url.Values{"since": {since}, "timeout": {"1000"}, "filter": {`{"room":{"timeline":{"limit":100}}}`}}
		var resp struct {
			NextBatch string `json:"next_batch"`
			Rooms     struct {
				Join  map[string]syncRoom `json:"join"`
				Leave map[string]syncRoom `json:"leave"`
			} `json:"rooms"`
		}
		c.must(t, "GET", "/_matrix/client/v3/sync?"+q.Encode(), nil, &resp)
		all = append(all, resp.Rooms.Join[roomID].Timeline.Events...)
		all = append(all, resp.Rooms.Leave[roomID].Timeline.Events...)
		if resp.NextBatch != "" {
			since = resp.NextBatch
		}
		if done(all) {
			return all
		}
		if time.Now().After(deadline) {
			c.s.c.skipOnKnownBug(t, what)
			t.Fatalf("%s (%s): %s: not seen in /sync within %v; saw %s", c.userID, c.s.label, what, syncBound, describe(all))
		}
	}
}

func hasBody(evs []event, body string) bool {
	for _, e := range evs {
		if e.Type == "m.room.message" && e.str("body") == body {
			return true
		}
	}
	return false
}

func countID(evs []event, id string) int {
	n := 0
	for _, e := range evs {
		if e.EventID == id {
			n++
		}
	}
	return n
}

func describe(evs []event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "\n  %s %s from %s: %s", e.EventID, e.Type, e.Sender, e.Content)
	}
	return b.String()
}

// checkNeverShown fails the test if any of ids, or any event whose content
// holds one of markers, is in the /sync timeline tl, in u's /messages, or
// served by u's GET /event.
func checkNeverShown(t testing.TB, u *client, roomID string, tl []event, ids, markers []string) {
	t.Helper()
	check := func(where string, evs []event) {
		for _, e := range evs {
			for _, id := range ids {
				if e.EventID == id {
					t.Errorf("%s: %s shows refused event %s: %s %s", u.s.label, where, id, e.Type, e.Content)
				}
			}
			for _, m := range markers {
				if bytes.Contains(e.Content, []byte(m)) {
					t.Errorf("%s: %s shows %q in event %s (%s from %s): %s", u.s.label, where, m, e.EventID, e.Type, e.Sender, e.Content)
				}
			}
		}
	}
	check("/sync", tl)
	check("/messages", u.messages(t, roomID))
	for _, id := range ids {
		if u.hasEvent(t, roomID, id) {
			t.Errorf("%s: GET /event serves refused event %s", u.s.label, id)
		}
	}
}
