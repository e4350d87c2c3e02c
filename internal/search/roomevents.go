package search

import (
	"context"
	"slices"
	"sort"

	"github.com/myelin-chat/myelin/internal/clientevent"
	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
	"github.com/myelin-chat/myelin/internal/storage/searchstore"
	"github.com/myelin-chat/myelin/internal/syncapi"
)

// roomAccess is how far a user may search one room.
type roomAccess struct {
	joined bool  // a member now: "shared" history before joining is visible
	upTo   int64 // the highest stream position visible (leaving, for former members)
}

// scope is what one search may read.
type scope struct {
	rooms   map[string]roomAccess
	ignored map[string]bool
	filter  syncapi.RoomEventFilter
	upTo    int64
}

// RoomEvents searches the room_events category.
func (s *Service) RoomEvents(ctx context.Context, req Request) (*RoomEvents, error) {
	c := req.Criteria
	if err := c.validate(); err != nil {
		return nil, err
	}
	tok, err := parseToken(req.NextBatch, c.OrderBy)
	if err != nil {
		return nil, err
	}
	terms := searchstore.ParseTerms(c.SearchTerm)
	out := &RoomEvents{Highlights: terms.Words(), Results: []Result{}}
	if out.Highlights == nil {
		out.Highlights = []string{}
	}
	sc, err := s.scope(ctx, req.UserID, c.Filter)
	if err != nil {
		return nil, err
	}
	q := s.query(terms, c, sc, tok)
	if out.Count, err = s.cfg.Index.Count(ctx, q, maxCount); err != nil {
		return nil, err
	}
	if tok != nil {
		q.After = &searchstore.Cursor{Top: tok.Top, Bottom: tok.Bot, Rank: tok.Rank, Pos: tok.Pos}
	}
	kept, ranks, last, more, err := s.page(ctx, req.UserID, q, sc, c.limit())
	if err != nil {
		return nil, err
	}
	for i, se := range kept {
		ce, err := s.format(ctx, req, se)
		if err != nil {
			return nil, err
		}
		r := Result{Rank: ranks[i], Result: ce}
		if c.EventContext != nil {
			if r.Context, err = s.context(ctx, req, se, sc, c.EventContext); err != nil {
				return nil, err
			}
		}
		out.Results = append(out.Results, r)
	}
	if err := s.bundle(ctx, req.UserID, out.Results); err != nil {
		return nil, err
	}
	if more {
		out.NextBatch = tok.next(c.OrderBy, *last)
	}
	out.Groups = groups(kept, c.GroupBy, c.OrderBy, last, more)
	if c.IncludeState && len(kept) > 0 {
		if out.State, err = s.state(ctx, kept, sc); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// bundle adds the bundled aggregations of every event of the page, in one
// call (the Bundler reads its index a fixed number of times per call).
func (s *Service) bundle(ctx context.Context, userID string, results []Result) error {
	if s.cfg.Bundler == nil || len(results) == 0 {
		return nil
	}
	var evs []*clientevent.Event
	for _, r := range results {
		evs = append(evs, r.Result)
		if r.Context != nil {
			evs = append(append(evs, r.Context.EventsBefore...), r.Context.EventsAfter...)
		}
	}
	return s.cfg.Bundler.Bundle(ctx, userID, evs)
}

// scope reads the rooms the user may search: those they are in, and those
// they left or were banned from, up to that moment (search.md: "including
// those that they have left ... it won't include events in rooms that
// happened after you left"). Invites and knocks give no history.
func (s *Service) scope(ctx context.Context, userID string, f syncapi.RoomEventFilter) (*scope, error) {
	cur := s.cfg.Engine.Stream().Current()
	ms, err := s.cfg.Engine.Store().MembershipsAt(ctx, userID, cur)
	if err != nil {
		return nil, err
	}
	sc := &scope{rooms: map[string]roomAccess{}, filter: f, upTo: cur}
	for _, m := range ms {
		if slices.Contains(f.NotRooms, m.RoomID) || (f.Rooms != nil && !slices.Contains(*f.Rooms, m.RoomID)) {
			continue
		}
		switch m.Membership {
		case event.Join:
			sc.rooms[m.RoomID] = roomAccess{joined: true, upTo: cur}
		case event.Leave, event.Ban:
			sc.rooms[m.RoomID] = roomAccess{upTo: m.StreamPos}
		}
	}
	if s.cfg.Ignored != nil {
		if sc.ignored, err = s.cfg.Ignored.IgnoredUsers(ctx, userID); err != nil {
			return nil, err
		}
	}
	return sc, nil
}

// query is the index query of a search: its rooms, keys and senders,
// narrowed to one group when the token came from one.
func (s *Service) query(terms searchstore.Terms, c Criteria, sc *scope, tok *token) searchstore.Query {
	q := searchstore.Query{Terms: terms, UpTo: sc.upTo, Recent: c.OrderBy == OrderRecent}
	for room, a := range sc.rooms {
		if tok != nil && tok.Group == GroupRoom && tok.Value != room {
			continue
		}
		if a.joined {
			q.Joined = append(q.Joined, room)
		} else {
			q.Left = append(q.Left, searchstore.RoomBound{RoomID: room, UpTo: a.upTo})
		}
	}
	sort.Strings(q.Joined) // a stable query text for the statement cache
	sort.Slice(q.Left, func(i, j int) bool { return q.Left[i].RoomID < q.Left[j].RoomID })
	keys := c.Keys
	if len(keys) == 0 {
		keys = []string{searchstore.KeyBody, searchstore.KeyName, searchstore.KeyTopic}
	}
	// The filter's types narrow the keys: each key is one event type.
	types := syncapi.EventFilter{Types: c.Filter.Types, NotTypes: c.Filter.NotTypes}
	q.Keys = []string{}
	for _, k := range keys {
		if types.Allows(searchstore.KeyType[k], "") && !slices.Contains(q.Keys, k) {
			q.Keys = append(q.Keys, k)
		}
	}
	if len(q.Keys) == 0 {
		q.Joined, q.Left = nil, nil // no key left to search
	}
	if c.Filter.Senders != nil {
		q.Senders = slices.Clone(*c.Filter.Senders)
	}
	if tok != nil && tok.Group == GroupSender {
		if q.Senders != nil && !slices.Contains(q.Senders, tok.Value) {
			q.Senders = []string{}
		} else {
			q.Senders = []string{tok.Value}
		}
	}
	q.NotSenders = slices.Clone(c.Filter.NotSenders)
	for u := range sc.ignored {
		q.NotSenders = append(q.NotSenders, u)
	}
	sort.Strings(q.NotSenders)
	return q
}

// page reads candidates from the index, best first, and keeps those the
// user may see until it has limit of them. more reports whether the index
// may hold further results; last is the last candidate read, where the
// next page starts.
func (s *Service) page(ctx context.Context, userID string, q searchstore.Query, sc *scope, limit int) (kept []*roomstore.StoredEvent, ranks []float64, last *searchstore.Cursor, more bool, err error) {
	scanned := 0
	for len(kept) < limit {
		if scanned >= maxScanned {
			return kept, ranks, last, true, nil
		}
		q.Limit = min(2*(limit-len(kept))+5, maxScanned-scanned)
		hits, err := s.cfg.Index.Search(ctx, q)
		if err != nil {
			return nil, nil, nil, false, err
		}
		visible, err := s.visible(ctx, userID, hits, sc)
		if err != nil {
			return nil, nil, nil, false, err
		}
		for i, h := range hits {
			scanned++
			c := h.Cursor()
			last, q.After = &c, &c
			if se := visible[h.EventID]; se != nil {
				kept = append(kept, se)
				ranks = append(ranks, h.Rank)
				if len(kept) == limit {
					return kept, ranks, last, i < len(hits)-1 || len(hits) == q.Limit, nil
				}
			}
		}
		if len(hits) < q.Limit {
			return kept, ranks, last, false, nil
		}
	}
	return kept, ranks, last, true, nil
}

// visible loads the events of hits and returns those the user may see, by
// event ID: in the room's searchable range, not redacted (the index drops
// redacted events in the redaction's commit; this also covers an event
// indexed by the backfill as it was redacted), allowed by the filter, not
// sent by an ignored user, and visible under the room's history
// visibility at the event.
func (s *Service) visible(ctx context.Context, userID string, hits []searchstore.Hit, sc *scope) (map[string]*roomstore.StoredEvent, error) {
	idList := make([]string, len(hits))
	for i, h := range hits {
		idList[i] = h.EventID
	}
	evs, err := s.cfg.Engine.Store().Events(ctx, idList)
	if err != nil {
		return nil, err
	}
	byRoom := map[string][]*roomstore.StoredEvent{}
	for _, h := range hits {
		se := evs[h.EventID]
		a, ok := sc.rooms[h.RoomID]
		if se == nil || !ok || !s.shows(se, a, sc) {
			continue
		}
		byRoom[h.RoomID] = append(byRoom[h.RoomID], se)
	}
	out := map[string]*roomstore.StoredEvent{}
	for room, list := range byRoom {
		// TimelineStates shares state reads between events in stream
		// order.
		sort.Slice(list, func(i, j int) bool { return list[i].StreamPos < list[j].StreamPos })
		vis, err := s.cfg.Engine.FilterVisible(ctx, userID, list, sc.rooms[room].joined)
		if err != nil {
			return nil, err
		}
		for _, se := range vis {
			// An erased sender's event would be shown redacted, and
			// listing it would still tell that it matched.
			if !se.ErasedCopy {
				out[se.EventID()] = se
			}
		}
	}
	return out, nil
}

// shows applies everything but history visibility to one event.
func (s *Service) shows(se *roomstore.StoredEvent, a roomAccess, sc *scope) bool {
	return se.StreamPos != 0 && se.StreamPos <= a.upTo && se.RedactedBy == "" && !se.Rejected && !se.SoftFailed &&
		!sc.ignored[se.Sender()] && sc.filter.AllowsEvent(se.Event)
}

// format writes an event as clients see it; a user's own event from the
// same device carries its transaction ID, as in /messages.
func (s *Service) format(ctx context.Context, req Request, se *roomstore.StoredEvent) (*clientevent.Event, error) {
	o := clientevent.Options{NowMS: s.cfg.Now().UnixMilli()}
	if se.TxnID != "" && se.Sender() == req.UserID && se.TxnDevice == req.DeviceID {
		o.TransactionID = se.TxnID
	}
	return syncapi.FormatStoredFor(ctx, s.cfg.Engine, se, o, req.UserID)
}

func (s *Service) formatAll(ctx context.Context, req Request, evs []*roomstore.StoredEvent) ([]*clientevent.Event, error) {
	out := make([]*clientevent.Event, 0, len(evs))
	for _, se := range evs {
		ce, err := s.format(ctx, req, se)
		if err != nil {
			return nil, err
		}
		out = append(out, ce)
	}
	return out, nil
}

// groups partitions the results by each key asked for (search.md
// "Groups"). A group's next_batch continues the search within the group.
func groups(kept []*roomstore.StoredEvent, keys []string, order string, at *searchstore.Cursor, more bool) map[string]map[string]*Group {
	if len(keys) == 0 {
		return nil
	}
	out := map[string]map[string]*Group{}
	for _, key := range keys {
		gs := map[string]*Group{}
		for _, se := range kept {
			v := se.RoomID()
			if key == GroupSender {
				v = se.Sender()
			}
			g := gs[v]
			if g == nil {
				g = &Group{Order: len(gs) + 1}
				if more {
					g.NextBatch = (&token{Group: key, Value: v}).next(order, *at)
				}
				gs[v] = g
			}
			g.Results = append(g.Results, se.EventID())
		}
		out[key] = gs
	}
	return out
}
