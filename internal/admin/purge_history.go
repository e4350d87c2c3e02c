package admin

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/storage/admintaskstore"
)

// Synapse's purge history admin API (purge_history_api.md): part of a
// room's history goes, in the background, reported by a purge ID.

// KindPurgeHistory is the task kind of history purges; StatusActive is
// Synapse's status of one still running (then StatusComplete or
// StatusFailed).
const (
	KindPurgeHistory = "purge_history"
	StatusActive     = "active"
)

// HistoryPurger removes what one domain stores about events a history
// purge removed (relations, the search index, notifications...).
type HistoryPurger interface {
	PurgeEvents(ctx context.Context, roomID string, eventIDs []string) error
}

// PurgeHistoryRequest is a purge: the point it stops at, and whether
// events sent by this server's users go too (Synapse keeps them by
// default: they may be the only copies in existence).
type PurgeHistoryRequest struct {
	Point             rooms.HistoryPoint
	DeleteLocalEvents bool
}

// StartPurgeHistory checks a purge and runs it in the background,
// returning its purge ID at once. A second purge of a room while one runs
// is refused, as Synapse does.
func (s *Service) StartPurgeHistory(ctx context.Context, roomID string, req PurgeHistoryRequest, log *slog.Logger) (string, error) {
	if s.Tasks == nil {
		return "", errors.New("admin: no task store")
	}
	depth, err := s.Rooms.HistoryPurgeDepth(ctx, roomID, req.Point)
	if err != nil {
		return "", err
	}
	existing, err := s.Tasks.ForRoom(ctx, roomID, KindPurgeHistory)
	if err != nil {
		return "", err
	}
	for _, t := range existing {
		if t.Status == StatusActive {
			return "", merr.BadRequest(merr.CodeUnknown, "History purge already in progress for "+roomID)
		}
	}
	id := rand.Text()[:16]
	if err := s.Tasks.Create(ctx, admintaskstore.Task{ID: id, Kind: KindPurgeHistory, RoomID: roomID, Status: StatusActive,
		CreatedTS: time.Now().UnixMilli()}); err != nil {
		return "", err
	}
	// The purge outlives the request that started it.
	bg := context.WithoutCancel(ctx)
	go func() {
		n, err := s.PurgeHistory(bg, roomID, depth, req.DeleteLocalEvents)
		status, errText := StatusComplete, ""
		if err != nil {
			log.Warn("history purge failed", "purge_id", id, "room_id", roomID, "err", err)
			status, errText = StatusFailed, err.Error()
		} else {
			log.Info("history purged", "purge_id", id, "room_id", roomID, "events", n)
		}
		if err := s.Tasks.Update(bg, id, status, errText, nil, time.Now().UnixMilli()); err != nil {
			log.Error("recording a history purge's status failed", "purge_id", id, "room_id", roomID, "err", err)
		}
	}()
	return id, nil
}

// PurgeHistory removes a room's events below depth (see
// rooms.Engine.PurgeHistory) and then the other domains' data about them,
// returning how many events went.
func (s *Service) PurgeHistory(ctx context.Context, roomID string, depth int64, deleteLocal bool) (int, error) {
	purged, err := s.Rooms.PurgeHistory(ctx, roomID, depth, deleteLocal)
	if err != nil {
		return 0, err
	}
	if len(purged) == 0 {
		return 0, nil
	}
	for _, p := range s.HistoryPurgers {
		if err := p.PurgeEvents(ctx, roomID, purged); err != nil {
			return len(purged), fmt.Errorf("the events are purged, but not all data about them: %w", err)
		}
	}
	return len(purged), nil
}

// PurgeStatus is one history purge as Synapse's purge_history_status
// reports it.
type PurgeStatus struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// PurgeHistoryStatus reports one purge; merr.ErrNotFound if unknown.
func (s *Service) PurgeHistoryStatus(ctx context.Context, purgeID string) (*PurgeStatus, error) {
	t, err := s.Tasks.Task(ctx, purgeID)
	if err != nil {
		return nil, err
	}
	if t.Kind != KindPurgeHistory {
		return nil, merr.ErrNotFound
	}
	return &PurgeStatus{Status: t.Status, Error: t.Error}, nil
}
