package stateres

import (
	"math"
	"slices"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

var powerLevelsKey = event.StateTuple{Type: event.TypePowerLevels, StateKey: ""}

// resolveV2 is state resolution v2 (fragments/v2-state-res.md "Algorithm")
// and, for room v12, v2.1 (rooms/v12.md "State resolution"), which differs
// in two places marked below.
func (r *resolver) resolveV2(states []StateMap) (StateMap, error) {
	unconflicted, conflicted := separate(states, true)
	if len(conflicted) == 0 {
		return unconflicted, nil
	}
	v21 := r.v.StateRes == roomversion.StateResV21

	// One graph holds every state event and the union of their auth chains;
	// the auth difference and the conflicted state subgraph are read off it.
	// Unconflicted events come first in from, then each conflicted key's
	// values, so the graph's start nodes can be matched back to them.
	ckeys := make([]event.StateTuple, 0, len(conflicted))
	from := make([]string, 0, len(unconflicted)+2*len(conflicted))
	for _, id := range unconflicted {
		from = append(from, id)
	}
	nu := len(from)
	for k, ids := range conflicted {
		ckeys = append(ckeys, k)
		from = append(from, ids...)
	}
	g, starts, err := r.buildGraph(from)
	if err != nil {
		return nil, err
	}
	order, err := g.topoOrder()
	if err != nil {
		return nil, err
	}
	n := g.len()

	// Full conflicted set: conflicted state set ∪ auth difference
	// (∪ conflicted state subgraph in v2.1). Conflicted events the source
	// does not have are not in the graph, so they drop out, as in Synapse.
	// masks holds, per node, the set of states whose auth chain holds it
	// (see authDifference); here each state's own events are marked.
	full := make([]bool, n)
	isConflicted := make([]bool, n)
	words := (len(states) + 63) / 64
	masks := make([]uint64, n*words)
	for _, j := range starts[:nu] {
		if j >= 0 { // in every state
			for w := range words {
				masks[int(j)*words+w] = ^uint64(0)
			}
		}
	}
	at := nu
	for _, k := range ckeys {
		vals := conflicted[k]
		for vi := range vals {
			if j := starts[at+vi]; j >= 0 {
				isConflicted[j], full[j] = true, true
			}
		}
		for i, s := range states {
			if id, ok := s[k]; ok {
				if j := starts[at+slices.Index(vals, id)]; j >= 0 {
					masks[int(j)*words+i/64] |= uint64(1) << (i % 64)
				}
			}
		}
		at += len(vals)
	}
	authDifference(g, order, masks, len(states), full)
	if v21 {
		conflictedSubgraph(g, order, isConflicted, full)
	}

	// Step 1: power events of the full conflicted set and their auth chains
	// within it, in reverse topological power ordering.
	inX := make([]bool, n)
	var stack []int32
	for j := range n {
		if full[j] && isPowerEvent(g.evs[j]) {
			inX[j] = true
			stack = append(stack, int32(j))
		}
	}
	// Like Synapse, the walk continues only through events of the full
	// conflicted set: an ancestor reached solely through an event outside it
	// is not added.
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, a := range g.auth(x) {
			if full[a] && !inX[a] {
				inX[a] = true
				stack = append(stack, a)
			}
		}
	}
	powerSorted, err := r.reverseTopologicalPowerSort(g, inX)
	if err != nil {
		return nil, err
	}

	// Step 2: iterative auth checks from the unconflicted state map, or in
	// v2.1 from an empty map (rooms/v12.md, change 1).
	var partial StateMap
	if v21 {
		partial = StateMap{}
	} else {
		partial = clone(unconflicted)
	}
	if err := r.iterativeAuthChecks(g, partial, powerSorted); err != nil {
		return nil, err
	}

	// Step 3: the other events of the full conflicted set in mainline order
	// of the resolved power levels.
	var rest []int32
	for j := range n {
		if full[j] && !inX[j] {
			rest = append(rest, int32(j))
		}
	}
	if err := r.mainlineSort(g, rest, partial[powerLevelsKey]); err != nil {
		return nil, err
	}

	// Step 4, then step 5: the unconflicted state map always wins.
	if err := r.iterativeAuthChecks(g, partial, rest); err != nil {
		return nil, err
	}
	for k, id := range unconflicted {
		partial[k] = id
	}
	return partial, nil
}

