package relationstore

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/signing"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

const room = "!r:hs1"

type fixture struct {
	t   *testing.T
	s   *Store
	db  *sqldb.DB
	ctx context.Context
	n   int64
}

func newFixture(t *testing.T, db *sqldb.DB) *fixture {
	t.Helper()
	senders := map[string]string{"$root": "@root:hs1"}
	s, err := New(context.Background(), db, func(_ context.Context, _ *sql.Tx, id string) (string, error) { return senders[id], nil })
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, s: s, db: db, ctx: context.Background()}
}

// send builds an event with content and indexes it at the next position.
func (f *fixture) send(sender, content string) *event.Event {
	f.t.Helper()
	f.n++
	key, _ := signing.NewSigningKey("k", make([]byte, 32))
	ev, err := (&event.Builder{Type: "m.room.message", RoomID: room, Sender: sender, Depth: f.n,
		OriginServerTS: 1000 + f.n, Content: []byte(content)}).Build(roomversion.MustGet("11"), "hs1", key)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.db.WithTx(f.ctx, func(tx *sql.Tx) error { return f.s.IndexEvent(f.ctx, tx, ev, f.n) }); err != nil {
		f.t.Fatal(err)
	}
	return ev
}

func (f *fixture) redact(id string) {
	f.t.Helper()
	if err := f.db.WithTx(f.ctx, func(tx *sql.Tx) error { return f.s.UnindexEvent(f.ctx, tx, id) }); err != nil {
		f.t.Fatal(err)
	}
}

func threadReply(root string) string {
	return fmt.Sprintf(`{"body":"r","m.relates_to":{"rel_type":"m.thread","event_id":%q}}`, root)
}

// client-server-api "Relationship types": only an m.relates_to with both
// rel_type and event_id forms a relationship; a reply's m.in_reply_to
// alone does not.
func TestRelations_OnlyEventsWithRelTypeAndEventIDAreIndexed(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db)
		f.send("@a:hs1", `{"body":"plain"}`)
		f.send("@a:hs1", `{"body":"reply","m.relates_to":{"m.in_reply_to":{"event_id":"$root"}}}`)
		f.send("@a:hs1", `{"body":"bad","m.relates_to":{"rel_type":5,"event_id":"$root"}}`)
		ref := f.send("@a:hs1", `{"body":"ref","m.relates_to":{"rel_type":"m.reference","event_id":"$root"}}`)
		got, err := f.s.Children(f.ctx, ChildrenQuery{RoomID: room, ParentID: "$root", After: -100, UpTo: 100, Limit: 10, Depth: 1})
		if err != nil || len(got) != 1 || got[0].EventID != ref.EventID() || got[0].RelType != "m.reference" {
			t.Fatalf("children %+v, %v", got, err)
		}
	})
}

