package event

import (
	"testing"

	"github.com/myelin-chat/myelin/internal/roomversion"
)

// The redaction algorithm of each version (rooms/fragments/v1-redactions.md,
// v6-redactions.md, v9-redactions.md, v11-redactions.md), one row per rule
// that changed.
func TestRedactionAlgorithms(t *testing.T) {
	cases := []struct {
		name     string
		versions []roomversion.ID
		in, want string
	}{
		{"message content is emptied, unknown top-level keys dropped", []roomversion.ID{"1", "6", "9", "11"},
			`{"type":"m.room.message","content":{"body":"x"},"extra":1,"sender":"@a:hs"}`,
			`{"content":{},"sender":"@a:hs","type":"m.room.message"}`},
		{"legacy top-level origin/membership/prev_state survive before v11", []roomversion.ID{"1", "10"},
			`{"type":"X","content":{},"origin":"hs","membership":"join","prev_state":[]}`,
			`{"content":{},"membership":"join","origin":"hs","prev_state":[],"type":"X"}`},
		{"v11 no longer protects origin, membership, prev_state", []roomversion.ID{"11", "12"},
			`{"type":"X","content":{},"origin":"hs","membership":"join","prev_state":[]}`,
			`{"content":{},"type":"X"}`},
		{"member keeps only membership before v9", []roomversion.ID{"1", "8"},
			`{"type":"m.room.member","content":{"membership":"join","displayname":"A","join_authorised_via_users_server":"@b:hs"}}`,
			`{"content":{"membership":"join"},"type":"m.room.member"}`},
		{"v9 keeps join_authorised_via_users_server", []roomversion.ID{"9", "10", "11"},
			`{"type":"m.room.member","content":{"membership":"join","displayname":"A","join_authorised_via_users_server":"@b:hs"}}`,
			`{"content":{"join_authorised_via_users_server":"@b:hs","membership":"join"},"type":"m.room.member"}`},
		{"v11 keeps third_party_invite.signed only", []roomversion.ID{"11", "12"},
			`{"type":"m.room.member","content":{"membership":"invite","third_party_invite":{"display_name":"x","signed":{"mxid":"@a:hs","token":"t"}}}}`,
			`{"content":{"membership":"invite","third_party_invite":{"signed":{"mxid":"@a:hs","token":"t"}}},"type":"m.room.member"}`},
		{"create keeps only creator before v11", []roomversion.ID{"1", "10"},
			`{"type":"m.room.create","content":{"creator":"@a:hs","room_version":"10","m.federate":false}}`,
			`{"content":{"creator":"@a:hs"},"type":"m.room.create"}`},
		{"v11 keeps the whole create content", []roomversion.ID{"11", "12"},
			`{"type":"m.room.create","content":{"room_version":"11","m.federate":false}}`,
			`{"content":{"m.federate":false,"room_version":"11"},"type":"m.room.create"}`},
		{"join_rules allow kept from v9 (v8's restricted rooms)", []roomversion.ID{"9", "11"},
			`{"type":"m.room.join_rules","content":{"join_rule":"restricted","allow":[],"x":1}}`,
			`{"content":{"allow":[],"join_rule":"restricted"},"type":"m.room.join_rules"}`},
		{"join_rules keep only join_rule before v9", []roomversion.ID{"1", "8"},
			`{"type":"m.room.join_rules","content":{"join_rule":"restricted","allow":[]}}`,
			`{"content":{"join_rule":"restricted"},"type":"m.room.join_rules"}`},
		{"power levels invite kept from v11", []roomversion.ID{"11"},
			`{"type":"m.room.power_levels","content":{"invite":0,"ban":50,"historical":100}}`,
			`{"content":{"ban":50,"invite":0},"type":"m.room.power_levels"}`},
		{"power levels invite dropped before v11", []roomversion.ID{"1", "10"},
			`{"type":"m.room.power_levels","content":{"invite":0,"ban":50}}`,
			`{"content":{"ban":50},"type":"m.room.power_levels"}`},
		{"aliases kept only in v1-v5", []roomversion.ID{"1", "5"},
			`{"type":"m.room.aliases","content":{"aliases":["#a:hs"]}}`,
			`{"content":{"aliases":["#a:hs"]},"type":"m.room.aliases"}`},
		{"aliases emptied from v6", []roomversion.ID{"6", "11"},
			`{"type":"m.room.aliases","content":{"aliases":["#a:hs"]}}`,
			`{"content":{},"type":"m.room.aliases"}`},
		{"v11 redaction keeps content.redacts", []roomversion.ID{"11"},
			`{"type":"m.room.redaction","content":{"redacts":"$x","reason":"spam"}}`,
			`{"content":{"redacts":"$x"},"type":"m.room.redaction"}`},
		{"history visibility survives", []roomversion.ID{"1", "12"},
			`{"type":"m.room.history_visibility","content":{"history_visibility":"joined","x":1}}`,
			`{"content":{"history_visibility":"joined"},"type":"m.room.history_visibility"}`},
	}
	for _, c := range cases {
		for _, id := range c.versions {
			got, err := RedactJSON([]byte(canon(t, c.in)), roomversion.MustGet(id))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != canon(t, c.want) {
				t.Errorf("%s (v%s):\n got %s\nwant %s", c.name, id, got, canon(t, c.want))
			}
		}
	}
}
