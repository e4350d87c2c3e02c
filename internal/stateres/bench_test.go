package stateres

import (
	"fmt"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

// largeFork builds a public room with `members` joined users, then forks it:
// on branch A alice kicks users 0..conflicts/2-1 (power events) and users
// conflicts/2..conflicts-1 change their display name; on branch B users
// 0..conflicts-1 all change their display name. That is `conflicts`
// conflicted member keys, half of them involving a power event, in a state
// of about members+4 events.
func largeFork(b *testing.B, v *roomversion.Version, members, conflicts int) (*room, StateMap, StateMap) {
	b.Helper()
	r, base := newRoom(b, v, "public", nil)
	user := func(i int) string { return fmt.Sprintf("@u%d:s.test", i) }
	for i := range members {
		base.member(user(i), user(i), event.Join)
	}
	a, c := base.fork(), base.fork()
	for i := range conflicts {
		if i < conflicts/2 {
			a.member(alice, user(i), event.Leave)
		} else {
			a.send(opts{}, user(i), event.TypeMember, user(i), `{"membership":"join","displayname":"A"}`)
		}
		c.send(opts{}, user(i), event.TypeMember, user(i), `{"membership":"join","displayname":"B"}`)
	}
	return r, a.state, c.state
}

func BenchmarkResolve(b *testing.B) {
	for _, id := range []roomversion.ID{"11", "12"} {
		v := roomversion.MustGet(id)
		for _, members := range []int{100, 1000, 10000} {
			b.Run(fmt.Sprintf("v%s/members=%d/conflicts=100", id, members), func(b *testing.B) {
				r, sa, sb := largeFork(b, v, members, 100)
				states := []StateMap{sa, sb}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if _, err := Resolve(v, states, r.src); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkResolveTrivial is the common case: all states equal.
func BenchmarkResolveTrivial(b *testing.B) {
	v := roomversion.MustGet("12")
	r, sa, _ := largeFork(b, v, 1000, 0)
	states := []StateMap{sa, clone(sa)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Resolve(v, states, r.src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthChain walks the auth chain of an event at the end of 1000
// successive power levels changes, each citing the one before.
func BenchmarkAuthChain(b *testing.B) {
	v := roomversion.MustGet("12")
	r, base := newRoom(b, v, "public", nil)
	for i := range 1000 {
		base.powerLevels(alice, map[string]int{bob: i % 100})
	}
	last := base.topic(opts{}, alice, "deep")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		chain, err := AuthChain(r.src, []string{last.EventID()})
		if err != nil || len(chain) < 1000 {
			b.Fatal(len(chain), err)
		}
	}
}
