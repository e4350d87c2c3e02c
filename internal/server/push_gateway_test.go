package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// gatewayYAML lets pushes reach the test gateway on loopback, which the
// default ip_range_blacklist refuses.
const gatewayYAML = "ip_range_whitelist: ['127.0.0.1/32']\n"

// pushed is one notification a gateway received.
type pushed struct {
	Notification struct {
		EventID           string          `json:"event_id"`
		RoomID            string          `json:"room_id"`
		Type              string          `json:"type"`
		Sender            string          `json:"sender"`
		SenderDisplayName string          `json:"sender_display_name"`
		RoomName          string          `json:"room_name"`
		Prio              string          `json:"prio"`
		Content           json.RawMessage `json:"content"`
		Counts            struct {
			Unread int `json:"unread"`
		} `json:"counts"`
		Devices []struct {
			AppID     string                     `json:"app_id"`
			PushKey   string                     `json:"pushkey"`
			PushKeyTS int64                      `json:"pushkey_ts"`
			Data      map[string]any             `json:"data"`
			Tweaks    map[string]json.RawMessage `json:"tweaks"`
		} `json:"devices"`
	} `json:"notification"`
}

// gateway is a push gateway on loopback (push-gateway-api "POST
// /_matrix/push/v1/notify") that records what it accepts. answer decides
// each request's status and body; nil accepts everything.
type gateway struct {
	*httptest.Server
	mu       sync.Mutex
	answer   func(p pushed) (int, string)
	received chan pushed
}

func newGateway(t *testing.T) *gateway {
	g := &gateway{received: make(chan pushed, 100)}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var p pushed
		if r.Method != http.MethodPost || r.URL.Path != "/_matrix/push/v1/notify" || json.Unmarshal(raw, &p) != nil {
			t.Errorf("gateway got %s %s %s", r.Method, r.URL.Path, raw)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		g.mu.Lock()
		answer := g.answer
		g.mu.Unlock()
		code, body := http.StatusOK, `{"rejected":[]}`
		if answer != nil {
			code, body = answer(p)
		}
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
		if code == http.StatusOK {
			g.received <- p
		}
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *gateway) setAnswer(f func(p pushed) (int, string)) {
	g.mu.Lock()
	g.answer = f
	g.mu.Unlock()
}

func (g *gateway) url() string { return g.URL + "/_matrix/push/v1/notify" }

// next waits for the gateway's next accepted notification. The bound only
// keeps a lost push from hanging the test; retries wait seconds at most.
func (g *gateway) next(t *testing.T) pushed {
	t.Helper()
	select {
	case p := <-g.received:
		return p
	case <-time.After(60 * time.Second):
		t.Fatal("the gateway received nothing")
		return pushed{}
	}
}

func eachServerWithGateway(t *testing.T, fn func(t *testing.T, s *servertest.Server, g *gateway)) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		fn(t, servertest.Start(t, db, servertest.Options{ExtraYAML: gatewayYAML}), newGateway(t))
	})
}

// push-gateway-api: each notification reaches the gateway once, in the
// order of the events, with the event's fields, the unread count, prio,
// and the device's pushkey, data (without url) and tweaks; an
// event_id_only pusher gets the IDs and counts only.
func TestPushGateway_DeliversInOrderInTheSpecsShape(t *testing.T) {
	eachServerWithGateway(t, func(t *testing.T, s *servertest.Server, g *gateway) {
		alice, bob := s.Register("alice"), s.Register("bob")
		room := sharedRoom(t, alice, bob)
		full := pusherBody("org.example.app", "full-key", g.url())
		full["data"] = map[string]any{"url": g.url(), "custom": "kept"}
		bob.MustDo("POST", "/_matrix/client/v3/pushers/set", full, nil)

		var sent []string
		for _, text := range []string{"one", "two", "three"} {
			sent = append(sent, alice.SendText(room, text))
		}
		for i, id := range sent {
			p := g.next(t).Notification
			if p.EventID != id || p.RoomID != room {
				t.Fatalf("push %d: event %s, want %s", i, p.EventID, id)
			}
			if p.Type != "m.room.message" || p.Sender != alice.UserID || len(p.Content) == 0 || p.Counts.Unread != 1 {
				t.Fatalf("push %d: %+v", i, p)
			}
			// A two-member room: .m.rule.room_one_to_one sets a sound.
			if p.Prio != "high" || len(p.Devices) != 1 {
				t.Fatalf("push %d: prio %q devices %+v", i, p.Prio, p.Devices)
			}
			dev := p.Devices[0]
			if dev.AppID != "org.example.app" || dev.PushKey != "full-key" || dev.PushKeyTS == 0 ||
				dev.Data["custom"] != "kept" || dev.Data["url"] != nil || string(dev.Tweaks["sound"]) != `"default"` {
				t.Fatalf("push %d: device %+v", i, dev)
			}
		}

		bob.MustDo("POST", "/_matrix/client/v3/pushers/set", pusherBody("org.example.app", "full-key", g.url()), nil)
		id := alice.SendText(room, "four")
		p := g.next(t).Notification
		if p.EventID != id || p.RoomID != room || p.Type != "" || p.Sender != "" || p.Content != nil || p.Counts.Unread != 1 {
			t.Fatalf("event_id_only push: %+v", p)
		}
	})
}

