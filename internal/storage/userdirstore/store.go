// Package userdirstore persists the user directory (client-server-api
// "User directory"): the users it lists with the words their display
// names and user IDs are searched by, the joined members of the rooms the
// server knows and whether each room is public, and the room stream
// position up to which the directory has followed the rooms (written in
// the same transaction as what it learnt, so a crash neither loses nor
// repeats a change). One set of queries serves SQLite and PostgreSQL.
package userdirstore

import (
	"context"
	"database/sql"
	"strings"
	"unicode"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// Domain is the schema_versions domain of this package's tables.
const Domain = "userdir"

// migrations are append-only: never edit a released entry.
var migrations = []sqldb.Migration{
	{Version: 1, Name: "userdir: users, search words, room members, cursor", SQL: `
-- One row: the room stream position up to which every event has been
-- applied to the directory; -1 until the first start has indexed the
-- rooms and users that existed before the directory did.
CREATE TABLE userdir_cursor (
	id         INTEGER PRIMARY KEY,
	stream_pos BIGINT NOT NULL
);
INSERT INTO userdir_cursor (id, stream_pos) VALUES (1, -1);

-- The users the directory lists: every active local user, and remote
-- users while they are joined to a room the server knows. sort_name is
-- the lowercased display name (the localpart when there is none) and
-- localpart the lowercased localpart, for ranking.
CREATE TABLE userdir_users (
	user_id      TEXT    NOT NULL PRIMARY KEY,
	display_name TEXT    NOT NULL,
	avatar_url   TEXT    NOT NULL,
	is_local     BOOLEAN NOT NULL,
	sort_name    {{text_bytes}} NOT NULL,
	localpart    TEXT    NOT NULL
);
CREATE INDEX userdir_users_sort_name ON userdir_users (sort_name, user_id);
CREATE INDEX userdir_users_localpart ON userdir_users (localpart);

-- The lowercased words of each user's display name and user ID, which
-- search terms match by prefix (a range scan of the index).
CREATE TABLE userdir_words (
	word    {{text_bytes}} NOT NULL,
	user_id TEXT NOT NULL,
	PRIMARY KEY (word, user_id)
);
CREATE INDEX userdir_words_user ON userdir_words (user_id, word);

-- Rooms the directory follows; is_public: the room's join rule is public
-- or its history is world_readable, so its members are searchable by
-- everyone.
CREATE TABLE userdir_rooms (
	room_id   TEXT    NOT NULL PRIMARY KEY,
	is_public BOOLEAN NOT NULL
);

-- The joined members of those rooms; is_local: a user of this server.
CREATE TABLE userdir_members (
	room_id  TEXT    NOT NULL,
	user_id  TEXT    NOT NULL,
	is_local BOOLEAN NOT NULL,
	PRIMARY KEY (room_id, user_id)
);
CREATE INDEX userdir_members_user ON userdir_members (user_id, room_id);
`},
}

// NotStarted is the cursor of a directory that has never been built.
const NotStarted = -1

// Store is the user directory's storage. It is safe for concurrent use.
type Store struct{ db *sqldb.DB }

// New migrates the userdir domain and returns the store.
func New(ctx context.Context, db *sqldb.DB) (*Store, error) {
	if err := sqldb.Migrate(ctx, db, Domain, migrations); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// Cursor returns the room stream position up to which the directory is
// up to date, or NotStarted.
func (s *Store) Cursor(ctx context.Context) (int64, error) {
	var pos int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT stream_pos FROM userdir_cursor WHERE id = 1`).Scan(&pos)
	return pos, err
}

// Entry is a user as the directory lists them.
type Entry struct {
	UserID      string
	DisplayName string // "" when unset
	AvatarURL   string // "" when unset
	Local       bool
}

// Member is whether a user is joined to a room.
type Member struct {
	RoomID, UserID string
	Joined         bool
	// Local: the user belongs to this server.
	Local bool
}

// Batch is what the directory learnt from some events, applied at once.
type Batch struct {
	// Rooms sets each room's publicity (and starts following it).
	Rooms map[string]bool
	// Reset lists rooms whose members are all replaced: their rows go
	// before Members are applied (a room seen for the first time, whose
	// members arrived as state rather than as events).
	Reset []string
	// Members are applied in order.
	Members []Member
	// Users are stored (replacing what was there), after Members.
	Users []Entry
	// Gone are users the directory no longer lists (deactivated).
	Gone []string
}

// Apply stores b and the new cursor in one transaction. Remote users left
// in no room the directory follows are removed with it.
func (s *Store) Apply(ctx context.Context, b Batch, cursor int64) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		touched := map[string]bool{}
		for room, public := range b.Rooms {
			if _, err := tx.ExecContext(ctx, `INSERT INTO userdir_rooms (room_id, is_public) VALUES ($1, $2)
				ON CONFLICT (room_id) DO UPDATE SET is_public = excluded.is_public`, room, public); err != nil {
				return err
			}
		}
		for _, room := range b.Reset {
			if err := membersOf(ctx, tx, room, touched); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM userdir_members WHERE room_id = $1`, room); err != nil {
				return err
			}
		}
		for _, m := range b.Members {
			var err error
			if m.Joined {
				_, err = tx.ExecContext(ctx, `INSERT INTO userdir_members (room_id, user_id, is_local) VALUES ($1, $2, $3)
					ON CONFLICT DO NOTHING`, m.RoomID, m.UserID, m.Local)
			} else {
				touched[m.UserID] = true
				_, err = tx.ExecContext(ctx, `DELETE FROM userdir_members WHERE room_id = $1 AND user_id = $2`, m.RoomID, m.UserID)
			}
			if err != nil {
				return err
			}
		}
		for _, e := range b.Users {
			if err := putUser(ctx, tx, e); err != nil {
				return err
			}
		}
		for _, u := range b.Gone {
			if err := removeUser(ctx, tx, u); err != nil {
				return err
			}
		}
		for u := range touched {
			var orphan bool
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM userdir_users WHERE user_id = $1 AND NOT is_local)
				AND NOT EXISTS (SELECT 1 FROM userdir_members WHERE user_id = $1)`, u).Scan(&orphan); err != nil {
				return err
			}
			if orphan {
				if err := removeUser(ctx, tx, u); err != nil {
					return err
				}
			}
		}
		if cursor == NotStarted {
			return nil
		}
		// The cursor only moves forward, whoever commits.
		_, err := tx.ExecContext(ctx, `UPDATE userdir_cursor SET stream_pos = $1 WHERE id = 1 AND stream_pos < $1`, cursor)
		return err
	})
}

func membersOf(ctx context.Context, tx *sql.Tx, roomID string, into map[string]bool) error {
	rows, err := tx.QueryContext(ctx, `SELECT user_id FROM userdir_members WHERE room_id = $1`, roomID)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return err
		}
		into[u] = true
	}
	return rows.Err()
}

// HasLocalMember reports whether a local user other than except is
// listed as joined to the room.
func (s *Store) HasLocalMember(ctx context.Context, roomID, except string) (bool, error) {
	var has bool
	err := s.db.Read.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM userdir_members
		WHERE room_id = $1 AND is_local AND user_id <> $2)`, roomID, except).Scan(&has)
	return has, err
}

