package searchstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// engine is the one place where SQLite FTS5 and PostgreSQL full-text
// search differ: the schema of the text index, how a row enters and
// leaves it, and the few expressions a query is built from. Everything
// else (the metadata table, filters, ordering, pagination) is one query
// text for both.
type engine struct {
	// schema creates the index (migration 1).
	schema string
	// from joins the text index to search_events, aliased e.
	from string
	// match is the WHERE condition for the query text in $1.
	match string
	// pos is the event's stream position; on SQLite the FTS rowid, which
	// lets FTS5 walk its index in position order and stop at the limit.
	pos string
	// plainFrom and plainMatch are from and match without the fence that
	// makes the text index answer first: the planner may then walk the
	// rows in position order instead (see windowed). On SQLite they are
	// from and match.
	plainFrom, plainMatch string
	// windowed reads the newest matches in windows of rows (Store.windows)
	// instead of from the text index alone.
	windowed bool
	// readArgs go before the arguments of every search query.
	readArgs []any
	// texts(n) selects the strings of the JSON array parameter $n;
	// pairs(n) the [room, position] pairs of one as columns r and p.
	texts, pairs func(n int) string
	// render writes parsed terms in the engine's query syntax.
	render func(Terms) string
	// wholeWords makes unquoted words match whole rather than as
	// prefixes (see terms).
	wholeWords bool
	// insert adds one row; remove deletes one by event ID.
	insert func(ctx context.Context, tx *sql.Tx, r row) error
	remove func(ctx context.Context, tx *sql.Tx, eventID string) error
}

// terms is t as the engine matches it.
func (en engine) terms(t Terms) Terms {
	if en.wholeWords {
		return t.Whole()
	}
	return t
}

// tsConfig is PostgreSQL's text search configuration. Synapse uses
// "english" (stemming, stop words), and so do we, so that an operator
// moving from Synapse finds the same results.
const tsConfig = "english"

const tsQuery = "to_tsquery('" + tsConfig + "', $1)"

