package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

// client-server-api "OpenID" and server-server-api "OpenID": a token from
// request_token names its user at /openid/userinfo, which needs no X-Matrix
// signature; an unknown token is 401 M_UNKNOWN_TOKEN.
func TestOpenID_TokenNamesItsUserOverFederation(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		var tok struct {
			AccessToken      string `json:"access_token"`
			TokenType        string `json:"token_type"`
			MatrixServerName string `json:"matrix_server_name"`
			ExpiresIn        int    `json:"expires_in"`
		}
		alice.MustDo("POST", "/_matrix/client/v3/user/"+url.PathEscape(alice.UserID)+"/openid/request_token", map[string]any{}, &tok)
		if tok.AccessToken == "" || tok.TokenType != "Bearer" || tok.MatrixServerName != "localhost" || tok.ExpiresIn != 3600 {
			t.Fatalf("token = %+v", tok)
		}
		fed := httptest.NewServer(s.Federation)
		defer fed.Close()
		userinfo := func(token string) (int, map[string]string) {
			resp, err := http.Get(fed.URL + "/_matrix/federation/v1/openid/userinfo?access_token=" + url.QueryEscape(token))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			var out map[string]string
			_ = json.Unmarshal(raw, &out)
			return resp.StatusCode, out
		}
		if status, out := userinfo(tok.AccessToken); status != http.StatusOK || out["sub"] != alice.UserID {
			t.Errorf("userinfo = %d %v", status, out)
		}
		for _, bad := range []string{"nope", alice.AccessToken, ""} {
			if status, out := userinfo(bad); status != http.StatusUnauthorized || out["errcode"] != "M_UNKNOWN_TOKEN" {
				t.Errorf("userinfo(%q) = %d %v", bad, status, out)
			}
		}
		status, raw := bob.Do("POST", "/_matrix/client/v3/user/"+url.PathEscape(alice.UserID)+"/openid/request_token", map[string]any{}, nil)
		if status != http.StatusForbidden || servertest.Errcode(raw) != "M_FORBIDDEN" {
			t.Errorf("a token for another user: %d %s", status, raw)
		}
	})
}
