package threepid

import (
	"strings"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/merr"
)

// client_secret's grammar is the spec's: [0-9a-zA-Z.=_-], 1 to 255
// characters.
func TestCheckRequest_ClientSecretGrammar(t *testing.T) {
	for secret, ok := range map[string]bool{
		"abcABC019.=_-": true, strings.Repeat("a", 255): true,
		"": false, strings.Repeat("a", 256): false, "with space": false, "ü": false, "a/b": false,
	} {
		_, err := CheckRequest(Request{ClientSecret: secret, Email: "a@example.com", SendAttempt: 1})
		if (err == nil) != ok {
			t.Errorf("%q: err = %v, want ok=%v", secret, err, ok)
		}
	}
}

func TestCanonicalEmail(t *testing.T) {
	for in, want := range map[string]string{
		" Alice@Example.COM ":              "alice@example.com",
		"a@b":                              "a@b",
		"no-at":                            "",
		"@example.com":                     "",
		"a@":                               "",
		"a@b@c":                            "",
		"a b@example.com":                  "",
		"a@example.com\r\nX":               "",
		"<a@example.com>":                  "",
		strings.Repeat("a", 250) + "@b.co": "",
	} {
		got, err := CanonicalEmail(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
		if err != nil && merr.CodeOf(err) != merr.CodeInvalidParam {
			t.Errorf("%q: errcode %s", in, merr.CodeOf(err))
		}
	}
}

func TestCheckRequest_NextLinkMustBeHTTP(t *testing.T) {
	for link, ok := range map[string]bool{
		"https://app.example.org/#/done": true, "http://localhost:8080/x": true,
		"javascript:alert(1)": false, "//example.org": false, "https://": false,
		"https://example.org/" + strings.Repeat("a", 2048): false,
	} {
		_, err := CheckRequest(Request{ClientSecret: "s", Email: "a@example.com", SendAttempt: 1, NextLink: link})
		if (err == nil) != ok {
			t.Errorf("%q: err = %v, want ok=%v", link, err, ok)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour: "1 hour", 2 * time.Hour: "2 hours", 15 * time.Minute: "15 minutes", 90 * time.Minute: "90 minutes",
		45 * time.Second: "45 seconds", time.Second: "1 second",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
}
