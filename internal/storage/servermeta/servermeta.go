// Package servermeta records facts about the server a database belongs
// to. Today that is its server name: every ID, signature and event in the
// database carries it, so a database can only ever serve the name it was
// made for.
package servermeta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

var migrations = []sqldb.Migration{
	{Version: 1, Name: "server facts", SQL: `
		CREATE TABLE server_meta (
			meta_key   TEXT PRIMARY KEY,
			meta_value TEXT NOT NULL
		)`},
}

// ErrOtherServer is wrapped by CheckServerName's refusal.
var ErrOtherServer = errors.New("the database belongs to another server name")

// CheckServerName refuses a database made for another server name, and
// records name in a database that has none yet. Call it after every
// domain's migrations have run. A database from before the name was
// recorded is judged by its local accounts, as Synapse does at start
// ("Found users in database not native to ..."): one whose accounts are
// of another name is refused.
func CheckServerName(ctx context.Context, db *sqldb.DB, name string) error {
	if err := sqldb.Migrate(ctx, db, "servermeta", migrations); err != nil {
		return err
	}
	var stored string
	err := db.Write.QueryRowContext(ctx, `SELECT meta_value FROM server_meta WHERE meta_key = 'server_name'`).Scan(&stored)
	switch {
	case err == nil:
		if stored != name {
			return refusal(stored, name)
		}
		return nil
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	// Every account of a database has its one server name, so one
	// account tells (compared in Go: LIKE ignores case on SQLite).
	var some string
	err = db.Write.QueryRowContext(ctx, `SELECT user_id FROM users LIMIT 1`).Scan(&some)
	if err == nil {
		if i := strings.IndexByte(some, ':'); i >= 0 && some[i+1:] != name {
			return refusal(some[i+1:], name)
		}
	} else if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	_, err = db.Write.ExecContext(ctx, `INSERT INTO server_meta (meta_key, meta_value) VALUES ('server_name', $1)`, name)
	return err
}

func refusal(stored, configured string) error {
	return fmt.Errorf("%w: it was made for server_name %q, but the config says %q; a server name cannot change once users and rooms exist (restore the old server_name, or point database at a new database for the new name)",
		ErrOtherServer, stored, configured)
}