// authDifference adds to full every node that is in the auth chain of some
// state but not of all (fragments/v2-state-res.md "Auth difference"). On
// entry masks marks, per node, the states that hold the event itself: as in
// Synapse, a state's own events count as part of its auth chain, so an
// unconflicted event is never in the difference. The marks are pushed from
// events to their auth events in topological order: linear in the size of
// the graph.
func authDifference(g *graph, order []int32, masks []uint64, nstates int, full []bool) {
	words := (nstates + 63) / 64
	for _, x := range order {
		mx := masks[int(x)*words : int(x+1)*words]
		for _, a := range g.auth(x) {
			ma := masks[int(a)*words : int(a+1)*words]
			for w := range mx {
				ma[w] |= mx[w]
			}
		}
	}
	all := make([]uint64, words)
	for i := range nstates {
		all[i/64] |= uint64(1) << (i % 64)
	}
	for j := range full {
		m := masks[j*words : (j+1)*words]
		for w := range all {
			if m[w]&all[w] != all[w] {
				full[j] = true
				break
			}
		}
	}
}

// conflictedSubgraph adds to full every event on an auth_events path between
// two conflicted events (rooms/v12.md "Conflicted state subgraph"): events
// reachable from a conflicted event that themselves reach one.
func conflictedSubgraph(g *graph, order []int32, isConflicted, full []bool) {
	n := g.len()
	below := make([]bool, n) // reachable from a conflicted event (or is one)
	for _, x := range order {
		if isConflicted[x] {
			below[x] = true
		}
		if below[x] {
			for _, a := range g.auth(x) {
				below[a] = true
			}
		}
	}
	above := make([]bool, n) // reaches a conflicted event through ≥1 edge
	for k := len(order) - 1; k >= 0; k-- {
		x := order[k]
		for _, a := range g.auth(x) {
			if isConflicted[a] || above[a] {
				above[x] = true
				break
			}
		}
	}
	for j := range n {
		if below[j] && above[j] {
			full[j] = true
		}
	}
}

// reverseTopologicalPowerSort orders the nodes in x by Kahn's algorithm over
// their auth edges, earliest first, always taking the smallest candidate by
// (greater sender power, smaller origin_server_ts, smaller event ID)
// (fragments/v2-state-res.md "Reverse topological power ordering"). Edges
// are the direct auth_events links between nodes of x, as in Synapse.
func (r *resolver) reverseTopologicalPowerSort(g *graph, inX []bool) ([]int32, error) {
	var nodes []int32
	for j, in := range inX {
		if in {
			nodes = append(nodes, int32(j))
		}
	}
	if len(nodes) == 0 {
		return nil, nil
	}
	level := make(map[int32]int64, len(nodes))
	pending := make(map[int32]int, len(nodes)) // auth events in x not yet output
	parents := make(map[int32][]int32, len(nodes))
	for _, x := range nodes {
		l, err := r.senderLevel(g.evs[x])
		if err != nil {
			return nil, err
		}
		level[x] = l
		for _, a := range g.auth(x) {
			if inX[a] {
				pending[x]++
				parents[a] = append(parents[a], x)
			}
		}
	}
	h := nodeHeap{less: func(a, b int32) bool {
		if level[a] != level[b] {
			return level[a] > level[b]
		}
		return earlier(g.evs[a], g.evs[b])
	}}
	for _, x := range nodes {
		if pending[x] == 0 {
			h.push(x)
		}
	}
	out := make([]int32, 0, len(nodes))
	for len(h.items) > 0 {
		x := h.pop()
		out = append(out, x)
		for _, p := range parents[x] {
			if pending[p]--; pending[p] == 0 {
				h.push(p)
			}
		}
	}
	return out, nil
}

// earlier is the shared tie-break of both orderings: smaller
// origin_server_ts, then smaller event ID (compared as byte strings; IDs are
// ASCII in practice, and for UTF-8 this equals code point order).
func earlier(a, b *event.Event) bool {
	if a.OriginServerTS() != b.OriginServerTS() {
		return a.OriginServerTS() < b.OriginServerTS()
	}
	return a.EventID() < b.EventID()
}

// powerLevelsAuthEvent returns the m.room.power_levels event among ev's
// auth events (the first one, should a malformed event cite several), or nil.
func (r *resolver) powerLevelsAuthEvent(ev *event.Event) (*event.Event, error) {
	for _, aid := range ev.AuthEventIDs() {
		ae, err := r.event(aid)
		if err != nil {
			return nil, err
		}
		if ae != nil && ae.Type() == event.TypePowerLevels && ae.StateKeyEquals("") {
			return ae, nil
		}
	}
	return nil, nil
}

