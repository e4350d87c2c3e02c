package clientapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/myelin-chat/myelin/internal/e2ee"
	"github.com/myelin-chat/myelin/internal/httpapi"
)

// maxKeysBody bounds /keys/upload, /keys/query and /keys/claim bodies.
const maxKeysBody = 1 << 20

type uploadKeysBody struct {
	DeviceKeys   json.RawMessage            `json:"device_keys"`
	OneTimeKeys  map[string]json.RawMessage `json:"one_time_keys"`
	FallbackKeys map[string]json.RawMessage `json:"fallback_keys"`
}

// uploadKeys is POST /keys/upload (keys.yaml).
func (a *E2EEAPI) uploadKeys(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	var body uploadKeysBody
	if err := httpapi.ReadJSON(r, maxKeysBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	counts, err := a.Service.Upload(r.Context(), e2ee.UploadRequest{UserID: s.UserID, DeviceID: s.DeviceID,
		DeviceKeys: body.DeviceKeys, OneTimeKeys: body.OneTimeKeys, FallbackKeys: body.FallbackKeys})
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"one_time_key_counts": counts})
}

type queryKeysBody struct {
	DeviceKeys map[string][]string `json:"device_keys"`
	Timeout    *int64              `json:"timeout"`
}

// queryKeys is POST /keys/query (keys.yaml).
func (a *E2EEAPI) queryKeys(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	var body queryKeysBody
	if err := httpapi.ReadJSON(r, maxKeysBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if body.DeviceKeys == nil {
		httpapi.WriteError(w, httpapi.MissingParam("device_keys is required"))
		return
	}
	res, err := a.Service.Query(r.Context(), s.UserID, body.DeviceKeys, remoteTimeout(body.Timeout))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"device_keys": res.DeviceKeys, "failures": res.Failures,
		"master_keys": res.MasterKeys, "self_signing_keys": res.SelfSigningKeys, "user_signing_keys": res.UserSigningKeys})
}

type claimKeysBody struct {
	OneTimeKeys map[string]map[string]string `json:"one_time_keys"`
	Timeout     *int64                       `json:"timeout"`
}

// claimKeys is POST /keys/claim (keys.yaml).
func (a *E2EEAPI) claimKeys(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	var body claimKeysBody
	if err := httpapi.ReadJSON(r, maxKeysBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if body.OneTimeKeys == nil {
		httpapi.WriteError(w, httpapi.MissingParam("one_time_keys is required"))
		return
	}
	res, err := a.Service.Claim(r.Context(), body.OneTimeKeys, remoteTimeout(body.Timeout))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"one_time_keys": res.OneTimeKeys, "failures": res.Failures})
}

// maxRemoteTimeout bounds the timeout a client may ask /keys/query and
// /keys/claim to wait for other servers.
const maxRemoteTimeout = time.Minute

// remoteTimeout is the request's timeout (milliseconds) for other servers,
// 10 seconds by default (keys.yaml).
func remoteTimeout(ms *int64) time.Duration {
	if ms == nil || *ms < 0 {
		return e2ee.DefaultRemoteTimeout
	}
	return min(time.Duration(*ms)*time.Millisecond, maxRemoteTimeout)
}

// keyChanges is GET /keys/changes (keys.yaml): users whose device lists
// changed between two sync tokens, and those who left every shared room.
func (a *E2EEAPI) keyChanges(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	q := r.URL.Query()
	from, to := q.Get("from"), q.Get("to")
	if from == "" || to == "" {
		httpapi.WriteError(w, httpapi.MissingParam("from and to are required"))
		return
	}
	changed, left, err := a.Service.KeyChanges(r.Context(), s.UserID, from, to)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"changed": changed, "left": left})
}
