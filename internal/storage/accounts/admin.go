package accounts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

func (s *sqlStore) SetLocked(ctx context.Context, userID string, locked bool) error {
	res, err := s.db.Write.ExecContext(ctx, `UPDATE users SET locked = $1 WHERE user_id = $2`, locked, userID)
	return mustAffect(res, err, "user "+userID)
}

func (s *sqlStore) SetSuspended(ctx context.Context, userID string, suspended bool) error {
	res, err := s.db.Write.ExecContext(ctx, `UPDATE users SET suspended = $1 WHERE user_id = $2`, suspended, userID)
	return mustAffect(res, err, "user "+userID)
}

func (s *sqlStore) SetShadowBanned(ctx context.Context, userID string, banned bool) error {
	res, err := s.db.Write.ExecContext(ctx, `UPDATE users SET shadow_banned = $1 WHERE user_id = $2`, banned, userID)
	return mustAffect(res, err, "user "+userID)
}

func (s *sqlStore) SetUserType(ctx context.Context, userID, userType string) error {
	res, err := s.db.Write.ExecContext(ctx, `UPDATE users SET user_type = $1 WHERE user_id = $2`, nullString(userType), userID)
	return mustAffect(res, err, "user "+userID)
}

func (s *sqlStore) ReactivateUser(ctx context.Context, userID, passwordHash string) error {
	res, err := s.db.Write.ExecContext(ctx,
		`UPDATE users SET deactivated = FALSE, erased = FALSE, password_hash = $1 WHERE user_id = $2`,
		nullString(passwordHash), userID)
	return mustAffect(res, err, "user "+userID)
}

// likePattern makes a case-insensitive LIKE pattern that matches s
// anywhere, with LIKE's wildcards in s escaped (ESCAPE '!').
func likePattern(s string) string {
	return "%" + sqldb.EscapeLike(strings.ToLower(s)) + "%"
}

func (s *sqlStore) ListUsers(ctx context.Context, q UserQuery) ([]User, int64, error) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if q.UserID != "" {
		where = append(where, `LOWER(user_id) LIKE `+arg(likePattern(q.UserID))+` ESCAPE '!'`)
	}
	if q.Name != "" {
		p := arg(likePattern(q.Name))
		where = append(where, `(LOWER(user_id) LIKE `+p+` ESCAPE '!' OR LOWER(COALESCE(displayname, '')) LIKE `+p+` ESCAPE '!')`)
	}
	if !q.IncludeGuests {
		where = append(where, `NOT is_guest`)
	}
	if !q.IncludeDeactivated {
		where = append(where, `NOT deactivated`)
	}
	if !q.IncludeLocked {
		where = append(where, `NOT locked`)
	}
	if q.Admins != nil {
		where = append(where, `is_admin = `+arg(*q.Admins))
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int64
	if err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	order := q.OrderBy
	if order == "" {
		order = OrderByName
	}
	col, ok := userOrderColumns[order]
	if !ok {
		return nil, 0, fmt.Errorf("accounts: unknown user order %q", order)
	}
	dir := "ASC"
	if q.Desc {
		dir = "DESC"
	}
	query := `SELECT * FROM (SELECT ` + userColumns + ` FROM users` + cond + `) u ORDER BY ` + col + ` ` + dir +
		`, user_id ` + dir + ` LIMIT ` + arg(q.Limit) + ` OFFSET ` + arg(q.Offset)
	rows, err := s.db.Read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *u)
	}
	return out, total, rows.Err()
}

