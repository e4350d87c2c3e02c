package mediastore

import "context"

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
