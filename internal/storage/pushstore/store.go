// Package pushstore persists what push rules decided about committed
// events (client-server-api "Push Notifications"): the notifications of
// each user with the room stream position of their event, the position up
// to which events have been evaluated (written in the same transaction as
// the notifications, so a crash neither loses nor repeats one), the users'
// pushers, and the queue of pushes not yet delivered to push gateways.
// One set of queries serves SQLite and PostgreSQL.
package pushstore

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// Domain is the schema_versions domain of this package's tables.
const Domain = "push"

// migrations are append-only: never edit a released entry.
var migrations = []sqldb.Migration{
	{Version: 1, Name: "push: evaluation cursor, notifications, pushers, push queue", SQL: `
-- One row: the room stream position up to which every event has been
-- evaluated for push.
CREATE TABLE push_cursor (
	id         INTEGER PRIMARY KEY,
	stream_pos BIGINT NOT NULL
);
INSERT INTO push_cursor (id, stream_pos) VALUES (1, 0);

-- An event that notifies a user. stream_pos is the event's room stream
-- position (one event per position). thread_id is the thread root's ID,
-- or 'main' for events not in a thread.
CREATE TABLE notifications (
	user_id    TEXT    NOT NULL,
	stream_pos BIGINT  NOT NULL,
	room_id    TEXT    NOT NULL,
	event_id   TEXT    NOT NULL,
	thread_id  TEXT    NOT NULL,
	highlight  BOOLEAN NOT NULL,
	actions    TEXT    NOT NULL,
	ts         BIGINT  NOT NULL,
	PRIMARY KEY (user_id, stream_pos)
);
CREATE INDEX notifications_user_room ON notifications (user_id, room_id, stream_pos);

-- A user's pushers (client-server-api "POST /pushers/set"); device_id is
-- the device whose access token created it, so logging the device out
-- removes it.
CREATE TABLE pushers (
	pusher_id           {{serial_pk}},
	user_id             TEXT   NOT NULL,
	device_id           TEXT   NOT NULL,
	kind                TEXT   NOT NULL,
	app_id              TEXT   NOT NULL,
	pushkey             TEXT   NOT NULL,
	app_display_name    TEXT   NOT NULL,
	device_display_name TEXT   NOT NULL,
	profile_tag         TEXT   NOT NULL,
	lang                TEXT   NOT NULL,
	data                TEXT   NOT NULL,
	created_ts          BIGINT NOT NULL,
	UNIQUE (app_id, pushkey, user_id)
);
CREATE INDEX pushers_user ON pushers (user_id);

-- Pushes not yet accepted by the pusher's gateway, delivered in job_id
-- order per pusher.
CREATE TABLE push_jobs (
	job_id     {{serial_pk}},
	pusher_id  BIGINT NOT NULL,
	user_id    TEXT   NOT NULL,
	room_id    TEXT   NOT NULL,
	event_id   TEXT   NOT NULL,
	stream_pos BIGINT NOT NULL,
	actions    TEXT   NOT NULL,
	attempts   INTEGER NOT NULL DEFAULT 0,
	next_try   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX push_jobs_pusher ON push_jobs (pusher_id, job_id);
`},
	{Version: 2, Name: "push: the evaluation starts at the stream's end on first start", SQL: `
-- -1 is "never started" (NotStarted): the first start places the cursor
-- at the end of the room stream, so that a server upgraded to a version
-- with push does not evaluate, and count as unread, its whole history.
UPDATE push_cursor SET stream_pos = -1 WHERE stream_pos = 0;
`},
	{Version: 3, Name: "push: notifications by age, for pruning the read ones", SQL: `
CREATE INDEX notifications_ts ON notifications (ts, user_id, stream_pos);
`},
}

// NotStarted is the cursor of a database whose events were never
// evaluated.
const NotStarted = -1

// Store is the push storage. It is safe for concurrent use.
type Store struct{ db *sqldb.DB }

