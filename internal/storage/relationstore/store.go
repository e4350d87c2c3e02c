// Package relationstore indexes the relationships between room events
// (client-server-api "Forming relationships between events") on SQLite or
// PostgreSQL with one set of queries: one row per relating event, written
// by the room store's writer in the transaction that stores the event
// (roomstore.Indexer) and removed in the one that redacts it, plus one row
// per thread giving its latest reply, which orders GET /threads.
package relationstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// Domain is the schema_versions domain of this package's tables.
const Domain = "relations"

// migrations are append-only: never edit a released entry.
var migrations = []sqldb.Migration{
	{Version: 1, Name: "relations: one row per relating event, one per thread", SQL: `
-- One row per event whose content.m.relates_to names a parent. The columns
-- after stream_pos are what the m.replace validity rules compare with the
-- original (client-server-api "Validity of replacement events"), which may
-- arrive after the edit, so validity is judged when aggregating.
CREATE TABLE event_relations (
	event_id        TEXT    NOT NULL PRIMARY KEY,
	room_id         TEXT    NOT NULL,
	relates_to_id   TEXT    NOT NULL,
	rel_type        TEXT    NOT NULL,
	event_type      TEXT    NOT NULL,
	sender          TEXT    NOT NULL,
	stream_pos      BIGINT  NOT NULL,
	origin_ts       BIGINT  NOT NULL,
	is_state        BOOLEAN NOT NULL,
	has_new_content BOOLEAN NOT NULL,
	agg_key         TEXT    NOT NULL
);
CREATE INDEX event_relations_parent ON event_relations (relates_to_id, rel_type, stream_pos);
CREATE INDEX event_relations_parent_pos ON event_relations (relates_to_id, stream_pos);
CREATE INDEX event_relations_parent_sender ON event_relations (relates_to_id, sender);

-- One row per thread root with at least one reply: the latest reply (by
-- stream position) orders GET /threads by activity. root_sender is the
-- root's sender when it was known as the first reply was indexed ('' if
-- not), for include=participated.
-- Keyed by room too: an event in another room naming this root forms no
-- relation with it, and must not move its thread.
CREATE TABLE threads (
	room_id         TEXT   NOT NULL,
	root_id         TEXT   NOT NULL,
	root_sender     TEXT   NOT NULL,
	latest_event_id TEXT   NOT NULL,
	latest_pos      BIGINT NOT NULL,
	PRIMARY KEY (room_id, root_id)
);
CREATE INDEX threads_room_latest ON threads (room_id, latest_pos);

-- The index of events stored before this domain existed is filled in the
-- background (Backfill): stream positions in (next_pos, upto_pos] are still
-- to be read. planned is false until the first start sets the range.
CREATE TABLE relations_backfill (
	id       BOOLEAN NOT NULL PRIMARY KEY,
	planned  BOOLEAN NOT NULL,
	next_pos BIGINT  NOT NULL,
	upto_pos BIGINT  NOT NULL
);
INSERT INTO relations_backfill (id, planned, next_pos, upto_pos) VALUES (TRUE, FALSE, 0, 0);
`},
	{Version: 2, Name: "relations: thread summaries read from the index alone", SQL: `
-- A thread's count, latest reply and the reader's participation are read
-- for every thread root served; with the sender in the index they come
-- from it alone, without a table row per reply (the benchmark's
-- 10 000-reply thread: 96 ms to a few on SQLite).
CREATE INDEX event_relations_parent_cover ON event_relations (relates_to_id, rel_type, stream_pos, sender);
DROP INDEX event_relations_parent;
`},
	{Version: 3, Name: "relations: thread summaries kept as replies come and go", SQL: `
-- A thread's summary (count, latest reply, who replied) is kept as its
-- replies are indexed and unindexed, so serving it costs a few rows
-- whatever the thread's size: threads gets the reply count, and
-- thread_senders one row per (thread, sender), whose counts and latest
-- replies serve readers who ignore some senders and
-- current_user_participated. Threads indexed before this migration are
-- not summarized until the background summary backfill has counted them
-- (summarized); until then they are read from event_relations as before.
ALTER TABLE threads ADD COLUMN reply_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE threads ADD COLUMN summarized BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX threads_root ON threads (root_id);
CREATE INDEX threads_unsummarized ON threads (summarized, room_id, root_id);
CREATE TABLE thread_senders (
	root_id         TEXT   NOT NULL,
	room_id         TEXT   NOT NULL,
	sender          TEXT   NOT NULL,
	reply_count     BIGINT NOT NULL,
	latest_event_id TEXT   NOT NULL,
	latest_pos      BIGINT NOT NULL,
	PRIMARY KEY (root_id, room_id, sender)
);
-- A sender's latest reply in a thread, found again when it is redacted.
CREATE INDEX event_relations_parent_sender_pos ON event_relations (relates_to_id, sender, stream_pos);
DROP INDEX event_relations_parent_sender;
`},
	{Version: 4, Name: "relations: each relating event's ancestors up to the recursion depth", SQL: `
-- GET /relations?recurse=true pages the events relating to a parent
-- through up to MaxDepth relationships. Walking the children of every
-- child cost a probe per child (seconds on PostgreSQL for a 10 000-reply
-- thread, where the recursive query's estimate also set off JIT
-- compilation); this table lists each relating event under each of its
-- ancestors up to MaxDepth relationships away, so a page is an index
-- range read. An event relates to one parent, so the relationships form
-- a forest and each (event, ancestor) pair has one path. room_id is the
-- event's: every event on the path shares it (a relation across rooms is
-- none).
CREATE TABLE event_ancestors (
	ancestor_id TEXT   NOT NULL,
	event_id    TEXT   NOT NULL,
	room_id     TEXT   NOT NULL,
	depth       BIGINT NOT NULL,
	stream_pos  BIGINT NOT NULL,
	PRIMARY KEY (ancestor_id, event_id)
);
CREATE INDEX event_ancestors_page ON event_ancestors (ancestor_id, stream_pos);
CREATE INDEX event_ancestors_event ON event_ancestors (event_id);
` + ancestorsOfIndexed},
}

