package mediastore

import (
	"context"
	"database/sql"
)

// SetQuarantine quarantines a media ID on behalf of admin ("" lifts the
// quarantine); ErrNotFound if there is no such ID.
func (s *Store) SetQuarantine(ctx context.Context, origin, mediaID, admin string) error {
	res, err := s.db.Write.ExecContext(ctx, `UPDATE media SET quarantined_by = $3
		WHERE origin = $1 AND media_id = $2`, origin, mediaID, admin)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}

// QuarantineUser quarantines every media ID userID uploaded that is not
// quarantined yet, and returns how many.
func (s *Store) QuarantineUser(ctx context.Context, userID, admin string) (int64, error) {
	res, err := s.db.Write.ExecContext(ctx, `UPDATE media SET quarantined_by = $2
		WHERE user_id = $1 AND quarantined_by = ''`, userID, admin)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// UserMedia returns a page of userID's media, newest first, from offset
// from, and how many they have in all.
func (s *Store) UserMedia(ctx context.Context, userID string, from, limit int) ([]*Media, int64, error) {
	var total int64
	if err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM media WHERE user_id = $1`, userID).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+columns+` FROM media WHERE user_id = $1
		ORDER BY created_ts DESC, media_id LIMIT $2 OFFSET $3`, userID, min(max(limit, 1), 1000), max(from, 0))
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []*Media
	for rows.Next() {
		m, err := scan(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, m)
	}
	return out, total, rows.Err()
}

// UploaderUsage is how much media one local user uploaded.
type UploaderUsage struct {
	UserID string
	Count  int64
	Length int64
}

// UsageByUploader sums the media local (the server's name) users uploaded
// that was created in [fromTS, untilTS] (milliseconds), one row per
// uploader, by user ID. Uploads still pending have no size yet and are
// left out. There is one row per uploading account, which bounds the
// answer by the number of local users.
func (s *Store) UsageByUploader(ctx context.Context, local string, fromTS, untilTS int64) ([]UploaderUsage, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT user_id, COUNT(*), COALESCE(SUM(size), 0) FROM media
		WHERE origin = $1 AND uploaded_ts <> 0 AND user_id <> '' AND created_ts >= $2 AND created_ts <= $3
		GROUP BY user_id ORDER BY user_id`, local, fromTS, untilTS)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []UploaderUsage
	for rows.Next() {
		var u UploaderUsage
		if err := rows.Scan(&u.UserID, &u.Count, &u.Length); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// QuarantineMany quarantines the media IDs among keys (origin, media ID)
// that are stored and not quarantined yet, on behalf of admin, in one
// transaction, and returns how many.
func (s *Store) QuarantineMany(ctx context.Context, keys [][2]string, admin string) (int64, error) {
	var n int64
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		n = 0
		for _, k := range keys {
			res, err := tx.ExecContext(ctx, `UPDATE media SET quarantined_by = $3
				WHERE origin = $1 AND media_id = $2 AND quarantined_by = ''`, k[0], k[1], admin)
			if err != nil {
				return err
			}
			c, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += c
		}
		return nil
	})
	return n, err
}