// A thread's latest reply orders the thread list; redacting the latest
// reply (which strips m.relates_to) makes the one before it the latest, and
// redacting the last leaves no thread.
func TestThreads_LatestReplyFollowsRedactions(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db)
		r1 := f.send("@b:hs1", threadReply("$root"))
		other := f.send("@c:hs1", threadReply("$other"))
		r2 := f.send("@c:hs1", threadReply("$root"))
		threads := func(participant string) []Thread {
			t.Helper()
			ts, err := f.s.Threads(f.ctx, ThreadsQuery{RoomID: room, UpTo: 100, Limit: 10, Participant: participant})
			if err != nil {
				t.Fatal(err)
			}
			return ts
		}
		ts := threads("")
		if len(ts) != 2 || ts[0].RootID != "$root" || ts[0].LatestEventID != r2.EventID() || ts[1].LatestEventID != other.EventID() {
			t.Fatalf("threads %+v", ts)
		}
		if ts := threads("@b:hs1"); len(ts) != 1 || ts[0].RootID != "$root" {
			t.Errorf("participated by a replier: %+v", ts)
		}
		if ts := threads("@root:hs1"); len(ts) != 1 || ts[0].RootID != "$root" {
			t.Errorf("participated by the root's sender: %+v", ts)
		}
		if ts, _ := f.s.Threads(f.ctx, ThreadsQuery{RoomID: room, UpTo: 100, Limit: 10, Before: ts[0].LatestPos, HasBefore: true}); len(ts) != 1 || ts[0].RootID != "$other" {
			t.Errorf("next page: %+v", ts)
		}
		root, oth := Parent{room, "$root"}, Parent{room, "$other"}
		sums, err := f.s.ThreadSummaries(f.ctx, []Parent{root, oth, {room, "$none"}, {"!elsewhere:hs1", "$root"}}, "@b:hs1", nil)
		if err != nil || len(sums) != 2 || sums[root].Count != 2 || !sums[root].Participated ||
			sums[root].LatestEventID != r2.EventID() || sums[oth].Participated {
			t.Fatalf("summaries %+v, %v", sums, err)
		}
		if sums, _ := f.s.ThreadSummaries(f.ctx, []Parent{root}, "@b:hs1", []string{"@c:hs1"}); sums[root].Count != 1 || sums[root].LatestEventID != r1.EventID() {
			t.Errorf("ignoring @c: %+v", sums[root])
		}
		f.redact(r2.EventID())
		if ts := threads(""); ts[0].RootID != "$other" || ts[1].LatestEventID != r1.EventID() {
			t.Errorf("after redacting the latest reply: %+v", ts)
		}
		f.redact(r1.EventID())
		if ts := threads(""); len(ts) != 1 || ts[0].RootID != "$other" {
			t.Errorf("after redacting every reply: %+v", ts)
		}
	})
}

// relations.yaml "recurse": children of children are found up to the depth
// asked, and the rel_type filter applies to every event returned.
func TestChildren_RecurseFollowsRelationsToTheDepthAsked(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db)
		a := f.send("@a:hs1", threadReply("$root"))
		b := f.send("@a:hs1", fmt.Sprintf(`{"m.relates_to":{"rel_type":"m.annotation","event_id":%q,"key":"x"}}`, a.EventID()))
		c := f.send("@a:hs1", fmt.Sprintf(`{"m.relates_to":{"rel_type":"m.reference","event_id":%q}}`, b.EventID()))
		f.send("@a:hs1", fmt.Sprintf(`{"m.relates_to":{"rel_type":"m.reference","event_id":%q}}`, c.EventID()))
		ids := func(q ChildrenQuery) []string {
			t.Helper()
			q.RoomID, q.ParentID, q.After, q.UpTo, q.Limit = room, "$root", -100, 100, 10
			rs, err := f.s.Children(f.ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, r := range rs {
				out = append(out, r.EventID)
			}
			return out
		}
		if got := ids(ChildrenQuery{Depth: 1}); len(got) != 1 {
			t.Errorf("direct: %v", got)
		}
		if got := ids(ChildrenQuery{Depth: 3, Forward: true}); len(got) != 3 || got[0] != a.EventID() || got[2] != c.EventID() {
			t.Errorf("depth 3: %v", got)
		}
		if got := ids(ChildrenQuery{Depth: 3, RelType: "m.annotation"}); len(got) != 1 || got[0] != b.EventID() {
			t.Errorf("depth 3 annotations: %v", got)
		}
		// Positions are the depths the fixture gave: the page below c.
		page, _ := f.s.Children(f.ctx, ChildrenQuery{RoomID: room, ParentID: "$root", After: -100, UpTo: c.Depth() - 1, Limit: 1, Depth: 3})
		if len(page) != 1 || page[0].EventID != b.EventID() {
			t.Errorf("page below c: %+v", page)
		}
	})
}

