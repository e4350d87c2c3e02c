package event

import (
	"encoding/json"
	"testing"

	"github.com/myelin-chat/myelin/internal/roomversion"
)

// FuzzParse feeds arbitrary bytes to Parse for every room version. Parse
// must never panic, and an accepted event must re-parse to the same ID and
// bytes from its own federation JSON.
func FuzzParse(f *testing.F) {
	key := specKey(f)
	for _, v := range roomversion.All() {
		e := buildCreate(f, v, key)
		f.Add(e.FederationJSON())
	}
	f.Add([]byte(`{"type":"m.room.message","sender":"@a:hs","room_id":"!r:hs","content":{},"depth":1,"origin_server_ts":1,"prev_events":[["$a:hs",{}]],"auth_events":[],"hashes":{"sha256":"x"},"signatures":{},"event_id":"$e:hs"}`))
	f.Add([]byte(`{"type":"m.room.redaction","redacts":"$x","sender":"@a:hs","room_id":"!r:hs","content":{"redacts":5},"depth":1,"origin_server_ts":1,"prev_events":[],"auth_events":[],"hashes":{"sha256":"x"},"signatures":{"hs":{"ed25519:1":"sig"}}}`))
	f.Add([]byte(`{"unsigned":{"age":1},"type":"m.room.create","state_key":"","sender":"@a:hs","content":{"room_version":"12"},"depth":1,"origin_server_ts":1,"prev_events":[],"auth_events":[],"hashes":{"sha256":"x"},"signatures":{}}`))
	versions := roomversion.All()
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, v := range versions {
			e, err := Parse(data, v)
			if err != nil {
				continue
			}
			again, err := Parse(e.FederationJSON(), v)
			if err != nil {
				t.Fatalf("v%s: own JSON does not re-parse: %v", v.ID, err)
			}
			if again.EventID() != e.EventID() || string(again.JSON()) != string(e.JSON()) {
				t.Fatalf("v%s: re-parse changed the event", v.ID)
			}
			_ = e.Redacted()
			_ = e.CheckContentHash()
			_ = e.RequiredSigners()
			_ = e.Membership()
			if !json.Valid(e.JSON()) {
				t.Fatalf("v%s: invalid JSON stored", v.ID)
			}
		}
	})
}
