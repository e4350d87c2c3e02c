package httpapi

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
)

// FuzzDecodeJSON: untrusted bodies never panic, every failure is a Matrix
// error, and whatever is accepted is a JSON object encoding/json agrees
// with.
func FuzzDecodeJSON(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzDecodeJSON.
	f.Fuzz(func(t *testing.T, body []byte) {
		var v map[string]any
		err := DecodeJSON(body, &v)
		if err != nil {
			var he *Error
			if !errors.As(err, &he) || he.Status != 400 {
				t.Fatalf("error %v is not a 400 Matrix error", err)
			}
			return
		}
		if !json.Valid(body) || v == nil {
			t.Fatalf("accepted %q, which is not a JSON object", body)
		}
	})
}

// FuzzRedactedURI: whatever the query looks like, an access token value
// never reaches the log.
func FuzzRedactedURI(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzRedactedURI.
	f.Fuzz(func(t *testing.T, rawQuery string) {
		u := &url.URL{Path: "/p", RawQuery: rawQuery}
		out := redactedURI(u)
		// Read the logged query the way the server reads tokens
		// (URL.Query): every access_token value must be the placeholder.
		logged := (&url.URL{RawQuery: strings.TrimPrefix(out, "/p?")}).Query()
		for _, v := range logged["access_token"] {
			if v != "<redacted>" {
				t.Fatalf("access_token %q in the log line %q", v, out)
			}
		}
	})
}
