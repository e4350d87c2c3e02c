package push

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/pushstore"
)

// Pusher kinds (client-server-api "POST /pushers/set").
const (
	KindHTTP  = "http"
	KindEmail = "email"
	// NotifyPath is the only path a pusher URL may have (push-gateway-api).
	NotifyPath = "/_matrix/push/v1/notify"
	// FormatEventIDOnly asks for notifications without event details.
	FormatEventIDOnly = "event_id_only"
)

// Bounds of a pusher's fields: the spec's for pushkey and app_id, the rest
// ours (they are shown back and sent to the gateway on every push).
const (
	MaxPushKeyBytes  = 512
	MaxAppIDChars    = 64
	maxPusherString  = 512
	MaxPusherData    = 4096
	maxPushersOfUser = 100
)

// SetPusherRequest is the body of POST /pushers/set; nil fields were
// absent. Kind is the raw JSON value, so that null (delete) and absent
// (an error) differ.
type SetPusherRequest struct {
	Kind              json.RawMessage `json:"kind"`
	AppID             *string         `json:"app_id"`
	PushKey           *string         `json:"pushkey"`
	AppDisplayName    *string         `json:"app_display_name"`
	DeviceDisplayName *string         `json:"device_display_name"`
	ProfileTag        *string         `json:"profile_tag"`
	Lang              *string         `json:"lang"`
	Data              json.RawMessage `json:"data"`
	Append            bool            `json:"append"`
}

// PusherView is a pusher as GET /pushers shows it.
type PusherView struct {
	PushKey           string          `json:"pushkey"`
	Kind              string          `json:"kind"`
	AppID             string          `json:"app_id"`
	AppDisplayName    string          `json:"app_display_name"`
	DeviceDisplayName string          `json:"device_display_name"`
	ProfileTag        string          `json:"profile_tag,omitempty"`
	Lang              string          `json:"lang"`
	Data              json.RawMessage `json:"data"`
}

// Pushers keeps users' pushers.
type Pushers struct {
	store *pushstore.Store
	now   func() time.Time
}

// NewPushers returns the pushers service.
func NewPushers(store *pushstore.Store, now func() time.Time) *Pushers {
	if now == nil {
		now = time.Now
	}
	return &Pushers{store: store, now: now}
}

// List returns a user's pushers (GET /pushers).
func (p *Pushers) List(ctx context.Context, userID string) ([]PusherView, error) {
	ps, err := p.store.Pushers(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]PusherView, 0, len(ps))
	for _, x := range ps {
		out = append(out, PusherView{PushKey: x.PushKey, Kind: x.Kind, AppID: x.AppID, AppDisplayName: x.AppDisplayName,
			DeviceDisplayName: x.DeviceDisplayName, ProfileTag: x.ProfileTag, Lang: x.Lang, Data: json.RawMessage(x.Data)})
	}
	return out, nil
}

