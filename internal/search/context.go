package search

import (
	"context"
	"encoding/json"

	"github.com/myelin-chat/myelin/internal/clientevent"
	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
	"github.com/myelin-chat/myelin/internal/syncapi"
)

// beforeAll is below every stream position (backfilled history is
// negative).
const beforeAll int64 = -1 << 62

// context reads the events around a result, as GET /context does: those
// the user may see, not from ignored users, with tokens to paginate from
// (search.yaml event_context).
func (s *Service) context(ctx context.Context, req Request, se *roomstore.StoredEvent, sc *scope, ec *EventContext) (*Context, error) {
	store := s.cfg.Engine.Store()
	a := sc.rooms[se.RoomID()]
	out := &Context{Start: syncapi.Token(se.StreamPos - 1), End: syncapi.Token(se.StreamPos),
		EventsBefore: []*clientevent.Event{}, EventsAfter: []*clientevent.Event{}}
	var before, after []*roomstore.StoredEvent
	var err error
	if ec.BeforeLimit > 0 {
		if before, err = store.RoomEvents(ctx, se.RoomID(), beforeAll, se.StreamPos-1, ec.BeforeLimit, false); err != nil {
			return nil, err
		}
		if len(before) > 0 {
			out.Start = syncapi.Token(before[len(before)-1].StreamPos - 1)
		}
	}
	if ec.AfterLimit > 0 {
		if after, err = store.RoomEvents(ctx, se.RoomID(), se.StreamPos, a.upTo, ec.AfterLimit, true); err != nil {
			return nil, err
		}
		if len(after) > 0 {
			out.End = syncapi.Token(after[len(after)-1].StreamPos)
		}
	}
	if before, err = s.contextVisible(ctx, req.UserID, before, a, sc); err != nil {
		return nil, err
	}
	if after, err = s.contextVisible(ctx, req.UserID, after, a, sc); err != nil {
		return nil, err
	}
	if out.EventsBefore, err = s.formatAll(ctx, req, before); err != nil {
		return nil, err
	}
	if out.EventsAfter, err = s.formatAll(ctx, req, after); err != nil {
		return nil, err
	}
	if ec.IncludeProfile {
		last := se
		if len(after) > 0 {
			last = after[len(after)-1]
		}
		senders := []string{se.Sender()}
		for _, e := range append(before, after...) {
			senders = append(senders, e.Sender())
		}
		if out.ProfileInfo, err = s.profiles(ctx, last, senders); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// contextVisible keeps the context events the user may see. Unlike the
// results, context is not filtered by the search's filter (Synapse
// neither): it shows the conversation around a result.
func (s *Service) contextVisible(ctx context.Context, userID string, evs []*roomstore.StoredEvent, a roomAccess, sc *scope) ([]*roomstore.StoredEvent, error) {
	kept := evs[:0]
	for _, e := range evs {
		if !sc.ignored[e.Sender()] {
			kept = append(kept, e)
		}
	}
	return s.cfg.Engine.FilterVisible(ctx, userID, kept, a.joined)
}

// profiles returns the display names and avatars of senders as of the
// state after last (search.yaml profile_info: "historic profile
// information"; Synapse reads the state at the context's last event too).
func (s *Service) profiles(ctx context.Context, last *roomstore.StoredEvent, senders []string) (map[string]Profile, error) {
	view, err := s.cfg.Engine.StateAfter(ctx, last)
	if err != nil {
		return nil, err
	}
	out := map[string]Profile{}
	for _, u := range senders {
		if _, ok := out[u]; ok {
			continue
		}
		m := view.Get(event.TypeMember, u)
		if m == nil {
			continue
		}
		var c struct {
			DisplayName any `json:"displayname"`
			AvatarURL   any `json:"avatar_url"`
		}
		_ = json.Unmarshal(m.Content(), &c)
		p := Profile{}
		p.DisplayName, _ = c.DisplayName.(string)
		p.AvatarURL, _ = c.AvatarURL.(string)
		out[u] = p
	}
	return out, view.Err()
}

// state returns the state of each room in the results (search.yaml
// include_state): the current state of rooms the user is in, and of a
// room they left the state when they left, which is all they may see.
func (s *Service) state(ctx context.Context, kept []*roomstore.StoredEvent, sc *scope) (map[string][]*clientevent.Event, error) {
	out := map[string][]*clientevent.Event{}
	now := s.cfg.Now().UnixMilli()
	for _, se := range kept {
		room := se.RoomID()
		if _, done := out[room]; done {
			continue
		}
		a := sc.rooms[room]
		var view *rooms.StateView
		var err error
		if a.joined {
			view, err = s.cfg.Engine.CurrentView(ctx, room)
		} else {
			view, err = s.cfg.Engine.StateAtPos(ctx, room, a.upTo)
		}
		if err != nil {
			return nil, err
		}
		evs, err := view.Events(nil)
		if err != nil {
			return nil, err
		}
		list := make([]*clientevent.Event, 0, len(evs))
		for _, ev := range evs {
			list = append(list, clientevent.Format(ev, clientevent.Options{NowMS: now}))
		}
		out[room] = list
	}
	return out, nil
}