// New migrates the push domain and returns the store.
func New(ctx context.Context, db *sqldb.DB) (*Store, error) {
	if err := sqldb.Migrate(ctx, db, Domain, migrations); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// Cursor returns the room stream position up to which events have been
// evaluated.
func (s *Store) Cursor(ctx context.Context) (int64, error) {
	var pos int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT stream_pos FROM push_cursor WHERE id = 1`).Scan(&pos)
	return pos, err
}

// Notification is one event that notifies one user.
type Notification struct {
	UserID    string
	RoomID    string
	EventID   string
	StreamPos int64
	ThreadID  string
	Highlight bool
	// Actions is the JSON array of the matching rule's actions.
	Actions string
	// TS is the event's origin_server_ts.
	TS int64
}

// Job is a push to deliver to one pusher.
type Job struct {
	ID        int64
	PusherID  int64
	UserID    string
	RoomID    string
	EventID   string
	StreamPos int64
	Actions   string
	Attempts  int
	NextTry   int64
}

// Commit writes the notifications and jobs of events evaluated up to
// cursor, and the cursor, in one transaction. Rows already stored (a
// batch committed again after an error, or events evaluated again after
// a crash) are kept as they are, and their jobs are not queued again.
func (s *Store) Commit(ctx context.Context, ns []Notification, jobs []Job, cursor int64) error {
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := WriteTx(ctx, tx, ns, jobs); err != nil {
		return err
	}
	// The cursor only moves forward, whoever commits.
	if _, err := tx.ExecContext(ctx, `UPDATE push_cursor SET stream_pos = $1 WHERE id = 1 AND stream_pos < $1`, cursor); err != nil {
		return err
	}
	return tx.Commit()
}

// WriteTx writes notifications and their jobs inside tx: the room
// writer's transaction, when an event is evaluated before it is stored
// (roomstore.TxWork), so that its notifications commit with it. A
// notification already stored (the same user and position) is kept as
// it is, and the jobs of such a notification are dropped: evaluating an
// event a second time (the notifier after a crash, behind the commits)
// neither counts it twice nor pushes it twice. Each job must belong to
// one of ns (same user and position).
func WriteTx(ctx context.Context, tx *sql.Tx, ns []Notification, jobs []Job) error {
	type key struct {
		user string
		pos  int64
	}
	added := make(map[key]bool, len(ns))
	// Many rows per statement: one message in a large room notifies
	// hundreds of members, and a statement per row costs more than the
	// evaluation.
	for len(ns) > 0 {
		chunk := ns[:min(len(ns), rowsPerInsert)]
		ns = ns[len(chunk):]
		args := make([]any, 0, len(chunk)*8)
		for _, n := range chunk {
			args = append(args, n.UserID, n.StreamPos, n.RoomID, n.EventID, n.ThreadID, n.Highlight, n.Actions, n.TS)
		}
		rows, err := tx.QueryContext(ctx, `INSERT INTO notifications
			(user_id, stream_pos, room_id, event_id, thread_id, highlight, actions, ts)
			VALUES `+valueRows(len(chunk), 8)+` ON CONFLICT (user_id, stream_pos) DO NOTHING
			RETURNING user_id, stream_pos`, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k key
			if err := rows.Scan(&k.user, &k.pos); err != nil {
				rows.Close()
				return err
			}
			added[k] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	kept := jobs[:0:0]
	for _, j := range jobs {
		if added[key{j.UserID, j.StreamPos}] {
			kept = append(kept, j)
		}
	}
	jobs = kept
	for len(jobs) > 0 {
		chunk := jobs[:min(len(jobs), rowsPerInsert)]
		jobs = jobs[len(chunk):]
		args := make([]any, 0, len(chunk)*6)
		for _, j := range chunk {
			args = append(args, j.PusherID, j.UserID, j.RoomID, j.EventID, j.StreamPos, j.Actions)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO push_jobs
			(pusher_id, user_id, room_id, event_id, stream_pos, actions) VALUES `+valueRows(len(chunk), 6), args...); err != nil {
			return err
		}
	}
	return nil
}

