package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/merr"
)

// decodeError reads a recorded Matrix error response.
func decodeError(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q is not JSON: %v", rec.Body.String(), err)
	}
	return body
}

// Spec: client-server-api "Standard error response" — errcode and error MUST
// be present; the status follows the errcode's definition.
func TestWriteError_MapsEveryKindOfError(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantCode   string
		wantMsg    string
		wantExtra  map[string]any
	}{
		{"httpapi.Error as is", Forbidden("nope"), 403, "M_FORBIDDEN", "nope", nil},
		{"wrapped httpapi.Error", fmt.Errorf("ctx: %w", WeakPassword("short")), 400, "M_WEAK_PASSWORD", "short", nil},
		{"merr.Forbidden", merr.Forbidden("not a member"), 403, "M_FORBIDDEN", "not a member", nil},
		{"merr.NotFound wrapped", fmt.Errorf("load room: %w", merr.NotFound("Unknown room")), 404, "M_NOT_FOUND", "Unknown room", nil},
		{"bare kind sentinel", fmt.Errorf("device ABC: %w", merr.ErrNotFound), 404, "M_NOT_FOUND", "device ABC: not found", nil},
		{"merr.UserInUse", merr.UserInUse("taken"), 400, "M_USER_IN_USE", "taken", nil},
		{"merr.InvalidUsername", merr.InvalidUsername("bad"), 400, "M_INVALID_USERNAME", "bad", nil},
		{"merr.UserDeactivated", merr.UserDeactivated("gone"), 403, "M_USER_DEACTIVATED", "gone", nil},
		{"merr.GuestAccessForbidden", merr.GuestAccessForbidden("no guests"), 403, "M_GUEST_ACCESS_FORBIDDEN", "no guests", nil},
		{"merr.UnknownToken hard", merr.UnknownToken("Unknown access token", false), 401, "M_UNKNOWN_TOKEN", "Unknown access token", map[string]any{"soft_logout": false}},
		{"merr.UnknownToken soft", merr.UnknownToken("Access token has expired", true), 401, "M_UNKNOWN_TOKEN", "Access token has expired", map[string]any{"soft_logout": true}},
		{"merr.MissingToken", merr.MissingToken("Missing access token"), 401, "M_MISSING_TOKEN", "Missing access token", nil},
		{"merr.TooLarge", merr.TooLarge("big"), 413, "M_TOO_LARGE", "big", nil},
		{"merr with extra", &merr.Error{Kind: merr.ErrBadRequest, Code: merr.CodeIncompatibleRoomVer, Message: "v", Extra: map[string]any{"room_version": "1"}}, 400, "M_INCOMPATIBLE_ROOM_VERSION", "v", map[string]any{"room_version": "1"}},
		{"UnknownToken constructor", UnknownToken("x", true), 401, "M_UNKNOWN_TOKEN", "x", map[string]any{"soft_logout": true}},
		{"Unrecognized 405", Unrecognized(405, "m"), 405, "M_UNRECOGNIZED", "m", nil},
		{"IncompatibleRoomVersion", IncompatibleRoomVersion("3"), 400, "M_INCOMPATIBLE_ROOM_VERSION", "", map[string]any{"room_version": "3"}},
		{"body over MaxBytesReader", &http.MaxBytesError{Limit: 10}, 413, "M_TOO_LARGE", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			WriteError(rec, tt.err)
			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			body := decodeError(t, rec)
			if body["errcode"] != tt.wantCode {
				t.Errorf("errcode = %v, want %s", body["errcode"], tt.wantCode)
			}
			if _, ok := body["error"].(string); !ok {
				t.Errorf("error key missing: %v", body)
			}
			if tt.wantMsg != "" && body["error"] != tt.wantMsg {
				t.Errorf("error = %v, want %q", body["error"], tt.wantMsg)
			}
			for k, v := range tt.wantExtra {
				if body[k] != v {
					t.Errorf("%s = %v, want %v", k, body[k], v)
				}
			}
		})
	}
}

// Spec: client-server-api "Rate limiting" — 429 M_LIMIT_EXCEEDED SHOULD carry
// Retry-After; retry_after_ms is the deprecated body form.
func TestWriteError_LimitExceededSetsRetryAfter(t *testing.T) {
	for _, err := range []error{LimitExceeded(1500 * time.Millisecond), merr.LimitExceeded(1500 * time.Millisecond)} {
		rec := httptest.NewRecorder()
		WriteError(rec, err)
		if rec.Code != 429 {
			t.Fatalf("status = %d, want 429", rec.Code)
		}
		if got := rec.Header().Get("Retry-After"); got != "2" {
			t.Errorf("Retry-After = %q, want 2 (seconds, rounded up)", got)
		}
		body := decodeError(t, rec)
		if body["errcode"] != "M_LIMIT_EXCEEDED" || body["retry_after_ms"] != float64(1500) {
			t.Errorf("body = %v", body)
		}
	}
}

func TestWriteError_UnexpectedErrorsAreNotLeaked(t *testing.T) {
	secret := errors.New("pq: password authentication failed for user myelin at 10.0.0.5")
	rec := httptest.NewRecorder()
	WriteError(rec, fmt.Errorf("load user: %w", secret))
	if rec.Code != 500 {
		t.Fatalf("status = %d, want 500", rec.Code)
	}
	body := decodeError(t, rec)
	if body["errcode"] != "M_UNKNOWN" {
		t.Errorf("errcode = %v", body["errcode"])
	}
	if strings.Contains(rec.Body.String(), "10.0.0.5") || strings.Contains(rec.Body.String(), "pq:") {
		t.Errorf("internal detail leaked: %s", rec.Body.String())
	}
}

func TestWriteError_UnexpectedErrorDetailGoesToRequestLog(t *testing.T) {
	logs, rt := newTestRouter(t)
	rt.HandleFunc("GET /boom", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, errors.New("disk on fire"))
	})
	rec := serve(rt, "GET", "/boom", nil)
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "disk on fire") {
		t.Fatalf("got %d %s", rec.Code, rec.Body.String())
	}
	if !strings.Contains(logs.String(), "disk on fire") || !strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("log does not record the error detail at ERROR level:\n%s", logs.String())
	}
}
