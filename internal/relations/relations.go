// Package relations owns the rules of relationships between events
// (client-server-api "Forming relationships between events" and the
// modules threading.md, event_replacements.md, event_annotations.md,
// reference_relations.md): which children an event has, which of them the
// server aggregates and how (Bundle), pages of children (Children) and
// the thread list (Threads). The index itself is
// internal/storage/relationstore, written in each event's commit.
package relations

import (
	"context"
	"encoding/json"
	"github.com/myelin-chat/myelin/internal/bgupdates"
	"log/slog"
	"math"
	"sort"
	"time"

	"github.com/myelin-chat/myelin/internal/clientevent"
	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/storage/relationstore"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
)

// IgnoredUsers reads a user's m.ignored_user_list: events from ignored
// users are left out of aggregations (client-server-api "Aggregations of
// child events": servers "must additionally ensure they do not consider
// child events from ignored users").
type IgnoredUsers interface {
	IgnoredUsers(ctx context.Context, userID string) (map[string]bool, error)
}

// Config is what the service needs.
type Config struct {
	Store *relationstore.Store
	// Events is the room store the index follows.
	Events *roomstore.Store
	// Ignored is optional; without it nobody is ignored.
	Ignored IgnoredUsers
	Now     func() time.Time
	Log     *slog.Logger
	// Updates tracks and may pause the backfill; nil: neither.
	Updates *bgupdates.Registry
}

// Service answers questions about relations. It is safe for concurrent
// use.
type Service struct {
	cfg  Config
	stop chan struct{}
	done chan struct{}
}

// New returns the service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Service{cfg: cfg}
}

// maxReferences bounds the m.reference chunk bundled with one event: the
// spec sets no bound, and a page of events must stay a bounded response.
const maxReferences = 100

// noUpperBound is the stream position bound of aggregations: they count
// every child stored, as Synapse does.
const noUpperBound = math.MaxInt64

// Bundle adds the bundled aggregations (unsigned.m.relations) to evs, as
// userID is served them: m.thread, m.replace and m.reference
// (client-server-api "Aggregations of child events"). It reads the index
// a fixed number of times per call, whatever the number of events, so a
// serving path calls it once per page. State events get none (the spec's
// warning under "Aggregations of child events").
func (s *Service) Bundle(ctx context.Context, userID string, evs []*clientevent.Event) error {
	ignored, err := s.ignoredList(ctx, userID)
	if err != nil {
		return err
	}
	return s.bundle(ctx, userID, evs, ignored, true)
}

func (s *Service) ignoredList(ctx context.Context, userID string) ([]string, error) {
	if s.cfg.Ignored == nil {
		return nil, nil
	}
	set, err := s.cfg.Ignored.IgnoredUsers(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(set))
	for u, ok := range set {
		if ok {
			out = append(out, u)
		}
	}
	sort.Strings(out)
	return out, nil
}

