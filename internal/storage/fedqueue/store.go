// Package fedqueue stores the federation sender's outgoing queues on SQLite
// or PostgreSQL (internal/storage/sqldb): the PDUs and durable EDUs each
// destination has not yet acknowledged, and per destination the last
// delivered stream position and the retry schedule.
//
// An item leaves the queue only when the sender reports that the
// destination answered its transaction with 200 (Acknowledge), or that the
// destination refused it for good (Discard), or when a long outage
// collapses the backlog (CollapseToLatestPerRoom). Storage takes timestamps
// as arguments (milliseconds since the epoch) and never reads a clock.
package fedqueue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// Store is the outgoing federation queue. It is safe for concurrent use.
type Store struct {
	db *sqldb.DB
}

// New migrates the "fedqueue" domain and returns the store.
func New(ctx context.Context, db *sqldb.DB) (*Store, error) {
	if err := sqldb.Migrate(ctx, db, Domain, migrations); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// NewPDU is a PDU to queue for some destinations.
type NewPDU struct {
	EventID string
	RoomID  string
	// StreamPos is the event's position in the local events stream, or 0
	// when the caller does not know it; it feeds LastSentStreamPos.
	StreamPos int64
	// JSON is the PDU exactly as it goes into a transaction's pdus array.
	JSON []byte
	// Destinations must already be deduplicated; duplicates are ignored.
	Destinations []string
}

// QueuedPDU is a PDU waiting for one destination.
type QueuedPDU struct {
	// ID orders a destination's queue and names the item in Acknowledge.
	ID        int64
	EventID   string
	RoomID    string
	StreamPos int64
	JSON      []byte
	QueuedTS  int64
}

// QueuedEDU is a durable EDU waiting for one destination.
type QueuedEDU struct {
	ID       int64
	Type     string
	Content  []byte
	QueuedTS int64
}

// Retry is a destination's retry schedule; the zero value means "healthy".
type Retry struct {
	// IntervalMS is the current backoff interval (before jitter).
	IntervalMS int64
	// AtMS is when the next attempt may start.
	AtMS int64
	// FailingSinceMS is when the current run of failures began.
	FailingSinceMS int64
}

// Destination is what the store knows about one destination.
type Destination struct {
	Name       string
	QueuedPDUs int
	QueuedEDUs int
	// LastSentStreamPos is the highest stream position among the PDUs the
	// destination has acknowledged (0 if none, or none with a position).
	LastSentStreamPos int64
	// LastSuccessMS is when the destination last acknowledged a
	// transaction (0 if never).
	LastSuccessMS int64
	Retry         Retry
}

// Delivery names the queue items one transaction carried.
type Delivery struct {
	Destination string
	PDUIDs      []int64
	EDUIDs      []int64
	// StreamPos is the highest stream position among the PDUs (0 if none
	// known).
	StreamPos int64
	NowMS     int64
}

// maxRowsPerInsert bounds the rows of one multi-row INSERT so that its
// parameters stay well under both backends' limits (SQLite 32766,
// PostgreSQL 65535).
const maxRowsPerInsert = 1000

// EnqueuePDUs queues each PDU for its destinations, all in one database
// transaction, and returns how many (PDU, destination) items were added.
// PDUs without destinations are skipped.
func (s *Store) EnqueuePDUs(ctx context.Context, pdus []NewPDU, nowMS int64) (int, error) {
	added := 0
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		added = 0
		for _, p := range pdus {
			if len(p.Destinations) == 0 {
				continue
			}
			var id int64
			if err := tx.QueryRowContext(ctx,
				`INSERT INTO fedqueue_pdus (event_id, room_id, stream_pos, pdu_json, queued_ts)
				 VALUES ($1, $2, $3, $4, $5) RETURNING pdu_id`,
				p.EventID, p.RoomID, p.StreamPos, p.JSON, nowMS).Scan(&id); err != nil {
				return fmt.Errorf("fedqueue: queue PDU %s: %w", p.EventID, err)
			}
			n, err := insertDestinations(ctx, tx, id, p.Destinations)
			if err != nil {
				return fmt.Errorf("fedqueue: queue PDU %s: %w", p.EventID, err)
			}
			added += n
		}
		return nil
	})
	return added, err
}