// ancestorsOfIndexed fills event_ancestors from the relations indexed
// before it existed, level by level (the writer keeps it from then on).
const ancestorsOfIndexed = `
-- The relations indexed so far, level by level.
INSERT INTO event_ancestors (ancestor_id, event_id, room_id, depth, stream_pos)
	SELECT relates_to_id, event_id, room_id, 1, stream_pos FROM event_relations;
INSERT INTO event_ancestors (ancestor_id, event_id, room_id, depth, stream_pos)
	SELECT a.ancestor_id, c.event_id, c.room_id, 2, c.stream_pos FROM event_relations c
	JOIN event_ancestors a ON a.event_id = c.relates_to_id AND a.depth = 1 AND a.room_id = c.room_id
	ON CONFLICT DO NOTHING;
INSERT INTO event_ancestors (ancestor_id, event_id, room_id, depth, stream_pos)
	SELECT a.ancestor_id, c.event_id, c.room_id, 3, c.stream_pos FROM event_relations c
	JOIN event_ancestors a ON a.event_id = c.relates_to_id AND a.depth = 2 AND a.room_id = c.room_id
	ON CONFLICT DO NOTHING;
`

// MaxDepth is how many relationships away event_ancestors follows: what
// GET /relations?recurse=true traverses (relations.yaml: servers "SHOULD
// traverse at least 3 levels"; Synapse traverses 3).
const MaxDepth = 3

// Relation is one relating event's row.
type Relation struct {
	EventID     string
	RoomID      string
	RelatesToID string
	RelType     string
	EventType   string
	Sender      string
	StreamPos   int64
	OriginTS    int64
	// IsState reports whether the relating event is a state event (which
	// no m.replace may be).
	IsState bool
	// HasNewContent reports whether the content has m.new_content.
	HasNewContent bool
	// Key is an m.annotation's key.
	Key string
}

// Thread is a thread root with at least one reply.
type Thread struct {
	RootID        string
	RoomID        string
	LatestEventID string
	LatestPos     int64
}

// SenderLookup returns the sender of an event already stored, or "" when
// it is unknown, reading through the indexing transaction; the store uses
// it for a thread root's sender.
type SenderLookup func(ctx context.Context, tx *sql.Tx, eventID string) (string, error)

// Store is the relations storage. It is safe for concurrent use.
type Store struct {
	db         *sqldb.DB
	rootSender SenderLookup
}

