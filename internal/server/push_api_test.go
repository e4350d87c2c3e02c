package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

type unreadCounts struct {
	Notifications int `json:"notification_count"`
	Highlights    int `json:"highlight_count"`
}

type unreadSync struct {
	NextBatch string `json:"next_batch"`
	Rooms     struct {
		Join map[string]struct {
			Unread       *unreadCounts           `json:"unread_notifications"`
			ThreadUnread map[string]unreadCounts `json:"unread_thread_notifications"`
		} `json:"join"`
	} `json:"rooms"`
}

// roomCounts is what a client knows of one room's counts.
type roomCounts struct {
	Room    unreadCounts
	Threads map[string]unreadCounts
}

func (c roomCounts) String() string { return fmt.Sprintf("%+v threads %+v", c.Room, c.Threads) }

// threadFilter asks for counts per thread (client-server-api "Receiving
// notifications").
const threadFilter = `{"room":{"timeline":{"unread_thread_notifications":true}}}`

// counter follows one user's /sync as a client does, keeping the last
// counts the server sent for each room.
type counter struct {
	c      *servertest.Client
	filter string
	since  string
	rooms  map[string]roomCounts
}

func newCounter(c *servertest.Client, filter string) *counter {
	return &counter{c: c, filter: filter, rooms: map[string]roomCounts{}}
}

func (k *counter) sync(timeoutMS int) {
	q := url.Values{}
	if k.filter != "" {
		q.Set("filter", k.filter)
	}
	if k.since != "" {
		q.Set("since", k.since)
		q.Set("timeout", fmt.Sprint(timeoutMS))
	}
	var resp unreadSync
	k.c.MustDo("GET", "/_matrix/client/v3/sync?"+q.Encode(), nil, &resp)
	k.since = resp.NextBatch
	for id, jr := range resp.Rooms.Join {
		if jr.Unread != nil {
			k.rooms[id] = roomCounts{Room: *jr.Unread, Threads: jr.ThreadUnread}
		}
	}
}

// waitFor syncs (long-polling) until the room's counts are want: counts
// are evaluated right after the commit, so they may trail the event's own
// sync by a wake-up. Each round waits for news; a bounded number of
// rounds keeps a wrong count from hanging the test.
func (k *counter) waitFor(t *testing.T, roomID string, want roomCounts) {
	t.Helper()
	if k.since == "" {
		k.sync(0)
	}
	for range 20 {
		if k.rooms[roomID].String() == want.String() {
			return
		}
		k.sync(2000)
	}
	t.Fatalf("counts of %s: %v, want %v", roomID, k.rooms[roomID], want)
}

func counts(n, h int) roomCounts { return roomCounts{Room: unreadCounts{n, h}} }

// client-server-api "Receiving notifications": a message from someone else
// counts as a notification, one that mentions the user also as a
// highlight, and the user's read receipt on the latest event clears both.
func TestPushCounts_MessageMentionAndReceiptReset(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		room := sharedRoom(t, alice, bob)
		k := newCounter(bob, "")
		k.waitFor(t, room, counts(0, 0))

		alice.SendText(room, "hello")
		k.waitFor(t, room, counts(1, 0))

		var resp struct {
			EventID string `json:"event_id"`
		}
		alice.MustDo("PUT", servertest.Room(room)+"/send/m.room.message/mention1", map[string]any{
			"msgtype": "m.text", "body": "bob: look", "m.mentions": map[string]any{"user_ids": []string{bob.UserID}}}, &resp)
		k.waitFor(t, room, counts(2, 1))

		// Bob's own messages never count.
		bob.SendText(room, "reading")
		alice.SendText(room, "more")
		k.waitFor(t, room, counts(3, 1))

		// A private receipt resets too; one on an earlier event leaves
		// what follows it unread.
		bob.MustDo("POST", receiptPath(room, "m.read.private", resp.EventID), map[string]any{}, nil)
		k.waitFor(t, room, counts(1, 0))
		last := alice.SendText(room, "last")
		k.waitFor(t, room, counts(2, 0))
		bob.MustDo("POST", receiptPath(room, "m.read", last), map[string]any{}, nil)
		k.waitFor(t, room, counts(0, 0))

		// Alice's counts are her own: nothing bob sent before she read.
		newCounter(alice, "").waitFor(t, room, counts(1, 0))
	})
}

