// Package mediastore persists the content repository's metadata on SQLite
// or PostgreSQL with one set of queries: one row per media ID (ours, or
// another server's that we cache), naming its content by SHA-256 in the
// blob store. The content itself is not here (see internal/media/blob).
package mediastore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// Domain is the schema_versions domain of this package's tables.
const Domain = "media"

// migrations are append-only: never edit a released entry.
var migrations = []sqldb.Migration{
	{Version: 1, Name: "media: one row per media ID, local or cached remote", SQL: `
-- origin is the server name of the mxc:// URI. sha256 is '' while an ID
-- from /media/v1/create waits for its upload (uploaded_ts = 0), until
-- expires_ts. authenticated is set on media stored while the
-- unauthenticated endpoints were frozen (enable_authenticated_media):
-- only the authenticated endpoints serve it. last_access_ts drives
-- media_retention; it is refreshed at most hourly.
CREATE TABLE media (
	origin         TEXT    NOT NULL,
	media_id       TEXT    NOT NULL,
	user_id        TEXT    NOT NULL,
	content_type   TEXT    NOT NULL,
	upload_name    TEXT    NOT NULL,
	size           BIGINT  NOT NULL,
	sha256         TEXT    NOT NULL,
	created_ts     BIGINT  NOT NULL,
	uploaded_ts    BIGINT  NOT NULL,
	expires_ts     BIGINT  NOT NULL,
	last_access_ts BIGINT  NOT NULL,
	authenticated  BOOLEAN NOT NULL,
	quarantined_by TEXT    NOT NULL,
	PRIMARY KEY (origin, media_id)
);
CREATE INDEX media_sha256 ON media (sha256);
CREATE INDEX media_user ON media (user_id, created_ts);
CREATE INDEX media_last_access ON media (last_access_ts);
`},
	{Version: 2, Name: "media: where the background sweeps of the blob store stopped", SQL: `
-- One row per sweep (the orphaned blob sweep): the last key it handled,
-- so that a restart resumes the pass instead of starting it again.
CREATE TABLE media_sweeps (
	name   TEXT PRIMARY KEY,
	cursor TEXT NOT NULL
);
`},
	{Version: 3, Name: "media: URL preview images apart from users' media", SQL: `
-- url_cache is the URL whose preview stored this image ('' for every other
-- media): such media belongs to the preview cache, not to the user who
-- asked (user_id ''), and expires with it (Synapse's url_cache column).
ALTER TABLE media ADD COLUMN url_cache TEXT NOT NULL DEFAULT '';
CREATE INDEX media_url_cache ON media (created_ts) WHERE url_cache <> '';
`},
}

// Errors of the store; the media service gives them their Matrix meaning.
var (
	ErrNotFound       = errors.New("mediastore: no such media")
	ErrNotOwner       = errors.New("mediastore: media ID belongs to another user")
	ErrAlreadyStored  = errors.New("mediastore: media already uploaded")
	ErrTooManyPending = errors.New("mediastore: too many pending uploads")
)

// Media is one media ID.
type Media struct {
	Origin  string
	MediaID string
	// UserID is the uploader of local media ("" for remote media).
	UserID      string
	ContentType string
	UploadName  string
	Size        int64
	// SHA256 names the content in the blob store; "" while pending.
	SHA256 string
	// CreatedTS is when the ID was made (or the remote media cached), ms.
	CreatedTS int64
	// UploadedTS is when the content arrived; 0 while pending.
	UploadedTS int64
	// ExpiresTS is when a pending ID lapses (unused_expires_at); 0 once
	// uploaded.
	ExpiresTS    int64
	LastAccessTS int64
	// Authenticated media is only served on the authenticated endpoints.
	Authenticated bool
	// QuarantinedBy is the admin who quarantined the media; "" if none.
	QuarantinedBy string
	// URLCache is the URL whose preview stored this image; "" for media
	// that is not the URL preview cache's.
	URLCache string
}

// Pending reports whether the ID still waits for its content.
func (m *Media) Pending() bool { return m.UploadedTS == 0 }

// Store is the media metadata storage. It is safe for concurrent use.
type Store struct{ db *sqldb.DB }

