package federationapi

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"testing"

	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// directoryPage asks hs1's directory as hs2.test.
func directoryPage(t *testing.T, r *rig, method, path string, body any) (int, rooms.DirectoryPage) {
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
			return directoryPage(t, r, method, path, body)
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

// The federation directory reads the list a request names
// (server-server-api "Public Room Directory"): the main list by default,
// one appservice network's list by third_party_instance_id, every list
// with include_all_networks (not with an instance ID too); and
// filter.room_types keeps rooms of the listed types, null standing for
// rooms without a type (spec v1.4, MSC3827), each entry naming its
// room_type.
func TestPublicRoomsOverFederation_NetworksAndRoomTypes(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		r := newRig(t, db)
		r.api.PublicRoomsOverFederation = true
		ctx := context.Background()
		create := func(name string, creation map[string]any) string {
			roomID, err := r.hs1.e.CreateRoom(ctx, rooms.CreateRoomRequest{Creator: "@alice:" + us, Preset: "public_chat", Name: &name, CreationContent: creation})
			if err != nil {
				t.Fatal(err)
			}
			return roomID
		}
		main := create("Main", nil)
		space := create("Space", map[string]any{"type": "m.space"})
		bridged := create("Bridged", nil)
		st := r.hs1.e.Store()
		for _, id := range []string{main, space} {
			if err := st.SetPublic(ctx, id, true); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.SetPublicInNetwork(ctx, "bridge", "freenode", bridged, true); err != nil {
			t.Fatal(err)
		}
		list := func(method, path string, body any) (int, map[string]string) {
			t.Helper()
			status, p := directoryPage(t, r, method, path, body)
			types := map[string]string{}
			for _, c := range p.Chunk {
				types[c.Name] = c.RoomType
			}
			return status, types
		}
		const path = "/_matrix/federation/v1/publicRooms"
		for _, tc := range []struct {
			name, method, path string
			body               any
			want               map[string]string
		}{
			{"the main list by default", "GET", path, nil, map[string]string{"Main": "", "Space": "m.space"}},
			{"one network's list (GET)", "GET", path + "?third_party_instance_id=bridge%7Cfreenode", nil, map[string]string{"Bridged": ""}},
			{"one network's list (POST)", "POST", path, map[string]any{"third_party_instance_id": "bridge|freenode"}, map[string]string{"Bridged": ""}},
			{"another network's list is empty", "POST", path, map[string]any{"third_party_instance_id": "bridge|oftc"}, map[string]string{}},
			{"all networks", "GET", path + "?include_all_networks=true", nil, map[string]string{"Main": "", "Space": "m.space", "Bridged": ""}},
			{"spaces only", "POST", path, map[string]any{"filter": map[string]any{"room_types": []any{"m.space"}}}, map[string]string{"Space": "m.space"}},
			{"rooms without a type only", "POST", path, map[string]any{"filter": map[string]any{"room_types": []any{nil}}}, map[string]string{"Main": ""}},
			{"both", "POST", path, map[string]any{"filter": map[string]any{"room_types": []any{nil, "m.space"}}}, map[string]string{"Main": "", "Space": "m.space"}},
			{"an empty list filters nothing", "POST", path, map[string]any{"filter": map[string]any{"room_types": []any{}}}, map[string]string{"Main": "", "Space": "m.space"}},
			{"types and networks together", "POST", path, map[string]any{"include_all_networks": true, "filter": map[string]any{"room_types": []any{nil}}}, map[string]string{"Main": "", "Bridged": ""}},
		} {
			status, got := list(tc.method, tc.path, tc.body)
			if status != http.StatusOK || !maps.Equal(got, tc.want) {
				t.Errorf("%s: %d %v, want %v", tc.name, status, got, tc.want)
			}
		}
		for _, bad := range []map[string]any{
			{"include_all_networks": true, "third_party_instance_id": "bridge|freenode"},
			{"third_party_instance_id": "no-separator"},
			{"filter": map[string]any{"room_types": []any{7}}},
		} {
			if status, _ := list("POST", path, bad); status != http.StatusBadRequest {
				t.Errorf("POST %v: status %d, want 400", bad, status)
			}
		}
		if status, _ := list("GET", path+"?include_all_networks=yes", nil); status != http.StatusBadRequest {
			t.Errorf("include_all_networks=yes: status %d, want 400", status)
		}
	})
}

// A room whose m.room.server_acl denies the asking server is not listed
// to it over federation (server-server-api "Server Access Control Lists
// (ACLs)": a remote server's request MUST be verified to be allowed by
// the ACLs), and the count and pages leave it out too; other servers
// still see it.
func TestPublicRoomsOverFederation_LeavesOutRoomsWhoseACLDeniesTheAsker(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		r := newRig(t, db)
		r.api.PublicRoomsOverFederation = true
		ctx := context.Background()
		var denied string
		for _, name := range []string{"Open", "Closed to evil.test"} {
			n := name
			roomID, err := r.hs1.e.CreateRoom(ctx, rooms.CreateRoomRequest{Creator: "@alice:" + us, Preset: "public_chat", Name: &n})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.hs1.e.Store().SetPublic(ctx, roomID, true); err != nil {
				t.Fatal(err)
			}
			if name != "Open" {
				denied = roomID
				r.setACL(roomID, map[string]any{"allow": []string{"*"}, "deny": []string{"evil.test"}})
			}
		}
		for _, method := range []string{"GET", "POST"} {
			var body any
			if method == "POST" {
				body = map[string]any{}
			}
			status, raw := r.do("evil.test", method, "/_matrix/federation/v1/publicRooms", body)
			var p rooms.DirectoryPage
			if err := json.Unmarshal(raw, &p); status != http.StatusOK || err != nil || p.Total != 1 || len(p.Chunk) != 1 || p.Chunk[0].RoomID == denied {
				t.Errorf("%s publicRooms as a denied server = %d %s, want only the open room", method, status, raw)
			}
		}
		if status, p := directoryPage(t, r, "GET", "/_matrix/federation/v1/publicRooms", nil); status != http.StatusOK || p.Total != 2 {
			t.Errorf("publicRooms as an allowed server = %d %+v, want both rooms", status, p)
		}
	})
}
