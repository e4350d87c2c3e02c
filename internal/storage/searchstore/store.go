// Package searchstore is the full-text index of room events behind
// POST /search (client-server-api "Server Side Search"): the searchable key
// of each event (content.body of m.room.message, content.name of
// m.room.name, content.topic of m.room.topic) with its room, sender and
// stream position, in SQLite FTS5 or PostgreSQL's full-text search.
//
// The index is written by roomstore's writer through the Indexer calls, in
// the transaction that stores an event or redacts it, so it holds exactly
// the stored, unredacted events. Encrypted events have no searchable key
// and are never indexed. Events stored before the index existed are added
// once, in the background, by Backfill.
package searchstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// Domain is the schema_versions domain of this package's tables.
const Domain = "search"

// migrations are append-only: never edit a released entry.
var migrations = []sqldb.Migration{{
	Version: 1,
	Name:    "search: full-text index of room events, and the backfill of older events",
	// search_backfill holds the progress of indexing the events stored
	// before this migration (see Store.Backfill): positions up to next_pos
	// are done. It starts at -2^62, below every stream position
	// (backfilled history has negative ones).
	SQL: `
CREATE TABLE search_backfill (
	done     BOOLEAN NOT NULL,
	next_pos BIGINT NOT NULL
);
INSERT INTO search_backfill (done, next_pos) VALUES (FALSE, -4611686018427387904);
`,
	Func: createSchema,
}, {
	Version: 2,
	Name:    "search: the text of each indexed event, for ranking",
	// Ranking reads the text of the newest matches (see rank.go): both
	// engines' own rank functions cost time in proportion to all the
	// matches of a word. Rows indexed without it are indexed again.
	SQL: `
ALTER TABLE search_events ADD COLUMN value TEXT NOT NULL DEFAULT '';
DELETE FROM search_events;
UPDATE search_backfill SET done = FALSE, next_pos = -4611686018427387904;
`,
	Func: emptyIndex,
}, {
	Version: 3,
	Name:    "search: PostgreSQL's text index without its pending list",
	Func:    noPendingList,
}}

// The searchable keys (search.yaml: keys).
const (
	KeyBody  = "content.body"
	KeyName  = "content.name"
	KeyTopic = "content.topic"
)

// KeyType maps each searchable key to the event type it is read from.
var KeyType = map[string]string{KeyBody: event.TypeMessage, KeyName: event.TypeName, KeyTopic: event.TypeTopic}

// Store is the search index. It is safe for concurrent use, and it is a
// roomstore.Indexer.
type Store struct {
	db *sqldb.DB
	en engine
}

// New migrates the search domain and returns the store.
func New(ctx context.Context, db *sqldb.DB) (*Store, error) {
	if err := sqldb.Migrate(ctx, db, Domain, migrations); err != nil {
		return nil, err
	}
	return &Store{db: db, en: engineFor(db.Dialect())}, nil
}

// row is one indexed event.
type row struct {
	pos                          int64
	eventID, roomID, sender, key string
	ts                           int64
	value                        string
}

// IndexEvent adds e's searchable text to the index, in the transaction
// that stores it (roomstore.Indexer). Events without any (other types,
// encrypted ones, empty text) are skipped, as are events without a
// stream position; indexing an event twice is a no-op.
func (s *Store) IndexEvent(ctx context.Context, tx *sql.Tx, e *event.Event, streamPos int64) error {
	r, ok := extract(e, streamPos)
	if !ok {
		return nil
	}
	return s.en.insert(ctx, tx, r)
}

// UnindexEvent removes eventID from the index: it was redacted, and the
// redaction removes the searchable keys (roomstore.Indexer).
func (s *Store) UnindexEvent(ctx context.Context, tx *sql.Tx, eventID string) error {
	return s.en.remove(ctx, tx, eventID)
}

// extract reads the searchable key of e (search.md, "room_events").
func extract(e *event.Event, pos int64) (row, bool) {
	if pos == 0 {
		return row{}, false
	}
	var c struct {
		Body  json.RawMessage `json:"body"`
		Name  json.RawMessage `json:"name"`
		Topic json.RawMessage `json:"topic"`
		// m.topic's text/plain representation is searched too
		// (search.md; event-schemas m.room.topic).
		MTopic json.RawMessage `json:"m.topic"`
	}
	var key, value string
	switch e.Type() {
	case event.TypeMessage:
		if json.Unmarshal(e.Content(), &c) != nil {
			return row{}, false
		}
		key, value = KeyBody, jsonString(c.Body)
	case event.TypeName, event.TypeTopic:
		if !e.StateKeyEquals("") || json.Unmarshal(e.Content(), &c) != nil {
			return row{}, false
		}
		if e.Type() == event.TypeName {
			key, value = KeyName, jsonString(c.Name)
		} else {
			key, value = KeyTopic, jsonString(c.Topic)
			if plain := plainTopic(c.MTopic); plain != "" && plain != value {
				value = strings.TrimSpace(value + "\n" + plain)
			}
		}
	default:
		return row{}, false
	}
	// PostgreSQL text cannot hold U+0000, which JSON strings can: the
	// event must still be stored, so the index drops it.
	value = strings.ReplaceAll(value, "\x00", " ")
	if strings.TrimSpace(value) == "" {
		return row{}, false
	}
	return row{pos: pos, eventID: e.EventID(), roomID: e.RoomID(), sender: e.Sender(), key: key,
		ts: e.OriginServerTS(), value: value}, true
}

// jsonString is raw as a string, or "" when it is not one.
func jsonString(raw json.RawMessage) string {
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// plainTopic is the body of the text/plain representation in m.topic
// (a missing mimetype means text/plain, as in m.text content blocks).
func plainTopic(raw json.RawMessage) string {
	var mt struct {
		Text []struct {
			Mimetype *string         `json:"mimetype"`
			Body     json.RawMessage `json:"body"`
		} `json:"m.text"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &mt) != nil {
		return ""
	}
	for _, t := range mt.Text {
		if t.Mimetype == nil || *t.Mimetype == "text/plain" {
			return jsonString(t.Body)
		}
	}
	return ""
}
