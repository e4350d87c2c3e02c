package presence

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"time"

	"github.com/myelin-chat/myelin/internal/federationapi"
	"github.com/myelin-chat/myelin/internal/syncapi"
)

func marshal(v any) (json.RawMessage, error) { return json.Marshal(v) }

// Key is the stream's part in sync tokens.
func (s *Service) Key() string { return "p" }

// Current is the position of the latest change.
func (s *Service) Current() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pos
}

// OnChange registers fn to be called after any user's presence changed
// (for followers of the whole stream, like appservice transactions).
func (s *Service) OnChange(fn func()) {
	s.followMu.Lock()
	s.followers = append(s.followers, fn)
	s.followMu.Unlock()
}

// UserPresence is a user's presence at a stream position.
type UserPresence struct {
	UserID  string
	Content Content
	Pos     int64
}

// ChangedSince returns the users whose presence changed after position
// from, with their presence now, in position order, and the stream's
// current position.
func (s *Service) ChangedSince(from int64) ([]UserPresence, int64) {
	if !s.cfg.Enabled {
		return nil, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	var out []UserPresence
	add := func(u string, e *entry) {
		if e != nil && e.pos > from {
			out = append(out, UserPresence{UserID: u, Content: s.contentLocked(e, now), Pos: e.pos})
		}
	}
	if from >= s.trimmed {
		// The change log covers it: read only what changed.
		i := sort.Search(len(s.log), func(i int) bool { return s.log[i].pos > from })
		seen := map[string]bool{}
		for _, c := range s.log[i:] {
			if !seen[c.userID] {
				seen[c.userID] = true
				add(c.userID, s.users[c.userID])
			}
		}
	} else {
		for u, e := range s.users {
			add(u, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pos < out[j].Pos })
	return out, s.pos
}

// Sync adds the presence of users who share a room with the syncing user
// (and their own): those whose presence changed since the token, or on an
// initial sync everyone not offline (Synapse's default,
// include_offline_users_on_sync: false). Ignored users are left out.
func (s *Service) Sync(ctx context.Context, sr *syncapi.StreamSync) error {
	if !s.cfg.Enabled {
		return nil
	}
	type item struct {
		userID  string
		content Content
	}
	var items []item
	s.mu.Lock()
	now := s.cfg.Now()
	switch {
	case sr.From == 0:
		for u, e := range s.users {
			if e.state != Offline {
				items = append(items, item{u, s.contentLocked(e, now)})
			}
		}
	case sr.From >= s.trimmed:
		i := sort.Search(len(s.log), func(i int) bool { return s.log[i].pos > sr.From })
		seen := map[string]bool{}
		for _, c := range s.log[i:] {
			if !seen[c.userID] {
				seen[c.userID] = true
				if e := s.users[c.userID]; e != nil {
					items = append(items, item{c.userID, s.contentLocked(e, now)})
				}
			}
		}
	default:
		// The token is older than the change log: every entry changed
		// since it.
		for u, e := range s.users {
			if e.pos > sr.From {
				items = append(items, item{u, s.contentLocked(e, now)})
			}
		}
	}
	s.mu.Unlock()
	if len(items) == 0 {
		return nil
	}
	sort.Slice(items, func(i, j int) bool { return items[i].userID < items[j].userID })
	mine, err := s.joinedRooms(ctx, sr.Req.UserID)
	if err != nil {
		return err
	}
	ignored, err := sr.Ignored(ctx)
	if err != nil {
		return err
	}
	for _, it := range items {
		if ignored[it.userID] {
			continue
		}
		if it.userID != sr.Req.UserID {
			theirs, err := s.joinedRooms(ctx, it.userID)
			if err != nil {
				return err
			}
			if !anyIn(theirs, mine) {
				continue
			}
		}
		if _, err := sr.AddPresence(it.userID, it.content); err != nil {
			return err
		}
	}
	return nil
}

func anyIn(a, b map[string]bool) bool {
	for k := range a {
		if b[k] {
			return true
		}
	}
	return false
}

// HandleEDU is the federationapi handler for received m.presence EDUs.
// Updates count only for the origin's own users who share a room with
// this server (server-server-api "Presence"); others are dropped.
func (s *Service) HandleEDU(ctx context.Context, edu federationapi.InboundEDU) error {
	var c struct {
		Push []struct {
			UserID          string  `json:"user_id"`
			Presence        string  `json:"presence"`
			StatusMsg       *string `json:"status_msg"`
			LastActiveAgo   int64   `json:"last_active_ago"`
			CurrentlyActive bool    `json:"currently_active"`
		} `json:"push"`
	}
	if err := json.Unmarshal(edu.Content, &c); err != nil {
		return errMalformed
	}
	if len(c.Push) > maxEDUPush {
		return errors.New("m.presence EDU with too many updates")
	}
	dropped := 0
	for _, p := range c.Push {
		if domainOf(p.UserID) != edu.Origin || !ValidState(p.Presence) ||
			(p.StatusMsg != nil && len(*p.StatusMsg) > MaxStatusMsg) {
			dropped++
			continue
		}
		rooms, err := s.joinedRooms(ctx, p.UserID)
		if err != nil {
			return err
		}
		if len(rooms) == 0 {
			dropped++ // nobody here can see them
			continue
		}
		if !s.applyRemote(p.UserID, p.Presence, p.StatusMsg, time.Duration(max(p.LastActiveAgo, 0))*time.Millisecond, p.CurrentlyActive) {
			continue
		}
		s.publish(ctx, p.UserID)
	}
	if dropped > 0 {
		return errors.New("dropped presence updates: not the origin's users, invalid, or sharing no room with us")
	}
	return nil
}

// applyRemote records a remote user's presence; it reports whether it was
// taken (false at the memory bound).
func (s *Service) applyRemote(userID, state string, statusMsg *string, ago time.Duration, active bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.users[userID]
	if e == nil {
		if len(s.users) >= maxUsers {
			return false
		}
		e = &entry{}
		s.users[userID] = e
	}
	now := s.cfg.Now()
	e.state, e.statusMsg, e.lastUpdate = state, statusMsg, now
	e.lastActive = now.Add(-ago)
	e.shownActive = active && state == Online
	s.recordLocked(userID, e)
	return true
}