// mainlineSort sorts nodes by the mainline ordering based on the power
// levels event plID (fragments/v2-state-res.md "Mainline ordering"): greater
// mainline position first, then origin_server_ts, then event ID.
func (r *resolver) mainlineSort(g *graph, nodes []int32, plID string) error {
	if len(nodes) == 0 {
		return nil
	}
	// The mainline of P0: P0, its power levels auth event P1, and so on.
	mainline := map[string]int{}
	if plID != "" {
		ev, err := r.event(plID)
		if err != nil {
			return err
		}
		for i := 0; ev != nil; i++ {
			if _, loop := mainline[ev.EventID()]; loop {
				break // only forged v1/v2 events can loop
			}
			mainline[ev.EventID()] = i
			if ev, err = r.powerLevelsAuthEvent(ev); err != nil {
				return err
			}
		}
	}
	// The position of e is that of the first of e1, e2, … (e's power levels
	// auth event, its power levels auth event, …) on the mainline. e itself
	// is never looked at; the events sorted here are never power levels
	// events anyway. Positions are memoised per power levels event, since
	// most events share a few of them.
	const infinite = math.MaxInt
	memo := map[string]int{}
	position := func(e *event.Event) (int, error) {
		var path []string
		pos := infinite
		for {
			p, err := r.powerLevelsAuthEvent(e)
			if err != nil {
				return 0, err
			}
			if p == nil {
				break
			}
			id := p.EventID()
			if i, ok := mainline[id]; ok {
				pos = i
				break
			}
			if i, ok := memo[id]; ok {
				pos = i
				break
			}
			if slices.Contains(path, id) {
				break // a loop of forged events: never reaches the mainline
			}
			path = append(path, id)
			e = p
		}
		for _, id := range path {
			memo[id] = pos
		}
		return pos, nil
	}
	pos := make(map[int32]int, len(nodes))
	for _, x := range nodes {
		p, err := position(g.evs[x])
		if err != nil {
			return err
		}
		pos[x] = p
	}
	slices.SortFunc(nodes, func(a, b int32) int {
		switch {
		case pos[a] != pos[b]:
			if pos[a] > pos[b] {
				return -1
			}
			return 1
		case earlier(g.evs[a], g.evs[b]):
			return -1
		case earlier(g.evs[b], g.evs[a]):
			return 1
		}
		return 0
	})
	return nil
}

// iterativeAuthChecks applies each event, in order, to state when the auth
// rules allow it against state, with keys missing from state taken from the
// event's own non-rejected auth events (fragments/v2-state-res.md
// "Iterative auth checks"). Following the spec's "Rejected events", an event
// that was itself rejected on receipt is checked like any other (Synapse
// instead never admits one).
func (r *resolver) iterativeAuthChecks(g *graph, state StateMap, list []int32) error {
	view := stateView{r: r, state: state, fallback: true}
	for _, x := range list {
		ev := g.evs[x]
		k, isState := ev.Tuple()
		if !isState {
			continue // only a forged auth chain holds non-state events
		}
		view.ev = ev
		ok, err := r.allowed(ev, &view)
		if err != nil {
			return err
		}
		if ok {
			state[k] = g.id(x)
		}
	}
	return nil
}

// nodeHeap is a binary min-heap of nodes under less.
type nodeHeap struct {
	items []int32
	less  func(a, b int32) bool
}

func (h *nodeHeap) push(x int32) {
	h.items = append(h.items, x)
	i := len(h.items) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(h.items[i], h.items[p]) {
			break
		}
		h.items[i], h.items[p] = h.items[p], h.items[i]
		i = p
	}
}

func (h *nodeHeap) pop() int32 {
	top := h.items[0]
	last := len(h.items) - 1
	h.items[0] = h.items[last]
	h.items = h.items[:last]
	i := 0
	for {
		l, m := 2*i+1, i
		if l < last && h.less(h.items[l], h.items[m]) {
			m = l
		}
		if l+1 < last && h.less(h.items[l+1], h.items[m]) {
			m = l + 1
		}
		if m == i {
			return top
		}
		h.items[i], h.items[m] = h.items[m], h.items[i]
		i = m
	}
}
