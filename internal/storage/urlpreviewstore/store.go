// Package urlpreviewstore keeps URL previews (GET /media/preview_url) on
// SQLite or PostgreSQL with one set of queries, so that a URL posted in a
// busy room is fetched once an hour, not once per reader, and a preview
// asked for at a point in time (the `ts` parameter) can be answered from
// the version fetched nearest to it, as Synapse's
// local_media_repository_url_cache does.
package urlpreviewstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// Domain is the schema_versions domain of this package's tables; it is
// its own so that its versions never collide with the media store's.
const Domain = "urlpreview"

// migrations are append-only: never edit a released entry.
var migrations = []sqldb.Migration{
	{Version: 1, Name: "url preview cache", SQL: `
CREATE TABLE url_previews (
	url        TEXT   NOT NULL,
	fetched_ts BIGINT NOT NULL,
	expires_ts BIGINT NOT NULL,
	og         TEXT   NOT NULL,
	media_id   TEXT,
	PRIMARY KEY (url, fetched_ts)
);
CREATE INDEX url_previews_expires ON url_previews (expires_ts);
`},
}

// Preview is one fetched version of a URL's preview.
type Preview struct {
	URL string
	// FetchedTS and ExpiresTS are ms since the epoch.
	FetchedTS int64
	ExpiresTS int64
	// OG is the Open Graph object served to clients, as JSON.
	OG []byte
	// MediaID is the local media holding the preview's image, or "".
	MediaID string
}

// Store is the URL preview storage. It is safe for concurrent use.
type Store struct{ db *sqldb.DB }

// New migrates the urlpreview domain and returns the store.
func New(ctx context.Context, db *sqldb.DB) (*Store, error) {
	if err := sqldb.Migrate(ctx, db, Domain, migrations); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// Put records a fetched preview. A second fetch of one URL in the same
// millisecond replaces the first.
func (s *Store) Put(ctx context.Context, p Preview) error {
	_, err := s.db.Write.ExecContext(ctx, `INSERT INTO url_previews (url, fetched_ts, expires_ts, og, media_id)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (url, fetched_ts) DO UPDATE SET expires_ts = excluded.expires_ts, og = excluded.og, media_id = excluded.media_id`,
		p.URL, p.FetchedTS, p.ExpiresTS, string(p.OG), sql.NullString{String: p.MediaID, Valid: p.MediaID != ""})
	return err
}

// Get returns the version of url fetched last at or before ts, or else
// the first fetched after ts, or nil when url was never fetched
// (Synapse's get_url_cache). The caller decides whether it is still
// fresh.
func (s *Store) Get(ctx context.Context, url string, ts int64) (*Preview, error) {
	p, err := s.get(ctx, `SELECT fetched_ts, expires_ts, og, media_id FROM url_previews
		WHERE url = $1 AND fetched_ts <= $2 ORDER BY fetched_ts DESC LIMIT 1`, url, ts)
	if p != nil || err != nil {
		return p, err
	}
	return s.get(ctx, `SELECT fetched_ts, expires_ts, og, media_id FROM url_previews
		WHERE url = $1 AND fetched_ts > $2 ORDER BY fetched_ts ASC LIMIT 1`, url, ts)
}

func (s *Store) get(ctx context.Context, query, url string, ts int64) (*Preview, error) {
	p := Preview{URL: url}
	var og string
	var mediaID sql.NullString
	err := s.db.Read.QueryRowContext(ctx, query, url, ts).Scan(&p.FetchedTS, &p.ExpiresTS, &og, &mediaID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	p.OG, p.MediaID = []byte(og), mediaID.String
	return &p, nil
}

// DeleteExpired removes versions that expired before ts, at most limit of
// them, and returns the media IDs of their images so the caller may
// delete those too.
func (s *Store) DeleteExpired(ctx context.Context, ts int64, limit int) (mediaIDs []string, n int, err error) {
	err = s.db.WithTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT url, fetched_ts, media_id FROM url_previews
			WHERE expires_ts < $1 ORDER BY expires_ts LIMIT $2`, ts, limit)
		if err != nil {
			return err
		}
		type key struct {
			url string
			ts  int64
		}
		var keys []key
		for rows.Next() {
			var k key
			var m sql.NullString
			if err := rows.Scan(&k.url, &k.ts, &m); err != nil {
				rows.Close()
				return err
			}
			keys = append(keys, k)
			if m.Valid {
				mediaIDs = append(mediaIDs, m.String)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, `DELETE FROM url_previews WHERE url = $1 AND fetched_ts = $2`, k.url, k.ts); err != nil {
				return err
			}
		}
		n = len(keys)
		return nil
	})
	return mediaIDs, n, err
}
