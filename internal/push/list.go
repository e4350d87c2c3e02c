package push

import (
	"context"
	"encoding/json"
	"math"
	"strconv"

	"github.com/myelin-chat/myelin/internal/merr"
)

// Bounds of GET /notifications: the spec leaves limit to the server.
const (
	DefaultListLimit = 20
	MaxListLimit     = 100
)

// Listed is one notification of GET /notifications.
type Listed struct {
	RoomID  string
	EventID string
	Actions json.RawMessage
	// Read is whether a read receipt of the user covers the event.
	Read bool
	TS   int64
}

// List returns a user's notifications, newest first, from the token from
// ("" for the newest), at most limit (0: the default), only highlights
// when only is "highlight" (client-server-api "GET /notifications"). next
// is the token of the following page, "" when there is none.
func (n *Notifier) List(ctx context.Context, userID, from string, limit int, only string) (items []Listed, next string, err error) {
	before := int64(math.MaxInt64)
	if from != "" {
		p, err := strconv.ParseInt(from, 10, 64)
		if err != nil || p <= 0 {
			return nil, "", merr.InvalidParam("invalid from token")
		}
		before = p
	}
	switch {
	case limit <= 0:
		limit = DefaultListLimit
	case limit > MaxListLimit:
		limit = MaxListLimit
	}
	ns, err := n.cfg.Store.List(ctx, userID, before, limit+1, only == "highlight")
	if err != nil {
		return nil, "", err
	}
	if len(ns) > limit {
		ns = ns[:limit]
		next = strconv.FormatInt(ns[limit-1].StreamPos, 10)
	}
	rooms := map[string]bool{}
	var roomIDs []string
	for _, nt := range ns {
		if !rooms[nt.RoomID] {
			rooms[nt.RoomID] = true
			roomIDs = append(roomIDs, nt.RoomID)
		}
	}
	unthreaded, threaded, err := n.readUpTo(ctx, userID, roomIDs)
	if err != nil {
		return nil, "", err
	}
	items = make([]Listed, 0, len(ns))
	for _, nt := range ns {
		read := nt.StreamPos <= unthreaded[nt.RoomID] || nt.StreamPos <= threaded[nt.RoomID][nt.ThreadID]
		items = append(items, Listed{RoomID: nt.RoomID, EventID: nt.EventID, Actions: json.RawMessage(nt.Actions),
			Read: read, TS: nt.TS})
	}
	return items, next, nil
}
