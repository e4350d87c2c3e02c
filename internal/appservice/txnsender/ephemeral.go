package txnsender

import (
	"context"
	"encoding/json"

	"github.com/myelin-chat/myelin/internal/receipts"
)

// ephemeralEvent is an ephemeral event as the transaction carries it:
// the /sync format plus the room's ID (application-service-api "Pushing
// ephemeral data").
type ephemeralEvent struct {
	Type    string `json:"type"`
	RoomID  string `json:"room_id,omitempty"`
	Sender  string `json:"sender,omitempty"`
	Content any    `json:"content"`
}

func (b *built) addEphemeral(ev ephemeralEvent) error {
	raw, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	b.ephemeral = append(b.ephemeral, raw)
	return nil
}

// buildTyping adds m.typing for each room of interest whose typing set
// changed: the current set, as /sync gives it.
func (w *worker) buildTyping(ctx context.Context, b *built) error {
	if w.s.cfg.Typing == nil {
		return nil
	}
	changes, cur := w.s.cfg.Typing.ChangedSince(b.next[streamTyping])
	for _, c := range changes {
		if len(b.ephemeral) >= MaxEphemeral {
			b.more = true
			return nil
		}
		b.next[streamTyping] = c.Pos
		ok, err := w.rooms.interested(ctx, c.RoomID)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		users := c.Users
		if users == nil {
			users = []string{}
		}
		if err := b.addEphemeral(ephemeralEvent{Type: "m.typing", RoomID: c.RoomID,
			Content: map[string]any{"user_ids": users}}); err != nil {
			return err
		}
	}
	b.next[streamTyping] = max(b.next[streamTyping], cur)
	return nil
}

// receiptData is one user's receipt in an m.receipt event's content.
type receiptData struct {
	TS       int64  `json:"ts"`
	ThreadID string `json:"thread_id,omitempty"`
}

// buildReceipts adds an m.receipt event per receipt written in a room of
// interest. Private receipts go only to the appservice whose namespace
// holds their user (application-service-api "Pushing ephemeral data").
func (w *worker) buildReceipts(ctx context.Context, b *built) error {
	if w.s.cfg.Receipts == nil || w.s.cfg.ReceiptStore == nil {
		return nil
	}
	room := w.s.cfg.Receipts.Current()
	from := b.next[streamReceipt]
	if from >= room {
		return nil
	}
	limit := MaxEphemeral - len(b.ephemeral)
	if limit <= 0 {
		b.more = true
		return nil
	}
	rs, more, err := w.s.cfg.ReceiptStore.Changed(ctx, from, room, limit)
	if err != nil {
		return err
	}
	for _, r := range rs {
		b.next[streamReceipt] = r.StreamPos
		if r.Type == receipts.ReadPrivate && !w.interestedInUser(r.UserID) {
			continue
		}
		ok, err := w.rooms.interested(ctx, r.RoomID)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		content := map[string]map[string]map[string]receiptData{
			r.EventID: {r.Type: {r.UserID: {TS: r.TS, ThreadID: r.ThreadID}}},
		}
		if err := b.addEphemeral(ephemeralEvent{Type: "m.receipt", RoomID: r.RoomID, Content: content}); err != nil {
			return err
		}
	}
	if more {
		b.more = true
	} else {
		b.next[streamReceipt] = room
	}
	return nil
}

// buildPresence adds m.presence for each user whose presence changed and
// who is the appservice's or shares a room of interest with it
// (application-service-api "Pushing ephemeral data": "a presence update
// for a user an application service shares a room with, or matching one of
// the application service's namespaces").
func (w *worker) buildPresence(ctx context.Context, b *built) error {
	if w.s.cfg.Presence == nil {
		return nil
	}
	changes, cur := w.s.cfg.Presence.ChangedSince(b.next[streamPresence])
	for _, c := range changes {
		if len(b.ephemeral) >= MaxEphemeral {
			b.more = true
			return nil
		}
		b.next[streamPresence] = c.Pos
		ok, err := w.interestedInUserOrRooms(ctx, c.UserID)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := b.addEphemeral(ephemeralEvent{Type: "m.presence", Sender: c.UserID, Content: c.Content}); err != nil {
			return err
		}
	}
	b.next[streamPresence] = max(b.next[streamPresence], cur)
	return nil
}
