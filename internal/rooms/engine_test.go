package rooms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/signing"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
	"github.com/myelin-chat/myelin/internal/streams"
)

func newEngine(t testing.TB, db *sqldb.DB) *Engine {
	t.Helper()
	return newEngineIdle(t, db, 0)
}

// newEngineIdle is newEngine whose rooms leave memory after idle.
func newEngineIdle(t testing.TB, db *sqldb.DB, idle time.Duration) *Engine {
	t.Helper()
	ctx := context.Background()
	st, err := roomstore.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := signing.NewSigningKey("test", make([]byte, 32))
	pos, err := st.MaxStreamPos(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e := New(Config{Store: st, ServerName: "hs1", Key: key, Stream: streams.NewTracker(pos), Notifier: streams.NewNotifier(), IdleTimeout: idle})
	t.Cleanup(e.Close)
	return e
}

func msg(sender, body string) *event.Builder {
	return &event.Builder{Type: event.TypeMessage, Sender: sender, Content: Content(map[string]any{"msgtype": "m.text", "body": body})}
}

func member(sender, target, membership string) *event.Builder {
	return &event.Builder{Type: event.TypeMember, StateKey: &target, Sender: sender, Content: Content(map[string]any{"membership": membership})}
}

func TestCreateRoomSendAndReadBackInEveryVersion(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		e := newEngine(t, db)
		ctx := context.Background()
		for _, v := range roomversion.All() {
			name := "Room " + string(v.ID)
			roomID, err := e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1", Version: v, Preset: "public_chat", Name: &name})
			if err != nil {
				t.Fatalf("v%s create: %v", v.ID, err)
			}
			ev, err := e.Send(ctx, roomID, msg("@alice:hs1", "hello"), nil)
			if err != nil {
				t.Fatalf("v%s send: %v", v.ID, err)
			}
			se, err := e.Store().Event(ctx, ev.EventID())
			if err != nil || se.StreamPos == 0 {
				t.Fatalf("v%s: event not stored: %v", v.ID, err)
			}
			got, err := e.State(ctx, roomID, event.TypeName, "")
			if err != nil {
				t.Fatal(err)
			}
			var c struct{ Name string }
			_ = json.Unmarshal(got.Content(), &c)
			if c.Name != name {
				t.Errorf("v%s: name = %q", v.ID, c.Name)
			}
			// Bob joins the public room and talks.
			if _, err := e.Send(ctx, roomID, member("@bob:hs1", "@bob:hs1", "join"), nil); err != nil {
				t.Fatalf("v%s: bob join: %v", v.ID, err)
			}
			if _, err := e.Send(ctx, roomID, msg("@bob:hs1", "hi"), nil); err != nil {
				t.Fatalf("v%s: bob send: %v", v.ID, err)
			}
		}
	})
}

func TestSendByNonMemberIsForbidden(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		e := newEngine(t, db)
		ctx := context.Background()
		roomID, err := e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1", Preset: "private_chat"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.Send(ctx, roomID, msg("@mallory:hs1", "let me in"), nil)
		if !errors.Is(err, merr.ErrForbidden) {
			t.Fatalf("want forbidden, got %v", err)
		}
		// A private room needs an invite to join.
		if _, err := e.Send(ctx, roomID, member("@mallory:hs1", "@mallory:hs1", "join"), nil); !errors.Is(err, merr.ErrForbidden) {
			t.Fatalf("join without invite: want forbidden, got %v", err)
		}
		// The room still works after rejected requests rolled back.
		if _, err := e.Send(ctx, roomID, msg("@alice:hs1", "still here"), nil); err != nil {
			t.Fatal(err)
		}
	})
}

// A committed event is read back as the Event the room already holds, not
// a second parsed copy: a user's /sync over thousands of new rooms would
// otherwise hold every state event twice (issue 10).
func TestCommittedEventsAreReadBackWithoutACopy(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		e := newEngine(t, db)
		ctx := context.Background()
		roomID, err := e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1"})
		if err != nil {
			t.Fatal(err)
		}
		sent, err := e.Send(ctx, roomID, msg("@alice:hs1", "hello"), nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.Store().Event(ctx, sent.EventID())
		if err != nil {
			t.Fatal(err)
		}
		if got.Event != sent {
			t.Error("reading the event back parsed another copy")
		}
		if !bytes.Equal(got.FederationJSON(), sent.FederationJSON()) || got.StreamPos == 0 {
			t.Errorf("read back %s at %d", got.FederationJSON(), got.StreamPos)
		}
	})
}

func TestTransactionIDIsIdempotent(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		e := newEngine(t, db)
		ctx := context.Background()
		roomID, _ := e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1"})
		txn := &Txn{UserID: "@alice:hs1", DeviceID: "DEV", TxnID: "t1"}
		a, err := e.Send(ctx, roomID, msg("@alice:hs1", "once"), txn)
		if err != nil {
			t.Fatal(err)
		}
		b, err := e.Send(ctx, roomID, msg("@alice:hs1", "once"), txn)
		if err != nil {
			t.Fatal(err)
		}
		if a.EventID() != b.EventID() {
			t.Errorf("same txn gave two events: %s %s", a.EventID(), b.EventID())
		}
		other, _ := e.Send(ctx, roomID, msg("@alice:hs1", "once"), &Txn{UserID: "@alice:hs1", DeviceID: "DEV2", TxnID: "t1"})
		if other.EventID() == a.EventID() {
			t.Error("transaction IDs are per device")
		}
	})
}

