package federationapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/myelin-chat/myelin/internal/appservice"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// server-server-api "Querying for information", GET /query/directory, with
// application-service-api.md "Querying": an alias of an appservice's
// namespace that we do not know is asked of the appservice, which creates
// the room and alias before it answers; the other server then gets the
// room as it would for any alias of ours. An alias the appservice does
// not know, or one outside every namespace, is 404.
func TestQueryDirectory_AsksTheAppserviceOfTheAliasNamespace(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		r := newRig(t, db)
		ctx := context.Background()
		var asked atomic.Int32
		as := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			asked.Add(1)
			if req.Header.Get("Authorization") != "Bearer hs-token" || req.URL.Path != "/_matrix/app/v1/rooms/#_irc_known:"+us {
				w.WriteHeader(http.StatusNotFound)
				_, _ = w.Write([]byte(`{"errcode":"M_NOT_FOUND"}`))
				return
			}
			name := "bridged"
			roomID, err := r.hs1.e.CreateRoom(req.Context(), rooms.CreateRoomRequest{Creator: "@_irc_bot:" + us, Preset: "public_chat", Name: &name})
			if err == nil {
				err = r.hs1.e.Store().CreateAlias(req.Context(), "#_irc_known:"+us, roomID, "@_irc_bot:"+us)
			}
			if err != nil {
				t.Error(err)
			}
			_, _ = w.Write([]byte(`{}`))
		}))
		t.Cleanup(as.Close)
		reg, err := appservice.Parse([]byte("id: bridge\nurl: "+as.URL+"\nas_token: as-token\nhs_token: hs-token\nsender_localpart: _irc_bot\n"+
			"namespaces: {aliases: [{exclusive: true, regex: '#_irc_.*'}]}\n"), "bridge.yaml", us)
		if err != nil {
			t.Fatal(err)
		}
		set, err := appservice.NewSet(reg)
		if err != nil {
			t.Fatal(err)
		}
		r.api.Appservices = appservice.NewQueries(set, appservice.NewClient(appservice.ClientConfig{Set: set}), nil)

		status, raw := r.do("hs2.test", "GET", "/_matrix/federation/v1/query/directory?room_alias=%23_irc_known:"+us, nil)
		var out struct {
			RoomID  string   `json:"room_id"`
			Servers []string `json:"servers"`
		}
		if status != http.StatusOK || json.Unmarshal(raw, &out) != nil || out.RoomID == "" || len(out.Servers) == 0 || out.Servers[0] != us {
			t.Fatalf("an alias the appservice creates: %d %s", status, raw)
		}
		if roomID, _, err := r.hs1.e.Store().Alias(ctx, "#_irc_known:"+us); err != nil || roomID != out.RoomID {
			t.Errorf("the alias is %q (%v), the answer %q", roomID, err, out.RoomID)
		}
		// Known now: the appservice is not asked again.
		if status, raw := r.do("hs2.test", "GET", "/_matrix/federation/v1/query/directory?room_alias=%23_irc_known:"+us, nil); status != http.StatusOK {
			t.Errorf("the alias again: %d %s", status, raw)
		}
		if n := asked.Load(); n != 1 {
			t.Errorf("the appservice was asked %d times, want once", n)
		}
		if status, raw := r.do("hs2.test", "GET", "/_matrix/federation/v1/query/directory?room_alias=%23_irc_unknown:"+us, nil); status != http.StatusNotFound {
			t.Errorf("an alias the appservice does not know: %d %s", status, raw)
		}
		if status, raw := r.do("hs2.test", "GET", "/_matrix/federation/v1/query/directory?room_alias=%23plain:"+us, nil); status != http.StatusNotFound {
			t.Errorf("an alias outside every namespace: %d %s", status, raw)
		}
		if n := asked.Load(); n != 2 {
			t.Errorf("the appservice was asked %d times, want twice (not for an alias outside its namespace)", n)
		}
	})
}