// New migrates the media domain and returns the store.
func New(ctx context.Context, db *sqldb.DB) (*Store, error) {
	if err := sqldb.Migrate(ctx, db, Domain, migrations); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

const columns = `origin, media_id, user_id, content_type, upload_name, size, sha256,
	created_ts, uploaded_ts, expires_ts, last_access_ts, authenticated, quarantined_by, url_cache`

func args(m *Media) []any {
	return []any{m.Origin, m.MediaID, m.UserID, m.ContentType, m.UploadName, m.Size, m.SHA256,
		m.CreatedTS, m.UploadedTS, m.ExpiresTS, m.LastAccessTS, m.Authenticated, m.QuarantinedBy, m.URLCache}
}

func scan(row interface{ Scan(...any) error }) (*Media, error) {
	var m Media
	err := row.Scan(&m.Origin, &m.MediaID, &m.UserID, &m.ContentType, &m.UploadName, &m.Size, &m.SHA256,
		&m.CreatedTS, &m.UploadedTS, &m.ExpiresTS, &m.LastAccessTS, &m.Authenticated, &m.QuarantinedBy, &m.URLCache)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return &m, err
}

// Insert stores a new row (an upload with its content, or a pending ID)
// in tx. A row for the same ID already there is a unique violation.
func (s *Store) Insert(ctx context.Context, tx *sql.Tx, m *Media) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO media (`+columns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`, args(m)...)
	return err
}

// InsertCached stores, in tx, a cached copy of remote media unless the ID
// is held already (a concurrent fetch won), and returns the row that is
// stored.
func (s *Store) InsertCached(ctx context.Context, tx *sql.Tx, m *Media) (*Media, error) {
	if _, err := tx.ExecContext(ctx, `INSERT INTO media (`+columns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
		ON CONFLICT (origin, media_id) DO NOTHING`, args(m)...); err != nil {
		return nil, err
	}
	return scan(tx.QueryRowContext(ctx, `SELECT `+columns+` FROM media
		WHERE origin = $1 AND media_id = $2`, m.Origin, m.MediaID))
}

// CreatePending stores a pending ID for m.UserID unless the user already
// holds maxPending IDs that are neither uploaded nor expired at m.CreatedTS
// (ErrTooManyPending).
func (s *Store) CreatePending(ctx context.Context, m *Media, maxPending int) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM media
			WHERE user_id = $1 AND uploaded_ts = 0 AND expires_ts > $2`, m.UserID, m.CreatedTS).Scan(&n); err != nil {
			return err
		}
		if n >= maxPending {
			return ErrTooManyPending
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO media (`+columns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`, args(m)...)
		return err
	})
}

// Complete gives a pending ID its content: m names the ID and carries the
// content's fields (ContentType, UploadName, Size, SHA256, UploadedTS).
// It fails with ErrNotFound for an unknown ID or one that expired before
// m.UploadedTS, ErrNotOwner when m.UserID did not create it, and
// ErrAlreadyStored when it has content. It runs in tx.
func (s *Store) Complete(ctx context.Context, tx *sql.Tx, m *Media) error {
	cur, err := scan(tx.QueryRowContext(ctx, s.db.Expand(`SELECT `+columns+` FROM media
		WHERE origin = $1 AND media_id = $2 {{for_update}}`), m.Origin, m.MediaID))
	if err != nil {
		return err
	}
	switch {
	case !cur.Pending():
		return ErrAlreadyStored
	case cur.ExpiresTS <= m.UploadedTS:
		return ErrNotFound
	case cur.UserID != m.UserID:
		return ErrNotOwner
	}
	_, err = tx.ExecContext(ctx, `UPDATE media SET content_type = $3, upload_name = $4, size = $5,
		sha256 = $6, uploaded_ts = $7, expires_ts = 0, last_access_ts = $7
		WHERE origin = $1 AND media_id = $2`,
		m.Origin, m.MediaID, m.ContentType, m.UploadName, m.Size, m.SHA256, m.UploadedTS)
	return err
}

