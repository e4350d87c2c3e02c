package syncapi

import (
	"encoding/json"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// A timeline never runs across a hole in the history (events that came
// over federation after a gap get_missing_events could not fill; the
// rooms package marks them, see TestUnfilledGapMarksTheEventAfterIt): it
// starts at the event after the gap and is limited, and its prev_batch
// pages back into the history held before the gap (client-server-api,
// "Syncing": "limited ... the client should fetch earlier events using
// prev_batch").
func TestSync_TimelineStopsAtAGapAndIsLimited(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		w := newSyncWorld(t, db)
		const alice, bob = "@alice:hs1", "@bob:hs1"
		r := w.room(alice)
		w.member(r, bob, bob, event.Join)
		since := w.sync(bob, "").NextBatch
		for _, b := range []string{"a", "b", "c", "d"} {
			w.say(r, alice, b)
		}
		// Mark "c" as received after a gap, as ingestion would have.
		var cPos int64
		if err := db.Read.QueryRowContext(w.ctx, `SELECT stream_pos FROM events WHERE room_id = $1 AND pdu LIKE '%"body":"c"%'`, r).Scan(&cPos); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Write.ExecContext(w.ctx, `UPDATE events SET after_gap = TRUE WHERE stream_pos = $1`, cPos); err != nil {
			t.Fatal(err)
		}

		for name, tok := range map[string]string{"incremental": since, "initial": ""} {
			jr := w.sync(bob, tok).Rooms.Join[r]
			if jr == nil {
				t.Fatalf("%s sync: no section for the room", name)
			}
			if got := bodies(jr); got != "cd" || !jr.Timeline.Limited {
				t.Errorf("%s sync: timeline %q limited=%v, want \"cd\" limited", name, got, jr.Timeline.Limited)
			}
			from, err := ParseToken(jr.Timeline.PrevBatch)
			if err != nil || from != cPos-1 {
				t.Errorf("%s sync: prev_batch %q (%d, %v), want the position before c (%d)", name, jr.Timeline.PrevBatch, from, err, cPos-1)
			}
			older, err := w.e.Store().RoomEvents(w.ctx, r, 0, from, 10, false)
			if err != nil || len(older) < 2 || body(older[0].Content()) != "b" || body(older[1].Content()) != "a" {
				t.Errorf("%s sync: paging back from prev_batch does not reach b and a", name)
			}
		}
	})
}

// A room whose whole history fits the timeline is not limited; one whose
// timeline does not reach back to the create event is (history to page or
// backfill lies before it, as after a join over federation).
func TestCutAtGap_FreshTimelineNotReachingCreateIsLimited(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		w := newSyncWorld(t, db)
		const alice = "@alice:hs1"
		r := w.room(alice)
		w.say(r, alice, "hi")
		evs, err := w.e.Store().RoomEvents(w.ctx, r, 0, w.e.Stream().Current(), 100, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, limited := cutAtGap(evs, false, true); limited {
			t.Error("a fresh timeline from the create event is limited")
		}
		if _, limited := cutAtGap(evs[:2], false, true); !limited {
			t.Error("a fresh timeline that starts after the create event is not limited")
		}
		if _, limited := cutAtGap(evs[:2], false, false); limited {
			t.Error("an incremental timeline without a gap is limited")
		}
	})
}

func bodies(jr *JoinedRoom) string {
	out := ""
	for _, e := range jr.Timeline.Events {
		if e.Type == event.TypeMessage {
			out += body(e.Content)
		}
	}
	return out
}

func body(content json.RawMessage) string {
	var c struct{ Body string }
	_ = json.Unmarshal(content, &c)
	return c.Body
}
