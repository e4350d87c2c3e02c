// Package thumbnailstore records the thumbnails made of media (ours and
// other servers' cached media) on SQLite or PostgreSQL with one set of
// queries: which size, method and type, and which blob (by SHA-256) holds
// it. The content is in the media blob store, next to the originals.
package thumbnailstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// Domain is the schema_versions domain of this package's tables; its own,
// so its versions never collide with the media store's.
const Domain = "thumbnails"

// migrations are append-only: never edit a released entry.
var migrations = []sqldb.Migration{
	{Version: 1, Name: "thumbnails of media", SQL: `
CREATE TABLE thumbnails (
	origin       TEXT    NOT NULL,
	media_id     TEXT    NOT NULL,
	width        INTEGER NOT NULL,
	height       INTEGER NOT NULL,
	method       TEXT    NOT NULL,
	content_type TEXT    NOT NULL,
	sha256       TEXT    NOT NULL,
	size         BIGINT  NOT NULL,
	created_ts   BIGINT  NOT NULL,
	PRIMARY KEY (origin, media_id, width, height, method, content_type)
);
CREATE INDEX thumbnails_sha256 ON thumbnails (sha256);
`},
}

// Thumbnail is one stored thumbnail. Width and Height are the size asked
// for (the key), not necessarily the image's: a scaled thumbnail of a
// small image is smaller than its box.
type Thumbnail struct {
	Origin, MediaID string
	Width, Height   int
	Method          string
	ContentType     string
	SHA256          string
	Size            int64
	CreatedTS       int64
}

// Store is the thumbnail storage. It is safe for concurrent use.
type Store struct{ db *sqldb.DB }

// New migrates the thumbnails domain and returns the store.
func New(ctx context.Context, db *sqldb.DB) (*Store, error) {
	if err := sqldb.Migrate(ctx, db, Domain, migrations); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// Put records a thumbnail in tx (media.Keeper's, which commits its
// content); a second one of the same key (two requests that made it at
// once) replaces the first.
func (s *Store) Put(ctx context.Context, tx *sql.Tx, t Thumbnail) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO thumbnails
		(origin, media_id, width, height, method, content_type, sha256, size, created_ts)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (origin, media_id, width, height, method, content_type)
		DO UPDATE SET sha256 = excluded.sha256, size = excluded.size, created_ts = excluded.created_ts`,
		t.Origin, t.MediaID, t.Width, t.Height, t.Method, t.ContentType, t.SHA256, t.Size, t.CreatedTS)
	return err
}

// BlobInUse implements media.BlobUser: whether a thumbnail names sha.
func (s *Store) BlobInUse(ctx context.Context, tx *sql.Tx, sha string) (bool, error) {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM thumbnails WHERE sha256 = $1 LIMIT 1`, sha).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// Get returns the thumbnail of that key, or nil.
func (s *Store) Get(ctx context.Context, origin, mediaID string, width, height int, method, contentType string) (*Thumbnail, error) {
	t := Thumbnail{Origin: origin, MediaID: mediaID, Width: width, Height: height, Method: method, ContentType: contentType}
	err := s.db.Read.QueryRowContext(ctx, `SELECT sha256, size, created_ts FROM thumbnails
		WHERE origin = $1 AND media_id = $2 AND width = $3 AND height = $4 AND method = $5 AND content_type = $6`,
		origin, mediaID, width, height, method, contentType).Scan(&t.SHA256, &t.Size, &t.CreatedTS)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// DeleteMedia removes the thumbnails of one media item and returns the
// blobs no other thumbnail uses, for the caller to delete (unless media
// itself still uses them).
func (s *Store) DeleteMedia(ctx context.Context, origin, mediaID string) (unused []string, err error) {
	err = s.db.WithTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `DELETE FROM thumbnails WHERE origin = $1 AND media_id = $2 RETURNING sha256`, origin, mediaID)
		if err != nil {
			return err
		}
		var shas []string
		for rows.Next() {
			var sha string
			if err := rows.Scan(&sha); err != nil {
				rows.Close()
				return err
			}
			shas = append(shas, sha)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, sha := range shas {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM thumbnails WHERE sha256 = $1`, sha).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				unused = append(unused, sha)
			}
		}
		return nil
	})
	return unused, err
}