func engineFor(d sqldb.Dialect) engine {
	if d == sqldb.Postgres {
		return engine{
			schema: `
CREATE TABLE search_events (
	stream_pos       BIGINT PRIMARY KEY,
	event_id         TEXT NOT NULL UNIQUE,
	room_id          TEXT NOT NULL,
	sender           TEXT NOT NULL,
	key              TEXT NOT NULL,
	origin_server_ts BIGINT NOT NULL,
	vector           TSVECTOR NOT NULL
);
CREATE INDEX search_events_vector ON search_events USING GIN (vector);
`,
			// The matches are read on their own (OFFSET 0 keeps the planner
			// from merging the subquery into the outer query): merged, it
			// walks the whole table in stream order even for a rare word,
			// expecting the LIMIT to stop it early (measured: 0.7 s over
			// 100 000 messages).
			from:       `(SELECT * FROM search_events WHERE vector @@ ` + tsQuery + ` OFFSET 0) e`,
			match:      `TRUE`,
			pos:        `e.stream_pos`,
			plainFrom:  `search_events e`,
			plainMatch: `e.vector @@ ` + tsQuery,
			windowed:   true,
			// Each query is planned for its own words (an unnamed
			// statement, never a cached generic plan): how many rows a
			// word matches decides between walking rows and the text
			// index, and a generic plan, made once for any word, walked
			// the whole table for a rare one (measured: 450 ms per count
			// over 1 000 000 messages once pgx's statement cache reused
			// it, against 1 to 40 ms planned for the word).
			readArgs: []any{pgx.QueryExecModeExec},
			texts: func(n int) string {
				return `SELECT jsonb_array_elements_text(CAST($` + strconv.Itoa(n) + ` AS jsonb))`
			},
			pairs: func(n int) string {
				return `SELECT value->>0 AS r, CAST(value->>1 AS BIGINT) AS p FROM jsonb_array_elements(CAST($` + strconv.Itoa(n) + ` AS jsonb))`
			},
			render: Terms.RenderTSQuery,
			insert: func(ctx context.Context, tx *sql.Tx, r row) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO search_events
					(stream_pos, event_id, room_id, sender, key, origin_server_ts, value, vector)
					VALUES ($1, $2, $3, $4, $5, $6, $7, to_tsvector('`+tsConfig+`', $7)) ON CONFLICT DO NOTHING`,
					r.pos, r.eventID, r.roomID, r.sender, r.key, r.ts, r.value)
				return err
			},
			remove: func(ctx context.Context, tx *sql.Tx, eventID string) error {
				_, err := tx.ExecContext(ctx, `DELETE FROM search_events WHERE event_id = $1`, eventID)
				return err
			},
		}
	}
	return engine{
		// A contentless FTS5 table: the text lives in the events table
		// already, the index needs only its tokens. Its rowid is the
		// stream position (search_events' INTEGER PRIMARY KEY), so both
		// tables share a key and "most recent first" is FTS5's own
		// descending rowid order. unicode61 folds case and, with
		// remove_diacritics 2, accents: "cafe" finds "café".
		schema: `
CREATE TABLE search_events (
	stream_pos       INTEGER PRIMARY KEY,
	event_id         TEXT NOT NULL UNIQUE,
	room_id          TEXT NOT NULL,
	sender           TEXT NOT NULL,
	key              TEXT NOT NULL,
	origin_server_ts BIGINT NOT NULL
);
CREATE VIRTUAL TABLE search_fts USING fts5(value, content='', contentless_delete=1,
	tokenize='unicode61 remove_diacritics 2');
`,
		from:       `search_fts f JOIN search_events e ON e.stream_pos = f.rowid`,
		match:      `f.search_fts MATCH $1`,
		pos:        `f.rowid`,
		plainFrom:  `search_fts f JOIN search_events e ON e.stream_pos = f.rowid`,
		plainMatch: `f.search_fts MATCH $1`,
		texts: func(n int) string {
			return `SELECT value FROM json_each($` + strconv.Itoa(n) + `)`
		},
		pairs: func(n int) string {
			return `SELECT value->>0 AS r, value->>1 AS p FROM json_each($` + strconv.Itoa(n) + `)`
		},
		render: Terms.RenderFTS5,
		// Words match whole on SQLite: FTS5 answers a prefix query by
		// merging the lists of every word it begins into one, in memory,
		// before the first row (measured: 54 ms instead of 1.5 ms for the
		// newest ten of a word in 190 000 of a million messages).
		wholeWords: true,
		insert: func(ctx context.Context, tx *sql.Tx, r row) error {
			res, err := tx.ExecContext(ctx, `INSERT INTO search_events
				(stream_pos, event_id, room_id, sender, key, origin_server_ts, value)
				VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
				r.pos, r.eventID, r.roomID, r.sender, r.key, r.ts, r.value)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return nil // indexed already: the text is too
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO search_fts (rowid, value) VALUES ($1, $2)`, r.pos, r.value)
			return err
		},
		remove: func(ctx context.Context, tx *sql.Tx, eventID string) error {
			var pos int64
			err := tx.QueryRowContext(ctx, `DELETE FROM search_events WHERE event_id = $1 RETURNING stream_pos`, eventID).Scan(&pos)
			if err == sql.ErrNoRows {
				return nil
			}
			if err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `DELETE FROM search_fts WHERE rowid = $1`, pos)
			return err
		},
	}
}

// emptyIndex is migration 2's dialect-specific part: FTS5 rows of a
// contentless table go with its 'delete-all' command.
func emptyIndex(ctx context.Context, tx *sql.Tx, d sqldb.Dialect) error {
	if d != sqldb.SQLite {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO search_fts (search_fts) VALUES ('delete-all')`)
	return err
}

// noPendingList is migration 3: the GIN index of the vectors is written
// in each insert's transaction instead of through its pending list
// (fastupdate), and the list it holds is merged now. With the list, every
// search scans all of it, up to 4 MB of entries not yet sorted into the
// index (measured: 78 ms for a word of 39 matches in 1 000 000 messages,
// against under a millisecond without); an insert, which updates the index
// for each of the message's words, costs a little more instead.
func noPendingList(ctx context.Context, tx *sql.Tx, d sqldb.Dialect) error {
	if d != sqldb.Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `ALTER INDEX search_events_vector SET (fastupdate = off)`); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `SELECT gin_clean_pending_list('search_events_vector')`)
	return err
}

// createSchema is migration 1's dialect-specific part.
func createSchema(ctx context.Context, tx *sql.Tx, d sqldb.Dialect) error {
	if _, err := tx.ExecContext(ctx, engineFor(d).schema); err != nil {
		return fmt.Errorf("search index: %w", err)
	}
	return nil
}