// client-server-api "Threaded read receipts": with unread_thread_notifications
// the main timeline and each thread are counted apart; a threaded receipt
// clears only its thread, an unthreaded one everything before it.
func TestPushCounts_ThreadsCountedApartAndResetByThreadedReceipts(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		room := sharedRoom(t, alice, bob)
		root := alice.SendText(room, "root")
		var reply struct {
			EventID string `json:"event_id"`
		}
		for i := range 2 {
			alice.MustDo("PUT", servertest.Room(room)+fmt.Sprintf("/send/m.room.message/thread%d", i), map[string]any{
				"msgtype": "m.text", "body": "in thread",
				"m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": root}}, &reply)
		}
		main2 := alice.SendText(room, "main again")

		threaded := newCounter(bob, threadFilter)
		threaded.waitFor(t, room, roomCounts{Room: unreadCounts{2, 0}, Threads: map[string]unreadCounts{root: {2, 0}}})
		whole := newCounter(bob, "")
		whole.waitFor(t, room, counts(4, 0))

		bob.MustDo("POST", receiptPath(room, "m.read", reply.EventID), map[string]any{"thread_id": root}, nil)
		threaded.waitFor(t, room, counts(2, 0))
		whole.waitFor(t, room, counts(2, 0))

		bob.MustDo("POST", receiptPath(room, "m.read", main2), map[string]any{"thread_id": "main"}, nil)
		threaded.waitFor(t, room, counts(0, 0))

		alice.MustDo("PUT", servertest.Room(room)+"/send/m.room.message/thread9", map[string]any{
			"msgtype": "m.text", "body": "late reply",
			"m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": root}}, nil)
		threaded.waitFor(t, room, roomCounts{Threads: map[string]unreadCounts{root: {1, 0}}})
		// An unthreaded receipt reads every thread up to its event.
		last := alice.SendText(room, "end")
		bob.MustDo("POST", receiptPath(room, "m.read", last), map[string]any{}, nil)
		threaded.waitFor(t, room, counts(0, 0))
	})
}

// Counts are stored, not kept in memory: a restart shows the same counts,
// and events committed while the evaluation had not caught up are
// evaluated at the next start, exactly once.
func TestPushCounts_SurviveRestart(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		dir := t.TempDir()
		s := servertest.StartIn(t, dir, db, servertest.Options{})
		alice, bob := s.Register("alice"), s.Register("bob")
		room := sharedRoom(t, alice, bob)
		alice.SendText(room, "one")
		alice.SendText(room, "two")
		newCounter(bob, "").waitFor(t, room, counts(2, 0))
		alice.SendText(room, "three")
		s.Stop()

		s = servertest.StartIn(t, dir, db, servertest.Options{})
		bob = s.As(bob)
		newCounter(bob, "").waitFor(t, room, counts(3, 0))
		s.As(alice).SendText(room, "four")
		newCounter(bob, "").waitFor(t, room, counts(4, 0))
	})
}

type notificationsResp struct {
	NextToken     string `json:"next_token"`
	Notifications []struct {
		Actions []json.RawMessage `json:"actions"`
		Event   struct {
			EventID string `json:"event_id"`
			Type    string `json:"type"`
		} `json:"event"`
		Read   bool   `json:"read"`
		RoomID string `json:"room_id"`
		TS     int64  `json:"ts"`
	} `json:"notifications"`
}