// Set creates, replaces or (kind null) deletes a pusher of the user for
// the device whose access token made the request (client-server-api
// "POST /pushers/set"). Logging that device out removes its pushers, as
// in Synapse, where pushers belong to the access token.
func (p *Pushers) Set(ctx context.Context, userID, deviceID string, req SetPusherRequest) error {
	var missing []string
	if req.Kind == nil {
		missing = append(missing, "kind")
	}
	if req.AppID == nil {
		missing = append(missing, "app_id")
	}
	if req.PushKey == nil {
		missing = append(missing, "pushkey")
	}
	if len(missing) > 0 {
		return merr.MissingParam("Missing parameters: " + strings.Join(missing, ", "))
	}
	if len(*req.PushKey) > MaxPushKeyBytes {
		return merr.InvalidParam("pushkey is longer than 512 bytes")
	}
	if len([]rune(*req.AppID)) > MaxAppIDChars {
		return merr.InvalidParam("app_id is longer than 64 characters")
	}
	if string(req.Kind) == "null" {
		return p.store.DeletePusher(ctx, userID, *req.AppID, *req.PushKey)
	}
	var kind string
	if json.Unmarshal(req.Kind, &kind) != nil {
		return merr.InvalidParam("kind must be a string or null")
	}
	if req.AppDisplayName == nil {
		missing = append(missing, "app_display_name")
	}
	if req.DeviceDisplayName == nil {
		missing = append(missing, "device_display_name")
	}
	if req.Lang == nil {
		missing = append(missing, "lang")
	}
	if req.Data == nil || string(req.Data) == "null" {
		missing = append(missing, "data")
	}
	if len(missing) > 0 {
		return merr.MissingParam("Missing parameters: " + strings.Join(missing, ", "))
	}
	switch kind {
	case KindHTTP:
	case KindEmail:
		// Email notifications need the server to send mail, which it does
		// not do yet.
		return merr.InvalidParam("email pushers are not supported by this server")
	default:
		return merr.InvalidParam("unknown pusher kind " + quoteShort(kind))
	}
	for name, v := range map[string]*string{"app_display_name": req.AppDisplayName,
		"device_display_name": req.DeviceDisplayName, "profile_tag": req.ProfileTag, "lang": req.Lang} {
		if v != nil && len(*v) > maxPusherString {
			return merr.InvalidParam(name + " is too long")
		}
	}
	data, err := checkHTTPData(req.Data)
	if err != nil {
		return err
	}
	ps, err := p.store.Pushers(ctx, userID)
	if err != nil {
		return err
	}
	if len(ps) >= maxPushersOfUser && !hasPusher(ps, *req.AppID, *req.PushKey) {
		return merr.InvalidParam("too many pushers")
	}
	np := pushstore.Pusher{UserID: userID, DeviceID: deviceID, Kind: kind, AppID: *req.AppID, PushKey: *req.PushKey,
		AppDisplayName: *req.AppDisplayName, DeviceDisplayName: *req.DeviceDisplayName, Lang: *req.Lang,
		Data: string(data), CreatedTS: p.now().UnixMilli()}
	if req.ProfileTag != nil {
		np.ProfileTag = *req.ProfileTag
	}
	return p.store.SetPusher(ctx, np, req.Append)
}

func hasPusher(ps []pushstore.Pusher, appID, pushKey string) bool {
	for _, p := range ps {
		if p.AppID == appID && p.PushKey == pushKey {
			return true
		}
	}
	return false
}

// checkHTTPData checks an http pusher's data: an object, at most
// MaxPusherData bytes, whose url is an http(s) URL with the path
// /_matrix/push/v1/notify. The spec says the URL MUST be HTTPS; like
// Synapse, which checks only the path, plain http is accepted too (push
// gateways on a private network), and the outbound IP policy applies to
// every pusher URL. format, when given, is a string; event_id_only is the
// one the spec defines, and other values send the full format, as Synapse
// does.
func checkHTTPData(raw json.RawMessage) ([]byte, error) {
	if len(raw) > MaxPusherData {
		return nil, merr.InvalidParam("data is larger than 4096 bytes")
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		return nil, merr.InvalidParam("data must be an object")
	}
	rawURL, ok := obj["url"]
	if !ok {
		return nil, merr.MissingParam("data.url is required for http pushers")
	}
	var s string
	if json.Unmarshal(rawURL, &s) != nil {
		return nil, merr.InvalidParam("data.url must be a string")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, merr.InvalidParam("data.url must be an absolute http or https URL")
	}
	if u.Path != NotifyPath {
		return nil, merr.InvalidParam("data.url must have the path " + NotifyPath)
	}
	if f, ok := obj["format"]; ok {
		var fs string
		if json.Unmarshal(f, &fs) != nil {
			return nil, merr.InvalidParam("data.format must be a string")
		}
	}
	return json.Marshal(obj) // keys sorted, values as given
}

func quoteShort(s string) string {
	if len(s) > 32 {
		s = s[:32] + "…"
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// OnDevicesDeleted removes the pushers the deleted devices set up
// (users.DeviceHook): Synapse removes a pusher with its access token.
func (p *Pushers) OnDevicesDeleted(ctx context.Context, userID string, deviceIDs []string) error {
	for _, d := range deviceIDs {
		if err := p.store.DeleteDevicePushers(ctx, userID, d); err != nil {
			return err
		}
	}
	return nil
}
