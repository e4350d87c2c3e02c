package mediastore

import (
	"context"
	"database/sql"
	"errors"
	"strconv"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// blobLockSpace is the first key of the PostgreSQL advisory locks of
// blobs (the two-key form), so they cannot meet other advisory locks.
const blobLockSpace = 0x6d656469 // "medi"

// BlobTx runs fn in a write transaction that holds the lock of content
// sha: every change to what names a blob (a new row naming it, the check
// that nothing does before deleting it) runs under it, so a deletion and a
// new row naming the same content are ordered, never interleaved. On
// PostgreSQL the lock is a transaction advisory lock on the hash's first
// 32 bits (two hashes sharing them only wait for each other); on SQLite
// the write transaction is the lock, across processes too. fn may run
// more than once (a transaction retried), so it must be repeatable.
func (s *Store) BlobTx(ctx context.Context, sha string, fn func(tx *sql.Tx) error) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		if s.db.Dialect() == sqldb.Postgres {
			key := int64(0)
			if len(sha) >= 8 {
				v, err := strconv.ParseUint(sha[:8], 16, 32)
				if err == nil {
					key = int64(int32(uint32(v)))
				}
			}
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, blobLockSpace, key); err != nil {
				return err
			}
		}
		return fn(tx)
	})
}

// SHA256InUseTx reports, in tx, whether any media row names content sha.
func (s *Store) SHA256InUseTx(ctx context.Context, tx *sql.Tx, sha string) (bool, error) {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM media WHERE sha256 = $1 LIMIT 1`, sha).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// SweepCursor returns where the sweep named name stopped ("" when it has
// not run or finished its last pass).
func (s *Store) SweepCursor(ctx context.Context, name string) (string, error) {
	var c string
	err := s.db.Read.QueryRowContext(ctx, `SELECT cursor FROM media_sweeps WHERE name = $1`, name).Scan(&c)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return c, err
}

// SetSweepCursor records where the sweep named name stopped.
func (s *Store) SetSweepCursor(ctx context.Context, name, cursor string) error {
	_, err := s.db.Write.ExecContext(ctx, `INSERT INTO media_sweeps (name, cursor) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor`, name, cursor)
	return err
}
