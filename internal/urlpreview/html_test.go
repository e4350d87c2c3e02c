package urlpreview

import (
	"bytes"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/config"
	"golang.org/x/net/html/charset"
)

// TestParseHTML: Open Graph properties first, then Synapse's fallbacks
// (title, meta description, the largest sized image or else the first).
func TestParseHTML(t *testing.T) {
	tests := []struct {
		name, page string
		want       map[string]any
	}{
		{"open graph", `<html><head><meta property="og:title" content="Matrix Blog Post">
			<meta property="og:description" content="This is a really cool blog post">
			<meta property="og:image" content="/img.png"><meta property="og:site_name" content="Matrix">
			<meta property="og:url" content="https://matrix.org/blog"><title>ignored</title></head></html>`,
			map[string]any{"og:title": "Matrix Blog Post", "og:description": "This is a really cool blog post",
				"og:image": "/img.png", "og:site_name": "Matrix", "og:url": "https://matrix.org/blog"}},
		{"fallbacks", `<html><head><title> A  page
			title </title><meta name="description" content="About it."></head>
			<body><img src="data:image/png;base64,AAAA"><img src="/small.png"><img src="/big.png" width="600" height="400"><img src="/mid.png" width="60" height="40"></body></html>`,
			map[string]any{"og:title": "A page title", "og:description": "About it.", "og:image": "/big.png"}},
		{"first image when none declares a size", `<title>t</title><img src="a.jpg"><img src="b.jpg">`,
			map[string]any{"og:title": "t", "og:image": "a.jpg"}},
		{"first value wins", `<meta property="og:title" content="one"><meta property="og:title" content="two">`,
			map[string]any{"og:title": "one"}},
		{"name= is read as property=", `<meta name="og:title" content="by name">`, map[string]any{"og:title": "by name"}},
		{"empty values are dropped", `<meta property="og:title" content=""><title>fallback</title>`, map[string]any{"og:title": "fallback"}},
		{"nothing", `<p>just text</p>`, map[string]any{}},
		{"not html at all", "\x00\x01binary", map[string]any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseHTML(strings.NewReader(tt.page)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

// TestParseHTML_Bounds: long values are cut (descriptions to Synapse's 500
// characters), and a page cannot add unbounded properties.
func TestParseHTML_Bounds(t *testing.T) {
	var b strings.Builder
	b.WriteString(`<meta property="og:description" content="` + strings.Repeat("word ", 1000) + `">`)
	b.WriteString(`<meta property="og:title" content="` + strings.Repeat("x", 5000) + `">`)
	for i := range 1000 {
		b.WriteString(`<meta property="og:k` + strings.Repeat("i", i%50) + string(rune('a'+i%26)) + `" content="v">`)
	}
	og := parseHTML(strings.NewReader(b.String()))
	if n := len([]rune(og["og:description"].(string))); n != maxDescriptionRunes {
		t.Errorf("description has %d runes, want %d", n, maxDescriptionRunes)
	}
	if n := len([]rune(og["og:title"].(string))); n != maxValueRunes {
		t.Errorf("title has %d runes, want %d", n, maxValueRunes)
	}
	if len(og) > maxOGKeys {
		t.Errorf("%d properties kept, want at most %d", len(og), maxOGKeys)
	}
}

// TestParseHTML_Charset: a page in another encoding is read in it.
func TestParseHTML_Charset(t *testing.T) {
	page := []byte("<html><head><meta charset=\"iso-8859-1\"><title>Caf\xe9</title></head></html>")
	r, err := charset.NewReader(bytes.NewReader(page), "text/html")
	if err != nil {
		t.Fatal(err)
	}
	if got := parseHTML(r)["og:title"]; got != "Café" {
		t.Errorf("title %q, want Café", got)
	}
}

// TestBlacklist: url_preview_url_blacklist as Synapse applies it: every
// component of one entry must match; globs match whole values, ^ patterns
// are regular expressions anchored at the start.
func TestBlacklist(t *testing.T) {
	rules, err := compileRules([]config.URLBlacklistRule{
		{"username": "*"},
		{"netloc": "google.com", "path": "/search*"},
		{"netloc": `^(www\.)?example\.com`},
		{"scheme": "http", "hostname": "*.internal"},
		{"port": "8080"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		url     string
		blocked bool
	}{
		{"https://user@matrix.org/", true},
		{"https://user:pw@matrix.org/", true},
		{"https://matrix.org/", false},
		{"https://google.com/search?q=x", true},
		{"https://google.com/search/deeper", true},
		{"https://google.com/maps", false},
		{"https://www.google.com/search", false},
		{"https://example.com/", true},
		{"https://www.example.com.evil.org/", true},
		{"https://notexample.com/", false},
		{"http://db.internal/", true},
		{"https://db.internal/", false},
		{"http://DB.INTERNAL/", true},
		{"https://matrix.org:8080/", true},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := blocked(rules, u); got != tt.blocked {
			t.Errorf("%s: blocked = %v, want %v", tt.url, got, tt.blocked)
		}
	}
}
