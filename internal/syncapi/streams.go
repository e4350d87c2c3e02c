package syncapi

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/myelin-chat/myelin/internal/clientevent"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/synctoken"
)

// A Stream is one of the things /sync sends besides room events and account
// data (which share the room event stream): typing, receipts, presence,
// to-device messages, device lists. Each has its own positions and its own
// part in sync tokens (package synctoken), so it can be written by its own
// component, and later by its own process, without touching the room
// stream.
//
// A stream wakes long-polling syncs through the room engine's notifier
// (Notifier.Wake with the user IDs that can see the change) after the
// change is readable at Current.
type Stream interface {
	// Key is the stream's part name in tokens: lowercase ASCII letters,
	// unique among the registered streams, never reused for another
	// stream (old tokens carry it).
	Key() string
	// Current is the highest position whose data readers may see. It never
	// goes backwards, across restarts too: a stream kept only in memory
	// starts above every position it may have handed out before (from the
	// clock, for example).
	Current() int64
	// Sync adds to sr.Resp what changed for the request in (sr.From, sr.To].
	// sr.From == 0 means the client has nothing of this stream: an
	// initial sync, full_state, or a token from before the stream existed.
	// A stream that bounds its answer lowers sr.To to the last position
	// it sent; next_batch then carries that position, and the response,
	// not being empty, returns at once so the client fetches the rest.
	Sync(ctx context.Context, sr *StreamSync) error
}

// StreamSync is one stream's share of one /sync.
type StreamSync struct {
	Req      Request
	Filter   *Filter // never nil
	From, To int64
	// RoomFrom and RoomTo are the room stream's part of the same sync:
	// memberships changed in (RoomFrom, RoomTo].
	RoomFrom, RoomTo int64
	// Initial is set for initial and full_state syncs.
	Initial bool
	// Joined lists the rooms the user is joined to at the end of the sync
	// that the filter's rooms/not_rooms allow.
	Joined []string
	Resp   *Response

	ignored *ignoredShare
}

// JoinedRoom returns roomID's section of the response, adding an empty one
// when room events added none (a room whose only news is, say, a typing
// notice still appears under join).
func (sr *StreamSync) JoinedRoom(roomID string) *JoinedRoom {
	if jr, ok := sr.Resp.Rooms.Join[roomID]; ok {
		return jr
	}
	jr := newJoinedRoom()
	sr.Resp.Rooms.Join[roomID] = jr
	return jr
}

// A RoomFollower is a Stream whose answer also depends on the room
// stream's membership changes (device lists: users who newly share a
// room, or no longer share any). It is asked to Sync whenever either its
// own positions or the room stream moved.
type RoomFollower interface {
	Stream
	FollowsRooms()
}

// AddStream registers a stream. Streams are registered while the server is
// wired, before the first sync.
func (s *Syncer) AddStream(st Stream) {
	for _, old := range s.streams {
		if old.Key() == st.Key() {
			panic(fmt.Sprintf("syncapi: two streams with key %q", st.Key()))
		}
	}
	s.streams = append(s.streams, st)
}

// position is where a sync starts or ends in every stream.
type position struct {
	room    int64
	streams []int64 // by index in Syncer.streams
}

// parseSince reads a /sync since token (positions are never negative).
func (s *Syncer) parseSince(tok string) (position, error) {
	t, err := synctoken.Parse(tok, 0)
	if err != nil {
		return position{}, merr.InvalidParam("invalid since token")
	}
	p := position{room: t.Room, streams: make([]int64, len(s.streams))}
	for i, st := range s.streams {
		p.streams[i] = t.Pos(st.Key())
	}
	return p, nil
}

// current is every stream's current position.
func (s *Syncer) current() position {
	p := position{room: s.rooms.Stream().Current(), streams: make([]int64, len(s.streams))}
	for i, st := range s.streams {
		p.streams[i] = st.Current()
	}
	return p
}

// clamp lowers positions from the future (a token issued before a database
// restore) to now, so the sync answers from now instead of waiting for
// positions to catch up.
func (p *position) clamp(upto position) {
	p.room = min(p.room, upto.room)
	for i := range p.streams {
		p.streams[i] = min(p.streams[i], upto.streams[i])
	}
}

// token formats p as a sync token.
func (s *Syncer) token(p position) string {
	t := synctoken.Token{Room: p.room}
	if len(s.streams) > 0 {
		t.Streams = make(map[string]int64, len(s.streams))
		for i, st := range s.streams {
			t.Streams[st.Key()] = p.streams[i]
		}
	}
	return t.String()
}

// syncStreams lets every stream add its part of the response, and lowers
// upto where a stream bounded its answer.
func (s *Syncer) syncStreams(ctx context.Context, resp *Response, req Request, f *Filter, joined []string, since, upto position, initial bool) error {
	ign := req.ign
	if ign == nil {
		ign = &ignoredShare{src: s.ignored}
	}
	for i, st := range s.streams {
		sr := &StreamSync{Req: req, Filter: f, From: since.streams[i], To: upto.streams[i],
			RoomFrom: since.room, RoomTo: upto.room, Initial: initial, Joined: joined, Resp: resp, ignored: ign}
		_, follows := st.(RoomFollower)
		if initial {
			sr.From = 0
		} else if sr.From >= sr.To && (!follows || sr.RoomFrom >= sr.RoomTo) {
			continue // nothing new in this stream
		}
		if err := st.Sync(ctx, sr); err != nil {
			return fmt.Errorf("syncapi: stream %s: %w", st.Key(), err)
		}
		if sr.To < upto.streams[i] && sr.To >= sr.From {
			upto.streams[i] = sr.To
		}
	}
	return nil
}

// newJoinedRoom is an empty joined-room section with every list present
// (clients index into them without checking).
func newJoinedRoom() *JoinedRoom {
	jr := &JoinedRoom{}
	jr.Ephemeral.Events = []json.RawMessage{}
	jr.AccountData.Events = []json.RawMessage{}
	jr.State = &ClientEvents{Events: []*clientevent.Event{}}
	jr.Timeline.Events = []*clientevent.Event{}
	return jr
}
