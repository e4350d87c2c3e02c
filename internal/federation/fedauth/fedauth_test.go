package fedauth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/federation/xmatrix"
	"github.com/myelin-chat/myelin/internal/signing"
)

type fakeKeys struct {
	keys  map[string]map[signing.KeyID]ed25519.PublicKey
	calls int
}

func (f *fakeKeys) RequestKey(_ context.Context, server string, id signing.KeyID) (ed25519.PublicKey, error) {
	f.calls++
	if k, ok := f.keys[server][id]; ok {
		return k, nil
	}
	return nil, errors.New("no such key")
}

func sk(t *testing.T, version string, seed byte) signing.SigningKey {
	t.Helper()
	k, err := signing.NewSigningKey(version, bytes.Repeat([]byte{seed}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type rig struct {
	auth   *Authenticator
	keys   *fakeKeys
	remote signing.SigningKey
	seen   []string
	h      http.Handler
}

func newRig(t *testing.T, whitelist []string) *rig {
	t.Helper()
	remote := sk(t, "r1", 2)
	rg := &rig{remote: remote, keys: &fakeKeys{keys: map[string]map[signing.KeyID]ed25519.PublicKey{
		"remote.example": {remote.ID: remote.Public()},
		"other.example":  {remote.ID: remote.Public()},
	}}}
	a, err := New(Config{ServerName: "us.example", Keys: rg.keys, DomainWhitelist: whitelist, MaxBody: 1024,
		OnOrigin: func(_ context.Context, o string) { rg.seen = append(rg.seen, o) }})
	if err != nil {
		t.Fatal(err)
	}
	rg.auth = a
	rg.h = a.Require(func(w http.ResponseWriter, r *http.Request, origin string) {
		again, _ := io.ReadAll(r.Body)
		if !bytes.Equal(again, Body(r.Context())) {
			t.Errorf("r.Body %q differs from Body() %q", again, Body(r.Context()))
		}
		if Origin(r.Context()) != origin || OriginOf(r) != origin {
			t.Errorf("Origin(ctx) %q, handler got %q", Origin(r.Context()), origin)
		}
		w.WriteHeader(200)
		_, _ = w.Write([]byte(`{"origin":"` + origin + `","body":` + strings.TrimSpace(orEmpty(string(again))) + `}`))
	})
	return rg
}

func orEmpty(s string) string {
	if strings.TrimSpace(s) == "" {
		return `null`
	}
	return s
}

// request builds a request signed as origin for destination.
func signed(t *testing.T, key signing.SigningKey, method, target, origin, destination, body string) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	auth, err := xmatrix.Sign(xmatrix.Request{Method: method, URI: target, Origin: origin, Destination: destination, Content: []byte(body)}, key)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", auth.String())
	return r
}

func serve(h http.Handler, r *http.Request) (int, string, string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	var e struct{ Errcode string }
	_ = json.Unmarshal(rec.Body.Bytes(), &e)
	return rec.Code, e.Errcode, rec.Body.String()
}

// TestRequireServerAuth_Accepts: correctly signed requests reach the
// handler with their origin and a re-readable body.
func TestRequireServerAuth_Accepts(t *testing.T) {
	rg := newRig(t, nil)
	tests := []struct {
		name string
		req  func() *http.Request
		body string
	}{
		{"GET without body", func() *http.Request {
			return signed(t, rg.remote, "GET", "/_matrix/federation/v1/query/profile?user_id=%40a%3Aus.example&field=displayname", "remote.example", "us.example", "")
		}, "null"},
		{"PUT with body", func() *http.Request {
			return signed(t, rg.remote, "PUT", "/_matrix/federation/v1/send/t1", "remote.example", "us.example", `{"pdus":[],"edus":[]}`)
		}, `{"pdus":[],"edus":[]}`},
		{"body reformatted after signing", func() *http.Request {
			r := signed(t, rg.remote, "PUT", "/_matrix/federation/v1/send/t2", "remote.example", "us.example", `{"pdus":[],"edus":[]}`)
			r.Body = io.NopCloser(strings.NewReader("{ \"edus\" : [ ], \"pdus\" : [ ] }"))
			r.ContentLength = -1
			return r
		}, "{ \"edus\" : [ ], \"pdus\" : [ ] }"},
		{"destination omitted by an older server", func() *http.Request {
			r := signed(t, rg.remote, "GET", "/_matrix/federation/v1/version", "remote.example", "us.example", "")
			a, _ := xmatrix.ParseAuthorization(r.Header.Get("Authorization"))
			a.Destination = ""
			r.Header.Set("Authorization", a.String())
			return r
		}, "null"},
		{"spec-style header with bare values and spacing", func() *http.Request {
			r := signed(t, rg.remote, "GET", "/_matrix/federation/v1/version", "remote.example", "us.example", "")
			a, _ := xmatrix.ParseAuthorization(r.Header.Get("Authorization"))
			r.Header.Set("Authorization", "X-Matrix  Origin=remote.example ,\tKEY=\""+string(a.KeyID)+"\", sig=\""+a.Signature+"\" , destination=us.example")
			return r
		}, "null"},
		{"a bearer token next to the X-Matrix header is ignored", func() *http.Request {
			r := signed(t, rg.remote, "GET", "/_matrix/federation/v1/version", "remote.example", "us.example", "")
			r.Header.Add("Authorization", "Bearer abc")
			return r
		}, "null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, errcode, body := serve(rg.h, tt.req())
			if code != 200 {
				t.Fatalf("status %d %s: %s", code, errcode, body)
			}
			var got struct {
				Origin string
				Body   json.RawMessage
			}
			if err := json.Unmarshal([]byte(body), &got); err != nil || got.Origin != "remote.example" {
				t.Fatalf("handler saw %s (%v)", body, err)
			}
		})
	}
	if len(rg.seen) != len(tests) {
		t.Fatalf("OnOrigin called %d times for %d requests", len(rg.seen), len(tests))
	}
}

// TestRequireServerAuth_Rejects: every way a request can fail
// authentication, with the status and errcode the spec asks for.
func TestRequireServerAuth_Rejects(t *testing.T) {
	rg := newRig(t, nil)
	wrongKey := sk(t, "r1", 9)
	ok := func() *http.Request {
		return signed(t, rg.remote, "PUT", "/_matrix/federation/v1/send/t1", "remote.example", "us.example", `{"pdus":[]}`)
	}
	tests := []struct {
		name    string
		req     func() *http.Request
		status  int
		errcode string
	}{
		{"no Authorization header", func() *http.Request {
			r := ok()
			r.Header.Del("Authorization")
			return r
		}, 401, "M_UNAUTHORIZED"},
		{"only a bearer token", func() *http.Request {
			r := ok()
			r.Header.Set("Authorization", "Bearer syt_abc")
			return r
		}, 401, "M_UNAUTHORIZED"},
		{"malformed X-Matrix header", func() *http.Request {
			r := ok()
			r.Header.Set("Authorization", `X-Matrix origin="remote.example`)
			return r
		}, 401, "M_UNAUTHORIZED"},
		{"destination is another server", func() *http.Request {
			return signed(t, rg.remote, "PUT", "/_matrix/federation/v1/send/t1", "remote.example", "elsewhere.example", `{"pdus":[]}`)
		}, 401, "M_UNAUTHORIZED"},
		{"signed for another destination, header says us", func() *http.Request {
			r := signed(t, rg.remote, "PUT", "/_matrix/federation/v1/send/t1", "remote.example", "elsewhere.example", `{"pdus":[]}`)
			a, _ := xmatrix.ParseAuthorization(r.Header.Get("Authorization"))
			a.Destination = "us.example"
			r.Header.Set("Authorization", a.String())
			return r
		}, 401, "M_UNAUTHORIZED"},
		{"signed by the wrong key", func() *http.Request {
			return signed(t, wrongKey, "PUT", "/_matrix/federation/v1/send/t1", "remote.example", "us.example", `{"pdus":[]}`)
		}, 401, "M_UNAUTHORIZED"},
		{"unknown key ID", func() *http.Request {
			return signed(t, sk(t, "unknown", 2), "PUT", "/_matrix/federation/v1/send/t1", "remote.example", "us.example", `{"pdus":[]}`)
		}, 401, "M_UNAUTHORIZED"},
		{"origin claims to be someone else", func() *http.Request {
			r := ok()
			a, _ := xmatrix.ParseAuthorization(r.Header.Get("Authorization"))
			a.Origin = "other.example"
			r.Header.Set("Authorization", a.String())
			return r
		}, 401, "M_UNAUTHORIZED"},
		{"body changed", func() *http.Request {
			r := ok()
			r.Body = io.NopCloser(strings.NewReader(`{"pdus":[{}]}`))
			r.ContentLength = -1
			return r
		}, 401, "M_UNAUTHORIZED"},
		{"body dropped", func() *http.Request {
			r := ok()
			r.Body = http.NoBody
			r.ContentLength = 0
			return r
		}, 401, "M_UNAUTHORIZED"},
		{"path changed", func() *http.Request {
			r := ok()
			r2 := httptest.NewRequest("PUT", "/_matrix/federation/v1/send/t2", strings.NewReader(`{"pdus":[]}`))
			r2.Header = r.Header
			return r2
		}, 401, "M_UNAUTHORIZED"},
		{"query added", func() *http.Request {
			r := ok()
			r2 := httptest.NewRequest("PUT", "/_matrix/federation/v1/send/t1?x=1", strings.NewReader(`{"pdus":[]}`))
			r2.Header = r.Header
			return r2
		}, 401, "M_UNAUTHORIZED"},
		{"method changed", func() *http.Request {
			r := ok()
			r.Method = "POST"
			return r
		}, 401, "M_UNAUTHORIZED"},
		{"headers naming two origins", func() *http.Request {
			r := ok()
			other := signed(t, rg.remote, "PUT", "/_matrix/federation/v1/send/t1", "other.example", "us.example", `{"pdus":[]}`)
			r.Header.Add("Authorization", other.Header.Get("Authorization"))
			return r
		}, 401, "M_UNAUTHORIZED"},
		{"body is not JSON", func() *http.Request {
			r := ok()
			r.Body = io.NopCloser(strings.NewReader(`pdus=1`))
			r.ContentLength = -1
			return r
		}, 400, "M_NOT_JSON"},
		{"body too large", func() *http.Request {
			big := `{"pdus":["` + strings.Repeat("x", 2000) + `"]}`
			return signed(t, rg.remote, "PUT", "/_matrix/federation/v1/send/t1", "remote.example", "us.example", big)
		}, 413, "M_TOO_LARGE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, errcode, body := serve(rg.h, tt.req())
			if code != tt.status || errcode != tt.errcode {
				t.Fatalf("got %d %s, want %d %s: %s", code, errcode, tt.status, tt.errcode, body)
			}
		})
	}
	if len(rg.seen) != 0 {
		t.Fatalf("OnOrigin called for rejected requests: %v", rg.seen)
	}
}

