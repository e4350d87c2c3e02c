package server_test

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

func eachServerWithGuests(t *testing.T, fn func(t *testing.T, s *servertest.Server)) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		fn(t, servertest.Start(t, db, servertest.Options{ExtraYAML: "allow_guest_access: true\n"}))
	})
}

func registerGuest(t *testing.T, s *servertest.Server) *servertest.Client {
	t.Helper()
	var resp struct {
		UserID      string `json:"user_id"`
		AccessToken string `json:"access_token"`
		DeviceID    string `json:"device_id"`
	}
	s.Anonymous().MustDo("POST", "/_matrix/client/v3/register?kind=guest", map[string]any{}, &resp)
	c := s.Anonymous()
	c.UserID, c.AccessToken, c.DeviceID = resp.UserID, resp.AccessToken, resp.DeviceID
	return c
}

// client-server-api "Guest Access": a guest may sync, read and join rooms
// whose m.room.guest_access is can_join, send there, and nothing else:
// other endpoints, and joins elsewhere, are 403 M_GUEST_ACCESS_FORBIDDEN.
func TestGuests_JoinOnlyCanJoinRoomsAndUseTheListedEndpoints(t *testing.T) {
	eachServerWithGuests(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		guest := registerGuest(t, s)
		room := alice.CreateRoom(map[string]any{"preset": "public_chat", "name": "Lobby"})

		guest.MustDo("GET", "/_matrix/client/v3/sync", nil, nil)
		var who struct {
			IsGuest bool `json:"is_guest"`
		}
		guest.MustDo("GET", "/_matrix/client/v3/account/whoami", nil, &who)
		if !who.IsGuest {
			t.Error("whoami does not say is_guest")
		}
		forbidden := func(what, method, path string, body any) {
			t.Helper()
			status, raw := guest.Do(method, path, body, nil)
			if status != 403 || servertest.Errcode(raw) != "M_GUEST_ACCESS_FORBIDDEN" {
				t.Errorf("%s: %d %s, want 403 M_GUEST_ACCESS_FORBIDDEN", what, status, raw)
			}
		}
		forbidden("createRoom", "POST", "/_matrix/client/v3/createRoom", map[string]any{})
		forbidden("invite", "POST", servertest.Room(room)+"/invite", map[string]any{"user_id": alice.UserID})
		forbidden("join without guest access", "POST", servertest.Room(room)+"/join", map[string]any{})

		alice.MustDo("PUT", servertest.Room(room)+"/state/m.room.guest_access/", map[string]any{"guest_access": "can_join"}, nil)
		guest.MustDo("POST", servertest.Room(room)+"/join", map[string]any{}, nil)
		guest.SendText(room, "hello as a guest")
		var msgs struct {
			Chunk []json.RawMessage `json:"chunk"`
		}
		guest.MustDo("GET", servertest.Room(room)+"/messages?dir=b&limit=5", nil, &msgs)
		if len(msgs.Chunk) == 0 {
			t.Error("the guest reads no messages")
		}
		guest.MustDo("GET", servertest.Room(room)+"/members", nil, nil)
		guest.MustDo("GET", servertest.Room(room)+"/state/m.room.name/", nil, nil)
		guest.MustDo("POST", servertest.Room(room)+"/leave", map[string]any{}, nil)
		forbidden("join by alias path", "POST", "/_matrix/client/v3/join/"+url.PathEscape(room), map[string]any{})

		// Guest access withdrawn: the server makes its guests leave.
		guest.MustDo("POST", servertest.Room(room)+"/join", map[string]any{}, nil)
		alice.MustDo("PUT", servertest.Room(room)+"/state/m.room.guest_access/", map[string]any{"guest_access": "forbidden"}, nil)
		deadline := time.Now().Add(30 * time.Second)
		for {
			var m struct {
				Membership string `json:"membership"`
			}
			alice.MustDo("GET", servertest.Room(room)+"/state/m.room.member/"+url.PathEscape(guest.UserID), nil, &m)
			if m.Membership == "leave" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the guest is still %q after guest access was withdrawn", m.Membership)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// A guest registers a full account for itself with guest_access_token
// and keeps its user ID; its tokens are no longer a guest's.
func TestGuests_UpgradeToAFullAccount(t *testing.T) {
	eachServerWithGuests(t, func(t *testing.T, s *servertest.Server) {
		guest := registerGuest(t, s)
		localpart := guest.UserID[1:]
		for i := 0; i < len(localpart); i++ {
			if localpart[i] == ':' {
				localpart = localpart[:i]
				break
			}
		}
		body := map[string]any{"username": localpart, "password": "correct horse battery staple",
			"guest_access_token": guest.AccessToken, "auth": map[string]any{"type": "m.login.dummy"}}
		anon := s.Anonymous()
		var resp struct {
			UserID      string `json:"user_id"`
			AccessToken string `json:"access_token"`
		}
		if status, raw := anon.Do("POST", "/_matrix/client/v3/register", body, &resp); status == 401 {
			// A UIA round trip first.
			var uia struct {
				Session string `json:"session"`
			}
			_ = json.Unmarshal(raw, &uia)
			body["auth"] = map[string]any{"type": "m.login.dummy", "session": uia.Session}
			anon.MustDo("POST", "/_matrix/client/v3/register", body, &resp)
		} else if status != 200 {
			t.Fatalf("upgrade: %d %s", status, raw)
		}
		if resp.UserID != guest.UserID || resp.AccessToken == "" {
			t.Fatalf("upgrade answered %+v, want %s with a token", resp, guest.UserID)
		}
		var who struct {
			IsGuest bool `json:"is_guest"`
		}
		guest.MustDo("GET", "/_matrix/client/v3/account/whoami", nil, &who)
		if who.IsGuest {
			t.Error("the old token still belongs to a guest")
		}
		guest.CreateRoom(map[string]any{})
		var login struct {
			UserID string `json:"user_id"`
		}
		s.Anonymous().MustDo("POST", "/_matrix/client/v3/login", map[string]any{"type": "m.login.password",
			"identifier": map[string]any{"type": "m.id.user", "user": guest.UserID}, "password": "correct horse battery staple"}, &login)

		// A full account's token upgrades nothing.
		alice := s.Register("alice")
		body = map[string]any{"password": "correct horse battery staple", "guest_access_token": alice.AccessToken,
			"auth": map[string]any{"type": "m.login.dummy"}}
		if status, raw := anon.Do("POST", "/_matrix/client/v3/register", body, nil); status != 403 {
			t.Errorf("upgrade with a full account's token: %d %s, want 403", status, raw)
		}
	})
}
