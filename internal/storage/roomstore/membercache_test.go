package roomstore

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// MembershipsAt answers from its per-user cache exactly what a store with
// no cache reads from the database, at every position, asked in any order:
// positions moving forward (a syncing client), back to an earlier token,
// and again after further changes.
func TestMembershipsAtCachedMatchesDatabase(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		depth := int64(0)
		member := func(room, user, membership string) *event.Event {
			depth++
			return buildEvent(t, &event.Builder{Type: event.TypeMember, RoomID: room, Sender: user, StateKey: &user, Depth: depth,
				OriginServerTS: 1000 + depth, Content: []byte(`{"membership":"` + membership + `"}`)})
		}
		// Alice's history: joins to three rooms, a leave, a rejoin; Bob's
		// rows in between must never show in hers.
		steps := []struct{ room, user, membership string }{
			{"!a:hs1", "@alice:hs1", "join"},
			{"!b:hs1", "@alice:hs1", "invite"},
			{"!a:hs1", "@bob:hs1", "join"},
			{"!b:hs1", "@alice:hs1", "join"},
			{"!c:hs1", "@alice:hs1", "join"},
			{"!a:hs1", "@alice:hs1", "leave"},
			{"!c:hs1", "@bob:hs1", "join"},
			{"!a:hs1", "@alice:hs1", "join"},
			{"!b:hs1", "@alice:hs1", "ban"},
		}
		for i, st := range steps {
			if i < 3 {
				if err := s.Write(ctx, func(w *Writer) error { return w.CreateRoom(fmt.Sprintf("!%c:hs1", 'a'+i), "10", 1) }); err != nil {
					t.Fatal(err)
				}
			}
			ev := member(st.room, st.user, st.membership)
			if err := s.Write(ctx, func(w *Writer) error {
				_, err := w.InsertEvent(NewEvent{Event: ev, StreamPos: int64(i + 1)})
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		last := int64(len(steps))
		// Forward one position at a time, then back and forth.
		var order []int64
		for p := int64(0); p <= last; p++ {
			order = append(order, p)
		}
		order = append(order, 2, last, 4, 4, 8, 1, last)
		for _, pos := range order {
			got, err := s.MembershipsAt(ctx, "@alice:hs1", pos)
			if err != nil {
				t.Fatal(err)
			}
			uncached := newStore(t, db)
			want, err := uncached.MembershipsAt(ctx, "@alice:hs1", pos)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("at %d: cached %+v, database %+v", pos, got, want)
			}
		}
		latest, err := s.MembershipsAt(ctx, "@alice:hs1", last)
		if err != nil {
			t.Fatal(err)
		}
		if got := byRoom(latest); !reflect.DeepEqual(got, map[string]string{"!a:hs1": "join", "!b:hs1": "ban", "!c:hs1": "join"}) {
			t.Errorf("latest = %v", got)
		}
	})
}

// The cache holds at most its bound in memberships, dropping the least
// recently used users first, and a user whose list alone is over the bound
// is simply not cached.
func TestMembershipCacheBound(t *testing.T) {
	c := newMembershipCache(3)
	list := func(n int) []Membership { return make([]Membership, n) }
	c.put(&userMemberships{user: "a", pos: 1, list: list(2)})
	c.put(&userMemberships{user: "b", pos: 1, list: list(1)})
	c.get("a")
	c.put(&userMemberships{user: "c", pos: 1, list: list(1)})
	if c.get("b") != nil || c.get("a") == nil || c.get("c") == nil || c.Len() != 3 {
		t.Errorf("after eviction: b=%v a=%v c=%v len=%d; want b evicted, 3 held", c.get("b"), c.get("a"), c.get("c"), c.Len())
	}
	c.put(&userMemberships{user: "d", pos: 1, list: list(4)})
	if c.get("d") != nil || c.Len() != 3 {
		t.Errorf("an over-sized list was cached (len %d)", c.Len())
	}
	// An older view never replaces a newer one.
	c.put(&userMemberships{user: "c", pos: 0, list: nil})
	if got := c.get("c"); got == nil || got.pos != 1 {
		t.Errorf("c = %+v, want the position-1 view kept", got)
	}
}

func byRoom(ms []Membership) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		out[m.RoomID] = m.Membership
	}
	return out
}
