package accounts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

func (s *sqlStore) CreateSession(ctx context.Context, sess NewSession) (*SessionIDs, error) {
	var ids *SessionIDs
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		var err error
		ids, err = createSession(ctx, tx, sess)
		return err
	})
	return ids, err
}

// insertDevice adds a device unless the user has it already; true if it
// was added.
func insertDevice(ctx context.Context, q sqldb.Querier, userID, deviceID, displayName string, nowTS int64, ip, ua string) (bool, error) {
	res, err := q.ExecContext(ctx, `
		INSERT INTO devices (user_id, device_id, display_name, created_ts, last_seen_ts, last_seen_ip, last_seen_user_agent)
		VALUES ($1, $2, $3, $4, $4, $5, $6)
		ON CONFLICT (user_id, device_id) DO NOTHING`,
		userID, deviceID, nullString(displayName), nowTS, nullString(ip), nullString(ua))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

func (s *sqlStore) CreateDevice(ctx context.Context, userID, deviceID, displayName string, nowTS int64) (bool, error) {
	return insertDevice(ctx, s.db.Write, userID, deviceID, displayName, nowTS, "", "")
}

func createSession(ctx context.Context, tx *sql.Tx, s NewSession) (*SessionIDs, error) {
	ids := &SessionIDs{}
	var err error
	ids.DeviceCreated, err = insertDevice(ctx, tx, s.UserID, s.DeviceID, s.DeviceDisplayName, s.NowTS, s.IP, s.UserAgent)
	if err != nil {
		return nil, err
	}
	if !ids.DeviceCreated {
		if s.ReplaceDeviceTokens {
			// Refresh tokens first: their access tokens go with them.
			for _, q := range []string{
				`DELETE FROM refresh_tokens WHERE user_id = $1 AND device_id = $2`,
				`DELETE FROM access_tokens WHERE user_id = $1 AND device_id = $2`,
			} {
				if _, err := tx.ExecContext(ctx, q, s.UserID, s.DeviceID); err != nil {
					return nil, err
				}
			}
		}
		if _, err := tx.ExecContext(ctx, `
			UPDATE devices SET last_seen_ts = $3, last_seen_ip = COALESCE($4, last_seen_ip),
				last_seen_user_agent = COALESCE($5, last_seen_user_agent)
			WHERE user_id = $1 AND device_id = $2`,
			s.UserID, s.DeviceID, s.NowTS, nullString(s.IP), nullString(s.UserAgent)); err != nil {
			return nil, err
		}
	}
	if s.RefreshTokenHash != nil {
		if err := tx.QueryRowContext(ctx, `
			INSERT INTO refresh_tokens (token_hash, user_id, device_id, created_ts, expires_ts, session_expires_ts)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			s.RefreshTokenHash, s.UserID, s.DeviceID, s.NowTS, nullInt(s.RefreshExpiresTS), nullInt(s.SessionExpiresTS)).
			Scan(&ids.RefreshTokenID); err != nil {
			return nil, err
		}
	}
	if err := tx.QueryRowContext(ctx, `
		INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts, expires_ts, refresh_token_id)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
		s.AccessTokenHash, s.UserID, s.DeviceID, s.NowTS, nullInt(s.AccessExpiresTS), nullInt(ids.RefreshTokenID)).
		Scan(&ids.AccessTokenID); err != nil {
		return nil, err
	}
	return ids, nil
}

func (s *sqlStore) GetAccessToken(ctx context.Context, hash []byte) (*AccessToken, error) {
	var t AccessToken
	err := s.db.Read.QueryRowContext(ctx, `
		SELECT t.id, t.user_id, COALESCE(t.device_id, ''), t.created_ts, COALESCE(t.expires_ts, 0),
			COALESCE(t.last_used_ts, 0), COALESCE(t.refresh_token_id, 0), t.used,
			u.is_admin, u.is_guest, u.deactivated, u.locked, u.suspended, u.shadow_banned
		FROM access_tokens t JOIN users u ON u.user_id = t.user_id
		WHERE t.token_hash = $1`, hash).
		Scan(&t.ID, &t.UserID, &t.DeviceID, &t.CreatedTS, &t.ExpiresTS, &t.LastUsedTS, &t.RefreshTokenID, &t.Used,
			&t.IsAdmin, &t.IsGuest, &t.Deactivated, &t.Locked, &t.Suspended, &t.ShadowBanned)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("access token: %w", ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return &t, nil
}

func (s *sqlStore) TouchAccessToken(ctx context.Context, u TokenUse) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`UPDATE access_tokens SET last_used_ts = $1, used = TRUE WHERE id = $2`, u.NowTS, u.TokenID); err != nil {
			return err
		}
		if u.DeviceID != "" {
			if _, err := tx.ExecContext(ctx, `
				UPDATE devices SET last_seen_ts = $3, last_seen_ip = COALESCE($4, last_seen_ip),
					last_seen_user_agent = COALESCE($5, last_seen_user_agent)
				WHERE user_id = $1 AND device_id = $2`,
				u.UserID, u.DeviceID, u.NowTS, nullString(u.IP), nullString(u.UserAgent)); err != nil {
				return err
			}
		}
		if u.FirstUse && u.RefreshTokenID != 0 {
			// The new pair is in use, so the refresh token it replaced (and
			// the access tokens issued with that one) can go.
			if _, err := tx.ExecContext(ctx,
				`DELETE FROM refresh_tokens WHERE next_token_id = $1`, u.RefreshTokenID); err != nil {
				return err
			}
		}
		return nil
	})
}

