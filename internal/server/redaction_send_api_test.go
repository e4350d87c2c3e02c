package server_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

// room_send.yaml (spec v1.18, MSC4169): an m.room.redaction may be sent
// through /send in every room version, naming its target in
// content.redacts; before room version 11 the server moves redacts to the
// top level of the event. Without content.redacts it is refused.
func TestSend_RedactionThroughSendInEveryRoomVersion(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		for _, version := range []string{"10", "12"} {
			room := alice.CreateRoom(map[string]any{"room_version": version})
			target := alice.SendText(room, "oops")
			var sent struct {
				EventID string `json:"event_id"`
			}
			alice.MustDo("PUT", "/_matrix/client/v3/rooms/"+esc(room)+"/send/m.room.redaction/r"+version,
				map[string]any{"redacts": target, "reason": "typo"}, &sent)

			var redacted struct {
				Content  map[string]any `json:"content"`
				Unsigned struct {
					RedactedBecause json.RawMessage `json:"redacted_because"`
				} `json:"unsigned"`
			}
			alice.MustDo("GET", "/_matrix/client/v3/rooms/"+esc(room)+"/event/"+esc(target), nil, &redacted)
			if len(redacted.Content) != 0 || len(redacted.Unsigned.RedactedBecause) == 0 {
				t.Errorf("v%s: target after the redaction: %+v", version, redacted)
			}
			var red struct {
				Redacts string         `json:"redacts"`
				Content map[string]any `json:"content"`
			}
			alice.MustDo("GET", "/_matrix/client/v3/rooms/"+esc(room)+"/event/"+esc(sent.EventID), nil, &red)
			inContent, _ := red.Content["redacts"].(string)
			switch version {
			case "10":
				if red.Redacts != target || inContent != "" {
					t.Errorf("v10: redacts %q at the top, %q in content; want it moved to the top", red.Redacts, inContent)
				}
			default:
				if inContent != target {
					t.Errorf("v%s: content.redacts %q, want %q", version, inContent, target)
				}
			}
			status, raw := alice.Do("PUT", "/_matrix/client/v3/rooms/"+esc(room)+"/send/m.room.redaction/bad"+version,
				map[string]any{"reason": "no target"}, nil)
			if status != http.StatusBadRequest {
				t.Errorf("v%s: redaction without redacts: %d %s", version, status, raw)
			}
		}
	})
}