// PutUser stores one user's entry (a local user's profile changed).
func (s *Store) PutUser(ctx context.Context, e Entry) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error { return putUser(ctx, tx, e) })
}

// RemoveUser takes a user out of the directory (a deactivated account).
func (s *Store) RemoveUser(ctx context.Context, userID string) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error { return removeUser(ctx, tx, userID) })
}

func putUser(ctx context.Context, tx *sql.Tx, e Entry) error {
	local := strings.ToLower(localpart(e.UserID))
	sortName := strings.ToLower(e.DisplayName)
	if sortName == "" {
		sortName = local
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO userdir_users (user_id, display_name, avatar_url, is_local, sort_name, localpart)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id) DO UPDATE SET display_name = excluded.display_name,
		avatar_url = excluded.avatar_url, is_local = excluded.is_local, sort_name = excluded.sort_name, localpart = excluded.localpart`,
		e.UserID, e.DisplayName, e.AvatarURL, e.Local, sortName, local); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM userdir_words WHERE user_id = $1`, e.UserID); err != nil {
		return err
	}
	words := indexWords(e)
	if len(words) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(words))
	var vals strings.Builder
	for i, w := range words {
		if i > 0 {
			vals.WriteString(", ")
		}
		vals.WriteString("(" + sqldb.Placeholders(2*i+1, 2) + ")")
		args = append(args, w, e.UserID)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO userdir_words (word, user_id) VALUES `+vals.String()+` ON CONFLICT DO NOTHING`, args...)
	return err
}

func removeUser(ctx context.Context, tx *sql.Tx, userID string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM userdir_words WHERE user_id = $1`, userID); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM userdir_users WHERE user_id = $1`, userID)
	return err
}

// maxIndexWords bounds the words stored per user (a display name is at
// most 256 characters, a user ID 255 bytes).
const maxIndexWords = 64

// indexWords are the distinct words a user is found by: those of the
// display name and of the user ID.
func indexWords(e Entry) []string {
	seen := map[string]bool{}
	var out []string
	for _, w := range append(Words(e.DisplayName), Words(e.UserID)...) {
		if !seen[w] && len(out) < maxIndexWords {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

// Words splits s into lowercased words: runs of letters and digits, as
// Synapse's user directory tokenizes names and search terms, so that
// "@alice.smith:example.org" is found by "smith" and "Jean-Luc" by "luc".
func Words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// localpart is the part of a user ID between "@" and the first ":".
func localpart(userID string) string {
	s := strings.TrimPrefix(userID, "@")
	if i := strings.IndexByte(s, ':'); i >= 0 {
		s = s[:i]
	}
	return s
}
