package clientapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/myelin-chat/myelin/internal/clientevent"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/push"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/syncapi"
)

// NotificationSource lists a user's notifications (push.Notifier).
type NotificationSource interface {
	List(ctx context.Context, userID, from string, limit int, only string) ([]push.Listed, string, error)
}

// PusherService keeps users' pushers (push.Pushers).
type PusherService interface {
	List(ctx context.Context, userID string) ([]push.PusherView, error)
	Set(ctx context.Context, userID, deviceID string, req push.SetPusherRequest) error
}

// PushAPI serves GET /notifications, GET /pushers and POST /pushers/set
// (client-server-api "Push Notifications").
type PushAPI struct {
	Auth          httpapi.TokenResolver
	Engine        *rooms.Engine
	Notifications NotificationSource
	Pushers       PusherService
	Now           func() time.Time
	// Bundler adds bundled aggregations to the notified events; nil:
	// none.
	Bundler syncapi.Bundler
}

// maxPusherBody bounds POST /pushers/set: its strings are bounded well
// below this (push.MaxPusherData and the field limits).
const maxPusherBody = 16 << 10

// Register adds the endpoints under both the v3 and r0 prefixes.
func (a *PushAPI) Register(rt *httpapi.Router) {
	registerAuthed(rt, a.Auth, func(auth func(method, path string, h httpapi.AuthHandler)) {
		auth("GET", "/notifications", a.notifications)
		auth("GET", "/pushers", a.listPushers)
		auth("POST", "/pushers/set", a.setPusher)
	})
}

type notificationJSON struct {
	Actions    json.RawMessage    `json:"actions"`
	Event      *clientevent.Event `json:"event"`
	ProfileTag string             `json:"profile_tag,omitempty"`
	Read       bool               `json:"read"`
	RoomID     string             `json:"room_id"`
	TS         int64              `json:"ts"`
}

// notifications is GET /notifications with from, limit and only.
func (a *PushAPI) notifications(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	ctx := r.Context()
	limit, err := queryLimit(r, push.DefaultListLimit, push.MaxListLimit)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	q := r.URL.Query()
	items, next, err := a.Notifications.List(ctx, s.UserID, q.Get("from"), limit, q.Get("only"))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.EventID
	}
	evs, err := a.Engine.Store().Events(ctx, ids)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	now := a.Now().UnixMilli()
	out := make([]notificationJSON, 0, len(items))
	for _, it := range items {
		se, ok := evs[it.EventID]
		if !ok {
			continue
		}
		ce, err := syncapi.FormatStoredFor(ctx, a.Engine, se, clientevent.Options{NowMS: now}, s.UserID)
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		out = append(out, notificationJSON{Actions: it.Actions, Event: ce, Read: it.Read, RoomID: it.RoomID, TS: it.TS})
	}
	if a.Bundler != nil {
		evs := make([]*clientevent.Event, len(out))
		for i := range out {
			evs[i] = out[i].Event
		}
		if err := a.Bundler.Bundle(ctx, s.UserID, evs); err != nil {
			httpapi.WriteError(w, err)
			return
		}
	}
	resp := map[string]any{"notifications": out}
	if next != "" {
		resp["next_token"] = next
	}
	writeOK(w, resp)
}

// listPushers is GET /pushers.
func (a *PushAPI) listPushers(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	ps, err := a.Pushers.List(r.Context(), s.UserID)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, map[string]any{"pushers": ps})
}

// setPusher is POST /pushers/set.
func (a *PushAPI) setPusher(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	var req push.SetPusherRequest
	if err := httpapi.ReadJSON(r, maxPusherBody, &req); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if err := a.Pushers.Set(r.Context(), s.UserID, s.DeviceID, req); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, struct{}{})
}