func insertDestinations(ctx context.Context, tx *sql.Tx, pduID int64, dests []string) (int, error) {
	added := 0
	for len(dests) > 0 {
		chunk := dests[:min(len(dests), maxRowsPerInsert)]
		dests = dests[len(chunk):]
		q := make([]byte, 0, 80+len(chunk)*12)
		q = append(q, "INSERT INTO fedqueue_pdu_destinations (destination, pdu_id) VALUES "...)
		args := make([]any, 0, len(chunk)+1)
		args = append(args, pduID)
		for i, d := range chunk {
			if i > 0 {
				q = append(q, ", "...)
			}
			q = fmt.Appendf(q, "($%d, $1)", i+2)
			args = append(args, d)
		}
		q = append(q, " ON CONFLICT DO NOTHING"...)
		res, err := tx.ExecContext(ctx, string(q), args...)
		if err != nil {
			return added, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return added, err
		}
		added += int(n)
	}
	return added, nil
}

// EnqueueEDU queues one durable EDU for each destination in one
// transaction.
func (s *Store) EnqueueEDU(ctx context.Context, eduType string, content []byte, destinations []string, nowMS int64) error {
	if len(destinations) == 0 {
		return nil
	}
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		for _, d := range destinations {
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO fedqueue_edus (destination, edu_type, content, queued_ts) VALUES ($1, $2, $3, $4)`,
				d, eduType, content, nowMS); err != nil {
				return fmt.Errorf("fedqueue: queue %s EDU for %s: %w", eduType, d, err)
			}
		}
		return nil
	})
}

// PeekPDUs returns up to limit PDUs queued for destination, oldest first,
// without removing them.
func (s *Store) PeekPDUs(ctx context.Context, destination string, limit int) ([]QueuedPDU, error) {
	rows, err := s.db.Read.QueryContext(ctx,
		`SELECT p.pdu_id, p.event_id, p.room_id, p.stream_pos, p.pdu_json, p.queued_ts
		 FROM fedqueue_pdu_destinations d JOIN fedqueue_pdus p ON p.pdu_id = d.pdu_id
		 WHERE d.destination = $1 ORDER BY d.pdu_id LIMIT $2`, destination, limit)
	if err != nil {
		return nil, fmt.Errorf("fedqueue: PDUs for %s: %w", destination, err)
	}
	defer rows.Close()
	var out []QueuedPDU
	for rows.Next() {
		var p QueuedPDU
		if err := rows.Scan(&p.ID, &p.EventID, &p.RoomID, &p.StreamPos, &p.JSON, &p.QueuedTS); err != nil {
			return nil, fmt.Errorf("fedqueue: PDUs for %s: %w", destination, err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// PeekEDUs returns up to limit durable EDUs queued for destination, oldest
// first, without removing them.
func (s *Store) PeekEDUs(ctx context.Context, destination string, limit int) ([]QueuedEDU, error) {
	rows, err := s.db.Read.QueryContext(ctx,
		`SELECT edu_id, edu_type, content, queued_ts FROM fedqueue_edus
		 WHERE destination = $1 ORDER BY edu_id LIMIT $2`, destination, limit)
	if err != nil {
		return nil, fmt.Errorf("fedqueue: EDUs for %s: %w", destination, err)
	}
	defer rows.Close()
	var out []QueuedEDU
	for rows.Next() {
		var e QueuedEDU
		if err := rows.Scan(&e.ID, &e.Type, &e.Content, &e.QueuedTS); err != nil {
			return nil, fmt.Errorf("fedqueue: EDUs for %s: %w", destination, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// CountPDUs returns how many PDUs are queued for destination, counting no
// further than limit (so that asking "more than N?" stays cheap however
// long the queue is).
func (s *Store) CountPDUs(ctx context.Context, destination string, limit int) (int, error) {
	var n int
	err := s.db.Read.QueryRowContext(ctx,
		`SELECT COUNT(*) FROM (SELECT 1 FROM fedqueue_pdu_destinations WHERE destination = $1 LIMIT $2) q`,
		destination, limit).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("fedqueue: count PDUs for %s: %w", destination, err)
	}
	return n, nil
}

// Acknowledge removes the items of a transaction the destination answered
// with 200 and records the success: the last sent stream position grows to
// d.StreamPos, the success time is d.NowMS and the retry schedule is
// cleared. It returns how many PDU items were removed (items already gone,
// e.g. collapsed meanwhile, are not counted).
func (s *Store) Acknowledge(ctx context.Context, d Delivery) (int, error) {
	removed := 0
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		var err error
		if removed, err = removeItems(ctx, tx, s.db.Dialect(), d); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.db.Expand(
			`INSERT INTO fedqueue_destinations (destination, last_sent_stream_pos, last_success_ts)
			 VALUES ($1, $2, $3)
			 ON CONFLICT (destination) DO UPDATE SET
			   last_sent_stream_pos = {{greatest}}(fedqueue_destinations.last_sent_stream_pos, excluded.last_sent_stream_pos),
			   last_success_ts = excluded.last_success_ts,
			   retry_interval_ms = 0, retry_at_ts = 0, failing_since_ts = 0`),
			d.Destination, d.StreamPos, d.NowMS)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("fedqueue: acknowledge for %s: %w", d.Destination, err)
	}
	return removed, nil
}

// Discard removes the items of a transaction without recording a success:
// for a transaction the destination refused in a way no retry can change.
// It returns how many PDU items were removed.
func (s *Store) Discard(ctx context.Context, d Delivery) (int, error) {
	removed := 0
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		var err error
		removed, err = removeItems(ctx, tx, s.db.Dialect(), d)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("fedqueue: discard for %s: %w", d.Destination, err)
	}
	return removed, nil
}

// removeItems deletes the destination's items named in d, and the PDU rows
// no destination needs any more.
func removeItems(ctx context.Context, tx *sql.Tx, dialect sqldb.Dialect, d Delivery) (int, error) {
	removed := 0
	for ids := d.PDUIDs; len(ids) > 0; {
		chunk := ids[:min(len(ids), maxRowsPerInsert)]
		ids = ids[len(chunk):]
		// Lock first: see gcPDUs.
		if err := lockPDUs(ctx, tx, dialect, chunk); err != nil {
			return 0, err
		}
		args := make([]any, 0, len(chunk)+1)
		args = append(args, d.Destination)
		for _, id := range chunk {
			args = append(args, id)
		}
		res, err := tx.ExecContext(ctx,
			`DELETE FROM fedqueue_pdu_destinations WHERE destination = $1 AND pdu_id IN (`+sqldb.Placeholders(2, len(chunk))+`)`,
			args...)
		if err != nil {
			return 0, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, err
		}
		removed += int(n)
		if err := deleteOrphans(ctx, tx, chunk); err != nil {
			return 0, err
		}
	}
	for ids := d.EDUIDs; len(ids) > 0; {
		chunk := ids[:min(len(ids), maxRowsPerInsert)]
		ids = ids[len(chunk):]
		args := make([]any, 0, len(chunk)+1)
		args = append(args, d.Destination)
		for _, id := range chunk {
			args = append(args, id)
		}
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM fedqueue_edus WHERE destination = $1 AND edu_id IN (`+sqldb.Placeholders(2, len(chunk))+`)`,
			args...); err != nil {
			return 0, err
		}
	}
	return removed, nil
}

