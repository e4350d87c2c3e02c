// Package receiptstore persists read receipts (client-server-api
// "Receipts") on SQLite or PostgreSQL with one set of queries: the latest
// receipt per room, receipt type, user and thread, with the receipt
// stream position it was written at, so /sync reads what changed since a
// token.
package receiptstore

import (
	"context"
	"database/sql"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// Domain is the schema_versions domain of this package's tables.
const Domain = "receipts"

// migrations are append-only: never edit a released entry.
var migrations = []sqldb.Migration{
	{Version: 1, Name: "receipts: latest per room, type, user and thread", SQL: `
-- thread_id is '' for an unthreaded receipt. event_pos is the room event
-- stream position of the event, which orders receipts: one only moves
-- forward. stream_pos is the receipt stream's position of the last change.
CREATE TABLE receipts (
	room_id      TEXT   NOT NULL,
	receipt_type TEXT   NOT NULL,
	user_id      TEXT   NOT NULL,
	thread_id    TEXT   NOT NULL,
	event_id     TEXT   NOT NULL,
	event_pos    BIGINT NOT NULL,
	ts           BIGINT NOT NULL,
	stream_pos   BIGINT NOT NULL,
	PRIMARY KEY (room_id, receipt_type, user_id, thread_id)
);
CREATE INDEX receipts_stream ON receipts (stream_pos);
CREATE INDEX receipts_room_stream ON receipts (room_id, stream_pos);
`},
	{Version: 2, Name: "receipts: other servers' receipts for events not held yet", SQL: `
-- An m.read receipt from another server for an event this server does
-- not hold yet (the EDU outran the PDU): the latest per room, user and
-- thread, kept until the event arrives or the row is a day old.
CREATE TABLE receipts_pending (
	room_id     TEXT   NOT NULL,
	user_id     TEXT   NOT NULL,
	thread_id   TEXT   NOT NULL,
	event_id    TEXT   NOT NULL,
	ts          BIGINT NOT NULL,
	received_ts BIGINT NOT NULL,
	PRIMARY KEY (room_id, user_id, thread_id)
);
CREATE INDEX receipts_pending_received ON receipts_pending (received_ts);
`},
}

// Receipt is one user's receipt of one type in one room and thread.
type Receipt struct {
	RoomID string
	Type   string
	UserID string
	// ThreadID is "" for an unthreaded receipt, "main" or a thread root's
	// event ID for a threaded one.
	ThreadID string
	EventID  string
	// EventPos is the event's room stream position: receipts only move
	// to a higher one.
	EventPos int64
	// TS is when the user read the event (ms since the epoch).
	TS int64
	// StreamPos is the receipt stream position of the write.
	StreamPos int64
}

// Store is the receipts storage. It is safe for concurrent use.
type Store struct{ db *sqldb.DB }

// New migrates the receipts domain and returns the store.
func New(ctx context.Context, db *sqldb.DB) (*Store, error) {
	if err := sqldb.Migrate(ctx, db, Domain, migrations); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// MaxStreamPos returns the highest receipt stream position written (0 for
// none): where the stream's tracker starts.
func (s *Store) MaxStreamPos(ctx context.Context) (int64, error) {
	var pos sql.NullInt64
	err := s.db.Read.QueryRowContext(ctx, `SELECT MAX(stream_pos) FROM receipts`).Scan(&pos)
	return pos.Int64, err
}

// Put writes r unless the stored receipt for the same room, type, user and
// thread is at the same event or a later one. It reports whether r was
// written.
func (s *Store) Put(ctx context.Context, r Receipt) (bool, error) {
	res, err := s.db.Write.ExecContext(ctx, `INSERT INTO receipts
		(room_id, receipt_type, user_id, thread_id, event_id, event_pos, ts, stream_pos)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (room_id, receipt_type, user_id, thread_id) DO UPDATE SET
			event_id = excluded.event_id, event_pos = excluded.event_pos,
			ts = excluded.ts, stream_pos = excluded.stream_pos
		WHERE receipts.event_pos < excluded.event_pos`,
		r.RoomID, r.Type, r.UserID, r.ThreadID, r.EventID, r.EventPos, r.TS, r.StreamPos)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// Get returns the stored receipt for a room, type, user and thread, or
// nil.
func (s *Store) Get(ctx context.Context, roomID, typ, userID, threadID string) (*Receipt, error) {
	rs, err := s.query(ctx, `SELECT `+cols+` FROM receipts
		WHERE room_id = $1 AND receipt_type = $2 AND user_id = $3 AND thread_id = $4`, roomID, typ, userID, threadID)
	if err != nil || len(rs) == 0 {
		return nil, err
	}
	return &rs[0], nil
}

// Changed returns the receipts written at stream positions in (from, to],
// in any room, oldest first, at most limit of them; more reports whether
// there were more.
func (s *Store) Changed(ctx context.Context, from, to int64, limit int) (rs []Receipt, more bool, err error) {
	rs, err = s.query(ctx, `SELECT `+cols+` FROM receipts WHERE stream_pos > $1 AND stream_pos <= $2
		ORDER BY stream_pos LIMIT $3`, from, to, limit+1)
	if len(rs) > limit {
		return rs[:limit], true, err
	}
	return rs, false, err
}

// roomsPerQuery bounds an IN list (SQLite allows 32 766 parameters).
const roomsPerQuery = 500

// InRooms returns the receipts of the given rooms written at stream
// positions in (from, to] (from = 0: all the rooms' current receipts).
func (s *Store) InRooms(ctx context.Context, roomIDs []string, from, to int64) ([]Receipt, error) {
	var out []Receipt
	for len(roomIDs) > 0 {
		chunk := roomIDs[:min(len(roomIDs), roomsPerQuery)]
		roomIDs = roomIDs[len(chunk):]
		args := []any{from, to}
		for _, r := range chunk {
			args = append(args, r)
		}
		rs, err := s.query(ctx, `SELECT `+cols+` FROM receipts WHERE stream_pos > $1 AND stream_pos <= $2
			AND room_id IN (`+sqldb.Placeholders(3, len(chunk))+`)`, args...)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return out, nil
}

// OfUser returns userID's receipts of the given types in the given rooms
// (what a user has read, for counting what they have not).
func (s *Store) OfUser(ctx context.Context, userID string, roomIDs []string, types ...string) ([]Receipt, error) {
	var out []Receipt
	for len(roomIDs) > 0 {
		chunk := roomIDs[:min(len(roomIDs), roomsPerQuery)]
		roomIDs = roomIDs[len(chunk):]
		args := []any{userID}
		for _, t := range types {
			args = append(args, t)
		}
		for _, r := range chunk {
			args = append(args, r)
		}
		rs, err := s.query(ctx, `SELECT `+cols+` FROM receipts WHERE user_id = $1
			AND receipt_type IN (`+sqldb.Placeholders(2, len(types))+`)
			AND room_id IN (`+sqldb.Placeholders(2+len(types), len(chunk))+`)`, args...)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return out, nil
}

const cols = `room_id, receipt_type, user_id, thread_id, event_id, event_pos, ts, stream_pos`

func (s *Store) query(ctx context.Context, q string, args ...any) ([]Receipt, error) {
	rows, err := s.db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Receipt
	for rows.Next() {
		var r Receipt
		if err := rows.Scan(&r.RoomID, &r.Type, &r.UserID, &r.ThreadID, &r.EventID, &r.EventPos, &r.TS, &r.StreamPos); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// PurgeRoom removes a deleted room's receipts and read markers.
func (s *Store) PurgeRoom(ctx context.Context, roomID string) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{`DELETE FROM receipts WHERE room_id = $1`, `DELETE FROM receipts_pending WHERE room_id = $1`} {
			if _, err := tx.ExecContext(ctx, q, roomID); err != nil {
				return err
			}
		}
		return nil
	})
}

// Pending is another server's m.read receipt for an event not held yet.
type Pending struct {
	RoomID   string
	UserID   string
	ThreadID string // "" for an unthreaded receipt
	EventID  string
	TS       int64
	// ReceivedTS is when it arrived (ms since the epoch).
	ReceivedTS int64
}

// PutPending keeps p, replacing the pending receipt of the same room,
// user and thread (the later EDU is the user's later read).
func (s *Store) PutPending(ctx context.Context, p Pending) error {
	_, err := s.db.Write.ExecContext(ctx, `INSERT INTO receipts_pending
		(room_id, user_id, thread_id, event_id, ts, received_ts) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (room_id, user_id, thread_id) DO UPDATE SET
			event_id = excluded.event_id, ts = excluded.ts, received_ts = excluded.received_ts`,
		p.RoomID, p.UserID, p.ThreadID, p.EventID, p.TS, p.ReceivedTS)
	return err
}

// CountPending returns how many pending receipts userID has in roomID.
func (s *Store) CountPending(ctx context.Context, roomID, userID string) (int, error) {
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM receipts_pending WHERE room_id = $1 AND user_id = $2`,
		roomID, userID).Scan(&n)
	return n, err
}

// PendingReceipts returns up to limit pending receipts, oldest first.
func (s *Store) PendingReceipts(ctx context.Context, limit int) ([]Pending, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT room_id, user_id, thread_id, event_id, ts, received_ts
		FROM receipts_pending ORDER BY received_ts LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Pending
	for rows.Next() {
		var p Pending
		if err := rows.Scan(&p.RoomID, &p.UserID, &p.ThreadID, &p.EventID, &p.TS, &p.ReceivedTS); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// DeletePending removes p unless a later receipt replaced it.
func (s *Store) DeletePending(ctx context.Context, p Pending) error {
	_, err := s.db.Write.ExecContext(ctx, `DELETE FROM receipts_pending
		WHERE room_id = $1 AND user_id = $2 AND thread_id = $3 AND event_id = $4`, p.RoomID, p.UserID, p.ThreadID, p.EventID)
	return err
}

// DeletePendingBefore removes the pending receipts received before ts.
func (s *Store) DeletePendingBefore(ctx context.Context, ts int64) error {
	_, err := s.db.Write.ExecContext(ctx, `DELETE FROM receipts_pending WHERE received_ts < $1`, ts)
	return err
}