// client-server-api "GET /notifications": newest first, paged with
// next_token, only=highlight keeps the highlights, and read says whether a
// receipt covers the event.
func TestNotificationsAPI_PagesNewestFirstWithHighlightsAndRead(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		room := sharedRoom(t, alice, bob)
		var sent []string
		for i := range 5 {
			body := map[string]any{"msgtype": "m.text", "body": fmt.Sprint("message ", i)}
			if i == 3 {
				body["m.mentions"] = map[string]any{"user_ids": []string{bob.UserID}}
			}
			var resp struct {
				EventID string `json:"event_id"`
			}
			alice.MustDo("PUT", servertest.Room(room)+fmt.Sprintf("/send/m.room.message/n%d", i), body, &resp)
			sent = append(sent, resp.EventID)
		}
		bob.MustDo("POST", receiptPath(room, "m.read", sent[1]), map[string]any{}, nil)
		newCounter(bob, "").waitFor(t, room, counts(3, 1))

		var got []string
		var read []bool
		from := ""
		for page := 0; page < 5; page++ {
			var r notificationsResp
			q := "/_matrix/client/v3/notifications?limit=2"
			if from != "" {
				q += "&from=" + url.QueryEscape(from)
			}
			bob.MustDo("GET", q, nil, &r)
			if len(r.Notifications) > 2 {
				t.Fatalf("page of %d with limit=2", len(r.Notifications))
			}
			for _, n := range r.Notifications {
				if n.RoomID != room || n.TS == 0 || len(n.Actions) == 0 || n.Event.Type != "m.room.message" {
					t.Fatalf("notification: %+v", n)
				}
				got = append(got, n.Event.EventID)
				read = append(read, n.Read)
			}
			if from = r.NextToken; from == "" {
				break
			}
		}
		want := []string{sent[4], sent[3], sent[2], sent[1], sent[0]}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("notifications %v, want %v", got, want)
		}
		if fmt.Sprint(read) != "[false false false true true]" {
			t.Errorf("read flags %v", read)
		}

		var hl notificationsResp
		bob.MustDo("GET", "/_matrix/client/v3/notifications?only=highlight", nil, &hl)
		if len(hl.Notifications) != 1 || hl.Notifications[0].Event.EventID != sent[3] || hl.NextToken != "" {
			t.Fatalf("only=highlight: %+v", hl)
		}
		code, raw := bob.Do("GET", "/_matrix/client/v3/notifications?from=nope", nil, nil)
		if code != http.StatusBadRequest || servertest.Errcode(raw) != "M_INVALID_PARAM" {
			t.Errorf("bad from: %d %s", code, raw)
		}
		var none notificationsResp
		alice.MustDo("GET", "/_matrix/client/v3/notifications", nil, &none)
		if len(none.Notifications) != 0 {
			t.Errorf("alice's own messages notified her: %+v", none)
		}
	})
}

func pusherBody(appID, pushKey, url string) map[string]any {
	return map[string]any{"kind": "http", "app_id": appID, "pushkey": pushKey, "app_display_name": "App",
		"device_display_name": "Phone", "lang": "en", "data": map[string]any{"url": url, "format": "event_id_only"}}
}

type pushersResp struct {
	Pushers []struct {
		PushKey string         `json:"pushkey"`
		Kind    string         `json:"kind"`
		AppID   string         `json:"app_id"`
		Lang    string         `json:"lang"`
		Profile string         `json:"profile_tag"`
		Data    map[string]any `json:"data"`
	} `json:"pushers"`
}

func listPushers(t *testing.T, c *servertest.Client) pushersResp {
	t.Helper()
	var r pushersResp
	c.MustDo("GET", "/_matrix/client/v3/pushers", nil, &r)
	return r
}

const gatewayURL = "https://push.example.org/_matrix/push/v1/notify"