// New migrates the relations domain and returns the store. rootSender
// may be nil (thread roots' senders are then unknown to the index).
func New(ctx context.Context, db *sqldb.DB, rootSender SenderLookup) (*Store, error) {
	if err := sqldb.Migrate(ctx, db, Domain, migrations); err != nil {
		return nil, err
	}
	return &Store{db: db, rootSender: rootSender}, nil
}

// IndexEvent writes e's relation row, if it has a relationship, in the
// writer's transaction (roomstore.Indexer). Writing it again is harmless.
func (s *Store) IndexEvent(ctx context.Context, tx *sql.Tx, e *event.Event, streamPos int64) error {
	return s.index(ctx, tx, e, streamPos)
}

func (s *Store) index(ctx context.Context, q *sql.Tx, e *event.Event, streamPos int64) error {
	rel, ok := event.RelationOf(e)
	if !ok {
		return nil
	}
	// A relation across rooms is no relation (client-server-api
	// "Relationships between events": parent and child share a room); the
	// parent's room is checked where the parent is read, as it may be
	// unknown yet.
	res, err := q.ExecContext(ctx, `INSERT INTO event_relations
		(event_id, room_id, relates_to_id, rel_type, event_type, sender, stream_pos, origin_ts, is_state, has_new_content, agg_key)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (event_id) DO NOTHING`,
		e.EventID(), e.RoomID(), rel.EventID, rel.RelType, e.Type(), e.Sender(), streamPos, e.OriginServerTS(),
		e.IsState(), rel.HasNewContent, rel.Key)
	if err != nil {
		return err
	}
	// Indexed once: an event indexed again (the backfill may meet one the
	// writer indexed) changes nothing.
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err
	}
	if err := addAncestors(ctx, q, e.EventID(), rel.EventID, e.RoomID(), streamPos); err != nil {
		return err
	}
	if rel.RelType != event.RelThread {
		return nil
	}
	rootSender := ""
	if s.rootSender != nil {
		if rootSender, err = s.rootSender(ctx, q, rel.EventID); err != nil {
			return err
		}
	}
	// The threads row first: it is what a summary backfill of this thread
	// locks too (see summarizeThread), so the two never interleave.
	if _, err := q.ExecContext(ctx, `INSERT INTO threads (root_id, room_id, root_sender, latest_event_id, latest_pos, reply_count, summarized)
		VALUES ($1, $2, $3, $4, $5, 1, TRUE)
		ON CONFLICT (room_id, root_id) DO UPDATE SET reply_count = threads.reply_count + 1,`+laterReply("threads"),
		rel.EventID, e.RoomID(), rootSender, e.EventID(), streamPos); err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, `INSERT INTO thread_senders (root_id, room_id, sender, reply_count, latest_event_id, latest_pos)
		VALUES ($1, $2, $3, 1, $4, $5)
		ON CONFLICT (root_id, room_id, sender) DO UPDATE SET reply_count = thread_senders.reply_count + 1,`+laterReply("thread_senders"),
		rel.EventID, e.RoomID(), e.Sender(), e.EventID(), streamPos)
	return err
}

// laterReply is the SET clause of an upsert that keeps table's latest
// reply: the new one (excluded) if it is later in the stream.
func laterReply(table string) string {
	later := table + `.latest_pos < excluded.latest_pos`
	return ` latest_event_id = CASE WHEN ` + later + ` THEN excluded.latest_event_id ELSE ` + table + `.latest_event_id END,
		latest_pos = CASE WHEN ` + later + ` THEN excluded.latest_pos ELSE ` + table + `.latest_pos END`
}

