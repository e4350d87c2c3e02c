package searchstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/signing"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

func newStore(t testing.TB, db *sqldb.DB) *Store {
	t.Helper()
	s, err := New(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var testKey = func() signing.SigningKey {
	k, err := signing.NewSigningKey("k", make([]byte, 32))
	if err != nil {
		panic(err)
	}
	return k
}()

var depth int64

func build(t testing.TB, room, sender, typ string, stateKey *string, content any) *event.Event {
	t.Helper()
	raw, err := json.Marshal(content)
	if err != nil {
		t.Fatal(err)
	}
	depth++
	ev, err := (&event.Builder{Type: typ, RoomID: room, Sender: sender, StateKey: stateKey, Depth: depth,
		OriginServerTS: 1000 + depth, Content: raw}).Build(roomversion.MustGet("10"), "hs1", testKey)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func msg(t testing.TB, room, sender, body string) *event.Event {
	return build(t, room, sender, event.TypeMessage, nil, map[string]any{"msgtype": "m.text", "body": body})
}

var empty, x = "", "x"

// index writes events at consecutive positions from pos, in one
// transaction, as roomstore's writer would.
func index(t testing.TB, db *sqldb.DB, s *Store, pos int64, evs ...*event.Event) {
	t.Helper()
	if err := db.WithTx(context.Background(), func(tx *sql.Tx) error {
		for i, e := range evs {
			if err := s.IndexEvent(context.Background(), tx, e, pos+int64(i)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func search(t testing.TB, s *Store, q Query) []Hit {
	t.Helper()
	if q.UpTo == 0 {
		q.UpTo = 1 << 40
	}
	if q.Limit == 0 {
		q.Limit = 10
	}
	hits, err := s.Search(context.Background(), q)
	if err != nil {
		t.Fatalf("search %+v: %v", q, err)
	}
	return hits
}

func ids(hits []Hit) []string {
	out := []string{}
	for _, h := range hits {
		out = append(out, h.EventID)
	}
	return out
}

func terms(s string) Terms { return ParseTerms(s) }

// search.md "room_events": content.body of m.room.message, content.name of
// m.room.name, content.topic of m.room.topic (and m.topic's text/plain
// body); nothing else, and encrypted events have nothing to search.
func TestIndex_SearchableKeysOnly(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s := newStore(t, db)
		room := "!r:hs1"
		body := msg(t, room, "@a:hs1", "the martians landed")
		name := build(t, room, "@a:hs1", event.TypeName, &empty, map[string]any{"name": "martians club"})
		topic := build(t, room, "@a:hs1", event.TypeTopic, &empty, map[string]any{"topic": "talk",
			"m.topic": map[string]any{"m.text": []any{map[string]any{"mimetype": "text/html", "body": "<b>html</b>"}, map[string]any{"body": "martians plain"}}}})
		enc := build(t, room, "@a:hs1", "m.room.encrypted", nil, map[string]any{"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "martians"})
		notState := build(t, room, "@a:hs1", event.TypeName, nil, map[string]any{"name": "martians"})
		otherKey := build(t, room, "@a:hs1", event.TypeName, &x, map[string]any{"name": "martians"})
		other := build(t, room, "@a:hs1", "org.example", nil, map[string]any{"body": "martians"})
		nul := msg(t, room, "@a:hs1", "martians\x00with a NUL")
		index(t, db, s, 1, body, name, topic, enc, notState, otherKey, other, nul)
		got := ids(search(t, s, Query{Terms: terms("martians"), Joined: []string{room}, Recent: true}))
		want := []string{nul.EventID(), topic.EventID(), name.EventID(), body.EventID()}
		if !slices.Equal(got, want) {
			t.Fatalf("found %v, want %v", got, want)
		}
		if got := ids(search(t, s, Query{Terms: terms("html"), Joined: []string{room}})); len(got) != 0 {
			t.Errorf("the html representation of m.topic was indexed: %v", got)
		}
		got = ids(search(t, s, Query{Terms: terms("martians"), Joined: []string{room}, Keys: []string{KeyName, KeyTopic}, Recent: true}))
		if !slices.Equal(got, []string{topic.EventID(), name.EventID()}) {
			t.Errorf("keys name and topic found %v", got)
		}
	})
}

// Indexing happens in the event's own transaction: an event stored through
// roomstore is found; once redacted, it is not.
func TestIndex_InTheWritersTransactionAndRedactionRemoves(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		rs, err := roomstore.New(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		s := newStore(t, db)
		rs.AddIndexer(s)
		room := "!r:hs1"
		keep, gone := msg(t, room, "@a:hs1", "secret plans"), msg(t, room, "@a:hs1", "secret recipe")
		if err := rs.Write(ctx, func(w *roomstore.Writer) error {
			if err := w.CreateRoom(room, "10", 1); err != nil {
				return err
			}
			for i, e := range []*event.Event{keep, gone} {
				if _, err := w.InsertEvent(roomstore.NewEvent{Event: e, StreamPos: int64(i + 1)}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		q := Query{Terms: terms("secret"), Joined: []string{room}, Recent: true}
		if got := ids(search(t, s, q)); !slices.Equal(got, []string{gone.EventID(), keep.EventID()}) {
			t.Fatalf("found %v before the redaction", got)
		}
		if err := rs.Write(ctx, func(w *roomstore.Writer) error { return w.MarkRedacted(gone.EventID(), "$redaction") }); err != nil {
			t.Fatal(err)
		}
		if got := ids(search(t, s, q)); !slices.Equal(got, []string{keep.EventID()}) {
			t.Fatalf("found %v after the redaction, want only the unredacted event", got)
		}
		// Unindexing what is not indexed is harmless.
		if err := db.WithTx(ctx, func(tx *sql.Tx) error { return s.UnindexEvent(ctx, tx, "$never") }); err != nil {
			t.Fatal(err)
		}
	})
}

// search.yaml order_by: rank puts the better match first, recent the
// newest; pages continue from a cursor without repeating or skipping.
func TestSearch_OrderAndPagination(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s := newStore(t, db)
		room := "!r:hs1"
		weak := msg(t, room, "@a:hs1", "a long message that mentions rockets once among many other unrelated words here")
		strong := msg(t, room, "@a:hs1", "rockets rockets rockets")
		index(t, db, s, 1, strong, weak)
		hits := search(t, s, Query{Terms: terms("rockets"), Joined: []string{room}})
		if !slices.Equal(ids(hits), []string{strong.EventID(), weak.EventID()}) || !(hits[0].Rank > hits[1].Rank) {
			t.Fatalf("by rank: %+v", hits)
		}
		if got := ids(search(t, s, Query{Terms: terms("rockets"), Joined: []string{room}, Recent: true})); !slices.Equal(got, []string{weak.EventID(), strong.EventID()}) {
			t.Fatalf("by recent: %v", got)
		}

		// 25 events, some with equal ranks: pages of 4 in both orders
		// return each exactly once.
		var all []string
		for i := range 25 {
			e := msg(t, room, "@a:hs1", fmt.Sprintf("page %s", []string{"x", "x y", "x y z"}[i%3]))
			index(t, db, s, int64(100+i), e)
			all = append(all, e.EventID())
		}
		for _, recent := range []bool{true, false} {
			var seen []string
			q := Query{Terms: terms("page"), Joined: []string{room}, Recent: recent, Limit: 4}
			for range 10 {
				hits := search(t, s, q)
				seen = append(seen, ids(hits)...)
				if len(hits) < 4 {
					break
				}
				c := hits[len(hits)-1].Cursor()
				q.After = &c
			}
			slices.Sort(seen)
			want := slices.Clone(all)
			slices.Sort(want)
			if !slices.Equal(seen, want) {
				t.Errorf("recent=%v: pages returned %d events, want each of %d once", recent, len(seen), len(want))
			}
		}
	})
}

// Only the rooms asked for, up to their bounds: a left room up to where
// the user left it, joined rooms up to the stream position read.
func TestSearch_RoomsAndBounds(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s := newStore(t, db)
		joined, left, stranger := "!j:hs1", "!l:hs1", "!s:hs1"
		j1, l1, s1 := msg(t, joined, "@a:hs1", "cheese"), msg(t, left, "@a:hs1", "cheese"), msg(t, stranger, "@a:hs1", "cheese")
		l2, j2 := msg(t, left, "@a:hs1", "cheese after leaving"), msg(t, joined, "@a:hs1", "cheese not yet visible")
		index(t, db, s, 1, j1, l1, s1, l2, j2)
		got := ids(search(t, s, Query{Terms: terms("cheese"), Joined: []string{joined}, Left: []RoomBound{{left, 2}}, UpTo: 4, Recent: true}))
		if !slices.Equal(got, []string{l1.EventID(), j1.EventID()}) {
			t.Fatalf("found %v, want the joined room's and the left room's before leaving", got)
		}
		if got := ids(search(t, s, Query{Terms: terms("cheese"), Left: []RoomBound{{left, 4}}, Recent: true})); !slices.Equal(got, []string{l2.EventID(), l1.EventID()}) {
			t.Fatalf("left rooms only: %v", got)
		}
		if got := search(t, s, Query{Terms: terms("cheese")}); len(got) != 0 {
			t.Fatalf("no rooms found %v", got)
		}
		if n, err := s.Count(context.Background(), Query{Terms: terms("cheese"), Joined: []string{joined, left, stranger}, UpTo: 10}, 3); err != nil || n != 3 {
			t.Fatalf("count capped at 3: %d, %v", n, err)
		}
	})
}

// The filter's senders and not_senders (and ignored users) apply in the
// query, before the limit.
func TestSearch_Senders(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s := newStore(t, db)
		room := "!r:hs1"
		a, b, c := msg(t, room, "@a:hs1", "tea"), msg(t, room, "@b:hs1", "tea"), msg(t, room, "@c:hs1", "tea")
		index(t, db, s, 1, a, b, c)
		q := Query{Terms: terms("tea"), Joined: []string{room}, Recent: true, Senders: []string{"@a:hs1", "@b:hs1"}, NotSenders: []string{"@b:hs1"}}
		if got := ids(search(t, s, q)); !slices.Equal(got, []string{a.EventID()}) {
			t.Fatalf("found %v", got)
		}
		q.Senders = []string{}
		if got := search(t, s, q); len(got) != 0 {
			t.Fatalf("an empty senders list found %v", got)
		}
	})
}

// The query syntax: prefixes, quoted phrases, or, exclusion; and the same
// meaning on both engines.
func TestSearch_TermSyntax(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s := newStore(t, db)
		room := "!r:hs1"
		e1 := msg(t, room, "@a:hs1", "Jupiter's moons are icy")
		e2 := msg(t, room, "@a:hs1", "moons of Saturn")
		e3 := msg(t, room, "@a:hs1", "icy comets")
		index(t, db, s, 1, e1, e2, e3)
		for _, c := range []struct {
			term string
			want []*event.Event
		}{
			{"moons", []*event.Event{e2, e1}},
			{"MOONS", []*event.Event{e2, e1}},
			{`"icy comets"`, []*event.Event{e3}},
			{`"comets icy"`, nil},
			{"moons -saturn", []*event.Event{e1}},
			{"saturn or comets", []*event.Event{e3, e2}},
			{"icy jupiter", []*event.Event{e1}},
			{"-icy", nil},
			{"", nil},
			{"!!! ???", nil},
		} {
			var want []string
			for _, e := range c.want {
				want = append(want, e.EventID())
			}
			got := ids(search(t, s, Query{Terms: terms(c.term), Joined: []string{room}, Recent: true}))
			if !slices.Equal(got, append([]string{}, want...)) {
				t.Errorf("%q found %v, want %v", c.term, got, want)
			}
		}
	})
}

// Unquoted words match as prefixes on PostgreSQL (as in Synapse), whole
// on SQLite (see engine.wholeWords); both engines fold case.
func TestSearch_PrefixesOnPostgres(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s := newStore(t, db)
		room := "!r:hs1"
		e := msg(t, room, "@a:hs1", "Telescopes")
		index(t, db, s, 1, e)
		got := ids(search(t, s, Query{Terms: terms("telesc"), Joined: []string{room}}))
		if want := db.Dialect() == sqldb.Postgres; (len(got) == 1) != want {
			t.Errorf("a prefix found %v on %s", got, db.Dialect())
		}
		if got := ids(search(t, s, Query{Terms: terms("TELESCOPES"), Joined: []string{room}})); len(got) != 1 {
			t.Errorf("the whole word in capitals found %v", got)
		}
	})
}

// Search terms are hostile: whatever a user types is a query that runs,
// never an SQL or engine syntax error.
func TestSearch_HostileTermsNeverFail(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s := newStore(t, db)
		room := "!r:hs1"
		index(t, db, s, 1, msg(t, room, "@a:hs1", "ordinary words"))
		for _, term := range hostileTerms {
			search(t, s, Query{Terms: terms(term), Joined: []string{room}})
			search(t, s, Query{Terms: terms(term), Joined: []string{room}, Recent: true})
		}
	})
}

