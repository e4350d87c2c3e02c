package federationapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/myelin-chat/myelin/internal/merr"
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

// transactions.yaml: the sender "must wait and retry for a 200 OK
// response". An EDU registered as durable (m.direct_to_device) that could
// not be stored fails its transaction, which is not remembered as done, so
// the sender's retry delivers it; one refused for what it says (a Matrix
// error) is dropped like any other, so it cannot block the sender.
func TestEDUDispatch_DurableEDUStorageTroubleFailsTheTransaction(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		r := newRig(t, db)
		var mu sync.Mutex
		var stored []string
		broken := true
		r.api.HandleDurableEDU("org.example.durable", func(ctx context.Context, edu InboundEDU) error {
			var c struct {
				N string `json:"n"`
			}
			if err := json.Unmarshal(edu.Content, &c); err != nil || c.N == "bad" {
				return merr.BadJSON("not a note")
			}
			mu.Lock()
			defer mu.Unlock()
			if broken {
				return errors.New("database is unavailable")
			}
			stored = append(stored, c.N)
			return nil
		})
		send := func() (int, []byte) {
			return r.do("hs2.test", "PUT", "/_matrix/federation/v1/send/d1", map[string]any{
				"origin": "hs2.test", "origin_server_ts": 1, "pdus": []any{},
				"edus": []any{
					map[string]any{"edu_type": "org.example.durable", "content": map[string]any{"n": "bad"}},
					map[string]any{"edu_type": "org.example.durable", "content": map[string]any{"n": "one"}},
				}})
		}
		if status, body := send(); status != http.StatusInternalServerError {
			t.Fatalf("storage trouble: %d %s, want 500", status, body)
		}
		mu.Lock()
		broken = false
		mu.Unlock()
		if status, body := send(); status != http.StatusOK {
			t.Fatalf("the retried transaction: %d %s", status, body)
		}
		mu.Lock()
		defer mu.Unlock()
		if fmt.Sprint(stored) != "[one]" {
			t.Fatalf("stored %v, want [one]", stored)
		}
	})
}
