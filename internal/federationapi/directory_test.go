package federationapi

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// GET and POST /_matrix/federation/v1/publicRooms (server-server-api
// "Public Room Directory") list our published rooms only when the operator
// allows it (allow_public_rooms_over_federation, off by default as in
// Synapse), page like the client API, and filter by search term.
func TestPublicRoomsOverFederation(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		r := newRig(t, db)
		ctx := context.Background()
		for _, name := range []string{"Gardening", "Go programming", "Unlisted"} {
			n := name
			roomID, err := r.hs1.e.CreateRoom(ctx, rooms.CreateRoomRequest{Creator: "@alice:" + us, Preset: "public_chat", Name: &n})
			if err != nil {
				t.Fatal(err)
			}
			if name != "Unlisted" {
				if err := r.hs1.e.Store().SetPublic(ctx, roomID, true); err != nil {
					t.Fatal(err)
				}
			}
		}
		page := func(method, path string, body any) (int, rooms.DirectoryPage) {
			t.Helper()
			status, raw := r.do("hs2.test", method, path, body)
			var p rooms.DirectoryPage
			if status == http.StatusOK {
				if err := json.Unmarshal(raw, &p); err != nil {
					t.Fatalf("%s %s: %v in %s", method, path, err, raw)
				}
			}
			return status, p
		}
		names := func(p rooms.DirectoryPage) []string {
			var out []string
			for _, c := range p.Chunk {
				out = append(out, c.Name)
			}
			return out
		}

		if status, _ := page("GET", "/_matrix/federation/v1/publicRooms", nil); status != http.StatusForbidden {
			t.Errorf("directory over federation while not allowed: status %d, want 403", status)
		}

		r.api.PublicRoomsOverFederation = true
		status, all := page("GET", "/_matrix/federation/v1/publicRooms", nil)
		if status != http.StatusOK || all.Total != 2 || len(all.Chunk) != 2 {
			t.Fatalf("GET publicRooms = %d %+v, want the 2 published rooms", status, all)
		}
		status, first := page("GET", "/_matrix/federation/v1/publicRooms?limit=1", nil)
		if status != http.StatusOK || len(first.Chunk) != 1 || first.NextBatch == "" {
			t.Fatalf("first page of 1 = %d %+v, want one room and a next_batch", status, first)
		}
		_, second := page("GET", "/_matrix/federation/v1/publicRooms?limit=1&since="+first.NextBatch, nil)
		if len(second.Chunk) != 1 || second.Chunk[0].RoomID == first.Chunk[0].RoomID || second.NextBatch != "" {
			t.Errorf("second page = %+v, want the other room and no next_batch", second)
		}
		status, found := page("POST", "/_matrix/federation/v1/publicRooms",
			map[string]any{"filter": map[string]any{"generic_search_term": "garden"}})
		if got := names(found); status != http.StatusOK || len(got) != 1 || got[0] != "Gardening" {
			t.Errorf("POST publicRooms searching \"garden\" = %d %v, want [Gardening]", status, got)
		}
		if status, _ := page("GET", "/_matrix/federation/v1/publicRooms?since=bogus", nil); status != http.StatusBadRequest {
			t.Errorf("a bad since token: status %d, want 400", status)
		}
	})
}
