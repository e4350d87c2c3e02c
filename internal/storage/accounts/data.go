package accounts

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"strconv"
)

func (s *sqlStore) PutAccountData(ctx context.Context, userID, roomID, dataType string, content json.RawMessage, pos int64) error {
	_, err := s.db.Write.ExecContext(ctx, `
		INSERT INTO account_data (user_id, room_id, type, content, stream_pos) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id, room_id, type) DO UPDATE SET content = excluded.content, stream_pos = excluded.stream_pos`,
		userID, roomID, dataType, string(content), pos)
	return err
}

func (s *sqlStore) GetAccountData(ctx context.Context, userID, roomID, dataType string) (json.RawMessage, error) {
	var content string
	err := s.db.Read.QueryRowContext(ctx,
		`SELECT content FROM account_data WHERE user_id = $1 AND room_id = $2 AND type = $3`,
		userID, roomID, dataType).Scan(&content)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("account data %s: %w", dataType, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return json.RawMessage(content), nil
}

// maxUsersPerQuery bounds the IN list of GlobalAccountDataOf.
const maxUsersPerQuery = 1000

func (s *sqlStore) GlobalAccountDataOf(ctx context.Context, userIDs []string, dataType string) (map[string]json.RawMessage, error) {
	got, err := s.valuesByUser(ctx, userIDs, []any{dataType}, func(in string) string {
		return `SELECT user_id, content FROM account_data WHERE room_id = '' AND type = $1 AND user_id IN (` + in + `)`
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]json.RawMessage, len(got))
	for u, c := range got {
		out[u] = json.RawMessage(c)
	}
	return out, nil
}

func (s *sqlStore) DisplayNames(ctx context.Context, userIDs []string) (map[string]string, error) {
	return s.valuesByUser(ctx, userIDs, nil, func(in string) string {
		return `SELECT user_id, displayname FROM users WHERE displayname IS NOT NULL AND user_id IN (` + in + `)`
	})
}

// valuesByUser runs a query selecting (user_id, value) pairs for the users
// in its IN list, in batches of maxUsersPerQuery; query gets the list's
// placeholders, which follow the len(prefix) fixed arguments.
func (s *sqlStore) valuesByUser(ctx context.Context, userIDs []string, prefix []any, query func(in string) string) (map[string]string, error) {
	out := map[string]string{}
	for len(userIDs) > 0 {
		batch := userIDs[:min(len(userIDs), maxUsersPerQuery)]
		userIDs = userIDs[len(batch):]
		args := append(make([]any, 0, len(prefix)+len(batch)), prefix...)
		for _, u := range batch {
			args = append(args, u)
		}
		rows, err := s.db.Read.QueryContext(ctx, query(sqldb.Placeholders(len(prefix)+1, len(batch))), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var u, v string
			if err := rows.Scan(&u, &v); err != nil {
				rows.Close()
				return nil, err
			}
			out[u] = v
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

func (s *sqlStore) AccountDataSince(ctx context.Context, userID string, fromPos, toPos int64) ([]AccountData, error) {
	rows, err := s.db.Read.QueryContext(ctx, `
		SELECT room_id, type, content, stream_pos FROM account_data
		WHERE user_id = $1 AND stream_pos > $2 AND stream_pos <= $3
		ORDER BY stream_pos, room_id, type`, userID, fromPos, toPos)
	return scanAccountData(rows, err)
}

func (s *sqlStore) RoomAccountData(ctx context.Context, userID, roomID string, limit int) ([]AccountData, error) {
	rows, err := s.db.Read.QueryContext(ctx, `
		SELECT room_id, type, content, stream_pos FROM account_data
		WHERE user_id = $1 AND room_id = $2
		ORDER BY type LIMIT $3`, userID, roomID, limit)
	return scanAccountData(rows, err)
}

// scanAccountData reads rows of (room_id, type, content, stream_pos).
func scanAccountData(rows *sql.Rows, err error) ([]AccountData, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AccountData
	for rows.Next() {
		var (
			ad      AccountData
			content string
		)
		if err := rows.Scan(&ad.RoomID, &ad.Type, &content, &ad.Pos); err != nil {
			return nil, err
		}
		ad.Content = json.RawMessage(content)
		out = append(out, ad)
	}
	return out, rows.Err()
}

func (s *sqlStore) MaxAccountDataPos(ctx context.Context) (int64, error) {
	var pos int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT COALESCE(MAX(stream_pos), 0) FROM account_data`).Scan(&pos)
	return pos, err
}

func (s *sqlStore) CreateFilter(ctx context.Context, userID string, filter json.RawMessage) (string, error) {
	var id int64
	err := s.db.Write.QueryRowContext(ctx,
		`INSERT INTO filters (user_id, filter_json) VALUES ($1, $2) RETURNING id`, userID, string(filter)).Scan(&id)
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(id, 10), nil
}

func (s *sqlStore) GetFilter(ctx context.Context, userID, filterID string) (json.RawMessage, error) {
	id, err := strconv.ParseInt(filterID, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != filterID {
		return nil, fmt.Errorf("filter %q: %w", filterID, ErrNotFound)
	}
	var js string
	err = s.db.Read.QueryRowContext(ctx,
		`SELECT filter_json FROM filters WHERE id = $1 AND user_id = $2`, id, userID).Scan(&js)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("filter %s: %w", filterID, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return json.RawMessage(js), nil
}

func (s *sqlStore) ListThreepids(ctx context.Context, userID string) ([]Threepid, error) {
	rows, err := s.db.Read.QueryContext(ctx, `
		SELECT medium, address, validated_at, added_at FROM user_threepids
		WHERE user_id = $1 ORDER BY medium, address`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Threepid{}
	for rows.Next() {
		var t Threepid
		if err := rows.Scan(&t.Medium, &t.Address, &t.ValidatedAt, &t.AddedAt); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// PurgeRoom removes every user's account data of a room an admin deleted
// (room tags among it), as Synapse's room purge does; the members have
// left and forgotten the room, so no client will ask for it again.
func (s *sqlStore) PurgeRoom(ctx context.Context, roomID string) error {
	_, err := s.db.Write.ExecContext(ctx, `DELETE FROM account_data WHERE room_id = $1`, roomID)
	return err
}
