// Package receipts keeps read receipts and fully read markers
// (client-server-api "Receipts", "Fully read markers") and serves receipts
// to /sync as a stream; m.receipt EDUs carry public ones between servers.
package receipts

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/federation/sender"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/storage/receiptstore"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
	"github.com/myelin-chat/myelin/internal/streams"
)

// Receipt types (client-server-api "Receipts", "Fully read markers").
const (
	Read        = "m.read"
	ReadPrivate = "m.read.private"
	FullyRead   = "m.fully_read"
	// EDUType is the receipt EDU (server-server-api "Receipts").
	EDUType = "m.receipt"
	// MainThread is the thread ID of the main timeline.
	MainThread = "main"
)

// AccountData reads and writes room account data, where m.fully_read lives.
type AccountData interface {
	// AccountData returns the content, or nil when there is none.
	AccountData(ctx context.Context, userID, roomID, typ string) ([]byte, error)
	PutAccountData(ctx context.Context, userID, roomID, typ string, content []byte, pos int64) error
}

// EDUSender queues EDUs for other servers (federation/sender.Sender).
type EDUSender interface {
	SendEDU(ctx context.Context, edu sender.EDU, destinations []string) error
}

// Config builds a Service.
type Config struct {
	Store       *receiptstore.Store
	Rooms       *rooms.Engine
	AccountData AccountData
	ServerName  string
	// Sender sends m.receipt EDUs; nil on a server without federation.
	Sender EDUSender
	Now    func() time.Time
	Log    *slog.Logger
}

// Service records receipts and read markers.
type Service struct {
	cfg     Config
	tracker *streams.Tracker
	// pending is set while receipts wait for their events (pending.go).
	pending atomic.Bool
	res     *resolver
}

// New returns a Service whose stream continues after the stored receipts.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	top, err := cfg.Store.MaxStreamPos(ctx)
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, tracker: streams.NewTracker(top)}, nil
}

// Post handles POST /rooms/{roomId}/receipt/{receiptType}/{eventId}.
// threadID is nil for an unthreaded receipt.
func (s *Service) Post(ctx context.Context, roomID, userID, typ, eventID string, threadID *string) error {
	switch typ {
	case Read, ReadPrivate:
	case FullyRead:
		if threadID != nil {
			return merr.InvalidParam("thread_id is not allowed for m.fully_read")
		}
	default:
		return merr.InvalidParam("unknown receipt type")
	}
	if threadID != nil && *threadID == "" {
		return merr.InvalidParam("thread_id field must be a non-empty string")
	}
	if err := s.checkMember(ctx, roomID, userID); err != nil {
		return err
	}
	se, err := s.roomEvent(ctx, roomID, eventID)
	if err != nil {
		return err
	}
	if typ == FullyRead {
		return s.setFullyRead(ctx, roomID, userID, se)
	}
	thread := ""
	if threadID != nil {
		thread = *threadID
		if err := s.checkThread(ctx, se, thread); err != nil {
			return err
		}
	}
	return s.put(ctx, receiptstore.Receipt{RoomID: roomID, Type: typ, UserID: userID, ThreadID: thread,
		EventID: eventID, EventPos: se.StreamPos, TS: s.cfg.Now().UnixMilli()})
}

// ReadMarkers handles POST /rooms/{roomId}/read_markers: each non-empty
// argument is set as the corresponding receipt or marker would be.
func (s *Service) ReadMarkers(ctx context.Context, roomID, userID, fullyRead, read, readPrivate string) error {
	if err := s.checkMember(ctx, roomID, userID); err != nil {
		return err
	}
	for _, m := range []struct{ typ, eventID string }{{FullyRead, fullyRead}, {Read, read}, {ReadPrivate, readPrivate}} {
		if m.eventID == "" {
			continue
		}
		if err := s.Post(ctx, roomID, userID, m.typ, m.eventID, nil); err != nil {
			return err
		}
	}
	return nil
}

// checkMember refuses users not joined to the room.
func (s *Service) checkMember(ctx context.Context, roomID, userID string) error {
	joined, err := s.cfg.Rooms.IsJoined(ctx, roomID, userID)
	if err != nil {
		return err
	}
	if !joined {
		return merr.Forbidden("you are not joined to this room")
	}
	return nil
}

// roomEvent returns an event of the room with a stream position, or
// M_NOT_FOUND.
func (s *Service) roomEvent(ctx context.Context, roomID, eventID string) (*roomstore.StoredEvent, error) {
	se, err := s.cfg.Rooms.Store().Event(ctx, eventID)
	if errors.Is(err, merr.ErrNotFound) || (err == nil && (se.RoomID() != roomID || se.StreamPos == 0)) {
		return nil, merr.NotFound("unknown event in this room")
	}
	return se, err
}

// maxThreadHops is how many relations are followed to find an event's
// thread (client-server-api "Threaded read receipts" recommends 3).
const maxThreadHops = 3

// checkThread refuses a threaded receipt whose event is not in the thread
// (client-server-api "POST /rooms/{roomId}/receipt/...": 400 when "the
// event_id is not related to the thread_id"). Thread roots are in the
// main timeline.
func (s *Service) checkThread(ctx context.Context, se *roomstore.StoredEvent, threadID string) error {
	in, err := s.ThreadOf(ctx, se.Event)
	if err != nil {
		return err
	}
	if in != threadID {
		return merr.InvalidParam("the event is not in thread " + threadID)
	}
	return nil
}

