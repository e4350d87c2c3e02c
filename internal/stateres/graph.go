package stateres

import (
	"errors"
	"fmt"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

// resolver holds what one resolution has fetched, so that each event is read
// from the source once.
type resolver struct {
	v        *roomversion.Version
	src      EventSource
	events   map[string]*event.Event // nil value: the source does not have it
	rejected map[string]bool
	roomID   string
	// err keeps the first source failure met where it cannot be returned
	// (inside eventauth.Check's state lookups); callers test it after each check.
	err error
}

func newResolver(v *roomversion.Version, src EventSource) *resolver {
	return &resolver{v: v, src: src, events: map[string]*event.Event{}, rejected: map[string]bool{}}
}

// event returns the event, nil if the source does not know it, or an error
// for a failing source or an event from another room.
func (r *resolver) event(id string) (*event.Event, error) {
	if ev, ok := r.events[id]; ok {
		return ev, nil
	}
	ev, err := r.src.Event(id)
	if err != nil {
		if errors.Is(err, ErrEventNotFound) {
			r.events[id] = nil
			return nil, nil
		}
		return nil, fmt.Errorf("stateres: fetching %s: %w", id, err)
	}
	if ev == nil {
		r.events[id] = nil
		return nil, nil
	}
	if ev.EventID() != id {
		return nil, fmt.Errorf("%w: source returned %s for %s", ErrBadAuthGraph, ev.EventID(), id)
	}
	// Synapse refuses to resolve over events of another room; so do we.
	if r.roomID == "" {
		r.roomID = ev.RoomID()
	} else if ev.RoomID() != r.roomID {
		return nil, fmt.Errorf("%w: event %s is in room %s, not %s", ErrBadAuthGraph, id, ev.RoomID(), r.roomID)
	}
	r.events[id] = ev
	return ev, nil
}

// eventOrNil is event for places that cannot return an error: it records the
// error for the caller to pick up from r.err.
func (r *resolver) eventOrNil(id string) *event.Event {
	ev, err := r.event(id)
	if err != nil && r.err == nil {
		r.err = err
	}
	return ev
}

func (r *resolver) isRejected(id string) bool {
	rej, ok := r.rejected[id]
	if !ok {
		rej = r.src.Rejected(id)
		r.rejected[id] = rej
	}
	return rej
}

// graph is the auth DAG over a set of events and all their known ancestors,
// with dense node numbers so that per-node data lives in slices.
type graph struct {
	ids   []string
	evs   []*event.Event
	index map[string]int32 // -1: unknown to the source
	// The auth edges of node i are edges[start[i]:start[i+1]], in the order
	// of the event's auth_events, without duplicates or unknown events.
	start []int32
	edges []int32
}

func (g *graph) auth(i int32) []int32 { return g.edges[g.start[i]:g.start[i+1]] }

// node returns the node of an event ID, or -1 if it is not in the graph.
func (g *graph) node(id string) int32 {
	if i, ok := g.index[id]; ok {
		return i
	}
	return -1
}

// buildGraph walks auth_events breadth-first from the given events.
func (r *resolver) buildGraph(from []string) (*graph, error) {
	g := &graph{index: make(map[string]int32, 2*len(from))}
	add := func(id string) (int32, error) {
		if i, ok := g.index[id]; ok {
			return i, nil
		}
		ev, err := r.event(id)
		if err != nil {
			return -1, err
		}
		if ev == nil {
			g.index[id] = -1
			return -1, nil
		}
		i := int32(len(g.ids))
		g.index[id] = i
		g.ids = append(g.ids, id)
		g.evs = append(g.evs, ev)
		return i, nil
	}
	for _, id := range from {
		if _, err := add(id); err != nil {
			return nil, err
		}
	}
	// Nodes are appended as they are discovered, so this loop is the BFS.
	g.start = make([]int32, 0, len(g.ids)+1)
	for i := 0; i < len(g.ids); i++ {
		g.start = append(g.start, int32(len(g.edges)))
		first := len(g.edges)
		for _, aid := range g.evs[i].AuthEventIDs() {
			j, err := add(aid)
			if err != nil {
				return nil, err
			}
			if j >= 0 && !containsNode(g.edges[first:], j) {
				g.edges = append(g.edges, j)
			}
		}
	}
	g.start = append(g.start, int32(len(g.edges)))
	return g, nil
}

func containsNode(list []int32, n int32) bool {
	for _, x := range list {
		if x == n {
			return true
		}
	}
	return false
}

// topoOrder returns the nodes so that every event comes before its auth
// events (Kahn's algorithm), or ErrBadAuthGraph if auth_events form a cycle.
func (g *graph) topoOrder() ([]int32, error) {
	n := len(g.ids)
	indeg := make([]int32, n)
	for _, j := range g.edges {
		indeg[j]++
	}
	order := make([]int32, 0, n)
	for i := range n {
		if indeg[i] == 0 {
			order = append(order, int32(i))
		}
	}
	for k := 0; k < len(order); k++ {
		for _, j := range g.auth(order[k]) {
			if indeg[j]--; indeg[j] == 0 {
				order = append(order, j)
			}
		}
	}
	if len(order) != n {
		return nil, fmt.Errorf("%w: auth_events form a cycle", ErrBadAuthGraph)
	}
	return order, nil
}

// AuthChain returns the auth chain of the given events: every event reachable
// from them through auth_events, not counting the given events themselves
// unless one is an ancestor of another (fragments/v2-state-res.md "Auth
// chain"). Events the source does not have are left out, and so is
// everything reachable only through them.
func AuthChain(src EventSource, eventIDs []string) (map[string]bool, error) {
	r := newResolver(nil, src)
	g, err := r.buildGraph(eventIDs)
	if err != nil {
		return nil, err
	}
	chain := make(map[string]bool, len(g.ids))
	for _, j := range g.edges {
		chain[g.ids[j]] = true
	}
	return chain, nil
}
