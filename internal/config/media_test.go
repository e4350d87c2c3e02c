package config

import (
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestLoad_MediaDefaults: Synapse's defaults for the thumbnail and URL
// preview keys.
func TestLoad_MediaDefaults(t *testing.T) {
	c, _ := loadString(t, "server_name: example.org\n")
	checks := []struct {
		name      string
		got, want any
	}{
		{"max_image_pixels", c.MaxImagePixels, int64(32 << 20)},
		{"dynamic_thumbnails", c.DynamicThumbnails, false},
		{"thumbnail_sizes", c.ThumbnailSizes, DefaultThumbnailSizes()},
		{"url_preview_enabled", c.URLPreviewEnabled, false},
		{"max_spider_size", c.MaxSpiderSize, int64(10 << 20)},
		{"url_preview_accept_language", c.URLPreviewAcceptLanguage, []string{"en"}},
		{"url_preview_url_blacklist", len(c.URLPreviewURLBlacklist), 0},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

// TestLoad_MediaKeys: every key is read with Synapse's spelling, and the
// unspecified addresses are added to the preview blacklist.
func TestLoad_MediaKeys(t *testing.T) {
	c, warns := loadString(t, `server_name: example.org
suppress_key_server_warning: true
max_image_pixels: 16M
dynamic_thumbnails: true
thumbnail_sizes:
  - {width: 64, height: 64, method: crop}
  - {width: 1024, height: 768, method: scale}
url_preview_enabled: true
url_preview_ip_range_blacklist: [127.0.0.0/8, "10.0.0.0/8", "fc00::/7"]
url_preview_ip_range_whitelist: [127.0.0.1]
url_preview_url_blacklist:
  - {username: "*"}
  - {netloc: "google.com", path: "/search*"}
  - {netloc: '^(www\.)?example\.com$'}
max_spider_size: 2M
url_preview_accept_language: [en-GB, "en;q=0.9", "*;q=0.5"]
`)
	if len(warns) != 0 {
		t.Errorf("warnings: %v", messages(warns))
	}
	if c.MaxImagePixels != 16<<20 || !c.DynamicThumbnails || c.MaxSpiderSize != 2<<20 {
		t.Errorf("max_image_pixels %d, dynamic_thumbnails %v, max_spider_size %d", c.MaxImagePixels, c.DynamicThumbnails, c.MaxSpiderSize)
	}
	if want := []ThumbnailSize{{64, 64, "crop"}, {1024, 768, "scale"}}; !reflect.DeepEqual(c.ThumbnailSizes, want) {
		t.Errorf("thumbnail_sizes = %v", c.ThumbnailSizes)
	}
	wantBL := mustPrefixes([]string{"127.0.0.0/8", "10.0.0.0/8", "fc00::/7", "0.0.0.0/32", "::/128"})
	if !reflect.DeepEqual(c.URLPreviewIPRangeBlacklist, wantBL) {
		t.Errorf("url_preview_ip_range_blacklist = %v, want %v", c.URLPreviewIPRangeBlacklist, wantBL)
	}
	if !reflect.DeepEqual(c.URLPreviewIPRangeWhitelist, []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}) {
		t.Errorf("url_preview_ip_range_whitelist = %v", c.URLPreviewIPRangeWhitelist)
	}
	wantRules := []URLBlacklistRule{{"username": "*"}, {"netloc": "google.com", "path": "/search*"}, {"netloc": `^(www\.)?example\.com$`}}
	if !reflect.DeepEqual(c.URLPreviewURLBlacklist, wantRules) {
		t.Errorf("url_preview_url_blacklist = %v", c.URLPreviewURLBlacklist)
	}
	if !reflect.DeepEqual(c.URLPreviewAcceptLanguage, []string{"en-GB", "en;q=0.9", "*;q=0.5"}) {
		t.Errorf("url_preview_accept_language = %v", c.URLPreviewAcceptLanguage)
	}
}

// TestLoad_MediaInvalidValues: each bad value is refused with its key
// and a fix, and previews without a blacklist refuse to start, as
// Synapse does.
func TestLoad_MediaInvalidValues(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"previews without a blacklist", "url_preview_enabled: true\n", "url_preview_enabled: url_preview_ip_range_blacklist must be set when URL previews are enabled"},
		{"bad method", "thumbnail_sizes: [{width: 32, height: 32, method: stretch}]\n", `thumbnail_sizes[0].method: "stretch" is not supported; use "crop" or "scale"`},
		{"missing method", "thumbnail_sizes: [{width: 32, height: 32}]\n", "thumbnail_sizes[0].method: missing"},
		{"missing height", "thumbnail_sizes: [{width: 32, method: crop}]\n", "thumbnail_sizes[0].height: missing"},
		{"zero width", "thumbnail_sizes: [{width: 0, height: 32, method: crop}]\n", "thumbnail_sizes[0].width: 0 is out of range"},
		{"huge height", "thumbnail_sizes: [{width: 32, height: 100000, method: crop}]\n", "thumbnail_sizes[0].height: 100000 is out of range"},
		{"sizes not a list", "thumbnail_sizes: {width: 32}\n", "thumbnail_sizes: must be a list"},
		{"max_image_pixels", "max_image_pixels: lots\n", `max_image_pixels: "lots" is not a size`},
		{"max_spider_size", "max_spider_size: 10MB\n", `max_spider_size: "10MB" is not a size`},
		{"blacklist range", "url_preview_ip_range_blacklist: [10.0.0.0/40]\n", `url_preview_ip_range_blacklist[0]: "10.0.0.0/40" is not an IP range`},
		{"whitelist range", "url_preview_ip_range_whitelist: [nope]\n", `url_preview_ip_range_whitelist[0]: "nope" is not an IP range`},
		{"url rule component", "url_preview_url_blacklist: [{host: example.com}]\n", `url_preview_url_blacklist[0].host: "host" is not a part of a URL; use "scheme"`},
		{"url rule regex", "url_preview_url_blacklist: [{netloc: '^(unclosed'}]\n", `url_preview_url_blacklist[0].netloc: "^(unclosed" is not a regular expression`},
		{"url rule not a mapping", "url_preview_url_blacklist: [example.com]\n", "url_preview_url_blacklist[0]: must be a mapping"},
		{"accept language", "url_preview_accept_language: en\n", "url_preview_accept_language: must be a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "homeserver.yaml", "server_name: example.org\n"+tt.yaml)
			_, _, err := Load(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v\ndoes not contain %q", err, tt.want)
			}
		})
	}
}

// TestLoad_URLPreviewBlacklistFromAnotherFile: the blacklist may come
// from a later file than url_preview_enabled (conf.d layouts).
func TestLoad_URLPreviewBlacklistFromAnotherFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "conf.d/00-base.yaml", "server_name: example.org\nurl_preview_enabled: true\n")
	writeFile(t, dir, "conf.d/10-previews.yaml", "url_preview_ip_range_blacklist: [10.0.0.0/8]\n")
	c, _, err := Load(filepath.Join(dir, "conf.d"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.URLPreviewEnabled || len(c.URLPreviewIPRangeBlacklist) != 3 {
		t.Errorf("enabled %v, blacklist %v", c.URLPreviewEnabled, c.URLPreviewIPRangeBlacklist)
	}
}
