package clientapi

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/openid"
)

// OpenIDService issues and checks OpenID tokens (internal/openid).
type OpenIDService interface {
	Issue(ctx context.Context, userID string) (openid.Token, error)
	UserInfo(ctx context.Context, token string) (string, error)
}

// OpenIDAPI serves POST /user/{userId}/openid/request_token
// (client-server-api "OpenID") and the federation userinfo endpoint.
type OpenIDAPI struct {
	Auth       httpapi.TokenResolver
	OpenID     OpenIDService
	ServerName string
}

// Register adds the client endpoint under both the v3 and r0 prefixes.
func (a *OpenIDAPI) Register(rt *httpapi.Router) {
	for _, p := range []string{"/_matrix/client/v3", "/_matrix/client/r0"} {
		rt.Handle("POST "+p+"/user/{userId}/openid/request_token", httpapi.RequireAuth(a.Auth, a.requestToken))
	}
}

// RegisterFederation adds GET /_matrix/federation/v1/openid/userinfo,
// which third parties call without X-Matrix authentication (openid.yaml
// in the server-server API: the token is the only credential).
func (a *OpenIDAPI) RegisterFederation(rt *httpapi.Router) {
	rt.HandleFunc("GET /_matrix/federation/v1/openid/userinfo", a.userInfo)
}

func (a *OpenIDAPI) requestToken(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	if r.PathValue("userId") != s.UserID {
		httpapi.WriteError(w, merr.Forbidden("cannot request an OpenID token for another user"))
		return
	}
	var body map[string]json.RawMessage
	if err := httpapi.ReadJSON(r, maxSmallBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	tok, err := a.OpenID.Issue(r.Context(), s.UserID)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, map[string]any{"access_token": tok.AccessToken, "token_type": "Bearer",
		"matrix_server_name": a.ServerName, "expires_in": int64(tok.ExpiresIn.Seconds())})
}

func (a *OpenIDAPI) userInfo(w http.ResponseWriter, r *http.Request) {
	userID, err := a.OpenID.UserInfo(r.Context(), r.URL.Query().Get("access_token"))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, map[string]string{"sub": userID})
}
