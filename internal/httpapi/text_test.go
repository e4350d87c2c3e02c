package httpapi

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// Every path and query parameter of every route is checked before the
// handler runs: NUL, invalid UTF-8 and over-long path parameters are 400
// M_INVALID_PARAM, unknown paths are still 404.
func TestRouter_PathAndQueryParametersMustBeText(t *testing.T) {
	_, rt := newTestRouter(t)
	rt.HandleFunc("GET /hello/{name}", hello)
	rt.HandleFunc("GET /state/{key...}", hello)
	for _, tc := range []struct {
		target string
		status int
	}{
		{"/hello/bob", 200},
		{"/hello/a%2Fb", 200},
		{"/hello/caf%C3%A9", 200},
		{"/hello/" + strings.Repeat("x", MaxPathParam), 200},
		{"/hello/a%00b", 400},
		{"/hello/a%FFb", 400},
		{"/hello/a%ED%A0%80b", 400}, // a UTF-16 surrogate spelled in UTF-8
		{"/hello/" + strings.Repeat("x", MaxPathParam+1), 400},
		{"/state/a/b%00", 400},
		{"/hello/bob?x=a%00", 400},
		{"/hello/bob?a%FF=1", 400},
		{"/hello/bob?x=" + strings.Repeat("y", 2*MaxPathParam), 200},
		{"/nope/a%00b", 404},
	} {
		rec := serve(rt, "GET", tc.target, nil)
		if rec.Code != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.target, rec.Code, rec.Body, tc.status)
		}
		if tc.status == 400 && !strings.Contains(rec.Body.String(), "M_INVALID_PARAM") {
			t.Errorf("%s: %s, want M_INVALID_PARAM", tc.target, rec.Body)
		}
	}
}

// Strings the server decodes must not hold U+0000, at any depth; JSON kept
// as json.RawMessage keeps its escape.
func TestDecodeJSON_NULInDecodedStringsIsBadJSON(t *testing.T) {
	type inner struct {
		Names []string          `json:"names"`
		Map   map[string]string `json:"map"`
		Any   any               `json:"any"`
	}
	for _, body := range []string{
		`{"names":["a\u0000"]}`,
		`{"map":{"k\u0000":"v"}}`,
		`{"map":{"k":"v\u0000"}}`,
		`{"any":{"deep":[{"x":"\u0000"}]}}`,
	} {
		var v inner
		err := DecodeJSON([]byte(body), &v)
		if e, ok := err.(*Error); !ok || e.Code != "M_BAD_JSON" {
			t.Errorf("%s: %v, want M_BAD_JSON", body, err)
		}
	}
	var kept struct {
		Name    string          `json:"name"`
		Content json.RawMessage `json:"content"`
	}
	for _, body := range []string{`{"name":"\\u0000","content":{"body":"a\u0000b"}}`} {
		if err := DecodeJSON([]byte(body), &kept); err != nil {
			t.Errorf("%s: %v", body, err)
		}
	}
	if err := CheckJSONObject([]byte(`{"body":"a\u0000b"}`)); err != nil {
		t.Errorf("content with an escaped NUL: %v", err)
	}
}

func TestCleanUserAgent(t *testing.T) {
	if got := cleanUserAgent("A\xffB"); got != "A\uFFFDB" {
		t.Errorf("got %q", got)
	}
	long := strings.Repeat("é", maxUserAgent) // 2 bytes each
	if got := cleanUserAgent(long); len(got) > maxUserAgent+3 || !utf8.ValidString(got) {
		t.Errorf("cut to %d bytes, valid UTF-8: %v", len(got), utf8.ValidString(got))
	}
}