func (s *sqlStore) ReplaceThreepids(ctx context.Context, userID string, threepids []Threepid) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM user_threepids WHERE user_id = $1`, userID); err != nil {
			return err
		}
		for _, t := range threepids {
			if err := bindThreepid(ctx, tx, userID, t); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *sqlStore) AddThreepid(ctx context.Context, userID string, t Threepid) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error { return bindThreepid(ctx, tx, userID, t) })
}

// bindThreepid binds t to userID unless it is bound to someone else.
func bindThreepid(ctx context.Context, tx *sql.Tx, userID string, t Threepid) error {
	// DO NOTHING, then look: an error would abort a PostgreSQL
	// transaction.
	res, err := tx.ExecContext(ctx, `
		INSERT INTO user_threepids (user_id, medium, address, validated_at, added_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (medium, address) DO NOTHING`,
		userID, t.Medium, t.Address, t.ValidatedAt, t.AddedAt)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	var owner string
	err = tx.QueryRowContext(ctx, `SELECT user_id FROM user_threepids WHERE medium = $1 AND address = $2`,
		t.Medium, t.Address).Scan(&owner)
	if err != nil {
		return err
	}
	if owner != userID {
		return ErrThreepidInUse
	}
	return nil
}

func (s *sqlStore) DeleteThreepid(ctx context.Context, userID, medium, address string) (bool, error) {
	res, err := s.db.Write.ExecContext(ctx, `DELETE FROM user_threepids WHERE user_id = $1 AND medium = $2 AND address = $3`,
		userID, medium, address)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

func (s *sqlStore) UserByThreepid(ctx context.Context, medium, address string) (string, error) {
	var userID string
	err := s.db.Read.QueryRowContext(ctx, `SELECT user_id FROM user_threepids WHERE medium = $1 AND address = $2`,
		medium, address).Scan(&userID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return userID, err
}

func (s *sqlStore) CreatePuppetToken(ctx context.Context, userID string, hash []byte, nowTS, expiresTS int64) (int64, error) {
	var id int64
	err := s.db.Write.QueryRowContext(ctx, `
		INSERT INTO access_tokens (token_hash, user_id, created_ts, expires_ts) VALUES ($1, $2, $3, $4) RETURNING id`,
		hash, userID, nowTS, nullInt(expiresTS)).Scan(&id)
	return id, err
}

func (s *sqlStore) DeleteAccessToken(ctx context.Context, tokenID int64) error {
	_, err := s.db.Write.ExecContext(ctx, `DELETE FROM access_tokens WHERE id = $1`, tokenID)
	return err
}

const registrationTokenColumns = `token, uses_allowed, completed, expiry_time`

func scanRegistrationToken(row rowScanner) (*RegistrationToken, error) {
	var (
		t             RegistrationToken
		uses, expires sql.NullInt64
	)
	if err := row.Scan(&t.Token, &uses, &t.Completed, &expires); err != nil {
		return nil, err
	}
	if uses.Valid {
		t.UsesAllowed = &uses.Int64
	}
	if expires.Valid {
		t.ExpiryTime = &expires.Int64
	}
	return &t, nil
}

func nullablePtr(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func (s *sqlStore) CreateRegistrationToken(ctx context.Context, t RegistrationToken) error {
	res, err := s.db.Write.ExecContext(ctx, `
		INSERT INTO registration_tokens (token, uses_allowed, completed, expiry_time) VALUES ($1, $2, 0, $3)
		ON CONFLICT (token) DO NOTHING`, t.Token, nullablePtr(t.UsesAllowed), nullablePtr(t.ExpiryTime))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return ErrRegistrationTokenExists
	}
	return nil
}

func (s *sqlStore) GetRegistrationToken(ctx context.Context, token string) (*RegistrationToken, error) {
	t, err := scanRegistrationToken(s.db.Read.QueryRowContext(ctx,
		`SELECT `+registrationTokenColumns+` FROM registration_tokens WHERE token = $1`, token))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("registration token: %w", ErrNotFound)
	}
	return t, err
}

func (s *sqlStore) ListRegistrationTokens(ctx context.Context) ([]RegistrationToken, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+registrationTokenColumns+` FROM registration_tokens ORDER BY token`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []RegistrationToken{}
	for rows.Next() {
		t, err := scanRegistrationToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *t)
	}
	return out, rows.Err()
}

func (s *sqlStore) UpdateRegistrationToken(ctx context.Context, token string, u RegistrationTokenUpdate) (*RegistrationToken, error) {
	var out *RegistrationToken
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		if u.SetUsesAllowed {
			if _, err := tx.ExecContext(ctx, `UPDATE registration_tokens SET uses_allowed = $1 WHERE token = $2`,
				nullablePtr(u.UsesAllowed), token); err != nil {
				return err
			}
		}
		if u.SetExpiryTime {
			if _, err := tx.ExecContext(ctx, `UPDATE registration_tokens SET expiry_time = $1 WHERE token = $2`,
				nullablePtr(u.ExpiryTime), token); err != nil {
				return err
			}
		}
		var err error
		out, err = scanRegistrationToken(tx.QueryRowContext(ctx,
			`SELECT `+registrationTokenColumns+` FROM registration_tokens WHERE token = $1`, token))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("registration token: %w", ErrNotFound)
		}
		return err
	})
	return out, err
}

func (s *sqlStore) DeleteRegistrationToken(ctx context.Context, token string) error {
	res, err := s.db.Write.ExecContext(ctx, `DELETE FROM registration_tokens WHERE token = $1`, token)
	return mustAffect(res, err, "registration token")
}
