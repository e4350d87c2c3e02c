package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// Rate limits through the whole server (Synapse's "Ratelimiting" settings).
// Each test lowers the limits it is about to a burst that never refills
// while it runs (per_second 0.0001), so no test depends on time; refilling
// is covered by internal/ratelimit with an injected clock.

// startLimited starts a server whose limits are the test defaults (out of
// the way) overridden by yaml.
func startLimited(t *testing.T, db *sqldb.DB, yaml string) *servertest.Server {
	t.Helper()
	return servertest.Start(t, db, servertest.Options{ExtraYAML: yaml})
}

// expectLimited checks a 429 M_LIMIT_EXCEEDED with a retry hint.
func expectLimited(t *testing.T, what string, status int, raw []byte) {
	t.Helper()
	var body struct {
		Errcode      string `json:"errcode"`
		RetryAfterMS int64  `json:"retry_after_ms"`
	}
	_ = json.Unmarshal(raw, &body)
	if status != http.StatusTooManyRequests || body.Errcode != "M_LIMIT_EXCEEDED" || body.RetryAfterMS <= 0 {
		t.Fatalf("%s: %d %s, want 429 M_LIMIT_EXCEEDED with retry_after_ms", what, status, raw)
	}
}

// expectOK returns a check of a 200, to apply to a request's results.
func expectOK(t *testing.T, what string) func(status int, raw []byte) {
	return func(status int, raw []byte) {
		t.Helper()
		if status != http.StatusOK {
			t.Fatalf("%s: %d %s", what, status, raw)
		}
	}
}

func sendPath(roomID, txn string) string {
	return servertest.Room(roomID) + "/send/m.room.message/" + url.PathEscape(txn)
}

var text = map[string]any{"msgtype": "m.text", "body": "hi"}

// makeAdmin grants server admin rights directly in the database.
func makeAdmin(t *testing.T, srv *servertest.Server, userID string) {
	t.Helper()
	acct, err := accounts.New(context.Background(), srv.DB)
	if err != nil {
		t.Fatal(err)
	}
	if err := acct.SetAdmin(context.Background(), userID, true); err != nil {
		t.Fatal(err)
	}
}

// rc_message counts every non-membership event a user sends, room creation
// and profile changes; membership changes have limits of their own.
func TestRateLimit_MessageCoversEventsRoomsAndProfiles(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		srv := startLimited(t, db, "rc_message: {per_second: 0.0001, burst_count: 5}\n")
		alice, bob := srv.Register("alice"), srv.Register("bob")
		room := alice.CreateRoom(map[string]any{"preset": "public_chat"}) // 1
		var sent struct {
			EventID string `json:"event_id"`
		}
		alice.MustDo("PUT", sendPath(room, "m1"), text, &sent)                                                                                      // 2
		alice.MustDo("PUT", servertest.Room(room)+"/state/m.room.topic", map[string]any{"topic": "t"}, nil)                                         // 3
		alice.MustDo("PUT", servertest.Room(room)+"/redact/"+url.PathEscape(sent.EventID)+"/r1", map[string]any{}, nil)                             // 4
		alice.MustDo("PUT", "/_matrix/client/v3/profile/"+url.PathEscape(alice.UserID)+"/displayname", map[string]any{"displayname": "Alice"}, nil) // 5

		// Membership is not a message: the invite still goes through.
		alice.MustDo("POST", servertest.Room(room)+"/invite", map[string]any{"user_id": bob.UserID}, nil)

		status, raw := alice.Do("PUT", sendPath(room, "m2"), text, nil)
		expectLimited(t, "send", status, raw)
		status, raw = alice.Do("PUT", servertest.Room(room)+"/state/m.room.name", map[string]any{"name": "n"}, nil)
		expectLimited(t, "state", status, raw)
		status, raw = alice.Do("POST", servertest.Room(room)+"/redact/"+url.PathEscape(sent.EventID), map[string]any{}, nil)
		expectLimited(t, "redaction", status, raw)
		status, raw = alice.Do("POST", "/_matrix/client/v3/createRoom", map[string]any{}, nil)
		expectLimited(t, "createRoom", status, raw)
		status, raw = alice.Do("DELETE", "/_matrix/client/v3/profile/"+url.PathEscape(alice.UserID)+"/displayname", nil, nil)
		expectLimited(t, "profile", status, raw)

		// Each user has a bucket of their own.
		bob.MustDo("POST", servertest.Room(room)+"/join", map[string]any{}, nil)
		bob.SendText(room, "mine")
	})
}