// Get returns a media ID's row; ErrNotFound if there is none.
func (s *Store) Get(ctx context.Context, origin, mediaID string) (*Media, error) {
	return scan(s.db.Read.QueryRowContext(ctx, `SELECT `+columns+` FROM media
		WHERE origin = $1 AND media_id = $2`, origin, mediaID))
}

// Touch records an access at now, unless one was recorded less than
// minGap ms before: retention needs the day, not the millisecond, and
// downloads should not each cost a write.
func (s *Store) Touch(ctx context.Context, origin, mediaID string, now, minGap int64) error {
	_, err := s.db.Write.ExecContext(ctx, `UPDATE media SET last_access_ts = $3
		WHERE origin = $1 AND media_id = $2 AND last_access_ts < $4`, origin, mediaID, now, now-minGap)
	return err
}

// DeleteExpiredPending removes pending IDs whose time ran out before now
// and returns how many.
func (s *Store) DeleteExpiredPending(ctx context.Context, now int64) (int64, error) {
	res, err := s.db.Write.ExecContext(ctx, `DELETE FROM media WHERE uploaded_ts = 0 AND expires_ts <= $1`, now)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Delete removes a media ID's row and returns the content it named ("" for
// a pending ID), which the caller releases (media.Keeper).
func (s *Store) Delete(ctx context.Context, origin, mediaID string) (sha string, err error) {
	err = s.db.Write.QueryRowContext(ctx, `DELETE FROM media WHERE origin = $1 AND media_id = $2 RETURNING sha256`,
		origin, mediaID).Scan(&sha)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return sha, err
}

// Filter selects media for listing and retention.
type Filter struct {
	// Remote selects other servers' media (origin <> Local); otherwise
	// Local's own.
	Remote bool
	Local  string
	// UserID, when set, selects one uploader's media.
	UserID string
	// AccessedBefore, when positive, selects media last accessed before it.
	AccessedBefore int64
	// SizeGT, when positive, selects media larger than it.
	SizeGT int64
	// URLCache selects the URL preview cache's images instead of other
	// media; CreatedBefore, when positive, those stored before it.
	URLCache      bool
	CreatedBefore int64
	// After, when set, continues a listing after this row.
	After *Media
	// Limit bounds the answer (at most 1000).
	Limit int
}

// where is f's condition and arguments.
func (f *Filter) where() (string, []any) {
	q := ` WHERE uploaded_ts > 0`
	var a []any
	add := func(cond string, vs ...any) {
		for i := range vs {
			a = append(a, vs[i])
			cond = strings.Replace(cond, "$?", fmt.Sprintf("$%d", len(a)), 1)
		}
		q += " AND " + cond
	}
	if f.Remote {
		add("origin <> $?", f.Local)
	} else {
		add("origin = $?", f.Local)
	}
	if f.URLCache {
		q += " AND url_cache <> ''"
	} else {
		q += " AND url_cache = ''"
	}
	if f.CreatedBefore > 0 {
		add("created_ts < $?", f.CreatedBefore)
	}
	if f.UserID != "" {
		add("user_id = $?", f.UserID)
	}
	if f.AccessedBefore > 0 {
		add("last_access_ts < $?", f.AccessedBefore)
	}
	if f.SizeGT > 0 {
		add("size > $?", f.SizeGT)
	}
	if f.After != nil {
		add("(last_access_ts > $? OR (last_access_ts = $? AND (origin > $? OR (origin = $? AND media_id > $?))))",
			f.After.LastAccessTS, f.After.LastAccessTS, f.After.Origin, f.After.Origin, f.After.MediaID)
	}
	return q, a
}

// List returns stored (not pending) media matching f, least recently
// accessed first.
func (s *Store) List(ctx context.Context, f Filter) ([]*Media, error) {
	where, a := f.where()
	a = append(a, min(max(f.Limit, 1), 1000))
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+columns+` FROM media`+where+
		fmt.Sprintf(" ORDER BY last_access_ts, origin, media_id LIMIT $%d", len(a)), a...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Media
	for rows.Next() {
		m, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Count returns how many stored media match f (its After and Limit aside).
func (s *Store) Count(ctx context.Context, f Filter) (int64, error) {
	f.After = nil
	where, a := f.where()
	var n int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM media`+where, a...).Scan(&n)
	return n, err
}
