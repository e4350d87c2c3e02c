package federationapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// template asks hs1 for a make_join/make_leave template for userID and
// returns hs2's builder for it.
func (r *rig) template(kind, roomID, userID string) (*event.Builder, *roomversion.Version) {
	r.t.Helper()
	status, body := r.do("hs2.test", "GET", "/_matrix/federation/v1/"+kind+"/"+url.PathEscape(roomID)+"/"+url.PathEscape(userID)+"?ver=10", nil)
	r.expect(kind, http.StatusOK, status, body)
	var tmpl struct {
		RoomVersion string          `json:"room_version"`
		Event       json.RawMessage `json:"event"`
	}
	if err := json.Unmarshal(body, &tmpl); err != nil {
		r.t.Fatal(err)
	}
	v := roomversion.MustGet(roomversion.ID(tmpl.RoomVersion))
	b, err := event.BuilderFromTemplate(tmpl.Event, v)
	if err != nil {
		r.t.Fatal(err)
	}
	return b, v
}

func (r *rig) build(b *event.Builder, v *roomversion.Version) *event.Event {
	r.t.Helper()
	ev, err := b.Build(v, r.hs2.name, r.hs2.key)
	if err != nil {
		r.t.Fatal(err)
	}
	return ev
}

// The v1 send_join and send_leave forms answer [200, body] for servers that
// predate v2 (spec v1.18 removed them; Synapse still serves them), with the
// same checks as v2.
func TestSendJoinLeaveV1_AnswerTheV1Shape(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		r := newRig(t, db)
		roomID, err := r.hs1.e.CreateRoom(context.Background(), rooms.CreateRoomRequest{Creator: "@alice:" + us, Preset: "public_chat", Version: roomversion.MustGet("10")})
		if err != nil {
			t.Fatal(err)
		}
		room := url.PathEscape(roomID)
		const bob = "@bob:hs2.test"
		join := r.build(r.template("make_join", roomID, bob))
		status, body := r.do("hs2.test", "PUT", "/_matrix/federation/v1/send_join/"+room+"/"+url.PathEscape(join.EventID()), json.RawMessage(join.FederationJSON()))
		r.expect("v1 send_join", http.StatusOK, status, body)
		var v1 []json.RawMessage
		var joined struct {
			State     []json.RawMessage `json:"state"`
			AuthChain []json.RawMessage `json:"auth_chain"`
		}
		if json.Unmarshal(body, &v1) != nil || len(v1) != 2 || string(v1[0]) != "200" || json.Unmarshal(v1[1], &joined) != nil ||
			len(joined.State) == 0 || len(joined.AuthChain) == 0 {
			t.Fatalf("v1 send_join answered %s", body)
		}
		if !r.stored(join.EventID()) {
			t.Fatal("the join sent through v1 was not stored")
		}

		leave := r.build(r.template("make_leave", roomID, bob))
		status, body = r.do("hs2.test", "PUT", "/_matrix/federation/v1/send_leave/"+room+"/"+url.PathEscape(leave.EventID()), json.RawMessage(leave.FederationJSON()))
		r.expect("v1 send_leave", http.StatusOK, status, body)
		if string(bytes.TrimSpace(body)) != "[200,{}]" {
			t.Fatalf("v1 send_leave answered %s", body)
		}
		if !r.stored(leave.EventID()) {
			t.Fatal("the leave sent through v1 was not stored")
		}
	})
}

// An event that is not a join of its sender, from the requesting server, is
// refused by the join endpoints with 400 (server-server-api "Joining Rooms":
// the resident server checks that it is a valid join event).
func TestSendJoin_RefusesEventsThatAreNotTheSendersJoin(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		r := newRig(t, db)
		roomID, err := r.hs1.e.CreateRoom(context.Background(), rooms.CreateRoomRequest{Creator: "@alice:" + us, Preset: "public_chat", Version: roomversion.MustGet("10")})
		if err != nil {
			t.Fatal(err)
		}
		const bob, carol = "@bob:hs2.test", "@carol:hs2.test"
		for _, tc := range []struct {
			name   string
			change func(b *event.Builder)
		}{
			{"wrong type", func(b *event.Builder) { b.Type = "m.room.message"; b.StateKey = nil }},
			{"state event of another type", func(b *event.Builder) { b.Type = "m.room.topic" }},
			{"wrong membership", func(b *event.Builder) {
				b.Content = json.RawMessage(`{"membership":"leave"}`)
			}},
			{"state key of another user", func(b *event.Builder) { sk := carol; b.StateKey = &sk }},
		} {
			b, v := r.template("make_join", roomID, bob)
			tc.change(b)
			ev := r.build(b, v)
			for _, ver := range []string{"v1", "v2"} {
				status, body := r.do("hs2.test", "PUT", "/_matrix/federation/"+ver+"/send_join/"+url.PathEscape(roomID)+"/"+url.PathEscape(ev.EventID()), json.RawMessage(ev.FederationJSON()))
				if status != http.StatusBadRequest {
					t.Errorf("%s through %s send_join: %d %s, want 400", tc.name, ver, status, body)
				}
				if r.stored(ev.EventID()) {
					t.Errorf("%s through %s send_join was stored", tc.name, ver)
				}
			}
		}
	})
}
