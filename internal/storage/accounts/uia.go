package accounts

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

const uiaColumns = `session_id, operation, user_id, body_hash, completed, registration_token, spent, email, email_validated_ts,
	created_ts, expires_ts`

func scanUIASession(row rowScanner) (*UIASession, error) {
	var (
		s                UIASession
		completed        string
		token, email     sql.NullString
		emailValidatedTS sql.NullInt64
	)
	if err := row.Scan(&s.ID, &s.Operation, &s.UserID, &s.BodyHash, &completed, &token, &s.Spent, &email, &emailValidatedTS,
		&s.CreatedTS, &s.ExpiresTS); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(completed), &s.Completed); err != nil {
		return nil, fmt.Errorf("uia session %s: completed stages: %w", s.ID, err)
	}
	s.RegistrationToken, s.Email, s.EmailValidatedTS = token.String, email.String, emailValidatedTS.Int64
	return &s, nil
}

func (s *sqlStore) CreateUIASession(ctx context.Context, u UIASession, maxSessions int) error {
	completed, err := json.Marshal(nonNil(u.Completed))
	if err != nil {
		return err
	}
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM uia_sessions WHERE expires_ts <= $1`, u.CreatedTS); err != nil {
			return err
		}
		// Keep the maxSessions-1 that expire last, making room for this
		// one (ties at the cut go too). With fewer rows the subquery is
		// NULL and nothing goes.
		if _, err := tx.ExecContext(ctx, `
			DELETE FROM uia_sessions WHERE expires_ts <=
				(SELECT expires_ts FROM uia_sessions ORDER BY expires_ts DESC LIMIT 1 OFFSET $1)`, maxSessions-1); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `
			INSERT INTO uia_sessions (session_id, operation, user_id, body_hash, completed, registration_token, spent, email,
				email_validated_ts, created_ts, expires_ts)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			u.ID, u.Operation, u.UserID, u.BodyHash, string(completed), nullString(u.RegistrationToken), u.Spent,
			nullString(u.Email), nullInt(u.EmailValidatedTS), u.CreatedTS, u.ExpiresTS)
		return err
	})
}

func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}

func (s *sqlStore) GetUIASession(ctx context.Context, id string, nowMS int64) (*UIASession, error) {
	u, err := scanUIASession(s.db.Read.QueryRowContext(ctx,
		`SELECT `+uiaColumns+` FROM uia_sessions WHERE session_id = $1 AND expires_ts > $2`, id, nowMS))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("uia session: %w", ErrNotFound)
	}
	return u, err
}

func (s *sqlStore) BindUIABody(ctx context.Context, id string, hash []byte) (bool, error) {
	var bound []byte
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		// Bind first, then read: of two requests racing to bind, the
		// second sees the first's body.
		if _, err := tx.ExecContext(ctx, `UPDATE uia_sessions SET body_hash = $1 WHERE session_id = $2 AND body_hash IS NULL`,
			hash, id); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, `SELECT body_hash FROM uia_sessions WHERE session_id = $1`, id).Scan(&bound)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("uia session: %w", ErrNotFound)
		}
		return err
	})
	return err == nil && slices.Equal(bound, hash), err
}

func (s *sqlStore) CompleteUIAStage(ctx context.Context, id, stage string) ([]string, error) {
	var done []string
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		var completed string
		err := tx.QueryRowContext(ctx, s.db.Expand(`SELECT completed FROM uia_sessions WHERE session_id = $1 {{for_update}}`), id).
			Scan(&completed)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("uia session: %w", ErrNotFound)
		}
		if err != nil {
			return err
		}
		done = nil
		if err := json.Unmarshal([]byte(completed), &done); err != nil {
			return err
		}
		if slices.Contains(done, stage) {
			return nil
		}
		done = append(done, stage)
		b, err := json.Marshal(done)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE uia_sessions SET completed = $1 WHERE session_id = $2`, string(b), id)
		return err
	})
	return done, err
}

func (s *sqlStore) SetUIAEmail(ctx context.Context, id, address string, validatedTS int64) error {
	res, err := s.db.Write.ExecContext(ctx, `UPDATE uia_sessions SET email = $1, email_validated_ts = $2 WHERE session_id = $3`,
		address, validatedTS, id)
	return mustAffect(res, err, "uia session")
}

func (s *sqlStore) FinishUIASession(ctx context.Context, id string) error {
	res, err := s.db.Write.ExecContext(ctx, `UPDATE uia_sessions SET spent = TRUE, registration_token = NULL WHERE session_id = $1`, id)
	return mustAffect(res, err, "uia session")
}

func (s *sqlStore) HoldRegistrationToken(ctx context.Context, id, token string, nowMS int64,
	valid func(t *RegistrationToken, pending int64) bool) (string, error) {
	var holds string
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		holds = ""
		// The token's row lock serialises every process's reservations of
		// it (on SQLite the write lock does).
		t, err := scanRegistrationToken(tx.QueryRowContext(ctx,
			s.db.Expand(`SELECT `+registrationTokenColumns+` FROM registration_tokens WHERE token = $1 {{for_update}}`), token))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("registration token: %w", ErrNotFound)
		}
		if err != nil {
			return err
		}
		var held sql.NullString
		err = tx.QueryRowContext(ctx, `SELECT registration_token FROM uia_sessions WHERE session_id = $1 AND expires_ts > $2`,
			id, nowMS).Scan(&held)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("uia session: %w", ErrNotFound)
		}
		if err != nil {
			return err
		}
		if held.Valid {
			holds = held.String // two requests raced through the stage: one use is held
			return nil
		}
		var pending int64
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM uia_sessions WHERE registration_token = $1 AND expires_ts > $2`,
			token, nowMS).Scan(&pending); err != nil {
			return err
		}
		if !valid(t, pending) {
			return nil
		}
		holds = token
		_, err = tx.ExecContext(ctx, `UPDATE uia_sessions SET registration_token = $1 WHERE session_id = $2`, token, id)
		return err
	})
	return holds, err
}

func (s *sqlStore) PendingRegistrationTokenUses(ctx context.Context, nowMS int64) (map[string]int64, error) {
	rows, err := s.db.Read.QueryContext(ctx, `
		SELECT registration_token, COUNT(*) FROM uia_sessions
		WHERE registration_token IS NOT NULL AND expires_ts > $1 GROUP BY registration_token`, nowMS)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var (
			token string
			n     int64
		)
		if err := rows.Scan(&token, &n); err != nil {
			return nil, err
		}
		out[token] = n
	}
	return out, rows.Err()
}
