package presence

import (
	"context"
	"time"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/rooms"
)

// staleOffline is how long an offline user without a status message has
// been inactive before a newly joined server is not told of them.
const staleOffline = 7 * 24 * time.Hour

// JoinsOnCommit is a room engine commit hook that tells servers newly
// sharing a room what they missed of presence, which is otherwise only
// sent when it changes. As Synapse does (presence handler,
// get_interested_remotes on a user joining a room): when a remote user
// joins, their server gets the presence of the room's local members
// (leaving out offline users idle for a week without a status message);
// when a local user joins, the room's other servers get theirs. A join that
// only changes a member's profile (join after join) sends nothing, nor does
// a remote join from a server already in the room.
func (s *Service) JoinsOnCommit(batch []rooms.Committed) {
	if !s.cfg.Enabled || s.cfg.Sender == nil {
		return
	}
	var joins []*event.Event
	for _, c := range batch {
		if c.Event.Type() == event.TypeMember && c.Event.StateKey() != nil && c.Event.Membership() == event.Join {
			joins = append(joins, c.Event)
		}
	}
	if len(joins) == 0 {
		return
	}
	// The hook must not block the room's writer.
	go func() {
		ctx := context.Background()
		for _, ev := range joins {
			if err := s.joined(ctx, ev); err != nil {
				s.cfg.Log.Warn("presence for a new member's servers", "room_id", ev.RoomID(), "err", err)
			}
		}
	}()
}

// joined sends presence for one join event. The room's members are read
// first: in a room without other servers (most joins of a join storm)
// that is all it costs.
func (s *Service) joined(ctx context.Context, ev *event.Event) error {
	user := *ev.StateKey()
	store := s.cfg.Rooms.Store()
	members, err := store.Members(ctx, ev.RoomID(), event.Join)
	if err != nil {
		return err
	}
	server := domainOf(user)
	remoteJoin := server != s.cfg.ServerName
	var tell []string // whose presence goes out
	dests := map[string]bool{}
	for u := range members {
		switch d := domainOf(u); {
		case u == user:
		case remoteJoin && d == server:
			return nil // the server was in the room already
		case remoteJoin && d == s.cfg.ServerName:
			tell = append(tell, u)
		case !remoteJoin && d != s.cfg.ServerName:
			dests[d] = true
		}
	}
	if remoteJoin {
		dests[server] = true
	} else {
		tell = []string{user}
	}
	if len(tell) == 0 || len(dests) == 0 {
		return nil
	}
	se, err := store.Event(ctx, ev.EventID())
	if err != nil {
		return err
	}
	before, err := s.cfg.Rooms.StateBefore(ctx, se)
	if err != nil {
		return err
	}
	prev := before.Get(event.TypeMember, user)
	if err := before.Err(); err != nil {
		return err
	}
	if prev != nil && prev.Membership() == event.Join {
		return nil // a profile change
	}
	for _, u := range tell {
		// A local user joining is announced whatever their state, as
		// Synapse does; members already there only when worth it.
		if send, err := s.worthTelling(ctx, u); err != nil {
			return err
		} else if send || !remoteJoin {
			s.sendEDU(ctx, u, dests)
		}
	}
	return nil
}

// worthTelling loads a local user's presence into memory (sendEDU reads
// it from there) and reports whether a server that has not heard of them
// needs it: not when they are offline, inactive for a week and without a
// status message.
func (s *Service) worthTelling(ctx context.Context, userID string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.localLocked(ctx, userID)
	if err != nil {
		return false, err
	}
	stale := e.state == Offline && e.statusMsg == nil &&
		(e.lastActive.IsZero() || s.cfg.Now().Sub(e.lastActive) > staleOffline)
	return !stale, nil
}