var hostileTerms = []string{
	`"`, `""`, `"""`, `*`, `a*`, `*a`, `^a`, `a:b`, `col:word`, `NEAR(a b)`, `a NEAR b`, `AND`, `OR`, `NOT`,
	`a AND`, `OR a`, `a OR`, `- -a`, `-`, `--`, `(`, `)`, `a) OR (b`, `'`, `''`, `a'b`, `\`, `\'`, `a & b | !c`,
	`a:* <-> b`, `'a':*`, `); DROP TABLE search_events; --`, "\x00", "a\x00b", "\xff\xfe", "é", "e\u0301",
	"日本語のテキスト", "🙂 emoji", "a\tb\nc", `{`, `}`, `[a]`, `+a`, `a+`, `a-b-c`, `"unterminated`, `-"not this"`,
	`or or or`, `and`, `x or -y`, `NOT a`, `a NOT`, `"a" "b"`, `%_`,
}

// Events stored before the index existed are indexed once, in batches,
// in the background: redacted ones are not, and a second run does nothing.
func TestBackfill_IndexesOlderEventsOnce(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		rs, err := roomstore.New(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		room := "!r:hs1"
		var evs []*event.Event
		for i := range backfillBatch + 10 {
			evs = append(evs, msg(t, room, "@a:hs1", fmt.Sprintf("older message %d", i)))
		}
		redacted := msg(t, room, "@a:hs1", "older but redacted")
		if err := rs.Write(ctx, func(w *roomstore.Writer) error {
			if err := w.CreateRoom(room, "10", 1); err != nil {
				return err
			}
			for i, e := range append(evs, redacted) {
				// Some history backfilled from other servers sits at
				// negative positions.
				pos := int64(i - 5)
				if pos >= 0 {
					pos++
				}
				if _, err := w.InsertEvent(roomstore.NewEvent{Event: e, StreamPos: pos}); err != nil {
					return err
				}
			}
			return w.MarkRedacted(redacted.EventID(), "$r")
		}); err != nil {
			t.Fatal(err)
		}
		s := newStore(t, db)
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		if err := s.Backfill(ctx, rs, 1<<40, log, nil); err != nil {
			t.Fatal(err)
		}
		q := Query{Terms: terms("older"), Joined: []string{room}, UpTo: 1 << 40}
		if n, err := s.Count(ctx, q, 10000); err != nil || n != len(evs) {
			t.Fatalf("backfill indexed %d, %v; want %d", n, err, len(evs))
		}
		// Done: a later run reads nothing (an event unindexed now stays so).
		if err := db.WithTx(ctx, func(tx *sql.Tx) error { return s.UnindexEvent(ctx, tx, evs[0].EventID()) }); err != nil {
			t.Fatal(err)
		}
		if err := s.Backfill(ctx, rs, 1<<40, log, nil); err != nil {
			t.Fatal(err)
		}
		if n, _ := s.Count(ctx, q, 10000); n != len(evs)-1 {
			t.Fatalf("a second backfill ran again: %d indexed", n)
		}
	})
}