// Events stored before the index existed are indexed in batches from the
// planned range; indexing one twice changes nothing.
func TestBackfill_IndexesBatchesAndIsRepeatable(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db)
		r, err := f.s.Backfill(f.ctx)
		if err != nil || r.Planned || r.Done() {
			t.Fatalf("fresh backfill state %+v, %v", r, err)
		}
		if err := f.s.PlanBackfill(f.ctx, 0, 2); err != nil {
			t.Fatal(err)
		}
		if err := f.s.PlanBackfill(f.ctx, 0, 99); err != nil {
			t.Fatal(err)
		}
		ev := f.send("@a:hs1", threadReply("$root"))
		for i := 0; i < 2; i++ {
			if err := f.s.IndexBatch(f.ctx, []Positioned{{Event: ev, StreamPos: 1}}, int64(1+i)); err != nil {
				t.Fatal(err)
			}
		}
		if r, _ := f.s.Backfill(f.ctx); !r.Done() || r.UpTo != 2 {
			t.Errorf("after the batches: %+v", r)
		}
		if sums, _ := f.s.ThreadSummaries(f.ctx, []Parent{{room, "$root"}}, "", nil); sums[Parent{room, "$root"}].Count != 1 {
			t.Errorf("indexed twice: %+v", sums)
		}
	})
}

// summaries reads the thread summaries of roots for reader, skipping skip.
func (f *fixture) summaries(reader string, skip []string, roots ...string) map[Parent]*ThreadSummary {
	f.t.Helper()
	ps := make([]Parent, len(roots))
	for i, r := range roots {
		ps[i] = Parent{room, r}
	}
	sums, err := f.s.ThreadSummaries(f.ctx, ps, reader, skip)
	if err != nil {
		f.t.Fatal(err)
	}
	return sums
}

// A thread summary (threading.md "Server-side aggregation of m.thread
// relationships") is kept as replies come and are redacted: the count,
// the latest reply and the reader's participation, with the replies of
// ignored senders left out ("Aggregations of child events").
func TestThreadSummaries_FollowRepliesRedactionsAndIgnoredSenders(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db)
		b1 := f.send("@b:hs1", threadReply("$root"))
		c1 := f.send("@c:hs1", threadReply("$root"))
		b2 := f.send("@b:hs1", threadReply("$root"))
		c2 := f.send("@c:hs1", threadReply("$root"))
		root := Parent{room, "$root"}
		check := func(what, reader string, skip []string, count int, latest string, participated bool) {
			t.Helper()
			got := f.summaries(reader, skip, "$root")[root]
			if count == 0 {
				if got != nil {
					t.Errorf("%s: %+v, want none", what, got)
				}
				return
			}
			if got == nil || got.Count != count || got.LatestEventID != latest || got.Participated != participated {
				t.Errorf("%s: %+v, want %d replies, latest %s, participated %v", what, got, count, latest, participated)
			}
		}
		check("all", "@b:hs1", nil, 4, c2.EventID(), true)
		check("a reader who did not reply", "@d:hs1", nil, 4, c2.EventID(), false)
		check("ignoring the latest reply's sender", "@b:hs1", []string{"@c:hs1"}, 2, b2.EventID(), true)
		check("ignoring another sender", "@c:hs1", []string{"@b:hs1"}, 2, c2.EventID(), true)
		check("ignoring everyone who replied", "@d:hs1", []string{"@b:hs1", "@c:hs1"}, 0, "", false)
		f.redact(c2.EventID())
		check("latest redacted", "@c:hs1", nil, 3, b2.EventID(), true)
		check("latest redacted, ignoring its sender", "@b:hs1", []string{"@c:hs1"}, 2, b2.EventID(), true)
		f.redact(b1.EventID())
		check("an older reply redacted", "@b:hs1", nil, 2, b2.EventID(), true)
		f.redact(c1.EventID())
		check("a sender's last reply redacted", "@c:hs1", nil, 1, b2.EventID(), false)
		f.redact(b2.EventID())
		check("every reply redacted", "@b:hs1", nil, 0, "", false)
	})
}

