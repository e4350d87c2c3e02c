package stateres

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

// randomRoom grows a room with a fixed seed: several branches that fork from
// each other and sometimes merge, each sending random state events (topics,
// power level changes, kicks, bans, joins, leaves, invites, join rule
// changes). Events the auth rules refuse on their branch are not sent, so
// every branch is a valid history. Timestamps are drawn from a narrow range
// so that ties (broken by event ID) are common. It returns the final states
// of the branches.
func randomRoom(t testing.TB, v *roomversion.Version, seed int64) (*room, []StateMap) {
	rng := rand.New(rand.NewSource(seed))
	users := []string{alice, bob, carol, dave, eve, mo}
	levels := []int{0, 10, 50, 75, 100}
	r, base := newRoom(t, v, "public", map[string]int{bob: 50, mo: 75})
	base.join(bob, carol, mo)
	branches := []*branch{base}
	pick := func(list []string) string { return list[rng.Intn(len(list))] }
	for step := 0; step < 80; step++ {
		b := branches[rng.Intn(len(branches))]
		switch x := rng.Intn(20); {
		case x < 3 && len(branches) < 5:
			branches = append(branches, b.fork())
			continue
		case x < 4 && len(branches) > 1:
			o := branches[rng.Intn(len(branches))]
			if o != b {
				*b = *b.merge(o)
			}
			continue
		}
		o := opts{ts: 5000 + rng.Int63n(30)}
		sender, target := pick(users), pick(users)
		if rng.Intn(2) == 0 {
			sender = pick([]string{alice, mo, bob}) // the ones most likely to be allowed
		}
		var typ, key, content string
		switch rng.Intn(8) {
		case 0:
			typ, content = event.TypeTopic, fmt.Sprintf(`{"topic":"t%d"}`, step)
		case 1:
			typ, key, content = "x.custom", pick([]string{"", "a"}), fmt.Sprintf(`{"n":%d}`, step)
		case 2:
			u := map[string]int{}
			for _, w := range users[1:] {
				if rng.Intn(2) == 0 {
					u[w] = levels[rng.Intn(len(levels))]
				}
			}
			typ, content = event.TypePowerLevels, plContent(v, u)
		case 3:
			typ, key, content = event.TypeMember, target, `{"membership":"`+pick([]string{event.Leave, event.Ban, event.Invite})+`"}`
		case 4, 5:
			typ, key, content = event.TypeMember, sender, `{"membership":"`+pick([]string{event.Join, event.Join, event.Leave})+`"}`
		case 6:
			typ, content = event.TypeJoinRules, `{"join_rule":"`+pick([]string{"public", "invite"})+`"}`
		case 7:
			typ, content = event.TypeName, fmt.Sprintf(`{"name":"n%d"}`, step)
		}
		_, _ = b.try(o, sender, typ, key, content) // refused events are simply not sent
	}
	states := make([]StateMap, len(branches))
	for i, b := range branches {
		states[i] = b.state
	}
	return r, states
}

// Properties every resolution must have, on random forks (fixed seeds):
//   - resolving one state returns it unchanged, and so does resolving a
//     state with itself;
//   - the result does not depend on the order of the input states (shuffled
//     slices), on duplicated inputs, or on map iteration and fetch order
//     (every call runs with Go's randomised map order);
//   - the unconflicted state map is part of the result (v2 step 5; v1's R
//     starts from it and never replaces it);
//   - the result only holds events from the input states (v1), or from the
//     input states and their auth chains (v2: the auth difference takes part
//     and may win, see TestV2_AuthDifferenceEventCanWin).
func TestResolveProperties(t *testing.T) {
	conflictedRuns := 0
	for _, id := range []roomversion.ID{"1", "2", "10", "12"} {
		v := roomversion.MustGet(id)
		for seed := int64(1); seed <= 25; seed++ {
			t.Run(fmt.Sprintf("v%s/seed%d", id, seed), func(t *testing.T) {
				r, states := randomRoom(t, v, seed)
				for _, s := range states {
					r.sameState(r.resolve(s), s, "one state")
					r.sameState(r.resolve(s, s), s, "a state with itself")
				}
				if len(states) < 2 {
					return
				}
				want := r.resolve(states...)
				rng := rand.New(rand.NewSource(seed))
				for range 4 {
					shuffled := append([]StateMap(nil), states...)
					rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
					r.sameState(r.resolve(shuffled...), want, "shuffled input")
				}
				r.sameState(r.resolve(append(states, states[0])...), want, "a duplicated input state")

				unconflicted, conflicted := separate(states, v.StateRes != roomversion.StateResV1)
				if len(conflicted) > 0 {
					conflictedRuns++
				}
				for k, id := range unconflicted {
					if want[k] != id {
						t.Errorf("unconflicted %v = %s lost, got %s", k, r.name(id), r.name(want[k]))
					}
				}
				allowed := map[string]bool{}
				var ids []string
				for _, s := range states {
					for _, id := range s {
						allowed[id] = true
						ids = append(ids, id)
					}
				}
				if v.StateRes != roomversion.StateResV1 {
					chain, err := AuthChain(r.src, ids)
					if err != nil {
						t.Fatal(err)
					}
					for id := range chain {
						allowed[id] = true
					}
				}
				for k, id := range want {
					if !allowed[id] {
						t.Errorf("%v = %s comes from nowhere", k, r.name(id))
					}
					if ev := r.src.events[id]; ev == nil {
						t.Errorf("%v = %s is unknown", k, id)
					} else if tup, _ := ev.Tuple(); tup != k {
						t.Errorf("%v holds %s, an event for %v", k, r.name(id), tup)
					}
				}
			})
		}
	}
	// The generator must actually produce conflicts, or the above proves
	// little.
	if conflictedRuns < 50 {
		t.Errorf("only %d of 100 random rooms had conflicts", conflictedRuns)
	}
}
