package relations

import (
	"context"
	"slices"

	"github.com/myelin-chat/myelin/internal/storage/relationstore"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
)

// Paging bounds of GET /relations and GET /threads. The spec leaves
// them to the server ("should apply a default value" and "a maximum
// value"); the defaults are Synapse's, the maximum a bound on one answer.
const (
	DefaultLimit = 5
	MaxLimit     = 100
	// RecurseDepth is how far recurse=true follows relationships:
	// relations.yaml says homeservers "SHOULD traverse at least 3 levels",
	// and Synapse traverses 3; the index lists ancestors that far.
	RecurseDepth = relationstore.MaxDepth
)

// ChildrenRequest asks for a page of an event's children. Positions are
// room stream positions; a pagination token sits between two events, as
// /messages' do, so "from" is the position of the last event before it.
type ChildrenRequest struct {
	RoomID, ParentID string
	// RelType and EventType narrow the children (EventType only with
	// RelType, as the paths allow).
	RelType, EventType string
	// From is where the page starts: for backward pages, children at or
	// below it; for forward pages, above it.
	From int64
	// To, if HasTo, is where the page stops.
	To    int64
	HasTo bool
	// UpTo is the highest position the reader may see.
	UpTo    int64
	Forward bool
	Limit   int
	Recurse bool
}

// Page is a page of events and, when More, the token position of the
// next page.
type Page struct {
	Events []*roomstore.StoredEvent
	Next   int64
	More   bool
}

// Children returns a page of req.ParentID's children, in the order the
// page goes. The caller has checked that the reader may see the parent;
// the children's own visibility is the caller's to apply too.
func (s *Service) Children(ctx context.Context, req ChildrenRequest) (Page, error) {
	q := relationstore.ChildrenQuery{RoomID: req.RoomID, ParentID: req.ParentID, RelType: req.RelType,
		EventType: req.EventType, Forward: req.Forward, Limit: req.Limit, Depth: 1}
	if req.RelType == "" {
		q.EventType = ""
	}
	if req.Recurse {
		q.Depth = RecurseDepth
	}
	if req.Forward {
		q.After, q.UpTo = req.From, req.UpTo
		if req.HasTo && req.To < q.UpTo {
			q.UpTo = req.To
		}
	} else {
		q.After, q.UpTo = beforeAll, min(req.From, req.UpTo)
		if req.HasTo {
			q.After = req.To
		}
	}
	if q.Limit <= 0 {
		return Page{}, nil
	}
	rels, err := s.cfg.Store.Children(ctx, q)
	if err != nil {
		return Page{}, err
	}
	ids := make([]string, len(rels))
	for i, r := range rels {
		ids[i] = r.EventID
	}
	loaded, err := s.cfg.Events.Events(ctx, ids)
	if err != nil {
		return Page{}, err
	}
	var p Page
	for _, r := range rels {
		if se := loaded[r.EventID]; se != nil {
			p.Events = append(p.Events, se)
		}
	}
	if len(rels) == req.Limit {
		p.More = true
		last := rels[len(rels)-1].StreamPos
		if req.Forward {
			p.Next = last
		} else {
			p.Next = last - 1
		}
	}
	return p, nil
}

// beforeAll is below every stream position (backfilled history has
// negative ones).
const beforeAll int64 = -1 << 62

// ThreadsRequest asks for a page of a room's threads.
type ThreadsRequest struct {
	RoomID, UserID string
	// Participated keeps the threads the user started or replied to.
	Participated bool
	// Before, if HasBefore, is the token of the previous page: threads
	// whose latest reply is below it.
	Before    int64
	HasBefore bool
	UpTo      int64
	Limit     int
}

// Threads returns a page of the room's thread roots, the thread with the
// latest reply first (threads_list.yaml). Roots the server does not hold
// (a reply arrived without its root) are left out; the caller applies
// the reader's visibility to the roots.
func (s *Service) Threads(ctx context.Context, req ThreadsRequest) (Page, error) {
	q := relationstore.ThreadsQuery{RoomID: req.RoomID, Before: req.Before, HasBefore: req.HasBefore, UpTo: req.UpTo, Limit: req.Limit}
	if req.Participated {
		q.Participant = req.UserID
	}
	ts, err := s.cfg.Store.Threads(ctx, q)
	if err != nil || len(ts) == 0 {
		return Page{}, err
	}
	ids := make([]string, len(ts))
	for i, t := range ts {
		ids[i] = t.RootID
	}
	loaded, err := s.cfg.Events.Events(ctx, ids)
	if err != nil {
		return Page{}, err
	}
	// client-server-api "Ignoring Users": the ignored users' events are
	// not served, and a thread root is one; Synapse too leaves such roots
	// out of /threads (its client filter drops them). The page's token
	// still follows every thread read, so paging goes on past them.
	ignored, err := s.ignoredList(ctx, req.UserID)
	if err != nil {
		return Page{}, err
	}
	var p Page
	for _, t := range ts {
		if se := loaded[t.RootID]; se != nil && se.RoomID() == req.RoomID && !se.Rejected && !se.SoftFailed && !se.Outlier &&
			!slices.Contains(ignored, se.Sender()) {
			p.Events = append(p.Events, se)
		}
	}
	if len(ts) == req.Limit {
		p.More, p.Next = true, ts[len(ts)-1].LatestPos
	}
	return p, nil
}

// KeepRelated keeps the events of roomID that have a child with one of
// relTypes from one of senders (nil lists allow any): the filter fields
// related_by_rel_types and related_by_senders.
func (s *Service) KeepRelated(ctx context.Context, roomID string, evs []*roomstore.StoredEvent, relTypes, senders *[]string) ([]*roomstore.StoredEvent, error) {
	if len(evs) == 0 {
		return evs, nil
	}
	ids := make([]string, len(evs))
	for i, se := range evs {
		ids[i] = se.EventID()
	}
	related, err := s.cfg.Store.Related(ctx, roomID, ids, relTypes, senders)
	if err != nil {
		return nil, err
	}
	kept := evs[:0]
	for _, se := range evs {
		if related[se.EventID()] {
			kept = append(kept, se)
		}
	}
	return kept, nil
}