// TestRequireServerAuth_DomainWhitelist: with federation_domain_whitelist
// set, other origins get 403 before any key is looked up.
func TestRequireServerAuth_DomainWhitelist(t *testing.T) {
	rg := newRig(t, []string{"other.example"})
	r := signed(t, rg.remote, "GET", "/_matrix/federation/v1/version", "remote.example", "us.example", "")
	code, errcode, _ := serve(rg.h, r)
	if code != 403 || errcode != "M_FORBIDDEN" || rg.keys.calls != 0 {
		t.Fatalf("got %d %s with %d key lookups", code, errcode, rg.keys.calls)
	}
	r = signed(t, rg.remote, "GET", "/_matrix/federation/v1/version", "other.example", "us.example", "")
	if code, errcode, body := serve(rg.h, r); code != 200 {
		t.Fatalf("whitelisted origin: %d %s %s", code, errcode, body)
	}
	empty := newRig(t, []string{})
	r = signed(t, rg.remote, "GET", "/_matrix/federation/v1/version", "other.example", "us.example", "")
	if code, _, _ := serve(empty.h, r); code != 403 {
		t.Fatalf("an empty whitelist admitted %d", code)
	}
}

// TestRequireServerAuth_WrapsPlainHandler: RequireServerAuth takes an
// http.Handler and still exposes the origin through the context.
func TestRequireServerAuth_WrapsPlainHandler(t *testing.T) {
	rg := newRig(t, nil)
	h := rg.auth.RequireServerAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(Origin(r.Context())))
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, signed(t, rg.remote, "GET", "/_matrix/federation/v1/version", "remote.example", "us.example", ""))
	if rec.Code != 200 || rec.Body.String() != "remote.example" {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}
