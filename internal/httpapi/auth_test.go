package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/myelin-chat/myelin/internal/merr"
)

// fakeResolver knows "good" (a user), "guest" (a guest) and "expired"
// (a refreshable token past its lifetime).
type fakeResolver struct{}

func (fakeResolver) Resolve(ctx context.Context, token string) (*Session, error) {
	switch token {
	case "good":
		return &Session{UserID: "@alice:example.org", DeviceID: "DEV", TokenID: 7}, nil
	case "guest":
		return &Session{UserID: "@1:example.org", DeviceID: "G", IsGuest: true}, nil
	case "expired":
		return nil, merr.UnknownToken("Access token has expired", true)
	}
	return nil, merr.UnknownToken("Unknown access token", false)
}

// Spec: client-server-api "Using access tokens" — missing credentials are
// 401 M_MISSING_TOKEN, invalid ones 401 M_UNKNOWN_TOKEN.
func TestRequireAuth_TokenSources(t *testing.T) {
	h := RequireAuth(fakeResolver{}, func(w http.ResponseWriter, r *http.Request, s *Session) {
		if SessionFrom(r.Context()) != s {
			t.Error("session not in context")
		}
		WriteJSON(w, 200, map[string]string{"user_id": s.UserID})
	})
	tests := []struct {
		name       string
		header     string
		query      string
		wantStatus int
		wantCode   string
		wantSoft   any
	}{
		{"bearer header", "Bearer good", "", 200, "", nil},
		{"lower-case scheme", "bearer good", "", 200, "", nil},
		{"query parameter", "", "?access_token=good", 200, "", nil},
		{"no token", "", "", 401, "M_MISSING_TOKEN", nil},
		{"not bearer", "Basic Zm9vOmJhcg==", "", 401, "M_MISSING_TOKEN", nil},
		{"empty bearer", "Bearer ", "", 401, "M_MISSING_TOKEN", nil},
		{"both header and query", "Bearer good", "?access_token=good", 401, "M_MISSING_TOKEN", nil},
		{"unknown token", "Bearer nope", "", 401, "M_UNKNOWN_TOKEN", false},
		{"expired token is a soft logout", "Bearer expired", "", 401, "M_UNKNOWN_TOKEN", true},
		{"guest refused", "Bearer guest", "", 403, "M_GUEST_ACCESS_FORBIDDEN", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/x"+tt.query, nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", rec.Code, tt.wantStatus, rec.Body.String())
			}
			if tt.wantCode == "" {
				return
			}
			body := decodeError(t, rec)
			if body["errcode"] != tt.wantCode {
				t.Errorf("errcode = %v, want %s", body["errcode"], tt.wantCode)
			}
			if tt.wantSoft != nil && body["soft_logout"] != tt.wantSoft {
				t.Errorf("soft_logout = %v, want %v", body["soft_logout"], tt.wantSoft)
			}
		})
	}
}

func TestRequireAuthAllowGuests_AdmitsGuests(t *testing.T) {
	h := RequireAuthAllowGuests(fakeResolver{}, func(w http.ResponseWriter, r *http.Request, s *Session) {
		WriteJSON(w, 200, map[string]bool{"is_guest": s.IsGuest})
	})
	req := httptest.NewRequest("GET", "/x", nil)
	req.Header.Set("Authorization", "Bearer guest")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("status = %d", rec.Code)
	}
}

func TestOptionalAuth_NoTokenGivesNilSessionButBadTokenFails(t *testing.T) {
	var got *Session
	called := false
	h := OptionalAuth(fakeResolver{}, func(w http.ResponseWriter, r *http.Request, s *Session) {
		called, got = true, s
		w.WriteHeader(200)
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	if !called || got != nil || rec.Code != 200 {
		t.Fatalf("anonymous: called=%v session=%v code=%d", called, got, rec.Code)
	}

	called = false
	req := httptest.NewRequest("GET", "/x", nil)
	req.Header.Set("Authorization", "Bearer good")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if !called || got == nil || got.UserID != "@alice:example.org" {
		t.Fatalf("authenticated: called=%v session=%v", called, got)
	}

	called = false
	req = httptest.NewRequest("GET", "/x", nil)
	req.Header.Set("Authorization", "Bearer nope")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if called || rec.Code != 401 {
		t.Fatalf("bad token: called=%v code=%d", called, rec.Code)
	}
}
