package accounts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// Every way devices are deleted runs the deletion hook inside its own
// transaction, with the deleted IDs: what the hook writes commits with the
// deletion, and the hook's failure undoes it (a device and its end-to-end
// data go together).
func TestDeviceDeletionHook_RunsInTheDeletingTransaction(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		if _, err := db.Write.ExecContext(ctx, `CREATE TABLE hook_log (user_id TEXT NOT NULL, device_id TEXT NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		fail := false
		s.SetDeviceDeletionHook(func(ctx context.Context, tx *sql.Tx, userID string, deviceIDs []string) error {
			for _, d := range deviceIDs {
				if _, err := tx.ExecContext(ctx, `INSERT INTO hook_log (user_id, device_id) VALUES ($1, $2)`, userID, d); err != nil {
					return err
				}
			}
			if fail {
				return errors.New("the other domain's delete failed")
			}
			return nil
		})
		sess := session("@a:hs", "A", "tokA")
		mustCreateUser(t, s, "@a:hs", &sess)
		for _, d := range []string{"B", "C", "D"} {
			if _, err := s.CreateSession(ctx, session("@a:hs", d, "tok"+d)); err != nil {
				t.Fatal(err)
			}
		}
		logged := func() string {
			t.Helper()
			rows, err := db.Read.QueryContext(ctx, `SELECT device_id FROM hook_log ORDER BY device_id`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var out []string
			for rows.Next() {
				var d string
				if err := rows.Scan(&d); err != nil {
					t.Fatal(err)
				}
				out = append(out, d)
			}
			return fmt.Sprint(out)
		}

		fail = true
		if _, err := s.DeleteDevices(ctx, "@a:hs", []string{"B"}); err == nil {
			t.Fatal("a failing hook did not fail the deletion")
		}
		if _, err := s.GetDevice(ctx, "@a:hs", "B"); err != nil || logged() != "[]" {
			t.Fatalf("after a failed hook: device %v, hook wrote %s; want both rolled back", err, logged())
		}
		fail = false
		if _, err := s.DeleteDevices(ctx, "@a:hs", []string{"B"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeleteOtherDevices(ctx, "@a:hs", "A"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeactivateUser(ctx, "@a:hs", false); err != nil {
			t.Fatal(err)
		}
		if got := logged(); got != "[A B C D]" {
			t.Fatalf("the hook saw %s, want every device once", got)
		}
	})
}
