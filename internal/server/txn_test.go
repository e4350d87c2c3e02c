package server_test

import (
	"net/url"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

// "The scope of a transaction ID is for a single device, and a single HTTP
// endpoint ... if a client logs out and back in between two requests using
// the same transaction ID, the requests are distinct because the act of
// logging in and out creates a new device" (client-server-api,
// "Transaction identifiers"). A retransmission is the same transaction ID
// on the same path: the same ID in another room is a new request too.
func TestTxn_NewLoginWithTheSameTransactionIDMakesANewEvent(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		room1 := alice.CreateRoom(map[string]any{})
		room2 := alice.CreateRoom(map[string]any{})
		send := func(c *servertest.Client, roomID string) string {
			t.Helper()
			var resp struct {
				EventID string `json:"event_id"`
			}
			c.MustDo("PUT", servertest.Room(roomID)+"/send/m.room.message/same-txn", map[string]any{"msgtype": "m.text", "body": "hi"}, &resp)
			return resp.EventID
		}
		first := send(alice, room1)

		var login struct {
			AccessToken string `json:"access_token"`
			DeviceID    string `json:"device_id"`
		}
		s.Anonymous().MustDo("POST", "/_matrix/client/v3/login", map[string]any{"type": "m.login.password",
			"identifier": map[string]any{"type": "m.id.user", "user": "alice"}, "password": "correct horse battery staple"}, &login)
		if login.DeviceID == alice.DeviceID {
			t.Fatalf("the new login reuses device %s", login.DeviceID)
		}
		again := *alice
		again.AccessToken, again.DeviceID = login.AccessToken, login.DeviceID

		if id := send(&again, room1); id == first {
			t.Errorf("the same transaction ID from a new login returned the old device's event %s", first)
		}
		if id := send(alice, room2); id == first {
			t.Errorf("the same transaction ID in another room returned the first room's event %s", first)
		}
		if id := send(alice, room1); id != first {
			t.Errorf("a retransmission from the first device made %s, want %s", id, first)
		}
	})
}

// A redaction sent with a transaction ID shows that ID, as the client sent
// it, in its unsigned.transaction_id for the sending device, and retrying
// it returns the same redaction.
func TestTxn_RedactionIsIdempotentAndShowsItsTransactionID(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		roomID := alice.CreateRoom(map[string]any{})
		target := alice.SendText(roomID, "oops")
		path := servertest.Room(roomID) + "/redact/" + url.PathEscape(target) + "/red-1"
		var a, b struct {
			EventID string `json:"event_id"`
		}
		alice.MustDo("PUT", path, map[string]any{}, &a)
		alice.MustDo("PUT", path, map[string]any{}, &b)
		if a.EventID == "" || a.EventID != b.EventID {
			t.Fatalf("retrying a redaction made %q, want the original %q", b.EventID, a.EventID)
		}
		var got ev
		alice.MustDo("GET", servertest.Room(roomID)+"/event/"+url.PathEscape(a.EventID), nil, &got)
		if got.Unsigned.TransactionID != "red-1" {
			t.Errorf("the redaction's unsigned.transaction_id = %q, want red-1", got.Unsigned.TransactionID)
		}
	})
}
