package httpapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type loginBody struct {
	Type     string `json:"type"`
	Password string `json:"password"`
	Auth     struct {
		Session string `json:"session"`
	} `json:"auth"`
	Count int `json:"count"`
}

// Spec: client-server-api "Common error codes" — M_NOT_JSON for bodies that
// are not JSON, M_BAD_JSON for JSON of the wrong shape; M_TOO_LARGE for
// oversized requests.
func TestReadJSON_Rules(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		max        int64
		wantStatus int
		wantCode   string
		wantInMsg  string
	}{
		{"valid object", `{"type":"m.login.password","password":"p","auth":{"session":"s"}}`, 0, 0, "", ""},
		{"empty body", ``, 0, 400, "M_NOT_JSON", ""},
		{"whitespace body", "  \n", 0, 400, "M_NOT_JSON", ""},
		{"syntax error", `{"type":`, 0, 400, "M_NOT_JSON", ""},
		{"trailing garbage", `{} x`, 0, 400, "M_NOT_JSON", ""},
		{"invalid UTF-8", "{\"type\":\"\xff\"}", 0, 400, "M_NOT_JSON", ""},
		{"unpaired surrogate", `{"type":"\ud800"}`, 0, 400, "M_NOT_JSON", ""},
		{"duplicate key", `{"type":"a","type":"b"}`, 0, 400, "M_BAD_JSON", "duplicate"},
		{"nested duplicate key", `{"auth":{"session":"a","session":"b"}}`, 0, 400, "M_BAD_JSON", "duplicate"},
		{"too deep", `{"a":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}`, 0, 400, "M_BAD_JSON", "deep"},
		{"array instead of object", `["type"]`, 0, 400, "M_BAD_JSON", "object"},
		{"string instead of object", `"hello"`, 0, 400, "M_BAD_JSON", "object"},
		{"wrong type names the field", `{"type":1}`, 0, 400, "M_BAD_JSON", `"type"`},
		{"wrong nested type names the path", `{"auth":{"session":true}}`, 0, 400, "M_BAD_JSON", `"auth.session"`},
		{"float for integer", `{"count":1.5}`, 0, 400, "M_BAD_JSON", `"count"`},
		{"at the limit", `{"type":"abc"}`, 14, 0, "", ""},
		{"over the limit", `{"type":"abcd"}`, 14, 413, "M_TOO_LARGE", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			var v loginBody
			err := ReadJSON(r, tt.max, &v)
			if tt.wantStatus == 0 {
				if err != nil {
					t.Fatalf("ReadJSON: %v", err)
				}
				return
			}
			var he *Error
			if !errors.As(err, &he) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if he.Status != tt.wantStatus || he.Code != tt.wantCode {
				t.Errorf("got %d %s (%s), want %d %s", he.Status, he.Code, he.Message, tt.wantStatus, tt.wantCode)
			}
			if !strings.Contains(he.Message, tt.wantInMsg) {
				t.Errorf("message %q does not mention %q", he.Message, tt.wantInMsg)
			}
		})
	}
}

// A body of unknown length (chunked) is cut off at the limit rather than
// read into memory whole.
func TestReadJSON_StreamedBodyIsBounded(t *testing.T) {
	big := io.MultiReader(strings.NewReader(`{"type":"`), &endless{}, strings.NewReader(`"}`))
	r := httptest.NewRequest("POST", "/", big)
	r.ContentLength = -1
	err := ReadJSON(r, 1024, &loginBody{})
	var he *Error
	if !errors.As(err, &he) || he.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("err = %v, want 413", err)
	}
}

// endless is an infinite stream of 'a'.
type endless struct{}

func (*endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

func TestReadJSON_DeclaredLengthOverLimitIsRejectedUnread(t *testing.T) {
	r := httptest.NewRequest("POST", "/", bytes.NewReader(make([]byte, 10)))
	r.ContentLength = 1 << 30
	err := ReadJSON(r, 100, &loginBody{})
	var he *Error
	if !errors.As(err, &he) || he.Code != "M_TOO_LARGE" {
		t.Fatalf("err = %v, want M_TOO_LARGE", err)
	}
}

func TestWriteJSON_SetsContentTypeAndDoesNotEscapeHTML(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteJSON(rec, 201, map[string]string{"a": "<b>&"})
	if rec.Code != 201 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if got := strings.TrimSpace(rec.Body.String()); got != `{"a":"<b>&"}` {
		t.Errorf("body = %s", got)
	}
}

func TestWriteJSON_UnencodableValueIs500(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteJSON(rec, 200, map[string]any{"f": func() {}})
	if rec.Code != 500 {
		t.Fatalf("status = %d, want 500", rec.Code)
	}
	if body := decodeError(t, rec); body["errcode"] != "M_UNKNOWN" {
		t.Errorf("body = %v", body)
	}
}
