package remote

import (
	"context"
	"net/url"
	"strconv"

	"github.com/myelin-chat/myelin/internal/ids"
)

// TimestampToEvent is GET /_matrix/federation/v1/timestamp_to_event: the
// event server holds closest to ts (in milliseconds) in the direction
// asked.
func (r *Remote) TimestampToEvent(ctx context.Context, server, roomID string, ts int64, forward bool) (string, int64, error) {
	dir := "b"
	if forward {
		dir = "f"
	}
	q := url.Values{"ts": {strconv.FormatInt(ts, 10)}, "dir": {dir}}
	var resp struct {
		EventID        string `json:"event_id"`
		OriginServerTS int64  `json:"origin_server_ts"`
	}
	if err := r.Client.Get(ctx, server, "/_matrix/federation/v1/timestamp_to_event/"+url.PathEscape(roomID)+"?"+q.Encode(), &resp); err != nil {
		return "", 0, err
	}
	if !ids.ValidEventID(resp.EventID) {
		return "", 0, badAnswer(server, "timestamp_to_event answered the event ID %q", resp.EventID)
	}
	// An answer on the wrong side of ts is no answer.
	if forward && resp.OriginServerTS < ts || !forward && resp.OriginServerTS > ts {
		return "", 0, badAnswer(server, "timestamp_to_event answered an event on the wrong side of the timestamp")
	}
	return resp.EventID, resp.OriginServerTS, nil
}
