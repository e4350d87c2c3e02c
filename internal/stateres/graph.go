package stateres

import (
	"errors"
	"fmt"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

// resolver holds what one resolution has fetched, so that each event is read
// from the source once. Every event it has looked up gets a dense node
// number, so that per-event data can live in slices.
type resolver struct {
	v        *roomversion.Version
	src      EventSource
	index    map[string]int32 // event ID → node, or -1: the source does not have it
	evs      []*event.Event   // by node
	rejected map[string]bool
	roomID   string
	createID string // room v12: the create event ID named by the room ID
	// err keeps the first source failure met where it cannot be returned
	// (inside eventauth.Check's state lookups); callers test it after each check.
	err error
}

func newResolver(v *roomversion.Version, src EventSource) *resolver {
	return &resolver{v: v, src: src, index: map[string]int32{}, rejected: map[string]bool{}}
}

// node returns the node of an event, -1 if the source does not know it, or
// an error for a failing source or an event from another room.
func (r *resolver) node(id string) (int32, error) {
	if i, ok := r.index[id]; ok {
		return i, nil
	}
	ev, err := r.src.Event(id)
	if err != nil {
		if errors.Is(err, ErrEventNotFound) {
			r.index[id] = -1
			return -1, nil
		}
		return -1, fmt.Errorf("stateres: fetching %s: %w", id, err)
	}
	if ev == nil {
		r.index[id] = -1
		return -1, nil
	}
	if ev.EventID() != id {
		return -1, fmt.Errorf("%w: source returned %s for %s", ErrBadAuthGraph, ev.EventID(), id)
	}
	// Synapse refuses to resolve over events of another room; so do we.
	if r.roomID == "" {
		r.roomID = ev.RoomID()
	} else if ev.RoomID() != r.roomID {
		return -1, fmt.Errorf("%w: event %s is in room %s, not %s", ErrBadAuthGraph, id, ev.RoomID(), r.roomID)
	}
	i := int32(len(r.evs))
	r.index[id] = i
	r.evs = append(r.evs, ev)
	return i, nil
}

// event is node returning the event itself (nil if unknown).
func (r *resolver) event(id string) (*event.Event, error) {
	i, err := r.node(id)
	if i < 0 {
		return nil, err
	}
	return r.evs[i], nil
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

// graph is the auth DAG over a set of events and all their known ancestors.
// Its nodes are the resolver's nodes 0 … n-1 at the time it was built; all
// of them were reached by the walk (a fresh resolver is used for each walk).
type graph struct {
	evs []*event.Event
	// The auth edges of node i are edges[start[i]:start[i+1]], in the order
	// of the event's auth_events, without duplicates or unknown events.
	start []int32
	edges []int32
}

func (g *graph) len() int             { return len(g.evs) }
func (g *graph) id(i int32) string    { return g.evs[i].EventID() }
func (g *graph) auth(i int32) []int32 { return g.edges[g.start[i]:g.start[i+1]] }

// buildGraph walks auth_events breadth-first from the given events, which
// must be the resolver's first lookups. It also returns the node of each
// event of from (-1 if unknown to the source).
func (r *resolver) buildGraph(from []string) (*graph, []int32, error) {
	if len(r.evs) != 0 {
		return nil, nil, errors.New("stateres: internal error: graph on a used resolver")
	}
	size := len(from) + len(from)/4 // auth chains of a state add few events
	r.index = make(map[string]int32, size)
	r.evs = make([]*event.Event, 0, size)
	starts := make([]int32, len(from))
	for i, id := range from {
		j, err := r.node(id)
		if err != nil {
			return nil, nil, err
		}
		starts[i] = j
	}
	// Nodes are appended as they are discovered, so this loop is the BFS.
	var start, edges []int32
	start = make([]int32, 0, size+1)
	for i := 0; i < len(r.evs); i++ {
		start = append(start, int32(len(edges)))
		first := len(edges)
		for _, aid := range r.evs[i].AuthEventIDs() {
			j, err := r.node(aid)
			if err != nil {
				return nil, nil, err
			}
			if j >= 0 && !containsNode(edges[first:], j) {
				edges = append(edges, j)
			}
		}
	}
	start = append(start, int32(len(edges)))
	return &graph{evs: r.evs, start: start, edges: edges}, starts, nil
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
	n := g.len()
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
	g, _, err := r.buildGraph(eventIDs)
	if err != nil {
		return nil, err
	}
	chain := make(map[string]bool, g.len())
	for _, j := range g.edges {
		chain[g.id(j)] = true
	}
	return chain, nil
}
