package sqldb_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// A domain store in miniature: its migrations, one query text for both
// backends, a transaction, and a constraint error mapped to the domain's own.
func Example() {
	dir, _ := os.MkdirTemp("", "sqldb-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	db, err := sqldb.Open(ctx, sqldb.Config{Dialect: sqldb.SQLite, SQLitePath: filepath.Join(dir, "myelin.db")})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()

	migrations := []sqldb.Migration{
		{Version: 1, Name: "create profiles", SQL: `
			CREATE TABLE profiles (
				pos          {{serial_pk}},
				user_id      TEXT NOT NULL UNIQUE,
				displayname  TEXT NOT NULL,
				updated_ts   BIGINT NOT NULL
			)`},
	}
	if err := sqldb.Migrate(ctx, db, "profiles", migrations); err != nil {
		fmt.Println(err)
		return
	}

	errTaken := errors.New("user ID already taken")
	create := func(userID, name string) (int64, error) {
		var pos int64
		err := db.WithTx(ctx, func(tx *sql.Tx) error {
			return tx.QueryRowContext(ctx,
				`INSERT INTO profiles (user_id, displayname, updated_ts) VALUES ($1, $2, $3) RETURNING pos`,
				userID, name, int64(1700000000000)).Scan(&pos)
		})
		if sqldb.IsUniqueViolation(err) {
			return 0, errTaken
		}
		return pos, err
	}

	fmt.Println(create("@alice:example.org", "Alice"))
	fmt.Println(create("@alice:example.org", "Alice again"))

	var name string
	_ = db.Read.QueryRowContext(ctx, `SELECT displayname FROM profiles WHERE user_id = $1`, "@alice:example.org").Scan(&name)
	fmt.Println(name)
	// Output:
	// 1 <nil>
	// 0 user ID already taken
	// Alice
}
