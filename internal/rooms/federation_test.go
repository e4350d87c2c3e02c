package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/signing"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
	"github.com/myelin-chat/myelin/internal/streams"
)

// fedServer is a room engine standing for one homeserver, for tests that
// pass events between servers in-process (the HTTP transport is tested
// elsewhere).
type fedServer struct {
	name string
	e    *Engine
	key  signing.SigningKey
}

func newFedServer(t *testing.T, db *sqldb.DB, name string, seed byte) *fedServer {
	t.Helper()
	ctx := context.Background()
	st, err := roomstore.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	s := make([]byte, 32)
	s[0] = seed
	key, _ := signing.NewSigningKey("k", s)
	pos, err := st.MaxStreamPos(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e := New(Config{Store: st, ServerName: name, Key: key, Stream: streams.NewTracker(pos), Notifier: streams.NewNotifier()})
	t.Cleanup(e.Close)
	return &fedServer{name: name, e: e, key: key}
}

func secondDB(t *testing.T, db *sqldb.DB) *sqldb.DB {
	if db.Dialect() == sqldb.Postgres {
		return storagetest.NewPostgres(t)
	}
	return storagetest.NewSQLite(t)
}

// peerFetcher answers an engine's fetches from another engine's store, the
// way the federation client would from the remote server's API.
type peerFetcher struct{ peer *Engine }

func (f peerFetcher) FetchEvent(ctx context.Context, roomID, id string) (*event.Event, error) {
	se, err := f.peer.Store().Event(ctx, id)
	if err != nil {
		return nil, err
	}
	return se.Event, nil
}

func (f peerFetcher) MissingEvents(ctx context.Context, roomID string, earliest, latest []string, limit int) ([]*event.Event, error) {
	return f.peer.MissingEvents(ctx, roomID, earliest, latest, limit, 0)
}

func (f peerFetcher) StateIDs(ctx context.Context, roomID, id string) ([]string, []string, error) {
	st, chain, err := f.peer.StateAtEvent(ctx, roomID, id)
	if err != nil {
		return nil, nil, err
	}
	var s, c []string
	for _, e := range st {
		s = append(s, e.EventID())
	}
	for _, e := range chain {
		c = append(c, e.EventID())
	}
	return s, c, nil
}

// joinVia runs make_join/send_join from joiner's server to the resident.
func joinVia(t *testing.T, joiner, resident *fedServer, roomID, userID string) {
	t.Helper()
	ctx := context.Background()
	tmpl, err := resident.e.MakeMembership(ctx, roomID, userID, event.Join, []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"})
	if err != nil {
		t.Fatalf("make_join: %v", err)
	}
	v := roomversion.MustGet(roomversion.ID(tmpl.RoomVersion))
	raw, _ := json.Marshal(tmpl.Event)
	b, err := event.BuilderFromTemplate(raw, v)
	if err != nil {
		t.Fatal(err)
	}
	if !v.EventIDsAreHashes() {
		b.EventID = newLegacyEventID(joiner.name)
		b.Origin = joiner.name
	}
	join, err := b.Build(v, joiner.name, joiner.key)
	if err != nil {
		t.Fatal(err)
	}
	res, err := resident.e.AcceptMembership(ctx, roomID, join)
	if err != nil {
		t.Fatalf("send_join: %v", err)
	}
	if err := joiner.e.JoinRemoteRoom(ctx, v, res.Event, res.State, res.AuthChain); err != nil {
		t.Fatalf("persisting the joined room: %v", err)
	}
}

// deliver hands events committed on one server to the other, as a /send
// transaction would.
func deliver(t *testing.T, to, from *fedServer, roomID string, evs ...*event.Event) []IngestResult {
	t.Helper()
	return to.e.Ingest(context.Background(), roomID, evs, peerFetcher{from.e})
}

func currentState(t *testing.T, s *fedServer, roomID string) map[event.StateTuple]string {
	t.Helper()
	m, err := s.e.Store().CurrentState(context.Background(), roomID)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// timelineBodies lists the message bodies of a room's live timeline
// (positive stream positions), oldest first.
func timelineBodies(t *testing.T, s *fedServer, roomID string) []string {
	return bodiesAfter(t, s, roomID, 0)
}

// bodiesAfter lists the message bodies of events after stream position
// from, oldest first.
func bodiesAfter(t *testing.T, s *fedServer, roomID string, from int64) []string {
	t.Helper()
	evs, err := s.e.Store().RoomEvents(context.Background(), roomID, from, s.e.Stream().Current(), 1000, true)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, se := range evs {
		if se.Type() == event.TypeMessage {
			var c struct{ Body string }
			_ = json.Unmarshal(se.Content(), &c)
			out = append(out, c.Body)
		}
	}
	return out
}

func TestFederatedJoinAndMessagesBothWays(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		for _, ver := range []roomversion.ID{"1", "2", "5", "10", "11", "12"} {
			t.Run("v"+string(ver), func(t *testing.T) {
				hs1 := newFedServer(t, secondDB(t, db), "hs1", 1)
				hs2 := newFedServer(t, secondDB(t, db), "hs2", 2)
				ctx := context.Background()
				roomID, err := hs1.e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1", Preset: "public_chat", Version: roomversion.MustGet(ver)})
				if err != nil {
					t.Fatal(err)
				}
				hs1.e.Send(ctx, roomID, msg("@alice:hs1", "before bob"), nil)
				joinVia(t, hs2, hs1, roomID, "@bob:hs2")

				a, err := hs1.e.Send(ctx, roomID, msg("@alice:hs1", "hello hs2"), nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range deliver(t, hs2, hs1, roomID, a) {
					if r.Err != nil || r.SoftFailed {
						t.Fatalf("hs2 refused alice's message: %+v", r)
					}
				}
				b, err := hs2.e.Send(ctx, roomID, msg("@bob:hs2", "hello hs1"), nil)
				if err != nil {
					t.Fatalf("bob sends from hs2: %v", err)
				}
				for _, r := range deliver(t, hs1, hs2, roomID, b) {
					if r.Err != nil || r.SoftFailed {
						t.Fatalf("hs1 refused bob's message: %+v", r)
					}
				}
				if got := strings.Join(timelineBodies(t, hs1, roomID), "|"); got != "before bob|hello hs2|hello hs1" {
					t.Errorf("hs1 timeline = %s", got)
				}
				if got := strings.Join(timelineBodies(t, hs2, roomID), "|"); got != "hello hs2|hello hs1" {
					t.Errorf("hs2 timeline = %s (history before the join comes by backfill)", got)
				}
				assertSameState(t, roomID, hs1, hs2)
				servers, _ := hs1.e.ServersInRoom(ctx, roomID)
				if strings.Join(servers, ",") != "hs1,hs2" {
					t.Errorf("servers in room = %v", servers)
				}
			})
		}
	})
}

func assertSameState(t *testing.T, roomID string, servers ...*fedServer) {
	t.Helper()
	want := currentState(t, servers[0], roomID)
	for _, s := range servers[1:] {
		got := currentState(t, s, roomID)
		if len(got) != len(want) {
			t.Errorf("%s has %d state entries, %s has %d", s.name, len(got), servers[0].name, len(want))
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("state %v: %s has %s, %s has %s", k, servers[0].name, v, s.name, got[k])
			}
		}
	}
}

// Concurrent topic changes on two servers fork the DAG; once each has the
// other's event, both resolve to the same current state.
func TestConcurrentStateChangesConverge(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		hs1 := newFedServer(t, db, "hs1", 1)
		hs2 := newFedServer(t, secondDB(t, db), "hs2", 2)
		ctx := context.Background()
		roomID, err := hs1.e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1", Preset: "public_chat",
			PowerLevelOverride: map[string]any{"state_default": 0}})
		if err != nil {
			t.Fatal(err)
		}
		joinVia(t, hs2, hs1, roomID, "@bob:hs2")
		topic := func(s *fedServer, user, text string) *event.Event {
			ev, err := s.e.Send(ctx, roomID, &event.Builder{Type: event.TypeTopic, StateKey: strp(""), Sender: user,
				Content: Content(map[string]any{"topic": text})}, nil)
			if err != nil {
				t.Fatal(err)
			}
			return ev
		}
		t1 := topic(hs1, "@alice:hs1", "alice's topic")
		t2 := topic(hs2, "@bob:hs2", "bob's topic")
		deliver(t, hs2, hs1, roomID, t1)
		deliver(t, hs1, hs2, roomID, t2)
		assertSameState(t, roomID, hs1, hs2)
		exts1, _ := hs1.e.Store().ForwardExtremities(ctx, roomID)
		if len(exts1) != 2 {
			t.Errorf("hs1 should have two forward extremities after the fork, has %v", exts1)
		}
		// The next event from either side merges the fork.
		m, _ := hs1.e.Send(ctx, roomID, msg("@alice:hs1", "merge"), nil)
		if len(m.PrevEventIDs()) != 2 {
			t.Errorf("merge event prev_events = %v", m.PrevEventIDs())
		}
		deliver(t, hs2, hs1, roomID, m)
		assertSameState(t, roomID, hs1, hs2)
	})
}

