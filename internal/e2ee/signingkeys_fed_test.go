package e2ee

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// server-server-api "m.signing_key_update": a server speaks only for its
// own users, and keys of users no local user shares a room with are not
// kept.
func TestSigningKeyUpdate_OnlyFromTheUsersServerAndForTrackedUsers(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		hs1 := newHomeserver(t, db, "hs1", "@alice:hs1/A")
		update := json.RawMessage(`{"user_id":"@bob:hs2","master_key":{"user_id":"@bob:hs2","usage":["master"],"keys":{"ed25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}}`)
		if err := hs1.svc.ReceiveSigningKeyUpdate(ctx, "evil.example", update); !errors.Is(err, merr.ErrForbidden) {
			t.Fatalf("an update for another server's user: %v", err)
		}
		if err := hs1.svc.ReceiveSigningKeyUpdate(ctx, "hs2", json.RawMessage(`{"user_id":5}`)); err == nil {
			t.Fatal("a malformed update was accepted")
		}
		if err := hs1.svc.ReceiveSigningKeyUpdate(ctx, "hs2", update); err != nil {
			t.Fatal(err)
		}
		if keys, err := hs1.svc.store.CrossSigningKeys(ctx, "@bob:hs2"); err != nil || len(keys) != 0 {
			t.Fatalf("an untracked user's keys were kept: %v, %v", keys, err)
		}
	})
}