// CollapseToLatestPerRoom drops the destination's PDU backlog except, in
// each room, the most recently queued PDU, and returns how many items it
// dropped. The sender uses it after a long outage: the remote receives our
// latest event in each room and fetches the gap itself with
// /get_missing_events (server-server-api "Backfilling and retrieving
// missing events"). Within a room the latest queued PDU descends from every
// earlier one, since the room engine builds each local event on the room's
// forward extremities, so nothing the remote needs becomes unreachable.
func (s *Store) CollapseToLatestPerRoom(ctx context.Context, destination string) (int, error) {
	var dropped int
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx,
			`DELETE FROM fedqueue_pdu_destinations
			 WHERE destination = $1 AND pdu_id NOT IN (
			   SELECT MAX(d.pdu_id) FROM fedqueue_pdu_destinations d
			   JOIN fedqueue_pdus p ON p.pdu_id = d.pdu_id
			   WHERE d.destination = $1 GROUP BY p.room_id)
			 RETURNING pdu_id`, destination)
		if err != nil {
			return err
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		dropped = len(ids)
		for len(ids) > 0 {
			chunk := ids[:min(len(ids), maxRowsPerInsert)]
			ids = ids[len(chunk):]
			if err := lockPDUs(ctx, tx, s.db.Dialect(), chunk); err != nil {
				return err
			}
			if err := deleteOrphans(ctx, tx, chunk); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("fedqueue: collapse backlog for %s: %w", destination, err)
	}
	return dropped, nil
}