// Threads indexed before summaries were kept (relations migration 3) are
// read from their replies until the backfill has counted them, and a
// reply arriving in between is counted once either way.
func TestThreadSummaries_BackfillCountsThreadsIndexedBefore(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db)
		f.send("@b:hs1", threadReply("$root"))
		c1 := f.send("@c:hs1", threadReply("$root"))
		other := f.send("@c:hs1", threadReply("$other"))
		// What migration 3 leaves of a thread indexed before it.
		for _, q := range []string{`UPDATE threads SET summarized = FALSE, reply_count = 0`, `DELETE FROM thread_senders`} {
			if _, err := db.Write.ExecContext(f.ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		b2 := f.send("@b:hs1", threadReply("$root"))
		root := Parent{room, "$root"}
		for _, stage := range []string{"before the backfill", "after it"} {
			sums := f.summaries("@b:hs1", []string{"@c:hs1"}, "$root", "$other")
			if got := sums[root]; got == nil || got.Count != 2 || got.LatestEventID != b2.EventID() || !got.Participated || sums[Parent{room, "$other"}] != nil {
				t.Errorf("%s, ignoring @c: %+v", stage, sums)
			}
			sums = f.summaries("@c:hs1", nil, "$root", "$other")
			if got := sums[root]; got == nil || got.Count != 3 || got.LatestEventID != b2.EventID() || !got.Participated ||
				sums[Parent{room, "$other"}].LatestEventID != other.EventID() {
				t.Errorf("%s: %+v", stage, sums)
			}
			if ts, err := f.s.Threads(f.ctx, ThreadsQuery{RoomID: room, UpTo: 100, Limit: 10, Participant: "@b:hs1"}); err != nil || len(ts) != 1 {
				t.Errorf("%s: threads @b took part in: %+v, %v", stage, ts, err)
			}
			todo, err := f.s.Unsummarized(f.ctx, 10)
			if err != nil {
				t.Fatal(err)
			}
			if stage == "after it" {
				if len(todo) != 0 {
					t.Errorf("still to count: %v", todo)
				}
				break
			}
			if len(todo) != 2 {
				t.Fatalf("to count: %v", todo)
			}
			if err := f.s.Summarize(f.ctx, todo); err != nil {
				t.Fatal(err)
			}
		}
		f.redact(b2.EventID())
		if got := f.summaries("@b:hs1", nil, "$root")[root]; got == nil || got.Count != 2 || got.LatestEventID != c1.EventID() {
			t.Errorf("after a redaction: %+v", got)
		}
	})
}

// purge forgets events as a history purge of the room does, in its
// transaction.
func (f *fixture) purge(eventIDs ...string) error {
	return f.db.WithTx(f.ctx, func(tx *sql.Tx) error { return f.s.PurgeEventsIndex(f.ctx, tx, room, eventIDs) })
}

// A history purge that removes a thread's latest replies moves its
// summary to the latest reply left, and one that removes them all ends
// the thread.
func TestPurgeEvents_ThreadSummaryFollowsPurgedReplies(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db)
		r1 := f.send("@b:hs1", threadReply("$root"))
		r2 := f.send("@c:hs1", threadReply("$root"))
		r3 := f.send("@b:hs1", threadReply("$root"))
		if err := f.purge(r2.EventID(), r3.EventID()); err != nil {
			t.Fatal(err)
		}
		root := Parent{room, "$root"}
		if got := f.summaries("@c:hs1", nil, "$root")[root]; got == nil || got.Count != 1 || got.LatestEventID != r1.EventID() || got.Participated {
			t.Errorf("after purging the two latest replies: %+v", got)
		}
		if ts, _ := f.s.Threads(f.ctx, ThreadsQuery{RoomID: room, UpTo: 100, Limit: 10}); len(ts) != 1 || ts[0].LatestEventID != r1.EventID() {
			t.Errorf("threads: %+v", ts)
		}
		if err := f.purge(r1.EventID()); err != nil {
			t.Fatal(err)
		}
		if got := f.summaries("@b:hs1", nil, "$root"); len(got) != 0 {
			t.Errorf("after purging every reply: %+v", got)
		}
		if ts, _ := f.s.Threads(f.ctx, ThreadsQuery{RoomID: room, UpTo: 100, Limit: 10}); len(ts) != 0 {
			t.Errorf("threads after purging every reply: %+v", ts)
		}
	})
}

