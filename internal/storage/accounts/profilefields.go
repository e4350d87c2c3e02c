package accounts

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

func (s *sqlStore) ProfileFields(ctx context.Context, userID string) (map[string]json.RawMessage, error) {
	return profileFields(ctx, s.db.Read, userID)
}

func profileFields(ctx context.Context, q sqldb.Querier, userID string) (map[string]json.RawMessage, error) {
	rows, err := q.QueryContext(ctx, `SELECT field, value FROM profile_fields WHERE user_id = $1`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]json.RawMessage{}
	for rows.Next() {
		var f, v string
		if err := rows.Scan(&f, &v); err != nil {
			return nil, err
		}
		out[f] = json.RawMessage(v)
	}
	return out, rows.Err()
}

func (s *sqlStore) SetProfileField(ctx context.Context, userID, field string, value json.RawMessage, maxProfileBytes int) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		// Reading the user's row in the transaction also serialises two
		// changes of one profile on PostgreSQL, so their sizes add up.
		var name, avatar sql.NullString
		err := tx.QueryRowContext(ctx, s.db.Expand(`SELECT displayname, avatar_url FROM users WHERE user_id = $1 {{for_update}}`), userID).Scan(&name, &avatar)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		fields, err := profileFields(ctx, tx, userID)
		if err != nil {
			return err
		}
		fields[field] = value
		size := len(name.String) + len(avatar.String)
		for f, v := range fields {
			size += len(f) + len(v)
		}
		if size > maxProfileBytes {
			return ErrProfileTooLarge
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO profile_fields (user_id, field, value) VALUES ($1, $2, $3)
			ON CONFLICT (user_id, field) DO UPDATE SET value = excluded.value`, userID, field, string(value))
		return err
	})
}

func (s *sqlStore) DeleteProfileField(ctx context.Context, userID, field string) error {
	_, err := s.db.Write.ExecContext(ctx, `DELETE FROM profile_fields WHERE user_id = $1 AND field = $2`, userID, field)
	return err
}