// lockPDUs locks PDU rows before their orphan check. Two transactions
// removing the last two destinations of one PDU would otherwise each see
// the other's (uncommitted) row still there and both keep the PDU. With the
// lock, the later one runs its check after the earlier one committed, and
// on PostgreSQL's READ COMMITTED each statement sees what committed before
// it started. (SQLite's single writer serializes them already.) Rows are
// locked in ID order so that two such transactions cannot deadlock.
func lockPDUs(ctx context.Context, tx *sql.Tx, dialect sqldb.Dialect, ids []int64) error {
	if dialect != sqldb.Postgres || len(ids) == 0 {
		return nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := tx.QueryContext(ctx,
		`SELECT pdu_id FROM fedqueue_pdus WHERE pdu_id IN (`+sqldb.Placeholders(1, len(ids))+`) ORDER BY pdu_id FOR UPDATE`,
		args...)
	if err != nil {
		return err
	}
	for rows.Next() {
	}
	rows.Close()
	return rows.Err()
}

// deleteOrphans deletes those of the PDU rows ids that no destination
// refers to any more.
func deleteOrphans(ctx context.Context, tx *sql.Tx, ids []int64) error {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	_, err := tx.ExecContext(ctx,
		`DELETE FROM fedqueue_pdus WHERE pdu_id IN (`+sqldb.Placeholders(1, len(ids))+`)
		 AND NOT EXISTS (SELECT 1 FROM fedqueue_pdu_destinations d WHERE d.pdu_id = fedqueue_pdus.pdu_id)`,
		args...)
	return err
}

// SweepOrphans deletes every PDU row no destination refers to, as a
// safeguard at start-up, and returns how many it deleted.
func (s *Store) SweepOrphans(ctx context.Context) (int, error) {
	res, err := s.db.Write.ExecContext(ctx,
		`DELETE FROM fedqueue_pdus WHERE NOT EXISTS
		 (SELECT 1 FROM fedqueue_pdu_destinations d WHERE d.pdu_id = fedqueue_pdus.pdu_id)`)
	if err != nil {
		return 0, fmt.Errorf("fedqueue: sweep orphans: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// SetRetry records a destination's retry schedule.
func (s *Store) SetRetry(ctx context.Context, destination string, r Retry) error {
	_, err := s.db.Write.ExecContext(ctx,
		`INSERT INTO fedqueue_destinations (destination, retry_interval_ms, retry_at_ts, failing_since_ts)
		 VALUES ($1, $2, $3, $4)
		 ON CONFLICT (destination) DO UPDATE SET retry_interval_ms = excluded.retry_interval_ms,
		   retry_at_ts = excluded.retry_at_ts, failing_since_ts = excluded.failing_since_ts`,
		destination, r.IntervalMS, r.AtMS, r.FailingSinceMS)
	if err != nil {
		return fmt.Errorf("fedqueue: set retry for %s: %w", destination, err)
	}
	return nil
}

// pendingQuery lists destinations with queued items, their counts and
// their recorded state. SUM is cast because PostgreSQL sums BIGINT into
// NUMERIC.
const pendingQuery = `
SELECT q.destination, CAST(SUM(q.np) AS BIGINT), CAST(SUM(q.ne) AS BIGINT),
       COALESCE(MAX(s.last_sent_stream_pos), 0), COALESCE(MAX(s.last_success_ts), 0),
       COALESCE(MAX(s.retry_interval_ms), 0), COALESCE(MAX(s.retry_at_ts), 0),
       COALESCE(MAX(s.failing_since_ts), 0)
FROM (
	SELECT destination, COUNT(*) AS np, 0 AS ne FROM fedqueue_pdu_destinations %[1]s GROUP BY destination
	UNION ALL
	SELECT destination, 0 AS np, COUNT(*) AS ne FROM fedqueue_edus %[1]s GROUP BY destination
) q LEFT JOIN fedqueue_destinations s ON s.destination = q.destination
GROUP BY q.destination ORDER BY q.destination`

// Pending returns every destination that has queued PDUs or EDUs, with its
// recorded state, ordered by name: what the sender resumes at start-up.
func (s *Store) Pending(ctx context.Context) ([]Destination, error) {
	rows, err := s.db.Read.QueryContext(ctx, fmt.Sprintf(pendingQuery, ""))
	if err != nil {
		return nil, fmt.Errorf("fedqueue: pending destinations: %w", err)
	}
	defer rows.Close()
	var out []Destination
	for rows.Next() {
		d, err := scanDestination(rows)
		if err != nil {
			return nil, fmt.Errorf("fedqueue: pending destinations: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Destination returns what is recorded and queued for one destination; a
// destination never seen has the zero state.
func (s *Store) Destination(ctx context.Context, name string) (Destination, error) {
	row := s.db.Read.QueryRowContext(ctx, fmt.Sprintf(pendingQuery, "WHERE destination = $1"), name)
	d, err := scanDestination(row)
	if errors.Is(err, sql.ErrNoRows) {
		// Nothing queued: the state row alone, if any.
		d = Destination{Name: name}
		err = s.db.Read.QueryRowContext(ctx,
			`SELECT last_sent_stream_pos, last_success_ts, retry_interval_ms, retry_at_ts, failing_since_ts
			 FROM fedqueue_destinations WHERE destination = $1`, name).
			Scan(&d.LastSentStreamPos, &d.LastSuccessMS, &d.Retry.IntervalMS, &d.Retry.AtMS, &d.Retry.FailingSinceMS)
		if errors.Is(err, sql.ErrNoRows) {
			err = nil
		}
	}
	if err != nil {
		return Destination{}, fmt.Errorf("fedqueue: destination %s: %w", name, err)
	}
	return d, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanDestination(r scanner) (Destination, error) {
	var d Destination
	err := r.Scan(&d.Name, &d.QueuedPDUs, &d.QueuedEDUs, &d.LastSentStreamPos, &d.LastSuccessMS,
		&d.Retry.IntervalMS, &d.Retry.AtMS, &d.Retry.FailingSinceMS)
	return d, err
}

// NewEpoch records a sender start and returns a number no earlier start
// on this database received. Transaction IDs begin with it.
func (s *Store) NewEpoch(ctx context.Context, nowMS int64) (int64, error) {
	var epoch int64
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx,
			`INSERT INTO fedqueue_epochs (started_ts) VALUES ($1) RETURNING epoch`, nowMS).Scan(&epoch)
	})
	if err != nil {
		return 0, fmt.Errorf("fedqueue: new epoch: %w", err)
	}
	return epoch, nil
}