// Spec (client-server-api "Rate limiting"): a 429 SHOULD carry Retry-After,
// in whole seconds, rounded up from retry_after_ms.
func TestRateLimit_RetryAfterHeader(t *testing.T) {
	srv := startLimited(t, storagetest.NewSQLite(t), "rc_message: {per_second: 0.5, burst_count: 1}\n"+
		"rc_room_creation: {per_second: 10000, burst_count: 10000}\n")
	alice := srv.Register("alice")
	room := alice.CreateRoom(map[string]any{})
	req, _ := http.NewRequest("PUT", srv.URL+sendPath(room, "x"), nil)
	req.Header.Set("Authorization", "Bearer "+alice.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 || s > 2 {
		t.Errorf("Retry-After = %q, want 1 or 2 seconds", resp.Header.Get("Retry-After"))
	}
}

// A client retrying a transaction after a lost response gets the event it
// already sent, even with its bucket empty, and the retry costs nothing
// (client-server-api "Transaction identifiers").
func TestRateLimit_RetriedTransactionIsFree(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		srv := startLimited(t, db, "rc_message: {per_second: 0.0001, burst_count: 3}\n")
		alice := srv.Register("alice")
		room := alice.CreateRoom(map[string]any{}) // 1
		var first, again struct {
			EventID string `json:"event_id"`
		}
		alice.MustDo("PUT", sendPath(room, "once"), text, &first) // 2
		redact := servertest.Room(room) + "/redact/" + url.PathEscape(first.EventID) + "/r-once"
		var redaction, redactionAgain struct {
			EventID string `json:"event_id"`
		}
		alice.MustDo("PUT", redact, map[string]any{}, &redaction) // 3: the bucket is now empty
		for i := 0; i < 3; i++ {
			alice.MustDo("PUT", sendPath(room, "once"), text, &again)
			if again.EventID != first.EventID {
				t.Fatalf("retry %d got %s, want %s", i, again.EventID, first.EventID)
			}
			alice.MustDo("PUT", redact, map[string]any{}, &redactionAgain)
			if redactionAgain.EventID != redaction.EventID {
				t.Fatalf("redaction retry %d got %s, want %s", i, redactionAgain.EventID, redaction.EventID)
			}
		}
		status, raw := alice.Do("PUT", sendPath(room, "new"), text, nil)
		expectLimited(t, "a new transaction", status, raw)
	})
}

// Server admins are never rate limited by the limits counted per user.
func TestRateLimit_AdminsAreExempt(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		srv := startLimited(t, db, "rc_message: {per_second: 0.0001, burst_count: 1}\n"+
			"rc_room_creation: {per_second: 0.0001, burst_count: 1}\n"+
			"rc_joins: {local: {per_second: 0.0001, burst_count: 1}}\n"+
			"rc_invites: {per_issuer: {per_second: 0.0001, burst_count: 1}, per_room: {per_second: 0.0001, burst_count: 1}}\n")
		admin, user := srv.Register("admin"), srv.Register("user")
		makeAdmin(t, srv, admin.UserID)
		var rooms []string
		for i := 0; i < 3; i++ {
			rooms = append(rooms, admin.CreateRoom(map[string]any{"preset": "public_chat", "invite": []string{user.UserID, "@x:localhost"}}))
		}
		for i := 0; i < 5; i++ {
			admin.SendText(rooms[0], "moderating")
		}
		for _, u := range []string{"@a:localhost", "@b:localhost", "@c:localhost"} {
			admin.MustDo("POST", servertest.Room(rooms[0])+"/invite", map[string]any{"user_id": u}, nil)
		}
		other := srv.Register("other")
		roomOfOther := other.CreateRoom(map[string]any{"preset": "public_chat"})
		admin.MustDo("POST", servertest.Room(roomOfOther)+"/join", map[string]any{}, nil)

		// The same limits hold for everyone else.
		user.CreateRoom(map[string]any{})
		status, raw := user.Do("POST", "/_matrix/client/v3/createRoom", map[string]any{}, nil)
		expectLimited(t, "a second room by a user", status, raw)
	})
}

// rc_room_creation: checked with rc_message on every createRoom; a request
// inviting more users than rc_invites.per_room's burst is refused with 400,
// as in Synapse.
func TestRateLimit_RoomCreation(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		srv := startLimited(t, db, "rc_room_creation: {per_second: 0.0001, burst_count: 2}\n"+
			"rc_invites: {per_room: {per_second: 0.0001, burst_count: 2}}\n")
		alice := srv.Register("alice")
		status, raw := alice.Do("POST", "/_matrix/client/v3/createRoom",
			map[string]any{"invite": []string{"@a:localhost", "@b:localhost", "@c:localhost"}}, nil)
		if status != http.StatusBadRequest {
			t.Fatalf("three invites with a burst of two: %d %s", status, raw)
		}
		alice.CreateRoom(map[string]any{"invite": []string{"@a:localhost", "@b:localhost"}})
		alice.CreateRoom(map[string]any{})
		status, raw = alice.Do("POST", "/_matrix/client/v3/createRoom", map[string]any{}, nil)
		expectLimited(t, "third room", status, raw)
	})
}

