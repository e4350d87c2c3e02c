package federationapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// Received EDUs reach the handler of their type in order, with the room ACL
// verdict for the origin; an EDU never fails its transaction, and a
// replayed transaction is not handled twice (server-server-api
// "Transactions", "EDUs", "Server Access Control Lists (ACLs)").
func TestEDUDispatch_RoutesByTypeWithACLAndNeverFailsTheTransaction(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		r := newRig(t, db)
		ctx := context.Background()
		roomID, err := r.hs1.e.CreateRoom(ctx, rooms.CreateRoomRequest{Creator: "@alice:" + us, Preset: "public_chat", Version: roomversion.MustGet("10")})
		if err != nil {
			t.Fatal(err)
		}
		r.setACL(roomID, map[string]any{"allow": []string{"*"}, "deny": []string{"evil.test"}})

		type seen struct {
			origin, note string
			allowed      bool
		}
		var mu sync.Mutex
		var got []seen
		r.api.HandleEDU("org.example.note", func(ctx context.Context, edu InboundEDU) error {
			var c struct {
				Note string `json:"note"`
			}
			if err := json.Unmarshal(edu.Content, &c); err != nil {
				return err
			}
			mu.Lock()
			got = append(got, seen{edu.Origin, c.Note, edu.RoomAllowed(ctx, roomID)})
			mu.Unlock()
			if c.Note == "fails" {
				return errors.New("handler refused it")
			}
			return nil
		})
		txn := func(origin, id string) {
			t.Helper()
			status, body := r.do(origin, "PUT", "/_matrix/federation/v1/send/"+id, map[string]any{
				"origin": origin, "origin_server_ts": 1, "pdus": []any{},
				"edus": []any{
					map[string]any{"edu_type": "org.example.note", "content": map[string]any{"note": "one"}},
					map[string]any{"edu_type": "org.example.unknown", "content": map[string]any{}},
					map[string]any{"edu_type": "org.example.note", "content": "not an object"},
					map[string]any{"edu_type": "org.example.note", "content": map[string]any{"note": "fails"}},
					map[string]any{"content": map[string]any{"note": "no type"}},
					map[string]any{"edu_type": "org.example.note", "content": map[string]any{"note": "two"}},
				}})
			if status != http.StatusOK {
				t.Fatalf("send %s from %s: %d %s", id, origin, status, body)
			}
		}
		txn("hs2.test", "a")
		txn("hs2.test", "a") // a replay
		txn("evil.test", "b")
		want := []seen{
			{"hs2.test", "one", true}, {"hs2.test", "fails", true}, {"hs2.test", "two", true},
			{"evil.test", "one", false}, {"evil.test", "fails", false}, {"evil.test", "two", false},
		}
		mu.Lock()
		defer mu.Unlock()
		if len(got) != len(want) {
			t.Fatalf("handled %+v, want %+v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("EDU %d: %+v, want %+v", i, got[i], want[i])
			}
		}
	})
}
