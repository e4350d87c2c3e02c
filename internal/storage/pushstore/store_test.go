package pushstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

func newStore(t *testing.T, db *sqldb.DB) *Store {
	t.Helper()
	s, err := New(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func note(user string, pos int64, thread string, highlight bool) Notification {
	return Notification{UserID: user, RoomID: "!r:x", EventID: "$e" + string(rune('a'+pos)), StreamPos: pos,
		ThreadID: thread, Highlight: highlight, Actions: `["notify"]`, TS: pos}
}

// A batch committed again (after an error the caller could not tell from
// a failure) adds nothing, and the cursor never moves back.
func TestCommit_IsIdempotentAndTheCursorOnlyMovesForward(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		if pos, err := s.Cursor(ctx); err != nil || pos != NotStarted {
			t.Fatalf("fresh cursor %d, %v; want NotStarted", pos, err)
		}
		batch := []Notification{note("@a:x", 1, "main", false), note("@a:x", 2, "$root", true), note("@b:x", 2, "$root", false)}
		for range 2 {
			if err := s.Commit(ctx, batch, nil, 5); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Commit(ctx, nil, nil, 3); err != nil {
			t.Fatal(err)
		}
		if pos, _ := s.Cursor(ctx); pos != 5 {
			t.Fatalf("cursor %d, want 5", pos)
		}
		got, err := s.CountByThread(ctx, "@a:x", []Range{{RoomID: "!r:x", After: 0, UpTo: math.MaxInt64}})
		if err != nil {
			t.Fatal(err)
		}
		if got["!r:x"]["main"] != (Count{1, 0}) || got["!r:x"]["$root"] != (Count{1, 1}) {
			t.Fatalf("counts %+v", got)
		}
		got, _ = s.CountByThread(ctx, "@a:x", []Range{{RoomID: "!r:x", Thread: "$root", After: 1, UpTo: 1}})
		if len(got) != 0 {
			t.Fatalf("an empty range counted %+v", got)
		}
		rooms, _ := s.RoomsNotifiedBetween(ctx, "@b:x", 1, 2)
		if len(rooms) != 1 || rooms[0] != "!r:x" {
			t.Fatalf("rooms notified in (1, 2]: %v", rooms)
		}
	})
}

// Pushers are keyed by app_id, pushkey and user; without append the same
// app_id and pushkey of other users go, with their queued pushes.
func TestSetPusher_AppendAndReplaceAcrossUsers(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		p := Pusher{UserID: "@a:x", DeviceID: "D1", Kind: "http", AppID: "app", PushKey: "k", Data: `{}`}
		if err := s.SetPusher(ctx, p, false); err != nil {
			t.Fatal(err)
		}
		ps, _ := s.Pushers(ctx, "@a:x")
		if err := s.Commit(ctx, []Notification{note("@a:x", 1, "main", false)},
			[]Job{{PusherID: ps[0].ID, UserID: "@a:x", RoomID: "!r:x", EventID: "$a", StreamPos: 1, Actions: "[]"}}, 1); err != nil {
			t.Fatal(err)
		}
		b := p
		b.UserID = "@b:x"
		if err := s.SetPusher(ctx, b, true); err != nil {
			t.Fatal(err)
		}
		if a, _ := s.Pushers(ctx, "@a:x"); len(a) != 1 {
			t.Fatalf("append removed a's pusher: %+v", a)
		}
		if err := s.SetPusher(ctx, b, false); err != nil {
			t.Fatal(err)
		}
		if a, _ := s.Pushers(ctx, "@a:x"); len(a) != 0 {
			t.Fatalf("a's pusher survived b's without append: %+v", a)
		}
		if _, err := s.NextJob(ctx, ps[0].ID); err != ErrNotFound {
			t.Fatalf("the removed pusher's queue: %v", err)
		}
		if err := s.DeleteDevicePushers(ctx, "@b:x", "D1"); err != nil {
			t.Fatal(err)
		}
		if bs, _ := s.Pushers(ctx, "@b:x"); len(bs) != 0 {
			t.Fatalf("device deletion left %+v", bs)
		}
	})
}

// OlderThan walks the rows below a ts in (ts, user, position) order, a
// page at a time, each row once even when many share a ts; Delete removes
// exactly the rows named.
func TestOlderThan_PagesEveryOldRowOnceAndDeleteRemovesThem(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		var batch []Notification
		for pos := int64(1); pos <= 7; pos++ {
			for _, u := range []string{"@a:x", "@b:x"} {
				n := note(u, pos, "main", false)
				n.TS = 100 + pos/3 // three positions share most ts values
				batch = append(batch, n)
			}
		}
		if err := s.Commit(ctx, batch, nil, 7); err != nil {
			t.Fatal(err)
		}
		var seen []Key
		var afterTS int64 = -1
		var after Key
		for {
			page, err := s.OlderThan(ctx, 102, afterTS, after, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, n := range page {
				seen = append(seen, Key{n.UserID, n.StreamPos})
			}
			last := page[len(page)-1]
			afterTS, after = last.TS, Key{last.UserID, last.StreamPos}
		}
		// ts 100 (positions 1, 2) and 101 (3, 4, 5), both users.
		want := []Key{{"@a:x", 1}, {"@a:x", 2}, {"@b:x", 1}, {"@b:x", 2}, {"@a:x", 3}, {"@a:x", 4}, {"@a:x", 5},
			{"@b:x", 3}, {"@b:x", 4}, {"@b:x", 5}}
		if fmt.Sprint(seen) != fmt.Sprint(want) {
			t.Fatalf("walk %v, want %v", seen, want)
		}
		if err := s.Delete(ctx, []Key{{"@a:x", 1}, {"@b:x", 4}, {"@a:x", 5}}); err != nil {
			t.Fatal(err)
		}
		left, _ := s.List(ctx, "@a:x", math.MaxInt64, 100, false)
		if len(left) != 5 || left[len(left)-1].StreamPos != 2 || left[2].StreamPos != 4 {
			t.Fatalf("a's rows after the delete: %+v", left)
		}
		if left, _ := s.List(ctx, "@b:x", math.MaxInt64, 100, false); len(left) != 6 {
			t.Fatalf("b has %d rows, want 6", len(left))
		}
	})
}

// An event evaluated twice (at its commit, then again by the notifier
// after a crash) is counted and pushed once: a notification already
// stored keeps its row, and its jobs are not queued again.
func TestWriteTx_EvaluatingAgainQueuesNoSecondPush(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		n := note("@a:x", 7, "main", false)
		job := Job{PusherID: 42, UserID: n.UserID, RoomID: n.RoomID, EventID: n.EventID, StreamPos: n.StreamPos, Actions: n.Actions}
		write := func() {
			t.Helper()
			err := db.WithTx(ctx, func(tx *sql.Tx) error { return WriteTx(ctx, tx, []Notification{n}, []Job{job}) })
			if err != nil {
				t.Fatal(err)
			}
		}
		write()
		first, err := s.NextJob(ctx, 42)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteJob(ctx, first.ID); err != nil { // delivered
			t.Fatal(err)
		}
		write()
		if err := s.Commit(ctx, []Notification{n}, []Job{job}, 7); err != nil {
			t.Fatal(err)
		}
		if j, err := s.NextJob(ctx, 42); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a second push queued: %+v %v", j, err)
		}
		got, err := s.CountByThread(ctx, "@a:x", []Range{{RoomID: "!r:x", After: 0, UpTo: math.MaxInt64}})
		if err != nil || got["!r:x"]["main"] != (Count{1, 0}) {
			t.Fatalf("counts %+v %v", got, err)
		}
	})
}
