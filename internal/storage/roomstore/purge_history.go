package roomstore

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
)

// HistoryPurge says which of a room's events PurgeHistory removes: those
// of depth below BeforeDepth that are not state, not forward extremities,
// not the room's latest event and not waiting in the federation outbox;
// and, when KeepServer is not "", not sent by a user of that server.
type HistoryPurge struct {
	BeforeDepth int64
	KeepServer  string
}

// purgeChunk bounds the event numbers written inline in one statement.
const purgeChunk = 500

// PurgeHistory removes part of a room's history (Synapse's purge history
// admin API) and returns the IDs of the events it removed, for the other
// domains to forget; the indexers (AddIndexer) forget them in the same
// transaction. State events always stay: current and past state is
// what authorises the remaining events and answers state queries, and
// Synapse's purge keeps "room state data (such as joins, leaves, topic)"
// too. So the room's state snapshots stay valid and the create event
// stays the start of the timeline: pagination ends there, with no gap to
// backfill. The caller makes sure nothing writes to the room meanwhile
// (the room's actor runs it).
func (s *Store) PurgeHistory(ctx context.Context, roomID string, p HistoryPurge) ([]string, error) {
	var purged []string
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		purged = purged[:0]
		rows, err := tx.QueryContext(ctx, `SELECT e.event_nid, e.event_id, e.sender FROM events e
			WHERE e.room_id = $1 AND e.depth < $2 AND e.state_key IS NULL
			AND NOT EXISTS (SELECT 1 FROM forward_extremities f WHERE f.room_id = e.room_id AND f.event_id = e.event_id)
			AND NOT EXISTS (SELECT 1 FROM federation_outbox o WHERE o.event_id = e.event_id)
			AND (e.stream_pos IS NULL OR e.stream_pos < (SELECT MAX(m.stream_pos) FROM events m WHERE m.room_id = $1))
			ORDER BY e.depth, e.event_nid`,
			roomID, p.BeforeDepth)
		if err != nil {
			return err
		}
		var nids []int64
		for rows.Next() {
			var (
				nid        int64
				id, sender string
			)
			if err := rows.Scan(&nid, &id, &sender); err != nil {
				rows.Close()
				return err
			}
			if p.KeepServer != "" && senderServer(sender) == p.KeepServer {
				continue
			}
			nids = append(nids, nid)
			purged = append(purged, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for len(nids) > 0 {
			n := min(len(nids), purgeChunk)
			// Event numbers are integers we produced: written inline, one
			// statement per chunk on both dialects.
			var b strings.Builder
			for i, nid := range nids[:n] {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(strconv.FormatInt(nid, 10))
			}
			in := "(" + b.String() + ")"
			// A retried transaction must not answer with a purged event.
			for _, q := range []string{
				`DELETE FROM client_txns WHERE event_id IN (SELECT event_id FROM events WHERE event_nid IN ` + in + `)`,
				`DELETE FROM events WHERE event_nid IN ` + in,
			} {
				if _, err := tx.ExecContext(ctx, q); err != nil {
					return err
				}
			}
			nids = nids[n:]
		}
		for _, ix := range s.indexers {
			if err := ix.PurgeEventsIndex(ctx, tx, roomID, purged); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.events.forgetRoom(roomID)
	return purged, nil
}

// senderServer is the server name of a user ID (what follows the first
// colon).
func senderServer(userID string) string {
	if i := strings.IndexByte(userID, ':'); i >= 0 {
		return userID[i+1:]
	}
	return ""
}

// EventDepthBefore returns the depth of the room's latest timeline event
// sent before ts (by origin_server_ts), found false if there is none.
func (s *Store) EventDepthBefore(ctx context.Context, roomID string, ts int64) (depth int64, found bool, err error) {
	err = s.db.Read.QueryRowContext(ctx, `SELECT depth FROM events
		WHERE room_id = $1 AND stream_pos IS NOT NULL AND origin_server_ts < $2
		ORDER BY stream_pos DESC LIMIT 1`, roomID, ts).Scan(&depth)
	if err == sql.ErrNoRows {
		return 0, false, nil
	}
	return depth, err == nil, err
}
