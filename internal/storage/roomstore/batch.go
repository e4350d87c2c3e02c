package roomstore

import (
	"context"
	"strconv"
	"strings"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// Batched reads across rooms, for a user in thousands of rooms: an initial
// sync asked each room for its latest events and its member summary, one
// query (and on PostgreSQL one round trip) each, 15 000 queries for 5 000
// rooms. These read many rooms per statement; callers pass at most
// MaxBatchRooms rooms at a time.

// MaxBatchRooms bounds the rooms of one batched read (statement size and
// parameters).
const MaxBatchRooms = 100

// LatestEvents is RoomEvents (newest first) for several rooms at once: each
// room's up to limit latest timeline events with stream positions in
// (from, to], keyed by room ID.
func (s *Store) LatestEvents(ctx context.Context, roomIDs []string, from, to int64, limit int) (map[string][]*StoredEvent, error) {
	out := make(map[string][]*StoredEvent, len(roomIDs))
	if len(roomIDs) == 0 {
		return out, nil
	}
	// One index range scan per room (events_room_stream), stopping at
	// limit; UNION ALL keeps each room's own LIMIT. The events' JSON is
	// read only for those the cache lacks: most of what a repeated
	// initial sync would otherwise copy out of the database.
	var q strings.Builder
	args := []any{from, to, limit}
	for i, id := range roomIDs {
		if i > 0 {
			q.WriteString(" UNION ALL ")
		}
		args = append(args, id)
		n := strconv.Itoa(len(args))
		q.WriteString(`SELECT * FROM (SELECT ` + eventColsNoPDU + ` FROM events
			WHERE room_id = $` + n + ` AND stream_pos > $1 AND stream_pos <= $2 AND NOT rejected AND NOT soft_failed
			ORDER BY stream_pos DESC LIMIT $3) AS r` + n)
	}
	raws, err := s.readRaw(ctx, q.String(), args...)
	if err != nil {
		return nil, err
	}
	if err := s.readMissingPDUs(ctx, raws); err != nil {
		return nil, err
	}
	for _, r := range raws {
		se, err := s.finish(ctx, r)
		if err != nil {
			return nil, err
		}
		out[r.roomID] = append(out[r.roomID], se)
	}
	return out, nil
}

// eventColsNoPDU is eventCols with an empty pdu (see readMissingPDUs).
var eventColsNoPDU = strings.Replace(eventCols, "pdu,", "'' AS pdu,", 1)

// readMissingPDUs fills in the JSON of the events of raws that the cache
// does not hold.
func (s *Store) readMissingPDUs(ctx context.Context, raws []*rawEvent) error {
	missing := map[string][]*rawEvent{}
	var ids []any
	for _, r := range raws {
		// Keep the cached event: it may leave the cache before finish.
		if r.se.Event = s.events.get(r.eventID); r.se.Event == nil {
			if _, ok := missing[r.eventID]; !ok {
				ids = append(ids, r.eventID)
			}
			missing[r.eventID] = append(missing[r.eventID], r)
		}
	}
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(len(ids), start+500)]
		rows, err := s.db.Read.QueryContext(ctx, `SELECT event_id, pdu FROM events WHERE event_id IN (`+sqldb.Placeholders(1, len(chunk))+`)`, chunk...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id, pdu string
			if err := rows.Scan(&id, &pdu); err != nil {
				rows.Close()
				return err
			}
			for _, r := range missing[id] {
				r.pdu = pdu
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// MemberSummaries is MemberSummaryOf for several rooms at once, keyed by
// room ID (every room in roomIDs has an entry).
func (s *Store) MemberSummaries(ctx context.Context, roomIDs []string) (map[string]*MemberSummary, error) {
	out := make(map[string]*MemberSummary, len(roomIDs))
	if len(roomIDs) == 0 {
		return out, nil
	}
	args := make([]any, len(roomIDs))
	for i, id := range roomIDs {
		args[i] = id
		out[id] = &MemberSummary{}
	}
	in := sqldb.Placeholders(1, len(roomIDs))
	rows, err := s.db.Read.QueryContext(ctx, `SELECT room_id, membership, COUNT(*) FROM current_state
		WHERE room_id IN (`+in+`) AND type = 'm.room.member' AND membership IN ('join', 'invite')
		GROUP BY room_id, membership`, args...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var room, m string
		var n int
		if err := rows.Scan(&room, &m, &n); err != nil {
			rows.Close()
			return nil, err
		}
		if ms := out[room]; ms != nil {
			if m == event.Join {
				ms.Joined = n
			} else {
				ms.Invited = n
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	first, err := s.firstMembers(ctx, roomIDs, event.Join, event.Invite)
	if err != nil {
		return nil, err
	}
	var lonely []string
	for _, id := range roomIDs {
		out[id].First = first[id]
		if len(first[id]) <= 1 {
			lonely = append(lonely, id)
		}
	}
	if len(lonely) > 0 {
		gone, err := s.firstMembers(ctx, lonely, event.Leave, event.Ban)
		if err != nil {
			return nil, err
		}
		for _, id := range lonely {
			out[id].FirstGone = gone[id]
		}
	}
	return out, nil
}

// firstMembers lists, per room, the first HeroCandidates members whose
// membership is m1 or m2, in the order MemberSummaryOf uses.
func (s *Store) firstMembers(ctx context.Context, roomIDs []string, m1, m2 string) (map[string][]string, error) {
	args := []any{m1, m2}
	for _, id := range roomIDs {
		args = append(args, id)
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT room_id, state_key FROM (
			SELECT room_id, state_key, stream_pos, ROW_NUMBER() OVER (PARTITION BY room_id ORDER BY stream_pos, state_key) AS rn
			FROM current_state
			WHERE room_id IN (`+sqldb.Placeholders(3, len(roomIDs))+`) AND type = 'm.room.member' AND membership IN ($1, $2)
		) AS ranked WHERE rn <= `+strconv.Itoa(HeroCandidates)+` ORDER BY room_id, rn`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var room, u string
		if err := rows.Scan(&room, &u); err != nil {
			return nil, err
		}
		out[room] = append(out[room], u)
	}
	return out, rows.Err()
}
