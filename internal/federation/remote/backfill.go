package remote

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/rooms"
)

// Backfiller returns a rooms.BackfillFetcher that asks server.
func (r *Remote) Backfiller(server string) rooms.BackfillFetcher {
	return &fetcher{r: r, server: server}
}

// Backfill is GET /_matrix/federation/v1/backfill/{roomId}: up to limit
// events walking back from the given ones. What comes back is parsed for
// the room's version and verified like any received PDU; the caller
// decides what belongs to the room.
func (f *fetcher) Backfill(ctx context.Context, roomID string, from []string, limit int) ([]*event.Event, error) {
	v, err := f.version(ctx, roomID)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	for _, id := range from {
		q.Add("v", id)
	}
	q.Set("limit", strconv.Itoa(limit))
	var resp struct {
		PDUs []json.RawMessage `json:"pdus"`
	}
	if err := f.r.Client.Get(ctx, f.server, "/_matrix/federation/v1/backfill/"+url.PathEscape(roomID)+"?"+q.Encode(), &resp); err != nil {
		return nil, err
	}
	if len(resp.PDUs) > rooms.MaxBackfill {
		resp.PDUs = resp.PDUs[:rooms.MaxBackfill] // a server may not flood us
	}
	return f.r.parsePDUs(ctx, resp.PDUs, v), nil
}