// ThreadOf is the thread an event is in: a thread root's ID, or "main".
func (s *Service) ThreadOf(ctx context.Context, ev *event.Event) (string, error) {
	for hop := 0; hop < maxThreadHops; hop++ {
		var c struct {
			RelatesTo *struct {
				RelType string `json:"rel_type"`
				EventID string `json:"event_id"`
			} `json:"m.relates_to"`
		}
		if json.Unmarshal(ev.Content(), &c) != nil || c.RelatesTo == nil || c.RelatesTo.EventID == "" {
			return MainThread, nil
		}
		if c.RelatesTo.RelType == "m.thread" {
			return c.RelatesTo.EventID, nil
		}
		parent, err := s.cfg.Rooms.Store().EventOnly(ctx, c.RelatesTo.EventID)
		if errors.Is(err, merr.ErrNotFound) {
			return MainThread, nil
		}
		if err != nil {
			return "", err
		}
		ev = parent
	}
	return MainThread, nil
}

// setFullyRead moves the m.fully_read room account data forward (a marker
// behind the current one is ignored, as Synapse does).
func (s *Service) setFullyRead(ctx context.Context, roomID, userID string, se *roomstore.StoredEvent) error {
	raw, err := s.cfg.AccountData.AccountData(ctx, userID, roomID, FullyRead)
	if err != nil {
		return err
	}
	if raw != nil {
		var cur struct {
			EventID string `json:"event_id"`
		}
		if json.Unmarshal(raw, &cur) == nil && cur.EventID != "" {
			if old, err := s.cfg.Rooms.Store().Event(ctx, cur.EventID); err == nil && old.StreamPos >= se.StreamPos {
				return nil
			}
		}
	}
	content, _ := json.Marshal(map[string]string{"event_id": se.EventID()})
	tracker := s.cfg.Rooms.Stream()
	pos := tracker.Reserve()
	err = s.cfg.AccountData.PutAccountData(ctx, userID, roomID, FullyRead, content, pos)
	tracker.Finish(pos)
	if err != nil {
		return err
	}
	s.cfg.Rooms.Notifier().Wake(userID)
	return nil
}

// put stores a receipt if it moves forward, wakes the syncs that may see
// it, and tells other servers of a local user's public one.
func (s *Service) put(ctx context.Context, r receiptstore.Receipt) error {
	// Check before taking a position: a position handed out and then not
	// written could be handed out again after a restart (the tracker
	// starts from the stored maximum), and a client holding it would miss
	// that receipt. Clients often repeat a receipt; the store still
	// guards the race between two writers.
	cur, err := s.cfg.Store.Get(ctx, r.RoomID, r.Type, r.UserID, r.ThreadID)
	if err != nil {
		return err
	}
	if cur != nil && cur.EventPos >= r.EventPos {
		return nil
	}
	r.StreamPos = s.tracker.Reserve()
	written, err := s.cfg.Store.Put(ctx, r)
	s.tracker.Finish(r.StreamPos)
	if err != nil || !written {
		return err
	}
	if r.Type == ReadPrivate {
		// Never shown to, nor sent for, anyone but its owner.
		s.cfg.Rooms.Notifier().Wake(r.UserID)
		return nil
	}
	s.wakeRoom(ctx, r.RoomID)
	if domainOf(r.UserID) == s.cfg.ServerName {
		s.sendEDU(ctx, r)
	}
	return nil
}

// wakeRoom wakes the long-polling syncs of the room's local joined members.
func (s *Service) wakeRoom(ctx context.Context, roomID string) {
	if err := s.cfg.Rooms.WakeLocalMembers(ctx, roomID); err != nil {
		s.cfg.Log.Warn("listing a room's members to wake their syncs", "room_id", roomID, "err", err)
	}
}

// receiptData is a receipt's data in /sync and in EDUs.
type receiptData struct {
	TS       int64  `json:"ts"`
	ThreadID string `json:"thread_id,omitempty"`
}

// sendEDU sends a local user's m.read receipt to the room's other servers.
func (s *Service) sendEDU(ctx context.Context, r receiptstore.Receipt) {
	if s.cfg.Sender == nil {
		return
	}
	servers, err := s.cfg.Rooms.ServersInRoom(ctx, r.RoomID)
	if err != nil {
		s.cfg.Log.Warn("listing a room's servers for a receipt EDU", "room_id", r.RoomID, "err", err)
		return
	}
	content, _ := json.Marshal(map[string]any{r.RoomID: map[string]any{Read: map[string]any{
		r.UserID: map[string]any{"event_ids": []string{r.EventID}, "data": receiptData{TS: r.TS, ThreadID: r.ThreadID}}}}})
	// A later receipt of the same user and thread replaces a queued one.
	edu := sender.EDU{Type: EDUType, Content: content, Key: r.RoomID + "\x00" + r.UserID + "\x00" + r.ThreadID}
	if err := s.cfg.Sender.SendEDU(ctx, edu, servers); err != nil {
		s.cfg.Log.Warn("queueing a receipt EDU", "room_id", r.RoomID, "err", err)
	}
}

func domainOf(id string) string {
	if i := strings.IndexByte(id, ':'); i >= 0 {
		return id[i+1:]
	}
	return ""
}