// An event that breaks the auth rules is stored as rejected and never
// reaches clients; one that only conflicts with the current state is
// soft-failed.
func TestUnauthorisedRemoteEventsAreRejected(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		hs1 := newFedServer(t, db, "hs1", 1)
		hs2 := newFedServer(t, secondDB(t, db), "hs2", 2)
		ctx := context.Background()
		roomID, _ := hs1.e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1", Preset: "public_chat"})
		joinVia(t, hs2, hs1, roomID, "@bob:hs2")

		// hs2 forges bob a power-levels event giving himself 100, built
		// outside its auth checks.
		hs2room, _ := hs2.e.Store().Room(ctx, roomID)
		exts, _ := hs2.e.Store().ForwardExtremities(ctx, roomID)
		auth := senderAuthEvents(t, hs2, roomID, "@bob:hs2")
		forged := &event.Builder{Type: event.TypePowerLevels, StateKey: strp(""), Sender: "@bob:hs2", RoomID: roomID,
			Content: Content(map[string]any{"users": map[string]any{"@bob:hs2": 100}}), PrevEvents: exts, AuthEvents: auth, Depth: 100, OriginServerTS: 1}
		fev, err := forged.Build(hs2room.Version, "hs2", hs2.key)
		if err != nil {
			t.Fatal(err)
		}
		res := hs1.e.Ingest(ctx, roomID, []*event.Event{fev}, peerFetcher{hs2.e})
		if len(res) != 1 || res[0].Err == nil {
			t.Fatalf("forged power levels must be rejected: %+v", res)
		}
		se, err := hs1.e.Store().Event(ctx, fev.EventID())
		if err != nil || !se.Rejected {
			t.Fatalf("rejected event must be stored as rejected: %v %+v", err, se)
		}
		cur1 := currentState(t, hs1, roomID)
		if cur1[event.StateTuple{Type: event.TypePowerLevels}] == fev.EventID() {
			t.Error("a rejected event must not enter the current state")
		}
		if bodies := timelineBodies(t, hs1, roomID); len(bodies) != 0 {
			t.Errorf("timeline = %v", bodies)
		}
		visible, _ := hs1.e.Store().RoomEvents(ctx, roomID, 0, hs1.e.Stream().Current(), 100, true)
		for _, v := range visible {
			if v.EventID() == fev.EventID() {
				t.Error("rejected events never reach clients")
			}
		}
		// Replaying it changes nothing.
		res = hs1.e.Ingest(ctx, roomID, []*event.Event{fev}, peerFetcher{hs2.e})
		if len(res) != 1 || !errors.Is(res[0].Err, nil) && res[0].Err == nil {
			t.Logf("replay result: %+v", res)
		}
	})
}