// rc_admin_redaction, when set, replaces rc_message for redactions of other
// users' events; a user's own redactions stay messages.
func TestRateLimit_AdminRedaction(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		srv := startLimited(t, db, "rc_message: {per_second: 0.0001, burst_count: 4}\n"+
			"rc_admin_redaction: {per_second: 0.0001, burst_count: 2}\n")
		mod, spammer := srv.Register("mod"), srv.Register("spammer")
		room := mod.CreateRoom(map[string]any{"preset": "public_chat"}) // mod: 1 message
		spammer.MustDo("POST", servertest.Room(room)+"/join", map[string]any{}, nil)
		var spam []string
		for i := 0; i < 3; i++ {
			spam = append(spam, spammer.SendText(room, "spam"))
		}
		redact := func(id string) (int, []byte) {
			return mod.Do("POST", servertest.Room(room)+"/redact/"+url.PathEscape(id), map[string]any{}, nil)
		}
		expectOK(t, "first moderation redaction")(redact(spam[0]))
		expectOK(t, "second moderation redaction")(redact(spam[1]))
		status, raw := redact(spam[2])
		expectLimited(t, "third moderation redaction", status, raw)
		// rc_message is untouched by them: the moderator's own messages and
		// redactions of them still go through.
		own := mod.SendText(room, "mine")         // 2
		expectOK(t, "own redaction")(redact(own)) // 3
	})
}

// rc_joins.local counts a user's new joins; staying joined and changing
// one's profile does not count again.
func TestRateLimit_JoinsLocal(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		srv := startLimited(t, db, "rc_joins: {local: {per_second: 0.0001, burst_count: 1}}\n")
		alice, bob := srv.Register("alice"), srv.Register("bob")
		r1 := alice.CreateRoom(map[string]any{"preset": "public_chat"})
		r2 := alice.CreateRoom(map[string]any{"preset": "public_chat"})
		bob.MustDo("POST", servertest.Room(r1)+"/join", map[string]any{}, nil)
		bob.MustDo("POST", servertest.Room(r1)+"/join", map[string]any{}, nil) // already joined
		status, raw := bob.Do("POST", servertest.Room(r2)+"/join", map[string]any{}, nil)
		expectLimited(t, "second room", status, raw)
	})
}

// rc_joins_per_room counts every join to a room, the creator's included;
// once spent, the room takes no new local joins.
func TestRateLimit_JoinsPerRoom(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		srv := startLimited(t, db, "rc_joins_per_room: {per_second: 0.0001, burst_count: 2}\n")
		alice, bob, carol := srv.Register("alice"), srv.Register("bob"), srv.Register("carol")
		room := alice.CreateRoom(map[string]any{"preset": "public_chat"})        // join 1
		bob.MustDo("POST", servertest.Room(room)+"/join", map[string]any{}, nil) // join 2
		status, raw := carol.Do("POST", servertest.Room(room)+"/join", map[string]any{}, nil)
		expectLimited(t, "third join", status, raw)
		// Other rooms are not affected.
		other := bob.CreateRoom(map[string]any{"preset": "public_chat"})
		carol.MustDo("POST", servertest.Room(other)+"/join", map[string]any{}, nil)
	})
}

// rc_invites: per issuer, per invitee and per room.
func TestRateLimit_Invites(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		srv := startLimited(t, db, "rc_invites: {per_issuer: {per_second: 0.0001, burst_count: 2}, "+
			"per_user: {per_second: 0.0001, burst_count: 1}, per_room: {per_second: 0.0001, burst_count: 2}}\n")
		alice, bob := srv.Register("alice"), srv.Register("bob")
		invite := func(c *servertest.Client, room, user string) (int, []byte) {
			return c.Do("POST", servertest.Room(room)+"/invite", map[string]any{"user_id": user}, nil)
		}
		r1 := alice.CreateRoom(map[string]any{})
		r2 := bob.CreateRoom(map[string]any{})
		expectOK(t, "first invite")(invite(alice, r1, "@carol:localhost"))
		status, raw := invite(bob, r2, "@carol:localhost")
		expectLimited(t, "carol's second invite (per_user)", status, raw)
		expectOK(t, "alice's second")(invite(alice, r1, "@dave:localhost"))
		status, raw = invite(alice, r1, "@erin:localhost")
		expectLimited(t, "alice's third (per_issuer, per_room)", status, raw)
		// per_room alone: bob's room has room for two of bob's invites.
		r3 := bob.CreateRoom(map[string]any{})
		expectOK(t, "bob invites frank")(invite(bob, r3, "@frank:localhost"))
	})
}
