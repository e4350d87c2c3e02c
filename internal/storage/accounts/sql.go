package accounts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// sqlStore implements Store on sqldb; the same SQL serves both dialects.
type sqlStore struct {
	db *sqldb.DB
	// onDevicesDeleted runs in the transactions that delete devices.
	onDevicesDeleted DeviceDeletionHook
}

func (s *sqlStore) SetDeviceDeletionHook(fn DeviceDeletionHook) { s.onDevicesDeleted = fn }

// devicesDeleted runs the deletion hook, if any, in tx.
func (s *sqlStore) devicesDeleted(ctx context.Context, tx *sql.Tx, userID string, deviceIDs []string) error {
	if s.onDevicesDeleted == nil || len(deviceIDs) == 0 {
		return nil
	}
	return s.onDevicesDeleted(ctx, tx, userID, deviceIDs)
}

// New migrates the accounts tables of db to the current schema and returns
// a Store on them.
func New(ctx context.Context, db *sqldb.DB) (Store, error) {
	if err := sqldb.Migrate(ctx, db, Domain, migrations); err != nil {
		return nil, err
	}
	return &sqlStore{db: db}, nil
}

// Nullable columns: the Go zero value stands for NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullInt(i int64) any {
	if i == 0 {
		return nil
	}
	return i
}

// mustAffect turns "no row changed" into ErrNotFound.
func mustAffect(res sql.Result, err error, what string) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return nil
}