// senderAuthEvents is what a sender's non-member event cites on s: the
// create event where the room version wants it, the power levels and the
// sender's membership, sorted, plus extra.
func senderAuthEvents(t *testing.T, s *fedServer, roomID, sender string, extra ...string) []string {
	t.Helper()
	room, err := s.e.Store().Room(context.Background(), roomID)
	if err != nil {
		t.Fatal(err)
	}
	cur := currentState(t, s, roomID)
	var auth []string
	for _, k := range []event.StateTuple{{Type: event.TypeCreate}, {Type: event.TypePowerLevels}, {Type: event.TypeMember, StateKey: sender}} {
		if id, ok := cur[k]; ok && (k.Type != event.TypeCreate || room.Version.CreateEventInAuthEvents) {
			auth = append(auth, id)
		}
	}
	auth = append(auth, extra...)
	sort.Strings(auth)
	return auth
}

// A server that missed events (it was down) gets the gap through
// get_missing_events when the next event arrives.
func TestMissingPrevEventsAreFetched(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		hs1 := newFedServer(t, db, "hs1", 1)
		hs2 := newFedServer(t, secondDB(t, db), "hs2", 2)
		ctx := context.Background()
		roomID, _ := hs1.e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1", Preset: "public_chat"})
		joinVia(t, hs2, hs1, roomID, "@bob:hs2")
		var last *event.Event
		for i := 0; i < 5; i++ {
			last, _ = hs1.e.Send(ctx, roomID, msg("@alice:hs1", string(rune('a'+i))), nil)
		}
		// hs2 hears only of the last one.
		for _, r := range deliver(t, hs2, hs1, roomID, last) {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
		}
		if got := strings.Join(timelineBodies(t, hs2, roomID), ""); got != "abcde" {
			t.Errorf("hs2 timeline after catching up = %q", got)
		}
		assertSameState(t, roomID, hs1, hs2)
	})
}