// client-server-api "POST /pushers/set": a pusher is created, replaced by
// the same app_id and pushkey, deleted with kind null; without append
// another user's pusher with the same app_id and pushkey goes; logging
// out the device that set a pusher removes it.
func TestPushersAPI_SetReplaceDeleteAppendAndLogout(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		alice.MustDo("POST", "/_matrix/client/v3/pushers/set", pusherBody("org.example.app", "key1", gatewayURL), nil)
		got := listPushers(t, alice)
		if len(got.Pushers) != 1 || got.Pushers[0].PushKey != "key1" || got.Pushers[0].Kind != "http" ||
			got.Pushers[0].Data["url"] != gatewayURL || got.Pushers[0].Data["format"] != "event_id_only" {
			t.Fatalf("pushers: %+v", got)
		}
		// profile_tag is stored and shown (the Push Gateway API has no
		// place for it, so pushes do not carry it).
		b := pusherBody("org.example.app", "key1", gatewayURL)
		b["lang"] = "fr"
		b["profile_tag"] = "xyz"
		alice.MustDo("POST", "/_matrix/client/v3/pushers/set", b, nil)
		if got := listPushers(t, alice); len(got.Pushers) != 1 || got.Pushers[0].Lang != "fr" || got.Pushers[0].Profile != "xyz" {
			t.Fatalf("after replacing: %+v", got)
		}

		// Same app and key for bob: with append alice keeps hers.
		b = pusherBody("org.example.app", "key1", gatewayURL)
		b["append"] = true
		bob.MustDo("POST", "/_matrix/client/v3/pushers/set", b, nil)
		if len(listPushers(t, alice).Pushers) != 1 || len(listPushers(t, bob).Pushers) != 1 {
			t.Fatal("append removed the other user's pusher")
		}
		bob.MustDo("POST", "/_matrix/client/v3/pushers/set", pusherBody("org.example.app", "key1", gatewayURL), nil)
		if n := len(listPushers(t, alice).Pushers); n != 0 {
			t.Fatalf("without append alice still has %d pushers", n)
		}

		bob.MustDo("POST", "/_matrix/client/v3/pushers/set", map[string]any{"kind": nil, "app_id": "org.example.app", "pushkey": "key1"}, nil)
		if n := len(listPushers(t, bob).Pushers); n != 0 {
			t.Fatalf("kind null left %d pushers", n)
		}

		alice.MustDo("POST", "/_matrix/client/v3/pushers/set", pusherBody("org.example.app", "key2", gatewayURL), nil)
		alice.MustDo("POST", "/_matrix/client/v3/logout", map[string]any{}, nil)
		alice2 := login(t, s, "alice", "")
		if n := len(listPushers(t, alice2).Pushers); n != 0 {
			t.Fatalf("logging out left %d pushers of the device", n)
		}
	})
}

// client-server-api "POST /pushers/set": the errors of missing and invalid
// parameters.
func TestPushersAPI_RefusesMissingAndInvalidParameters(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		long := func(n int) string { return strings.Repeat("k", n) }
		with := func(k string, v any) map[string]any {
			b := pusherBody("org.example.app", "key", gatewayURL)
			if v == nil {
				delete(b, k)
			} else {
				b[k] = v
			}
			return b
		}
		for _, c := range []struct {
			name string
			body map[string]any
			code string
		}{
			{"no kind", with("kind", nil), "M_MISSING_PARAM"},
			{"no app_id", with("app_id", nil), "M_MISSING_PARAM"},
			{"no pushkey", with("pushkey", nil), "M_MISSING_PARAM"},
			{"no lang", with("lang", nil), "M_MISSING_PARAM"},
			{"no data", with("data", nil), "M_MISSING_PARAM"},
			{"no app_display_name", with("app_display_name", nil), "M_MISSING_PARAM"},
			{"no url", with("data", map[string]any{"format": "event_id_only"}), "M_MISSING_PARAM"},
			{"pushkey over 512 bytes", with("pushkey", long(513)), "M_INVALID_PARAM"},
			{"app_id over 64 chars", with("app_id", long(65)), "M_INVALID_PARAM"},
			{"unknown kind", with("kind", "carrier-pigeon"), "M_INVALID_PARAM"},
			{"url with another path", with("data", map[string]any{"url": "https://push.example.org/notify"}), "M_INVALID_PARAM"},
			{"url not http", with("data", map[string]any{"url": "ftp://push.example.org/_matrix/push/v1/notify"}), "M_INVALID_PARAM"},
			{"data not an object", with("data", "https://push.example.org/_matrix/push/v1/notify"), "M_INVALID_PARAM"},
		} {
			code, raw := alice.Do("POST", "/_matrix/client/v3/pushers/set", c.body, nil)
			if code != http.StatusBadRequest || servertest.Errcode(raw) != c.code {
				t.Errorf("%s: %d %s, want 400 %s", c.name, code, raw, c.code)
			}
		}
		if n := len(listPushers(t, alice).Pushers); n != 0 {
			t.Fatalf("refused requests left %d pushers", n)
		}
		code, _ := s.Anonymous().Do("GET", "/_matrix/client/v3/pushers", nil, nil)
		if code != http.StatusUnauthorized {
			t.Errorf("GET /pushers without a token: %d", code)
		}
	})
}