// rowsPerInsert bounds the rows of one INSERT (and its parameters, well
// below SQLite's 32 766).
const rowsPerInsert = 50

// valueRows is "($1, …, $cols), (…)" for rows rows of cols parameters.
func valueRows(rows, cols int) string {
	var b strings.Builder
	for r := 0; r < rows; r++ {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(" + sqldb.Placeholders(r*cols+1, cols) + ")")
	}
	return b.String()
}

// RoomsNotifiedBetween returns the rooms in which userID has notifications
// at stream positions in (from, to].
func (s *Store) RoomsNotifiedBetween(ctx context.Context, userID string, from, to int64) ([]string, error) {
	return column[string](ctx, s, `SELECT DISTINCT room_id FROM notifications
		WHERE user_id = $1 AND stream_pos > $2 AND stream_pos <= $3`, userID, from, to)
}

// column reads a query's single column.
func column[T any](ctx context.Context, s *Store, q string, args ...any) ([]T, error) {
	rows, err := s.db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Count is a number of notifications and how many of them highlight.
type Count struct {
	Notifications int
	Highlights    int
}

// Range selects one room's notifications of a user: those at stream
// positions in (After, UpTo]; when Thread is not "", only that thread's.
type Range struct {
	RoomID string
	Thread string
	After  int64
	UpTo   int64
}

// roomsPerQuery bounds the conditions of one count query.
const roomsPerQuery = 200

// CountByThread counts userID's notifications in each range, by thread:
// result[room][thread]. Ranges of one room must not overlap.
func (s *Store) CountByThread(ctx context.Context, userID string, ranges []Range) (map[string]map[string]Count, error) {
	out := map[string]map[string]Count{}
	for len(ranges) > 0 {
		chunk := ranges[:min(len(ranges), roomsPerQuery)]
		ranges = ranges[len(chunk):]
		args := []any{userID}
		// One builder, not +=: concatenating 200 conditions one by one
		// copied the growing query each time, ~1.4 MB per query and the
		// largest allocation of an initial sync of 5 000 rooms.
		var q strings.Builder
		q.WriteString(`SELECT room_id, thread_id, COUNT(*), SUM(CASE WHEN highlight THEN 1 ELSE 0 END)
			FROM notifications WHERE user_id = $1 AND (`)
		for i, r := range chunk {
			if i > 0 {
				q.WriteString(` OR `)
			}
			n := len(args)
			q.WriteString(`(room_id = $` + strconv.Itoa(n+1) + ` AND stream_pos > $` + strconv.Itoa(n+2) + ` AND stream_pos <= $` + strconv.Itoa(n+3))
			args = append(args, r.RoomID, r.After, r.UpTo)
			if r.Thread != "" {
				q.WriteString(` AND thread_id = $` + strconv.Itoa(n+4))
				args = append(args, r.Thread)
			}
			q.WriteString(`)`)
		}
		q.WriteString(`) GROUP BY room_id, thread_id`)
		rows, err := s.db.Read.QueryContext(ctx, q.String(), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var room, thread string
			var c Count
			if err := rows.Scan(&room, &thread, &c.Notifications, &c.Highlights); err != nil {
				rows.Close()
				return nil, err
			}
			if out[room] == nil {
				out[room] = map[string]Count{}
			}
			t := out[room][thread]
			t.Notifications += c.Notifications
			t.Highlights += c.Highlights
			out[room][thread] = t
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// List returns up to limit of userID's notifications at stream positions
// below before (newest first), only highlights when onlyHighlight.
func (s *Store) List(ctx context.Context, userID string, before int64, limit int, onlyHighlight bool) ([]Notification, error) {
	q := `SELECT ` + notificationCols + ` FROM notifications WHERE user_id = $1 AND stream_pos < $2`
	if onlyHighlight {
		q += ` AND highlight`
	}
	q += ` ORDER BY stream_pos DESC LIMIT $3`
	return s.notifications(ctx, q, userID, before, limit)
}

// notificationCols are the columns of a Notification, in Scan order.
const notificationCols = `user_id, room_id, event_id, stream_pos, thread_id, highlight, actions, ts`

// notifications reads the rows of a query that selects notificationCols.
func (s *Store) notifications(ctx context.Context, q string, args ...any) ([]Notification, error) {
	rows, err := s.db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Notification
	for rows.Next() {
		var n Notification
		if err := rows.Scan(&n.UserID, &n.RoomID, &n.EventID, &n.StreamPos, &n.ThreadID, &n.Highlight, &n.Actions, &n.TS); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// ErrNotFound is returned when a row asked for does not exist.
var ErrNotFound = errors.New("pushstore: not found")

// PurgeEvents removes the notifications of events a history purge
// removed, and the pushes still queued for them (admin.HistoryPurger).
func (s *Store) PurgeEvents(ctx context.Context, roomID string, eventIDs []string) error {
	// Neither table is indexed by event: one statement per chunk of IDs
	// scans each once per chunk rather than once per event.
	const chunk = 200
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		for len(eventIDs) > 0 {
			n := min(len(eventIDs), chunk)
			args := []any{roomID}
			var in strings.Builder
			for i, id := range eventIDs[:n] {
				if i > 0 {
					in.WriteByte(',')
				}
				args = append(args, id)
				in.WriteString("$" + strconv.Itoa(len(args)))
			}
			for _, table := range []string{"notifications", "push_jobs"} {
				if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE room_id = $1 AND event_id IN (`+in.String()+`)`, args...); err != nil {
					return err
				}
			}
			eventIDs = eventIDs[n:]
		}
		return nil
	})
}

// PurgeRoom removes a deleted room's notifications and the pushes still
// queued for it.
func (s *Store) PurgeRoom(ctx context.Context, roomID string) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{`DELETE FROM notifications WHERE room_id = $1`, `DELETE FROM push_jobs WHERE room_id = $1`} {
			if _, err := tx.ExecContext(ctx, q, roomID); err != nil {
				return err
			}
		}
		return nil
	})
}

// Key names one stored notification.
type Key struct {
	UserID    string
	StreamPos int64
}

// OlderThan returns up to limit notifications whose ts is below before,
// ordered by (ts, user, position) and starting after the one at (afterTS,
// after): a keyset over the ts index, so a walk over many batches reads
// each row once.
func (s *Store) OlderThan(ctx context.Context, before, afterTS int64, after Key, limit int) ([]Notification, error) {
	return s.notifications(ctx, `SELECT `+notificationCols+` FROM notifications WHERE ts < $1
		AND (ts > $2 OR (ts = $2 AND (user_id > $3 OR (user_id = $3 AND stream_pos > $4))))
		ORDER BY ts, user_id, stream_pos LIMIT $5`, before, afterTS, after.UserID, after.StreamPos, limit)
}

// Delete removes the notifications named, in one transaction.
func (s *Store) Delete(ctx context.Context, keys []Key) error {
	byUser := map[string][]any{}
	var users []string
	for _, k := range keys {
		if byUser[k.UserID] == nil {
			users = append(users, k.UserID)
		}
		byUser[k.UserID] = append(byUser[k.UserID], k.StreamPos)
	}
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		for _, u := range users {
			pos := byUser[u]
			for len(pos) > 0 {
				chunk := pos[:min(len(pos), rowsPerInsert)]
				pos = pos[len(chunk):]
				args := append([]any{u}, chunk...)
				if _, err := tx.ExecContext(ctx, `DELETE FROM notifications WHERE user_id = $1 AND stream_pos IN (`+
					sqldb.Placeholders(2, len(chunk))+`)`, args...); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
