package accounts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

func (s *sqlStore) RatelimitOverride(ctx context.Context, userID string) (RatelimitOverride, bool, error) {
	var o RatelimitOverride
	err := s.db.Read.QueryRowContext(ctx, `SELECT messages_per_second, burst_count FROM ratelimit_overrides
		WHERE user_id = $1`, userID).Scan(&o.MessagesPerSecond, &o.BurstCount)
	if errors.Is(err, sql.ErrNoRows) {
		return o, false, nil
	}
	return o, err == nil, err
}

func (s *sqlStore) SetRatelimitOverride(ctx context.Context, userID string, o RatelimitOverride) error {
	// The user's row is checked in the same statement, so that an unknown
	// user is ErrNotFound on both databases rather than a foreign-key error.
	res, err := s.db.Write.ExecContext(ctx, `INSERT INTO ratelimit_overrides (user_id, messages_per_second, burst_count)
		SELECT user_id, $2, $3 FROM users WHERE user_id = $1
		ON CONFLICT (user_id) DO UPDATE SET messages_per_second = excluded.messages_per_second,
			burst_count = excluded.burst_count`, userID, o.MessagesPerSecond, o.BurstCount)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fmt.Errorf("user %s: %w", userID, ErrNotFound)
	}
	return nil
}

func (s *sqlStore) DeleteRatelimitOverride(ctx context.Context, userID string) error {
	_, err := s.db.Write.ExecContext(ctx, `DELETE FROM ratelimit_overrides WHERE user_id = $1`, userID)
	return err
}
