package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/myelin-chat/myelin/internal/federation/remote"
	"github.com/myelin-chat/myelin/internal/rooms"
)

// Bounds on backfill done for a client's /messages.
const (
	// historyServers is how many servers in the room are asked in turn.
	historyServers = 5
	// historyTimeout bounds the wait for one server's answer (and the
	// fetches it leads to).
	historyTimeout = 15 * time.Second
	// historyCooldown is how long a room whose servers had nothing for us
	// is not asked again, so that paging a room whose early history is
	// invisible to us does not cost a round of requests each time.
	historyCooldown = 30 * time.Second
)

// history fills in rooms' earlier history from other servers when clients
// page back past what we hold (clientapi.HistoryFetcher).
type history struct {
	rooms  *rooms.Engine
	remote *remote.Remote
	self   string
	log    *slog.Logger
	now    func() time.Time

	mu       sync.Mutex
	cooldown map[string]time.Time // room → not before
}

func (h *history) Backfill(ctx context.Context, roomID string, limit int) (int, error) {
	h.mu.Lock()
	until, cooling := h.cooldown[roomID]
	if cooling && h.now().Before(until) {
		h.mu.Unlock()
		return 0, nil
	}
	delete(h.cooldown, roomID)
	h.mu.Unlock()

	exts, err := h.rooms.BackwardExtremities(ctx, roomID)
	if err != nil || len(exts) == 0 {
		return 0, err // the room's history is complete here
	}
	servers, err := h.rooms.ServersInRoom(ctx, roomID)
	if err != nil {
		return 0, err
	}
	asked := 0
	for _, srv := range servers {
		if srv == h.self {
			continue
		}
		if asked == historyServers {
			break
		}
		asked++
		sctx, cancel := context.WithTimeout(ctx, historyTimeout)
		n, err := h.rooms.BackfillFrom(sctx, roomID, h.remote.Backfiller(srv), limit)
		cancel()
		if err != nil {
			h.log.Info("backfill from server failed", "room_id", roomID, "server", srv, "err", err)
			continue
		}
		if n > 0 {
			h.log.Debug("backfilled", "room_id", roomID, "server", srv, "events", n)
			return n, nil
		}
	}
	if ctx.Err() == nil {
		h.mu.Lock()
		if h.cooldown == nil {
			h.cooldown = map[string]time.Time{}
		}
		h.cooldown[roomID] = h.now().Add(historyCooldown)
		h.mu.Unlock()
	}
	return 0, nil
}

// NearTimestamp asks the room's other servers in turn for their event
// closest to ts and backfills the first answer, so that the client can go
// on to ask /context about it (clientapi.HistoryFetcher).
func (h *history) NearTimestamp(ctx context.Context, roomID string, ts int64, forward bool) (string, int64, bool) {
	servers, err := h.rooms.ServersInRoom(ctx, roomID)
	if err != nil {
		return "", 0, false
	}
	asked := 0
	for _, srv := range servers {
		if srv == h.self {
			continue
		}
		if asked == historyServers || ctx.Err() != nil {
			break
		}
		asked++
		sctx, cancel := context.WithTimeout(ctx, historyTimeout)
		id, ots, err := h.remote.TimestampToEvent(sctx, srv, roomID, ts, forward)
		if err == nil {
			var ok bool
			ok, err = h.rooms.BackfillEvent(sctx, roomID, id, h.remote.Backfiller(srv))
			if ok {
				cancel()
				return id, ots, true
			}
		}
		cancel()
		h.log.Debug("timestamp_to_event from server gave nothing usable", "room_id", roomID, "server", srv, "err", err)
	}
	return "", 0, false
}