// expiry is now+lifetime capped by cap (0 meaning "none" for both).
func expiry(now int64, lifetime time.Duration, cap int64) int64 {
	var ts int64
	if lifetime > 0 {
		ts = now + lifetime.Milliseconds()
	}
	if cap != 0 && (ts == 0 || ts > cap) {
		ts = cap
	}
	return ts
}

func (s *sqlStore) RefreshSession(ctx context.Context, r RefreshRequest) (*RefreshResult, error) {
	var out *RefreshResult
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		var (
			oldID, expires, sessionExpires, next int64
			res                                  RefreshResult
		)
		err := tx.QueryRowContext(ctx, s.db.Expand(`
			SELECT id, user_id, device_id, COALESCE(expires_ts, 0), COALESCE(session_expires_ts, 0), COALESCE(next_token_id, 0)
			FROM refresh_tokens WHERE token_hash = $1 {{for_update}}`), r.OldHash).
			Scan(&oldID, &res.UserID, &res.DeviceID, &expires, &sessionExpires, &next)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrTokenUnknown
		}
		if err != nil {
			return err
		}
		if expires != 0 && expires <= r.NowTS || sessionExpires != 0 && sessionExpires <= r.NowTS {
			return ErrTokenExpired
		}
		// The old token still exists, so the pair issued from it last time
		// (if any) was never used: the client is retrying a refresh whose
		// response it lost. That pair is dropped and a new one issued.
		if next != 0 {
			if _, err := tx.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE id = $1`, next); err != nil {
				return err
			}
		}
		// Using this token revokes the one it replaced.
		if _, err := tx.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE next_token_id = $1`, oldID); err != nil {
			return err
		}
		refreshExpires := expiry(r.NowTS, r.RefreshLifetime, sessionExpires)
		res.AccessExpiresTS = expiry(r.NowTS, r.AccessLifetime, sessionExpires)
		if err := tx.QueryRowContext(ctx, `
			INSERT INTO refresh_tokens (token_hash, user_id, device_id, created_ts, expires_ts, session_expires_ts)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			r.RefreshTokenHash, res.UserID, res.DeviceID, r.NowTS, nullInt(refreshExpires), nullInt(sessionExpires)).
			Scan(&res.RefreshTokenID); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `
			INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts, expires_ts, refresh_token_id)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			r.AccessTokenHash, res.UserID, res.DeviceID, r.NowTS, nullInt(res.AccessExpiresTS), res.RefreshTokenID).
			Scan(&res.AccessTokenID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE refresh_tokens SET next_token_id = $1 WHERE id = $2`, res.RefreshTokenID, oldID); err != nil {
			return err
		}
		out = &res
		return nil
	})
	return out, err
}