// A ranked search orders the newest rankWindow matches, best first, then
// the window before them: pages cross windows without repeating or
// skipping a hit, and a window restricted to some senders orders their
// hits as the whole window does.
func TestSearch_RankWindows(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s := newStore(t, db)
		room := "!r:hs1"
		n := rankWindow*2 + 100
		evs := make([]*event.Event, n)
		for i := range evs {
			body := "filler words around the word orbit here"
			if i%7 == 0 {
				body = "orbit orbit"
			}
			evs[i] = msg(t, room, fmt.Sprintf("@u%d:hs1", i%2), body)
		}
		index(t, db, s, 1, evs...)
		q := Query{Terms: terms("orbit"), Joined: []string{room}, Limit: 300}
		var seen []string
		var firstWindow []Hit
		for page := 0; ; page++ {
			hits := search(t, s, q)
			if page < 4 {
				firstWindow = append(firstWindow, hits...)
			}
			seen = append(seen, ids(hits)...)
			if len(hits) < q.Limit {
				break
			}
			c := hits[len(hits)-1].Cursor()
			q.After = &c
		}
		if len(seen) != n || len(slices.Compact(slices.Sorted(slices.Values(seen)))) != n {
			t.Fatalf("pages returned %d hits (%d distinct), want %d once each", len(seen), len(slices.Compact(slices.Sorted(slices.Values(seen)))), n)
		}
		// The first window is the newest rankWindow, the strong ones first.
		for i, h := range firstWindow[:rankWindow] {
			if h.StreamPos <= int64(n-rankWindow) {
				t.Fatalf("hit %d at position %d is older than the first window", i, h.StreamPos)
			}
			if i > 0 && h.Rank > firstWindow[i-1].Rank {
				t.Fatalf("hit %d ranks above the one before it", i)
			}
		}
		// One sender's continuation from the middle of the first window
		// is the rest of the window's order restricted to that sender.
		q = Query{Terms: terms("orbit"), Joined: []string{room}, Limit: 10}
		first := search(t, s, q)
		c := first[len(first)-1].Cursor()
		q.After, q.Senders, q.Limit = &c, []string{"@u0:hs1"}, rankWindow
		var want []string
		for _, h := range firstWindow[10:rankWindow] {
			if h.Sender == "@u0:hs1" {
				want = append(want, h.EventID)
			}
		}
		if got := ids(search(t, s, q)); !slices.Equal(got[:len(want)], want) {
			t.Fatalf("the sender's continuation differs from the window's order")
		}
	})
}