func (s *sqlStore) CreateUser(ctx context.Context, u NewUser, sess *NewSession) (*SessionIDs, error) {
	var ids *SessionIDs
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		ids = nil
		// ON CONFLICT DO NOTHING rather than catching the unique
		// violation: on PostgreSQL an error would abort the transaction.
		res, err := tx.ExecContext(ctx, `
			INSERT INTO users (user_id, password_hash, is_admin, is_guest, user_type, created_ts, displayname, appservice_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (user_id) DO NOTHING`,
			u.UserID, nullString(u.PasswordHash), u.IsAdmin, u.IsGuest, nullString(u.UserType), u.CreatedTS, nullString(u.DisplayName),
			nullString(u.AppserviceID))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrUserExists
		}
		if u.RegistrationToken != "" {
			// Counted with the account it created, so a failed
			// registration never uses up a token.
			if _, err := tx.ExecContext(ctx,
				`UPDATE registration_tokens SET completed = completed + 1 WHERE token = $1`, u.RegistrationToken); err != nil {
				return err
			}
		}
		if sess != nil {
			ids, err = createSession(ctx, tx, *sess)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// userColumns are the columns scanUser reads; last_seen is the latest
// last-seen time of the user's devices.
const userColumns = `user_id, password_hash, is_admin, is_guest, deactivated, erased, locked, suspended, shadow_banned, user_type, created_ts,
	displayname, avatar_url, appservice_id,
	COALESCE((SELECT MAX(d.last_seen_ts) FROM devices d WHERE d.user_id = users.user_id), 0) AS last_seen`

func scanUser(row rowScanner) (*User, error) {
	var (
		u                                     User
		hash, userType, name, avatarURL, asID sql.NullString
	)
	if err := row.Scan(&u.UserID, &hash, &u.IsAdmin, &u.IsGuest, &u.Deactivated, &u.Erased, &u.Locked, &u.Suspended, &u.ShadowBanned, &userType,
		&u.CreatedTS, &name, &avatarURL, &asID, &u.LastSeenTS); err != nil {
		return nil, err
	}
	u.PasswordHash, u.UserType, u.DisplayName, u.AvatarURL = hash.String, userType.String, name.String, avatarURL.String
	u.AppserviceID = asID.String
	return &u, nil
}

func (s *sqlStore) GetUser(ctx context.Context, userID string) (*User, error) {
	u, err := scanUser(s.db.Read.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE user_id = $1`, userID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("user %s: %w", userID, ErrNotFound)
	}
	return u, err
}

func (s *sqlStore) UpgradeGuest(ctx context.Context, userID, hash string) error {
	res, err := s.db.Write.ExecContext(ctx, `UPDATE users SET password_hash = $1, is_guest = FALSE WHERE user_id = $2 AND is_guest`, nullString(hash), userID)
	return mustAffect(res, err, "guest "+userID)
}

func (s *sqlStore) SetPasswordHash(ctx context.Context, userID, hash string) error {
	res, err := s.db.Write.ExecContext(ctx, `UPDATE users SET password_hash = $1 WHERE user_id = $2`, nullString(hash), userID)
	return mustAffect(res, err, "user "+userID)
}

func (s *sqlStore) SetAdmin(ctx context.Context, userID string, admin bool) error {
	res, err := s.db.Write.ExecContext(ctx, `UPDATE users SET is_admin = $1 WHERE user_id = $2`, admin, userID)
	return mustAffect(res, err, "user "+userID)
}

func (s *sqlStore) SetDisplayName(ctx context.Context, userID, name string) error {
	res, err := s.db.Write.ExecContext(ctx, `UPDATE users SET displayname = $1 WHERE user_id = $2`, nullString(name), userID)
	return mustAffect(res, err, "user "+userID)
}

func (s *sqlStore) SetAvatarURL(ctx context.Context, userID, url string) error {
	res, err := s.db.Write.ExecContext(ctx, `UPDATE users SET avatar_url = $1 WHERE user_id = $2`, nullString(url), userID)
	return mustAffect(res, err, "user "+userID)
}

func (s *sqlStore) AvatarInUse(ctx context.Context, url string) (bool, error) {
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE avatar_url = $1`, url).Scan(&n)
	return n > 0, err
}

// erasedBatch bounds one IN list of ErasedUsers.
const erasedBatch = 500

func (s *sqlStore) ErasedUsers(ctx context.Context, userIDs []string) (map[string]bool, error) {
	out := map[string]bool{}
	for len(userIDs) > 0 {
		n := min(len(userIDs), erasedBatch)
		args := make([]any, n)
		for i, id := range userIDs[:n] {
			args[i] = id
		}
		userIDs = userIDs[n:]
		rows, err := s.db.Read.QueryContext(ctx, `SELECT user_id FROM users WHERE erased AND user_id IN (`+sqldb.Placeholders(1, n)+`)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			out[id] = true
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *sqlStore) DeactivateUser(ctx context.Context, userID string, erase bool) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		q := `UPDATE users SET deactivated = TRUE, password_hash = NULL WHERE user_id = $1`
		if erase {
			// Spec (account_deactivation.yaml, erase): non-event data such as
			// the profile and account data should be erased too.
			q = `UPDATE users SET deactivated = TRUE, password_hash = NULL, erased = TRUE,
				displayname = NULL, avatar_url = NULL WHERE user_id = $1`
		}
		res, err := tx.ExecContext(ctx, q, userID)
		if err := mustAffect(res, err, "user "+userID); err != nil {
			return err
		}
		devices, err := deleteReturning(ctx, tx, `DELETE FROM devices WHERE user_id = $1 RETURNING device_id`, userID) // cascades to tokens
		if err != nil {
			return err
		}
		if err := s.devicesDeleted(ctx, tx, userID, devices); err != nil {
			return err
		}
		stmts := []string{
			`DELETE FROM access_tokens WHERE user_id = $1`,
			`DELETE FROM user_threepids WHERE user_id = $1`,
		}
		if erase {
			stmts = append(stmts, `DELETE FROM account_data WHERE user_id = $1`, `DELETE FROM profile_fields WHERE user_id = $1`)
		}
		for _, q := range stmts {
			if _, err := tx.ExecContext(ctx, q, userID); err != nil {
				return err
			}
		}
		return nil
	})
}