// push-gateway-api: "If the endpoint returns an HTTP error code, the
// homeserver SHOULD retry ... using exponential backoff"; the pushes that
// waited go out in order once the gateway is back.
func TestPushGateway_RetriesAfterAnOutageInOrder(t *testing.T) {
	eachServerWithGateway(t, func(t *testing.T, s *servertest.Server, g *gateway) {
		alice, bob := s.Register("alice"), s.Register("bob")
		room := sharedRoom(t, alice, bob)
		failures := make(chan struct{}, 10)
		g.setAnswer(func(pushed) (int, string) {
			select {
			case failures <- struct{}{}:
				if len(failures) <= 2 {
					return http.StatusServiceUnavailable, "down"
				}
			default:
			}
			return http.StatusOK, "{}"
		})
		bob.MustDo("POST", "/_matrix/client/v3/pushers/set", pusherBody("org.example.app", "key", g.url()), nil)
		a, b := alice.SendText(room, "first"), alice.SendText(room, "second")
		if got := g.next(t).Notification.EventID; got != a {
			t.Fatalf("first push after the outage: %s, want %s", got, a)
		}
		if got := g.next(t).Notification.EventID; got != b {
			t.Fatalf("second push: %s, want %s", got, b)
		}
		if len(failures) < 2 {
			t.Fatalf("the gateway failed %d times, want 2", len(failures))
		}
	})
}

// push-gateway-api "rejected": pushkeys the gateway rejects are removed.
func TestPushGateway_RejectedPushkeyRemovesThePusher(t *testing.T) {
	eachServerWithGateway(t, func(t *testing.T, s *servertest.Server, g *gateway) {
		alice, bob := s.Register("alice"), s.Register("bob")
		room := sharedRoom(t, alice, bob)
		g.setAnswer(func(pushed) (int, string) { return http.StatusOK, `{"rejected":["dead-key"]}` })
		bob.MustDo("POST", "/_matrix/client/v3/pushers/set", pusherBody("org.example.app", "dead-key", g.url()), nil)
		alice.SendText(room, "hello")
		g.next(t)
		// The removal follows the answer: poll the list until it happens.
		for range 100 {
			if len(listPushers(t, bob).Pushers) == 0 {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatal("the pusher with the rejected pushkey is still there")
	})
}

// Pushes are queued in the database: those the gateway had not accepted
// when the server stopped are delivered after it starts again.
func TestPushGateway_UndeliveredPushesSurviveRestart(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		dir := t.TempDir()
		g := newGateway(t)
		opts := servertest.Options{ExtraYAML: gatewayYAML}
		s := servertest.StartIn(t, dir, db, opts)
		alice, bob := s.Register("alice"), s.Register("bob")
		room := sharedRoom(t, alice, bob)
		refused := make(chan struct{}, 100)
		g.setAnswer(func(pushed) (int, string) {
			select {
			case refused <- struct{}{}:
			default:
			}
			return http.StatusInternalServerError, "down"
		})
		bob.MustDo("POST", "/_matrix/client/v3/pushers/set", pusherBody("org.example.app", "key", g.url()), nil)
		a, b := alice.SendText(room, "first"), alice.SendText(room, "second")
		<-refused // the first push was tried and failed
		s.Stop()

		g.setAnswer(nil)
		servertest.StartIn(t, dir, db, opts) // delivers what the first run left queued
		if got := g.next(t).Notification.EventID; got != a {
			t.Fatalf("first push after the restart: %s, want %s", got, a)
		}
		if got := g.next(t).Notification.EventID; got != b {
			t.Fatalf("second push after the restart: %s, want %s", got, b)
		}
	})
}
