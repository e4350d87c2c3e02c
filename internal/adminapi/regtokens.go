package adminapi

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
	"github.com/myelin-chat/myelin/internal/users"
)

// Synapse's registration tokens admin API
// (docs/usage/administration/admin_api/registration_tokens.md).

func tokenJSON(t *users.RegistrationTokenInfo) map[string]any {
	out := map[string]any{"token": t.Token, "uses_allowed": nil, "pending": t.Pending,
		"completed": t.Completed, "expiry_time": nil}
	if t.UsesAllowed != nil {
		out["uses_allowed"] = *t.UsesAllowed
	}
	if t.ExpiryTime != nil {
		out["expiry_time"] = *t.ExpiryTime
	}
	return out
}

// listTokens is GET /_synapse/admin/v1/registration_tokens[?valid=bool].
func (a *API) listTokens(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	valid, err := queryOptBool(r, "valid")
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	list, err := a.Users.ListRegistrationTokens(r.Context(), valid)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	out := make([]map[string]any, len(list))
	for i := range list {
		out[i] = tokenJSON(&list[i])
	}
	writeOK(w, map[string]any{"registration_tokens": out})
}

// tokenBody is the body of POST .../new and PUT .../{token}; the integers
// are read by hand so that null, absent and wrong types differ.
type tokenBody struct {
	Token       *string         `json:"token"`
	Length      json.RawMessage `json:"length"`
	UsesAllowed json.RawMessage `json:"uses_allowed"`
	ExpiryTime  json.RawMessage `json:"expiry_time"`
}

// optInt reads an integer-or-null field: set says it was present, nil
// value that it was null.
func optInt(raw json.RawMessage, msg string) (set bool, v *int64, err error) {
	if len(raw) == 0 {
		return false, nil, nil
	}
	if bytes.Equal(raw, []byte("null")) {
		return true, nil, nil
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil {
		return false, nil, merr.InvalidParam(msg)
	}
	return true, &n, nil
}

const (
	usesMsg   = "uses_allowed must be a non-negative integer or null"
	expiryMsg = "expiry_time must be an integer or null"
)

// newToken is POST /_synapse/admin/v1/registration_tokens/new.
func (a *API) newToken(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	var body tokenBody
	if err := httpapi.ReadOptionalJSON(r, maxBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	var n users.NewRegistrationToken
	if body.Token != nil {
		n.Token = *body.Token
		if n.Token == "" {
			httpapi.WriteError(w, merr.InvalidParam("token must not be empty"))
			return
		}
	}
	_, length, err := optInt(body.Length, "length must be an integer > 0 and <= 64")
	if err == nil && length != nil {
		if *length <= 0 || *length > users.MaxRegistrationTokenLength {
			err = merr.InvalidParam("length must be an integer > 0 and <= 64")
		} else {
			n.Length = int(*length)
		}
	}
	if err == nil {
		_, n.UsesAllowed, err = optInt(body.UsesAllowed, usesMsg)
	}
	if err == nil {
		_, n.ExpiryTime, err = optInt(body.ExpiryTime, expiryMsg)
	}
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	t, err := a.Users.CreateRegistrationToken(r.Context(), n)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, tokenJSON(t))
}

// getToken is GET /_synapse/admin/v1/registration_tokens/{token}.
func (a *API) getToken(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	t, err := a.Users.GetRegistrationToken(r.Context(), r.PathValue("token"))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, tokenJSON(t))
}

// putToken is PUT /_synapse/admin/v1/registration_tokens/{token}: changes
// uses_allowed and/or expiry_time (null: unlimited, never).
func (a *API) putToken(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	var body tokenBody
	if err := httpapi.ReadJSON(r, maxBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	var u accounts.RegistrationTokenUpdate
	var err error
	u.SetUsesAllowed, u.UsesAllowed, err = optInt(body.UsesAllowed, usesMsg)
	if err == nil {
		u.SetExpiryTime, u.ExpiryTime, err = optInt(body.ExpiryTime, expiryMsg)
	}
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	t, err := a.Users.UpdateRegistrationToken(r.Context(), r.PathValue("token"), u)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, tokenJSON(t))
}

// deleteToken is DELETE /_synapse/admin/v1/registration_tokens/{token}.
func (a *API) deleteToken(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	if err := a.Users.DeleteRegistrationToken(r.Context(), r.PathValue("token")); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, empty)
}
