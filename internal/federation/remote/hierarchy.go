package remote

import (
	"context"
	"net/url"

	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/spaces"
)

// maxRemoteHierarchy bounds the children (and children_state entries)
// taken from another server's hierarchy answer.
const maxRemoteHierarchy = 500

// Hierarchy asks server for a space's hierarchy (server-server-api
// "Spaces", GET /_matrix/federation/v1/hierarchy/{roomId}). Entries that
// are not about a valid room ID are dropped.
func (r *Remote) Hierarchy(ctx context.Context, server, roomID string, suggestedOnly bool) (*spaces.FedHierarchy, error) {
	p := "/_matrix/federation/v1/hierarchy/" + url.PathEscape(roomID)
	if suggestedOnly {
		p += "?suggested_only=true"
	}
	var fh spaces.FedHierarchy
	if err := r.Client.Get(ctx, server, p, &fh); err != nil {
		return nil, err
	}
	fh.Room.ChildrenState = keepValid(fh.Room.ChildrenState, func(c spaces.ChildEvent) bool {
		return c.Type == "m.space.child" && ids.ValidRoomID(c.StateKey)
	})
	fh.Children = keepValid(fh.Children, func(s spaces.Summary) bool { return ids.ValidRoomID(s.RoomID) })
	fh.InaccessibleChildren = keepValid(fh.InaccessibleChildren, ids.ValidRoomID)
	return &fh, nil
}

func keepValid[T any](in []T, ok func(T) bool) []T {
	out := make([]T, 0, min(len(in), maxRemoteHierarchy))
	for _, v := range in {
		if len(out) == maxRemoteHierarchy {
			break
		}
		if ok(v) {
			out = append(out, v)
		}
	}
	return out
}