// A gap larger than get_missing_events fills stays a hole, and the first
// event after it is marked, so /sync can report the timeline as limited
// there; events whose prev events we hold are not marked.
func TestUnfilledGapMarksTheEventAfterIt(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		hs1 := newFedServer(t, db, "hs1", 1)
		hs2 := newFedServer(t, secondDB(t, db), "hs2", 2)
		ctx := context.Background()
		roomID, _ := hs1.e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1", Preset: "public_chat"})
		joinVia(t, hs2, hs1, roomID, "@bob:hs2")
		var last *event.Event
		for i := 0; i < maxMissingPrev+10; i++ {
			last, _ = hs1.e.Send(ctx, roomID, msg("@alice:hs1", "m"), nil)
		}
		for _, r := range deliver(t, hs2, hs1, roomID, last) {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
		}
		next, _ := hs1.e.Send(ctx, roomID, msg("@alice:hs1", "after"), nil)
		deliver(t, hs2, hs1, roomID, next)

		evs, err := hs2.e.Store().RoomEvents(ctx, roomID, 0, hs2.e.Stream().Current(), 1000, true)
		if err != nil {
			t.Fatal(err)
		}
		var gaps []int
		msgs := 0
		for _, se := range evs {
			if se.Type() != event.TypeMessage {
				continue
			}
			if se.AfterGap {
				gaps = append(gaps, msgs)
			}
			msgs++
		}
		// hs2 got maxMissingPrev events before the last one, the last one
		// and the next: the oldest of them follows the hole.
		if msgs != maxMissingPrev+2 || len(gaps) != 1 || gaps[0] != 0 {
			t.Errorf("hs2 holds %d messages with gaps before %v, want %d with one gap before the first", msgs, gaps, maxMissingPrev+2)
		}
	})
}