func TestConcurrentSendsAllCommitInOrder(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		e := newEngine(t, db)
		ctx := context.Background()
		roomID, _ := e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1"})
		const n = 50
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			go func() {
				_, err := e.Send(ctx, roomID, msg("@alice:hs1", "burst"), nil)
				errs <- err
			}()
		}
		for i := 0; i < n; i++ {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		evs, err := e.Store().RoomEvents(ctx, roomID, 0, e.Stream().Current(), 1000, true)
		if err != nil {
			t.Fatal(err)
		}
		// Each event's prev_events must be the one before it: a linear DAG.
		for i := 1; i < len(evs); i++ {
			prev := evs[i].PrevEventIDs()
			if len(prev) != 1 || prev[0] != evs[i-1].EventID() {
				t.Fatalf("event %d does not follow event %d", i, i-1)
			}
		}
		if got := len(evs); got < n+6 {
			t.Errorf("got %d events, want at least %d", got, n+6)
		}
	})
}

func TestNotifierWakesMembersOnCommit(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		e := newEngine(t, db)
		ctx := context.Background()
		roomID, _ := e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1"})
		ch := e.Notifier().Listen("@alice:hs1")
		if _, err := e.Send(ctx, roomID, msg("@alice:hs1", "ping"), nil); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatal("member not woken")
		}
	})
}

// History visibility is judged by the state before each event
// (client-server-api "History visibility"), also when a timeline is read in
// order and only its first event's state is read from storage: each event
// must get the same answer as when it is checked alone.
func TestVisibilityInATimelineFollowsEachEventsState(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		e := newEngine(t, db)
		ctx := context.Background()
		roomID, err := e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1", Preset: "private_chat"})
		if err != nil {
			t.Fatal(err)
		}
		empty := ""
		hv := func(v string) *event.Builder {
			return &event.Builder{Type: event.TypeHistoryVisibility, StateKey: &empty, Sender: "@alice:hs1",
				Content: Content(map[string]any{"history_visibility": v})}
		}
		steps := []*event.Builder{
			hv("joined"), msg("@alice:hs1", "m1"),
			member("@alice:hs1", "@bob:hs1", "invite"), msg("@alice:hs1", "m2"),
			member("@bob:hs1", "@bob:hs1", "join"), msg("@alice:hs1", "m3"),
			hv("invited"), member("@bob:hs1", "@bob:hs1", "leave"), msg("@alice:hs1", "m4"),
			member("@alice:hs1", "@bob:hs1", "invite"), msg("@alice:hs1", "m5"),
		}
		for _, b := range steps {
			if _, err := e.Send(ctx, roomID, b, nil); err != nil {
				t.Fatal(err)
			}
		}
		evs, err := e.Store().RoomEvents(ctx, roomID, 0, e.Stream().Current(), 100, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, joinedLater := range []bool{true, false} {
			together, err := e.FilterVisible(ctx, "@bob:hs1", evs, joinedLater)
			if err != nil {
				t.Fatal(err)
			}
			var alone []*roomstore.StoredEvent
			for _, se := range evs {
				vis, err := e.FilterVisible(ctx, "@bob:hs1", []*roomstore.StoredEvent{se}, joinedLater)
				if err != nil {
					t.Fatal(err)
				}
				alone = append(alone, vis...)
			}
			var got, want []string
			for _, se := range together {
				got = append(got, se.EventID())
			}
			for _, se := range alone {
				want = append(want, se.EventID())
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("joinedLater=%v: read in order %d events visible, checked alone %d", joinedLater, len(got), len(want))
			}
			var bodies []string
			for _, se := range together {
				if se.Type() == event.TypeMessage {
					var c struct{ Body string }
					_ = json.Unmarshal(se.Content(), &c)
					bodies = append(bodies, c.Body)
				}
			}
			// m3 while joined; m5 while invited under "invited".
			if strings.Join(bodies, ",") != "m3,m5" {
				t.Errorf("joinedLater=%v: bob sees %v, want m3 and m5", joinedLater, bodies)
			}
		}
	})
}

// Reading many rooms' latest events and member summaries in one statement
// gives what reading each room alone gives.
func TestBatchedRoomReadsMatchPerRoomReads(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		e := newEngine(t, db)
		ctx := context.Background()
		var ids []string
		for i := 0; i < 4; i++ {
			id, err := e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1", Preset: "public_chat"})
			if err != nil {
				t.Fatal(err)
			}
			for j := 0; j < i*3; j++ {
				if _, err := e.Send(ctx, id, msg("@alice:hs1", "x"), nil); err != nil {
					t.Fatal(err)
				}
			}
			if i%2 == 1 {
				if _, err := e.Send(ctx, id, member("@bob:hs1", "@bob:hs1", "join"), nil); err != nil {
					t.Fatal(err)
				}
			}
			ids = append(ids, id)
		}
		st, upto := e.Store(), e.Stream().Current()
		for _, from := range []int64{0, upto / 2} {
			batch, err := st.LatestEvents(ctx, ids, from, upto, 5)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range ids {
				one, err := st.RoomEvents(ctx, id, from, upto, 5, false)
				if err != nil {
					t.Fatal(err)
				}
				var a, b []string
				for _, se := range batch[id] {
					a = append(a, se.EventID())
				}
				for _, se := range one {
					b = append(b, se.EventID())
				}
				if strings.Join(a, ",") != strings.Join(b, ",") {
					t.Errorf("from %d, room %s: batched %v, alone %v", from, id, a, b)
				}
			}
		}
		sums, err := st.MemberSummaries(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range ids {
			got := sums[id]
			if got == nil || got.Joined != 1+i%2 || len(got.First) != 1+i%2 || got.First[0] != "@alice:hs1" {
				t.Errorf("room %d: summary %+v", i, got)
			}
		}
	})
}
