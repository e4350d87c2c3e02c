package rooms

import (
	"context"

	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
)

// HistoryPoint is where a history purge stops (Synapse's purge history
// admin API): the events before an event, or before a time.
type HistoryPoint struct {
	// EventID, when set, is kept with every event of its depth or more.
	EventID string
	// TS (ms), used when EventID is "": the purge stops at the room's
	// latest event sent before it, which is kept with its depth, as
	// Synapse stops at the event before the first one at or after ts.
	TS int64
}

// HistoryPurgeDepth resolves p to the depth below which a purge removes
// events: 404 for an unknown room or event, 400 for an event of another
// room, 404 when no event precedes the time (Synapse's "there is no event
// to be purged").
func (e *Engine) HistoryPurgeDepth(ctx context.Context, roomID string, p HistoryPoint) (int64, error) {
	if _, err := e.store.Room(ctx, roomID); err != nil {
		return 0, merr.NotFound("Unknown room " + roomID)
	}
	if p.EventID != "" {
		se, err := e.store.Event(ctx, p.EventID)
		if err != nil {
			return 0, err
		}
		if se.RoomID() != roomID {
			return 0, merr.BadRequest(merr.CodeUnknown, "Event is for wrong room.")
		}
		return se.Depth(), nil
	}
	depth, found, err := e.store.EventDepthBefore(ctx, roomID, p.TS)
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, merr.NotFound("there is no event to be purged")
	}
	return depth, nil
}

// PurgeHistory removes a room's events of depth below beforeDepth but its
// state, its latest events and, unless deleteLocal, what users of this
// server sent (roomstore.PurgeHistory says exactly which). It runs in the
// room's actor, so no send interleaves with it, and returns the IDs of the
// removed events; the other domains' data about them is the caller's to
// purge. The room stays usable: new events build on the forward
// extremities and current state, which stay.
func (e *Engine) PurgeHistory(ctx context.Context, roomID string, beforeDepth int64, deleteLocal bool) ([]string, error) {
	p := roomstore.HistoryPurge{BeforeDepth: beforeDepth}
	if !deleteLocal {
		p.KeepServer = e.serverName
	}
	var purged []string
	_, err := e.submit(ctx, roomID, &request{template: func(a *actor) error {
		var err error
		purged, err = e.store.PurgeHistory(ctx, roomID, p)
		// Reloaded on next use, and no retry answered from memory with a
		// purged event.
		a.st = nil
		a.txns = nil
		return err
	}})
	return purged, err
}