// recursive returns the IDs of the events relating to parent through up
// to MaxDepth relationships, oldest first.
func (f *fixture) recursive(parent string) []string {
	f.t.Helper()
	rs, err := f.s.Children(f.ctx, ChildrenQuery{RoomID: room, ParentID: parent, After: -100, UpTo: 100, Limit: 50, Depth: MaxDepth, Forward: true})
	if err != nil {
		f.t.Fatal(err)
	}
	out := []string{}
	for _, r := range rs {
		out = append(out, r.EventID)
	}
	return out
}

func relating(relType, parent string) string {
	return fmt.Sprintf(`{"m.relates_to":{"rel_type":%q,"event_id":%q,"key":"k"}}`, relType, parent)
}

// relations.yaml "recurse": the events relating through several
// relationships are found whatever order they were indexed in (a child
// may arrive over federation before its parent), up to MaxDepth, and a
// redaction, which breaks one relationship, takes the events under it
// away from the ancestors above it only.
func TestChildren_RecurseFollowsLateParentsAndRedactions(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db)
		a := f.send("@a:hs1", threadReply("$root"))
		// b relates to a; c to b and d to c were sent before b arrived:
		// their IDs are known only once built, so c and d are indexed
		// under b's ID ahead of b itself.
		b := mustBuild(t, "@a:hs1", relating("m.annotation", a.EventID()), 50)
		c := f.send("@a:hs1", relating("m.reference", b.EventID()))
		d := f.send("@a:hs1", relating("m.reference", c.EventID()))
		if got := f.recursive("$root"); len(got) != 1 || got[0] != a.EventID() {
			t.Fatalf("before b: %v", got)
		}
		if err := f.db.WithTx(f.ctx, func(tx *sql.Tx) error { return f.s.IndexEvent(f.ctx, tx, b, 10) }); err != nil {
			t.Fatal(err)
		}
		// In stream order: a (1), c (2), b (10); d is four relationships away.
		if got := f.recursive("$root"); len(got) != 3 || got[0] != a.EventID() || got[1] != c.EventID() || got[2] != b.EventID() {
			t.Errorf("from the root, three relationships deep: %v", got)
		}
		if got := f.recursive(a.EventID()); len(got) != 3 || got[1] != d.EventID() {
			t.Errorf("from a: %v", got)
		}
		f.redact(b.EventID())
		if got := f.recursive("$root"); len(got) != 1 || got[0] != a.EventID() {
			t.Errorf("from the root after redacting b: %v", got)
		}
		if got := f.recursive(b.EventID()); len(got) != 2 || got[0] != c.EventID() || got[1] != d.EventID() {
			t.Errorf("from b after redacting it: %v", got)
		}
	})
}

// The ancestors of relations indexed before event_ancestors existed
// (relations migration 4) are listed by the migration.
func TestChildren_AncestorsOfRelationsIndexedBefore(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db)
		a := f.send("@a:hs1", threadReply("$root"))
		b := f.send("@a:hs1", relating("m.annotation", a.EventID()))
		c := f.send("@a:hs1", relating("m.reference", b.EventID()))
		f.send("@a:hs1", relating("m.reference", c.EventID()))
		want := f.recursive("$root")
		if err := f.db.WithTx(f.ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(f.ctx, `DELETE FROM event_ancestors`); err != nil {
				return err
			}
			_, err := tx.ExecContext(f.ctx, ancestorsOfIndexed)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if got := f.recursive("$root"); fmt.Sprint(got) != fmt.Sprint(want) || len(got) != 3 {
			t.Errorf("after the migration's fill: %v, want %v", got, want)
		}
	})
}

// mustBuild builds an event without indexing it.
func mustBuild(t *testing.T, sender, content string, depth int64) *event.Event {
	t.Helper()
	key, _ := signing.NewSigningKey("k", make([]byte, 32))
	ev, err := (&event.Builder{Type: "m.room.message", RoomID: room, Sender: sender, Depth: depth,
		OriginServerTS: 1000 + depth, Content: []byte(content)}).Build(roomversion.MustGet("11"), "hs1", key)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}
