package roomstore

import (
	"context"
	"math"
)

// PositionedPDU is a stored event's JSON and its stream position.
type PositionedPDU struct {
	StreamPos int64
	PDU       []byte
}

// MXCScanStart is the position before every event MXCEvents returns
// (backfilled history has negative positions).
const MXCScanStart = math.MinInt64

// MXCEvents returns, oldest first, up to limit of a room's timeline events
// positioned after after whose stored JSON mentions an mxc:// URI: the
// media admin API's scan of a room (Synapse's "List all media in a room").
// Outliers and rejected events are not part of the room and are left out;
// redacted events are kept, since their media is still stored. The scan
// walks events_room_stream and only events naming a URI leave the
// database, so a call costs the room's events between the positions, not
// every event's parse.
func (s *Store) MXCEvents(ctx context.Context, roomID string, after int64, limit int) ([]PositionedPDU, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT stream_pos, pdu FROM events
		WHERE room_id = $1 AND stream_pos > $2 AND NOT rejected AND pdu LIKE '%mxc://%'
		ORDER BY stream_pos LIMIT $3`, roomID, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PositionedPDU
	for rows.Next() {
		var p PositionedPDU
		var pdu string
		if err := rows.Scan(&p.StreamPos, &pdu); err != nil {
			return nil, err
		}
		p.PDU = []byte(pdu)
		out = append(out, p)
	}
	return out, rows.Err()
}