// More rows than one window of PostgreSQL's windowed reads (Store.windows):
// a common word's newest matches come from the first window, a word in a
// few hundred rows from several, a rare one from the text index; in every
// case a search returns exactly the newest matches in order, pages
// continue where they stopped, and counts stop at their bound.
func TestSearch_NewestMatchesAcrossWindowsOfRows(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s := newStore(t, db)
		room, other := "!r:hs1", "!other:hs1"
		const n = 3 * firstWindow
		want := map[string][]int64{} // word → its positions, newest first
		var evs []*event.Event
		for i := n; i >= 1; i-- {
			words := []string{"filler"}
			if i%3 == 0 {
				words = append(words, "often")
			}
			if i%97 == 0 {
				words = append(words, "sometimes")
			}
			if i == 5 || i == 1500 || i == n-1 {
				words = append(words, "seldom")
			}
			for _, w := range words[1:] {
				want[w] = append(want[w], int64(i))
			}
			evs = append(evs, msg(t, room, "@a:hs1", strings.Join(words, " ")))
		}
		slices.Reverse(evs)
		for i := 0; i < n; i += 500 {
			index(t, db, s, int64(i+1), evs[i:i+500]...)
		}
		// Another room's rows in between the searched room's: not hits.
		index(t, db, s, n+1, msg(t, other, "@a:hs1", "often sometimes seldom"))
		positions := func(hits []Hit) []int64 {
			var out []int64
			for _, h := range hits {
				out = append(out, h.StreamPos)
			}
			return out
		}
		for word, all := range want {
			for _, limit := range []int{1, 10, 40} {
				q := Query{Terms: terms(word), Joined: []string{room}, Recent: true, Limit: limit}
				var got []int64
				for range len(all)/limit + 2 {
					hits := search(t, s, q)
					got = append(got, positions(hits)...)
					if len(hits) < limit {
						break
					}
					c := hits[len(hits)-1].Cursor()
					q.After = &c
				}
				if !slices.Equal(got, all) {
					t.Errorf("%s, pages of %d newest first: %d hits %v…, want %d %v…", word, limit, len(got), got[:min(5, len(got))], len(all), all[:min(5, len(all))])
				}
			}
			// Ranked: every match once (equal texts rank equally).
			q := Query{Terms: terms(word), Joined: []string{room}, Limit: 300}
			var got []int64
			for range len(all)/300 + 2 {
				hits := search(t, s, q)
				got = append(got, positions(hits)...)
				if len(hits) < 300 {
					break
				}
				c := hits[len(hits)-1].Cursor()
				q.After = &c
			}
			slices.Sort(got)
			sorted := slices.Clone(all)
			slices.Sort(sorted)
			if !slices.Equal(got, sorted) {
				t.Errorf("%s by rank: %d hits, want each of %d once", word, len(got), len(all))
			}
			c, err := s.Count(context.Background(), Query{Terms: terms(word), Joined: []string{room}, UpTo: 1 << 40}, 500)
			if err != nil || c != min(len(all), 500) {
				t.Errorf("count of %s = %d, %v; want %d", word, c, err, min(len(all), 500))
			}
		}
	})
}
