// Package admintaskstore keeps the status of a server admin's long
// operations (room deletions, history purges) that Synapse's admin API
// starts in the background and reports on by ID. The status lives in the
// database, so any process of the server can answer for it and it outlives
// a restart. One set of queries serves SQLite and PostgreSQL.
package admintaskstore

import (
	"context"
	"encoding/json"

	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// Domain is the schema_versions domain of this package's tables.
const Domain = "admintasks"

// migrations are append-only: never edit a released entry.
var migrations = []sqldb.Migration{
	{Version: 1, Name: "admin tasks", SQL: `
CREATE TABLE admin_tasks (
	task_id    TEXT PRIMARY KEY,
	kind       TEXT NOT NULL,
	room_id    TEXT NOT NULL,
	status     TEXT NOT NULL,
	error      TEXT NOT NULL DEFAULT '',
	result     TEXT NOT NULL DEFAULT '{}',
	created_ts BIGINT NOT NULL,
	updated_ts BIGINT NOT NULL
);
CREATE INDEX admin_tasks_room ON admin_tasks (room_id, kind, created_ts);
`},
}

// Task is one operation and where it stands.
type Task struct {
	ID, Kind, RoomID string
	// Status is the operation's own vocabulary (Synapse's, e.g.
	// "shutting_down", "purging", "complete", "failed").
	Status string
	Error  string
	// Result is the operation's JSON answer so far.
	Result    json.RawMessage
	CreatedTS int64
	UpdatedTS int64
}

// Store is the admin task storage. Safe for concurrent use.
type Store struct{ db *sqldb.DB }

// New migrates the schema and returns the store.
func New(ctx context.Context, db *sqldb.DB) (*Store, error) {
	if err := sqldb.Migrate(ctx, db, Domain, migrations); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// Create records a new task.
func (s *Store) Create(ctx context.Context, t Task) error {
	_, err := s.db.Write.ExecContext(ctx, `INSERT INTO admin_tasks (task_id, kind, room_id, status, error, result, created_ts, updated_ts)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`, t.ID, t.Kind, t.RoomID, t.Status, t.Error, string(orEmpty(t.Result)), t.CreatedTS)
	return err
}

// Update sets a task's status, error and result.
func (s *Store) Update(ctx context.Context, id, status, errText string, result json.RawMessage, ts int64) error {
	_, err := s.db.Write.ExecContext(ctx, `UPDATE admin_tasks SET status = $1, error = $2, result = $3, updated_ts = $4 WHERE task_id = $5`,
		status, errText, string(orEmpty(result)), ts, id)
	return err
}

// Task returns one task; merr.ErrNotFound if there is none.
func (s *Store) Task(ctx context.Context, id string) (*Task, error) {
	ts, err := s.query(ctx, `WHERE task_id = $1`, id)
	if err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		return nil, merr.ErrNotFound
	}
	return &ts[0], nil
}

// ForRoom returns a room's tasks of one kind, oldest first.
func (s *Store) ForRoom(ctx context.Context, roomID, kind string) ([]Task, error) {
	return s.query(ctx, `WHERE room_id = $1 AND kind = $2 ORDER BY created_ts, task_id`, roomID, kind)
}

// Interrupt marks every task still in one of the running statuses as
// failed: run at start, when no task of a previous process can still be
// running (a single process; workers will need an owner per task).
func (s *Store) Interrupt(ctx context.Context, running []string, ts int64) error {
	for _, st := range running {
		if _, err := s.db.Write.ExecContext(ctx, `UPDATE admin_tasks SET status = 'failed', error = 'interrupted by a restart of the server', updated_ts = $1
			WHERE status = $2`, ts, st); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) query(ctx context.Context, where string, args ...any) ([]Task, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT task_id, kind, room_id, status, error, result, created_ts, updated_ts FROM admin_tasks `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Task
	for rows.Next() {
		var t Task
		var result string
		if err := rows.Scan(&t.ID, &t.Kind, &t.RoomID, &t.Status, &t.Error, &result, &t.CreatedTS, &t.UpdatedTS); err != nil {
			return nil, err
		}
		t.Result = json.RawMessage(result)
		out = append(out, t)
	}
	return out, rows.Err()
}

func orEmpty(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage(`{}`)
	}
	return b
}