// bundle aggregates evs; threads is false for the latest events of
// threads, which get their own aggregations but cannot be thread roots
// (an m.thread may not target an event that has a rel_type), so the walk
// ends there.
func (s *Service) bundle(ctx context.Context, userID string, evs []*clientevent.Event, ignored []string, threads bool) error {
	parents := make([]relationstore.Parent, 0, len(evs))
	ids := make([]string, 0, len(evs))
	for _, ce := range evs {
		if ce == nil || ce.StateKey != nil || ce.Room == "" {
			continue
		}
		parents = append(parents, relationstore.Parent{RoomID: ce.Room, EventID: ce.EventID})
		ids = append(ids, ce.EventID)
	}
	if len(parents) == 0 {
		return nil
	}
	var sums map[relationstore.Parent]*relationstore.ThreadSummary
	if threads {
		var err error
		if sums, err = s.cfg.Store.ThreadSummaries(ctx, parents, userID, ignored); err != nil {
			return err
		}
	}
	rels, err := s.cfg.Store.OfParents(ctx, ids, []string{event.RelReplace, event.RelReference}, noUpperBound, ignored)
	if err != nil {
		return err
	}
	children := map[relationstore.Parent][]relationstore.Relation{}
	for _, r := range rels {
		p := relationstore.Parent{RoomID: r.RoomID, EventID: r.RelatesToID}
		children[p] = append(children[p], r)
	}

	// What each event gets, and which events to read for it.
	type plan struct {
		ce      *clientevent.Event
		latest  string
		sum     *relationstore.ThreadSummary
		replace string
		refs    []clientevent.EventRef
	}
	plans := make([]plan, 0, len(evs))
	var load []string
	for _, ce := range evs {
		if ce == nil || ce.StateKey != nil || ce.Room == "" {
			continue
		}
		p := relationstore.Parent{RoomID: ce.Room, EventID: ce.EventID}
		pl := plan{ce: ce}
		if sum := sums[p]; sum != nil && sum.LatestEventID != "" {
			pl.sum, pl.latest = sum, sum.LatestEventID
			load = append(load, sum.LatestEventID)
		}
		if edit := LatestValidEdit(ce, children[p]); edit != "" {
			pl.replace = edit
			load = append(load, edit)
		}
		for _, r := range children[p] {
			if r.RelType == event.RelReference && len(pl.refs) < maxReferences {
				pl.refs = append(pl.refs, clientevent.EventRef{EventID: r.EventID})
			}
		}
		if pl.latest != "" || pl.replace != "" || len(pl.refs) > 0 {
			plans = append(plans, pl)
		}
	}
	if len(plans) == 0 {
		return nil
	}
	loaded, err := s.cfg.Events.Events(ctx, load)
	if err != nil {
		return err
	}
	now := s.cfg.Now().UnixMilli()
	var latestEvents []*clientevent.Event
	for _, pl := range plans {
		rel := &clientevent.Relations{}
		omitRoom := pl.ce.RoomID == ""
		if se := loaded[pl.latest]; se != nil {
			// Served "in the same form as the event itself" (threading.md).
			latest := clientevent.Format(se.Event, clientevent.Options{NowMS: now, OmitRoomID: omitRoom})
			rel.Thread = &clientevent.ThreadAggregation{LatestEvent: latest, Count: pl.sum.Count,
				CurrentUserParticipated: pl.sum.Participated || pl.ce.Sender == userID}
			latestEvents = append(latestEvents, latest)
		}
		if se := loaded[pl.replace]; se != nil {
			rel.Replace = clientevent.Format(se.Event, clientevent.Options{NowMS: now, OmitRoomID: omitRoom})
		}
		if len(pl.refs) > 0 {
			rel.Reference = &clientevent.ReferenceAggregation{Chunk: pl.refs}
		}
		if rel.Thread == nil && rel.Replace == nil && rel.Reference == nil {
			continue
		}
		if pl.ce.Unsigned == nil {
			pl.ce.Unsigned = &clientevent.Unsigned{}
		}
		pl.ce.Unsigned.Relations = rel
	}
	if threads && len(latestEvents) > 0 {
		// The latest events' own children (their edits, as Synapse bundles
		// them), so a client shows a thread's latest reply as edited.
		return s.bundle(ctx, userID, latestEvents, ignored, false)
	}
	return nil
}

// LatestValidEdit returns, of the children of original, the most recent
// valid replacement's event ID, or "" (event_replacements.md "Validity of
// replacement events" and "Server-side aggregation of m.replace
// relationships"). The original's own checks: it is not redacted (a
// redacted original gets no m.replace bundled), not a state event, and
// not itself an edit.
func LatestValidEdit(original *clientevent.Event, children []relationstore.Relation) string {
	if original.StateKey != nil || original.Redacted() {
		return ""
	}
	if rel, ok := relationOfContent(original); ok && rel == event.RelReplace {
		return ""
	}
	best := relationstore.Relation{}
	for _, r := range children {
		if r.RelType != event.RelReplace || r.RoomID != original.Room || r.Sender != original.Sender ||
			r.EventType != original.Type || r.IsState {
			continue
		}
		// An encrypted replacement carries m.new_content in its ciphertext
		// (event_replacements.md "Editing encrypted events"): the server
		// cannot see it, so it is given the benefit of the doubt, as
		// Synapse does.
		if !r.HasNewContent && r.EventType != "m.room.encrypted" {
			continue
		}
		if best.EventID == "" || r.OriginTS > best.OriginTS || (r.OriginTS == best.OriginTS && r.EventID > best.EventID) {
			best = r
		}
	}
	return best.EventID
}

// relationOfContent returns the rel_type of a formatted event's content.
func relationOfContent(ce *clientevent.Event) (string, bool) {
	var c struct {
		RelatesTo *struct {
			RelType string `json:"rel_type"`
		} `json:"m.relates_to"`
	}
	if json.Unmarshal(ce.Content, &c) != nil || c.RelatesTo == nil || c.RelatesTo.RelType == "" {
		return "", false
	}
	return c.RelatesTo.RelType, true
}
