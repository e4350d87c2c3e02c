package admin

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/admintaskstore"
)

// TaskStore keeps the status of background operations
// (internal/storage/admintaskstore).
type TaskStore interface {
	Create(ctx context.Context, t admintaskstore.Task) error
	Update(ctx context.Context, id, status, errText string, result json.RawMessage, ts int64) error
	Task(ctx context.Context, id string) (*admintaskstore.Task, error)
	ForRoom(ctx context.Context, roomID, kind string) ([]admintaskstore.Task, error)
}

// Task kinds and Synapse's statuses for room deletions.
const (
	KindDeleteRoom = "delete_room"

	StatusShuttingDown = "shutting_down"
	StatusPurging      = "purging"
	StatusComplete     = "complete"
	StatusFailed       = "failed"
)

// RunningStatuses are the statuses of a task still in progress, which a
// restart interrupts.
var RunningStatuses = []string{StatusShuttingDown, StatusPurging, StatusActive}

// DeletionStatus is one deletion as Synapse's delete_status reports it.
type DeletionStatus struct {
	DeleteID     string          `json:"delete_id,omitempty"`
	Status       string          `json:"status"`
	Error        string          `json:"error,omitempty"`
	ShutdownRoom json.RawMessage `json:"shutdown_room"`
}

// StartDeleteRoom checks a deletion and runs it in the background,
// returning its delete ID at once (Synapse's Delete Room API, version 2).
// A second deletion of a room while one runs is refused.
func (s *Service) StartDeleteRoom(ctx context.Context, adminID, roomID string, req DeleteRoomRequest, log *slog.Logger) (string, error) {
	if s.Tasks == nil {
		return "", errors.New("admin: no task store")
	}
	if err := s.CheckDeleteRoom(ctx, roomID, req); err != nil {
		return "", err
	}
	existing, err := s.Tasks.ForRoom(ctx, roomID, KindDeleteRoom)
	if err != nil {
		return "", err
	}
	for _, t := range existing {
		if t.Status == StatusShuttingDown || t.Status == StatusPurging {
			return "", merr.BadJSON("History purge already in progress for " + roomID)
		}
	}
	id := rand.Text()[:16]
	now := time.Now().UnixMilli()
	empty := deletionJSON(&ShutdownResult{KickedUsers: []string{}, FailedToKickUsers: []string{}, LocalAliases: []string{}})
	if err := s.Tasks.Create(ctx, admintaskstore.Task{ID: id, Kind: KindDeleteRoom, RoomID: roomID, Status: StatusShuttingDown,
		Result: empty, CreatedTS: now}); err != nil {
		return "", err
	}
	// The deletion outlives the request that started it.
	bg := context.WithoutCancel(ctx)
	go func() {
		update := func(status, errText string, res *ShutdownResult) {
			result := empty
			if res != nil {
				result = deletionJSON(res)
			}
			if err := s.Tasks.Update(bg, id, status, errText, result, time.Now().UnixMilli()); err != nil {
				log.Error("recording a room deletion's status failed", "delete_id", id, "room_id", roomID, "err", err)
			}
		}
		res, err := s.DeleteRoom(bg, adminID, roomID, req, func(status string, res *ShutdownResult) { update(status, "", res) })
		if err != nil {
			log.Warn("room deletion failed", "delete_id", id, "room_id", roomID, "err", err)
			update(StatusFailed, err.Error(), res)
			return
		}
		log.Info("room deleted", "delete_id", id, "room_id", roomID, "kicked_users", len(res.KickedUsers), "purged", req.Purge)
		update(StatusComplete, "", res)
	}()
	return id, nil
}

// DeletionStatus reports one deletion; merr.ErrNotFound if unknown.
func (s *Service) DeletionStatus(ctx context.Context, deleteID string) (*DeletionStatus, error) {
	t, err := s.Tasks.Task(ctx, deleteID)
	if err != nil {
		return nil, err
	}
	if t.Kind != KindDeleteRoom {
		return nil, merr.ErrNotFound
	}
	return &DeletionStatus{Status: t.Status, Error: t.Error, ShutdownRoom: t.Result}, nil
}

// DeletionStatuses reports a room's deletions, oldest first.
func (s *Service) DeletionStatuses(ctx context.Context, roomID string) ([]DeletionStatus, error) {
	ts, err := s.Tasks.ForRoom(ctx, roomID, KindDeleteRoom)
	if err != nil {
		return nil, err
	}
	out := make([]DeletionStatus, len(ts))
	for i, t := range ts {
		out[i] = DeletionStatus{DeleteID: t.ID, Status: t.Status, Error: t.Error, ShutdownRoom: t.Result}
	}
	return out, nil
}
