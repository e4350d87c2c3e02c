package servermeta_test

import (
	"context"
	"errors"
	"testing"

	"github.com/myelin-chat/myelin/internal/storage/accounts"
	"github.com/myelin-chat/myelin/internal/storage/servermeta"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// The first start records the server name; later starts with the same
// name pass and a start with another name is refused, on both backends.
func TestCheckServerName_RecordsTheNameAndRefusesAnother(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		if _, err := accounts.New(ctx, db); err != nil {
			t.Fatal(err)
		}
		if err := servermeta.CheckServerName(ctx, db, "example.org"); err != nil {
			t.Fatalf("first start: %v", err)
		}
		if err := servermeta.CheckServerName(ctx, db, "example.org"); err != nil {
			t.Fatalf("second start, same name: %v", err)
		}
		err := servermeta.CheckServerName(ctx, db, "example.com")
		if !errors.Is(err, servermeta.ErrOtherServer) {
			t.Fatalf("start with another name = %v, want ErrOtherServer", err)
		}
	})
}

// A database from before the name was recorded is judged by its accounts,
// as Synapse does: accounts of another server name refuse the start,
// accounts of this one let it record the name.
func TestCheckServerName_OlderDatabaseJudgedByItsAccounts(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		if _, err := accounts.New(ctx, db); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Write.ExecContext(ctx, `INSERT INTO users (user_id, created_ts) VALUES ('@alice:old.example', 0)`); err != nil {
			t.Fatal(err)
		}
		if err := servermeta.CheckServerName(ctx, db, "new.example"); !errors.Is(err, servermeta.ErrOtherServer) {
			t.Fatalf("accounts of old.example, config new.example: %v, want ErrOtherServer", err)
		}
		if err := servermeta.CheckServerName(ctx, db, "old.example"); err != nil {
			t.Fatalf("accounts of old.example, config old.example: %v", err)
		}
		if err := servermeta.CheckServerName(ctx, db, "new.example"); !errors.Is(err, servermeta.ErrOtherServer) {
			t.Fatalf("after recording old.example: %v, want ErrOtherServer", err)
		}
	})
}