// withholding is a peer that will not hand out one event.
type withholding struct {
	peerFetcher
	id string
}

func (f withholding) FetchEvent(ctx context.Context, roomID, id string) (*event.Event, error) {
	if id == f.id {
		return nil, errors.New("withheld")
	}
	return f.peerFetcher.FetchEvent(ctx, roomID, id)
}

func (f withholding) MissingEvents(ctx context.Context, roomID string, earliest, latest []string, limit int) ([]*event.Event, error) {
	evs, err := f.peerFetcher.MissingEvents(ctx, roomID, earliest, latest, limit)
	out := evs[:0:0]
	for _, ev := range evs {
		if ev.EventID() != f.id {
			out = append(out, ev)
		}
	}
	return out, err
}

// A redaction that arrives before the event it redacts (the target could
// not be fetched then, and comes later, as backfill brings it) redacts it
// when it arrives.
func TestRedactionArrivingBeforeItsTargetAppliesOnArrival(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		hs1 := newFedServer(t, db, "hs1", 1)
		hs2 := newFedServer(t, secondDB(t, db), "hs2", 2)
		ctx := context.Background()
		roomID, _ := hs1.e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1", Preset: "public_chat"})
		joinVia(t, hs2, hs1, roomID, "@bob:hs2")
		target, err := hs1.e.Send(ctx, roomID, msg("@alice:hs1", "secret"), nil)
		if err != nil {
			t.Fatal(err)
		}
		red, err := hs1.e.Send(ctx, roomID, &event.Builder{Type: event.TypeRedaction, Sender: "@alice:hs1", Redacts: target.EventID(),
			Content: Content(map[string]any{})}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range hs2.e.Ingest(ctx, roomID, []*event.Event{red}, withholding{peerFetcher{hs1.e}, target.EventID()}) {
			if r.Err != nil || r.SoftFailed {
				t.Fatalf("the redaction: %+v", r)
			}
		}
		if se, err := hs2.e.Store().Event(ctx, target.EventID()); err == nil && !se.Outlier {
			t.Fatal("hs2 got the withheld target with the redaction")
		}
		for _, r := range hs2.e.Ingest(ctx, roomID, []*event.Event{target}, peerFetcher{hs1.e}) {
			if r.Err != nil {
				t.Fatalf("the target: %+v", r)
			}
		}
		se, err := hs2.e.Store().Event(ctx, target.EventID())
		if err != nil {
			t.Fatal(err)
		}
		if se.RedactedBy != red.EventID() {
			t.Errorf("the target arrived after its redaction and is redacted by %q, want %s", se.RedactedBy, red.EventID())
		}
	})
}

// Several state events in one received batch: each builds on the snapshot
// the previous one wrote earlier in the same transaction.
func TestBatchOfStateEventsIngestsTogether(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		hs1 := newFedServer(t, db, "hs1", 1)
		hs2 := newFedServer(t, secondDB(t, db), "hs2", 2)
		ctx := context.Background()
		roomID, _ := hs1.e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1", Preset: "public_chat"})
		joinVia(t, hs2, hs1, roomID, "@bob:hs2")
		var evs []*event.Event
		for _, topic := range []string{"one", "two", "three"} {
			ev, err := hs1.e.Send(ctx, roomID, &event.Builder{Type: event.TypeTopic, StateKey: strp(""), Sender: "@alice:hs1",
				Content: Content(map[string]any{"topic": topic})}, nil)
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, ev)
		}
		for _, r := range deliver(t, hs2, hs1, roomID, evs...) {
			if r.Err != nil || r.SoftFailed {
				t.Fatalf("%s: %+v", r.EventID, r)
			}
		}
		assertSameState(t, roomID, hs1, hs2)
	})
}