// An invite notifies its target (.m.rule.invite_for_me, listed by GET
// /notifications), but once joined, only what follows the join counts as
// unread: Synapse counts from the join when there is no receipt.
func TestPushCounts_InviteNotifiesButCountsStartAtTheJoin(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		room := alice.CreateRoom(map[string]any{"preset": "private_chat", "invite": []string{bob.UserID}})
		for i := 0; ; i++ {
			if i == 20 {
				t.Fatal("the invite never notified bob")
			}
			var r notificationsResp
			bob.MustDo("GET", "/_matrix/client/v3/notifications", nil, &r)
			if len(r.Notifications) == 1 && r.Notifications[0].Event.Type == "m.room.member" && r.Notifications[0].RoomID == room {
				break
			}
			if len(r.Notifications) > 1 {
				t.Fatalf("notifications: %+v", r)
			}
			newCounter(bob, "").sync(0) // a sync waits briefly for the notifier
		}
		bob.MustDo("POST", "/_matrix/client/v3/join/"+url.PathEscape(room), map[string]any{}, nil)
		k := newCounter(bob, "")
		k.waitFor(t, room, counts(0, 0))
		alice.SendText(room, "welcome")
		k.waitFor(t, room, counts(1, 0))
	})
}

// client-server-api "Ignoring Users": the server must not send an ignored
// user's events to the user who ignores them, so they do not count as
// notifications either (nor appear in /notifications); other members are
// still notified.
func TestPushCounts_IgnoredUsersDoNotNotify(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob, carol := s.Register("alice"), s.Register("bob"), s.Register("carol")
		room := sharedRoom(t, alice, bob, carol)
		bob.MustDo("PUT", "/_matrix/client/v3/user/"+url.PathEscape(bob.UserID)+"/account_data/m.ignored_user_list",
			map[string]any{"ignored_users": map[string]any{carol.UserID: map[string]any{}}}, nil)
		k := newCounter(bob, "")
		k.waitFor(t, room, counts(0, 0))

		carol.SendText(room, "bob, are you there?")
		alice.SendText(room, "hello")
		k.waitFor(t, room, counts(1, 0))
		// Alice ignores nobody: carol's message counts for her.
		newCounter(alice, "").waitFor(t, room, counts(1, 0))

		var notifs struct {
			Notifications []struct {
				Event struct {
					Sender string `json:"sender"`
				} `json:"event"`
			} `json:"notifications"`
		}
		bob.MustDo("GET", "/_matrix/client/v3/notifications", nil, &notifs)
		for _, n := range notifs.Notifications {
			if n.Event.Sender == carol.UserID {
				t.Errorf("bob's /notifications lists a message from carol, whom he ignores")
			}
		}
	})
}