// UnindexEvent forgets eventID's relation: its redaction strips
// m.relates_to in every room version, which breaks the relationship
// (client-server-api "Aggregations of child events"). A thread left
// without replies leaves the thread list; otherwise its latest reply is
// read again.
func (s *Store) UnindexEvent(ctx context.Context, tx *sql.Tx, eventID string) error {
	var parent, relType, roomID, sender string
	err := tx.QueryRowContext(ctx, `SELECT relates_to_id, rel_type, room_id, sender FROM event_relations WHERE event_id = $1`, eventID).
		Scan(&parent, &relType, &roomID, &sender)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM event_relations WHERE event_id = $1`, eventID); err != nil {
		return err
	}
	if err := removeAncestors(ctx, tx, eventID); err != nil {
		return err
	}
	if relType != event.RelThread {
		return nil
	}
	// The thread's row, then the sender's, in the order index takes them.
	if _, err := tx.ExecContext(ctx, `UPDATE threads SET reply_count = reply_count - 1 WHERE room_id = $1 AND root_id = $2`,
		roomID, parent); err != nil {
		return err
	}
	latest, pos, err := latestReply(ctx, tx, roomID, parent, "")
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := tx.ExecContext(ctx, `DELETE FROM threads WHERE room_id = $1 AND root_id = $2`, roomID, parent); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM thread_senders WHERE root_id = $1 AND room_id = $2`, parent, roomID)
		return err
	}
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE threads SET latest_event_id = $3, latest_pos = $4 WHERE room_id = $1 AND root_id = $2`,
		roomID, parent, latest, pos); err != nil {
		return err
	}
	latest, pos, err = latestReply(ctx, tx, roomID, parent, sender)
	if errors.Is(err, sql.ErrNoRows) {
		_, err = tx.ExecContext(ctx, `DELETE FROM thread_senders WHERE root_id = $1 AND room_id = $2 AND sender = $3`, parent, roomID, sender)
		return err
	}
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE thread_senders SET reply_count = reply_count - 1, latest_event_id = $4, latest_pos = $5
		WHERE root_id = $1 AND room_id = $2 AND sender = $3`, parent, roomID, sender, latest, pos)
	return err
}

// latestReply returns a thread's latest reply still indexed, from sender
// if not "", or sql.ErrNoRows if there is none; an index range read.
func latestReply(ctx context.Context, tx *sql.Tx, roomID, rootID, sender string) (string, int64, error) {
	var id string
	var pos int64
	var err error
	if sender == "" {
		err = tx.QueryRowContext(ctx, `SELECT event_id, stream_pos FROM event_relations
			WHERE relates_to_id = $1 AND rel_type = $2 AND room_id = $3 ORDER BY stream_pos DESC LIMIT 1`,
			rootID, event.RelThread, roomID).Scan(&id, &pos)
	} else {
		err = tx.QueryRowContext(ctx, `SELECT event_id, stream_pos FROM event_relations
			WHERE relates_to_id = $1 AND sender = $2 AND rel_type = $3 AND room_id = $4 ORDER BY stream_pos DESC LIMIT 1`,
			rootID, sender, event.RelThread, roomID).Scan(&id, &pos)
	}
	return id, pos, err
}

// addAncestors lists eventID (in roomID, relating to parentID) under its
// ancestors up to MaxDepth away: its parent, and the parent's ancestors
// in the same room. Events that relate to eventID and were indexed
// before it (a child may arrive first over federation) are listed under
// those ancestors too, as their paths now reach them.
func addAncestors(ctx context.Context, tx *sql.Tx, eventID, parentID, roomID string, pos int64) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO event_ancestors (ancestor_id, event_id, room_id, depth, stream_pos)
		VALUES ($1, $2, $3, 1, $4) ON CONFLICT DO NOTHING`, parentID, eventID, roomID, pos); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO event_ancestors (ancestor_id, event_id, room_id, depth, stream_pos)
		SELECT ancestor_id, $1, room_id, depth + 1, $2 FROM event_ancestors
		WHERE event_id = $3 AND room_id = $4 AND depth < $5
		ON CONFLICT DO NOTHING`, eventID, pos, parentID, roomID, MaxDepth); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO event_ancestors (ancestor_id, event_id, room_id, depth, stream_pos)
		SELECT a.ancestor_id, d.event_id, d.room_id, d.depth + a.depth, d.stream_pos
		FROM event_ancestors d JOIN event_ancestors a ON a.event_id = d.ancestor_id AND a.room_id = d.room_id
		WHERE d.ancestor_id = $1 AND d.depth + a.depth <= $2
		ON CONFLICT DO NOTHING`, eventID, MaxDepth)
	return err
}

// removeAncestors forgets eventID's relationship in event_ancestors: the
// pairs whose path went through it to its parent, that is eventID and
// the events under it, each paired with the ancestors above it.
func removeAncestors(ctx context.Context, tx *sql.Tx, eventID string) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM event_ancestors
		WHERE ancestor_id IN (SELECT ancestor_id FROM event_ancestors WHERE event_id = $1)
		AND (event_id = $1 OR event_id IN (SELECT event_id FROM event_ancestors WHERE ancestor_id = $1))`, eventID)
	return err
}
