// Package reportstore persists users' reports of events, rooms and users
// (client-server-api "Reporting Content") for the server's admins. One set
// of queries serves SQLite and PostgreSQL.
package reportstore

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// Domain is the schema_versions domain of this package's tables.
const Domain = "reports"

// migrations are append-only: never edit a released entry.
var migrations = []sqldb.Migration{
	{Version: 1, Name: "reports: reports of events, rooms and users", SQL: `
-- kind is 'event', 'room' or 'user'; event_id is '' unless kind is
-- 'event', target_user_id '' unless kind is 'user', room_id '' for a
-- user report. score is Synapse's optional event report score.
CREATE TABLE reports (
	report_id      {{serial_pk}},
	kind           TEXT   NOT NULL,
	received_ts    BIGINT NOT NULL,
	reporter       TEXT   NOT NULL,
	room_id        TEXT   NOT NULL,
	event_id       TEXT   NOT NULL,
	target_user_id TEXT   NOT NULL,
	reason         TEXT,
	score          BIGINT
);
CREATE INDEX reports_kind ON reports (kind, report_id);
`},
}

// Kinds of report.
const (
	KindEvent = "event"
	KindRoom  = "room"
	KindUser  = "user"
)

// Report is one stored report.
type Report struct {
	ID           int64
	Kind         string
	ReceivedTS   int64
	Reporter     string
	RoomID       string
	EventID      string
	TargetUserID string
	Reason       *string
	Score        *int64
}

// Store is the reports storage. It is safe for concurrent use.
type Store struct{ db *sqldb.DB }

// New migrates the reports domain and returns the store.
func New(ctx context.Context, db *sqldb.DB) (*Store, error) {
	if err := sqldb.Migrate(ctx, db, Domain, migrations); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// Add stores a report and returns its ID.
func (s *Store) Add(ctx context.Context, r Report) (int64, error) {
	var id int64
	err := s.db.Write.QueryRowContext(ctx, `INSERT INTO reports
		(kind, received_ts, reporter, room_id, event_id, target_user_id, reason, score)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING report_id`,
		r.Kind, r.ReceivedTS, r.Reporter, r.RoomID, r.EventID, r.TargetUserID, r.Reason, r.Score).Scan(&id)
	return id, err
}

// Query selects a page of reports of one kind.
type Query struct {
	Kind string
	// RoomID and Reporter keep reports whose room ID or reporter contains
	// them (Synapse's room_id and user_id filters).
	RoomID, Reporter string
	// Forward lists oldest first; otherwise newest first.
	Forward       bool
	Offset, Limit int
}

const cols = `report_id, kind, received_ts, reporter, room_id, event_id, target_user_id, reason, score`

// List returns one page of the reports q selects and how many it selects
// in all.
func (s *Store) List(ctx context.Context, q Query) ([]Report, int64, error) {
	where := []string{"kind = $1"}
	args := []any{q.Kind}
	if q.RoomID != "" {
		args = append(args, "%"+sqldb.EscapeLike(q.RoomID)+"%")
		where = append(where, "room_id LIKE $2 ESCAPE '!'")
	}
	if q.Reporter != "" {
		args = append(args, "%"+sqldb.EscapeLike(q.Reporter)+"%")
		where = append(where, "reporter LIKE $"+strconv.Itoa(len(args))+" ESCAPE '!'")
	}
	cond := strings.Join(where, " AND ")
	var total int64
	if err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM reports WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	order := "DESC"
	if q.Forward {
		order = "ASC"
	}
	args = append(args, q.Limit, q.Offset)
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+cols+` FROM reports WHERE `+cond+
		` ORDER BY report_id `+order+` LIMIT $`+strconv.Itoa(len(args)-1)+` OFFSET $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []Report
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, r)
	}
	return out, total, rows.Err()
}

// ErrNotFound is returned for a report that does not exist.
var ErrNotFound = errors.New("report not found")

// Get returns one report of a kind.
func (s *Store) Get(ctx context.Context, kind string, id int64) (Report, error) {
	r, err := scan(s.db.Read.QueryRowContext(ctx, `SELECT `+cols+` FROM reports WHERE report_id = $1 AND kind = $2`, id, kind))
	if errors.Is(err, sql.ErrNoRows) {
		return Report{}, ErrNotFound
	}
	return r, err
}

// Delete removes one report of a kind.
func (s *Store) Delete(ctx context.Context, kind string, id int64) error {
	res, err := s.db.Write.ExecContext(ctx, `DELETE FROM reports WHERE report_id = $1 AND kind = $2`, id, kind)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err == nil {
			err = ErrNotFound
		}
		return err
	}
	return nil
}

func scan(row interface{ Scan(...any) error }) (Report, error) {
	var r Report
	var reason sql.NullString
	var score sql.NullInt64
	if err := row.Scan(&r.ID, &r.Kind, &r.ReceivedTS, &r.Reporter, &r.RoomID, &r.EventID, &r.TargetUserID, &reason, &score); err != nil {
		return Report{}, err
	}
	if reason.Valid {
		r.Reason = &reason.String
	}
	if score.Valid {
		r.Score = &score.Int64
	}
	return r, nil
}
