package roomstore

import "context"

// RoomSize is a room's estimated share of the database.
type RoomSize struct {
	RoomID string
	Bytes  int64
}

// LargestRooms returns the n rooms whose stored events take the most
// bytes, largest first. The estimate is the summed size of the events'
// JSON, the bulk of a room's rows; indexes, state snapshots and other
// domains' rows are not counted. It reads every event, so it is for an
// operator's occasional question, not for a hot path.
func (s *Store) LargestRooms(ctx context.Context, n int) ([]RoomSize, error) {
	// OCTET_LENGTH counts bytes in both PostgreSQL and SQLite (3.43+).
	rows, err := s.db.Read.QueryContext(ctx, `SELECT room_id, SUM(OCTET_LENGTH(pdu)) AS size FROM events
		GROUP BY room_id ORDER BY size DESC, room_id LIMIT $1`, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RoomSize
	for rows.Next() {
		var r RoomSize
		if err := rows.Scan(&r.RoomID, &r.Bytes); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
