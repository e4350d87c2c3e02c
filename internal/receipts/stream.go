package receipts

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/myelin-chat/myelin/internal/federationapi"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/receiptstore"
	"github.com/myelin-chat/myelin/internal/syncapi"
)

// Key is the stream's part in sync tokens.
func (s *Service) Key() string { return "r" }

// Current is the highest receipt stream position readers may see.
func (s *Service) Current() int64 { return s.tracker.Current() }

// OnAdvance registers fn to be called whenever Current grows (for
// followers of the whole stream, like appservice transactions).
func (s *Service) OnAdvance(fn func(current int64)) { s.tracker.OnAdvance(fn) }

// changedScan bounds how many changed receipts an incremental sync reads
// across all rooms before asking for the user's rooms alone instead.
const changedScan = 1000

// Sync adds one m.receipt event per joined room with the receipts written
// in (From, To]: deltas on an incremental sync, the room's latest receipts
// on an initial one. Private receipts are shown only to their owner, and
// ignored users' receipts to nobody who ignores them.
func (s *Service) Sync(ctx context.Context, sr *syncapi.StreamSync) error {
	if len(sr.Joined) == 0 {
		return nil
	}
	var rs []receiptstore.Receipt
	var err error
	if sr.From == 0 {
		rs, err = s.cfg.Store.InRooms(ctx, sr.Joined, 0, sr.To)
	} else {
		// Usually few receipts changed since the token: read them all and
		// keep the user's rooms; after a long absence read by room.
		var more bool
		rs, more, err = s.cfg.Store.Changed(ctx, sr.From, sr.To, changedScan)
		if err == nil && more {
			rs, err = s.cfg.Store.InRooms(ctx, sr.Joined, sr.From, sr.To)
		}
	}
	if err != nil || len(rs) == 0 {
		return err
	}
	joined := make(map[string]bool, len(sr.Joined))
	for _, r := range sr.Joined {
		joined[r] = true
	}
	// room → event → type → user → data
	byRoom := map[string]map[string]map[string]map[string]receiptData{}
	var order []string
	var ignored map[string]bool
	for _, r := range rs {
		if !joined[r.RoomID] || (r.Type == ReadPrivate && r.UserID != sr.Req.UserID) {
			continue
		}
		if ignored == nil {
			if ignored, err = sr.Ignored(ctx); err != nil {
				return err
			}
		}
		if ignored[r.UserID] {
			continue
		}
		evs := byRoom[r.RoomID]
		if evs == nil {
			evs = map[string]map[string]map[string]receiptData{}
			byRoom[r.RoomID] = evs
			order = append(order, r.RoomID)
		}
		types := evs[r.EventID]
		if types == nil {
			types = map[string]map[string]receiptData{}
			evs[r.EventID] = types
		}
		users := types[r.Type]
		if users == nil {
			users = map[string]receiptData{}
			types[r.Type] = users
		}
		users[r.UserID] = receiptData{TS: r.TS, ThreadID: r.ThreadID}
	}
	for _, roomID := range order {
		if _, err := sr.AddEphemeral(roomID, EDUType, byRoom[roomID]); err != nil {
			return err
		}
	}
	return nil
}

// maxEDUReceipts bounds the receipts handled from one EDU.
const maxEDUReceipts = 1000

// HandleEDU is the federationapi handler for received m.receipt EDUs. Only
// m.read receipts are taken (m.read.private never crosses servers), only
// for users of the sending server who are joined to the room, and only in
// rooms whose ACL admits the server (server-server-api "Receipts", "Server
// Access Control Lists (ACLs)"). A receipt for an event we do not hold yet
// waits for it (see keepPending).
func (s *Service) HandleEDU(ctx context.Context, edu federationapi.InboundEDU) error {
	var content map[string]map[string]map[string]struct {
		EventIDs []string `json:"event_ids"`
		Data     struct {
			TS       int64           `json:"ts"`
			ThreadID json.RawMessage `json:"thread_id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(edu.Content, &content); err != nil {
		return errors.New("malformed m.receipt EDU")
	}
	n := 0
	var dropped int
	for roomID, types := range content {
		if !edu.RoomAllowed(ctx, roomID) {
			dropped++
			continue
		}
		for userID, r := range types[Read] {
			if n++; n > maxEDUReceipts {
				return errors.New("m.receipt EDU with too many receipts")
			}
			if domainOf(userID) != edu.Origin {
				// A server speaks only for its own users.
				dropped++
				continue
			}
			if len(r.EventIDs) == 0 {
				continue
			}
			thread := ""
			if len(r.Data.ThreadID) > 0 && string(r.Data.ThreadID) != "null" {
				if json.Unmarshal(r.Data.ThreadID, &thread) != nil || thread == "" {
					dropped++
					continue
				}
			}
			joined, err := s.cfg.Rooms.IsJoined(ctx, roomID, userID)
			if err != nil {
				return err
			}
			if !joined {
				dropped++
				continue
			}
			eventID := r.EventIDs[len(r.EventIDs)-1]
			se, err := s.roomEvent(ctx, roomID, eventID)
			if errors.Is(err, merr.ErrNotFound) {
				// The EDU outran its event: kept until the event arrives.
				if kept, err := s.keepPending(ctx, roomID, userID, thread, eventID, r.Data.TS); err != nil {
					return err
				} else if !kept {
					dropped++
				}
				continue
			}
			if err != nil {
				return err
			}
			ts := r.Data.TS
			if ts <= 0 {
				ts = s.cfg.Now().UnixMilli()
			}
			if err := s.put(ctx, receiptstore.Receipt{RoomID: roomID, Type: Read, UserID: userID, ThreadID: thread,
				EventID: eventID, EventPos: se.StreamPos, TS: ts}); err != nil {
				return err
			}
		}
	}
	if dropped > 0 {
		return errors.New("dropped receipts from an m.receipt EDU: not the origin's users, not joined, too many for unknown events or denied by the room's ACL")
	}
	return nil
}
