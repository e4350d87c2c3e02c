package config

import (
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// ThumbnailSize is one entry of thumbnail_sizes.
type ThumbnailSize struct {
	Width, Height int
	// Method is "crop" or "scale".
	Method string
}

// DefaultThumbnailSizes is Synapse's default thumbnail_sizes
// (DEFAULT_THUMBNAIL_SIZES in synapse/config/repository.py).
func DefaultThumbnailSizes() []ThumbnailSize {
	return []ThumbnailSize{
		{32, 32, "crop"}, {96, 96, "crop"}, {320, 240, "scale"}, {640, 480, "scale"}, {800, 600, "scale"},
	}
}

// URLBlacklistRule is one entry of url_preview_url_blacklist: a URL is
// refused when every component named matches its pattern. Patterns are
// globs, or regular expressions when they start with "^" (Synapse's
// rule; Go's RE2 syntax, which lacks Python's backreferences and
// lookaround). Keys are the components of Python's urlparse that Synapse
// matches against.
type URLBlacklistRule map[string]string

// urlBlacklistComponents are the URL parts a rule may name.
var urlBlacklistComponents = []string{"scheme", "netloc", "path", "params", "query", "fragment", "username", "password", "hostname", "port"}

// maxThumbnailSide matches internal/media/thumbnail.MaxDimension.
const maxThumbnailSide = 8192

// mediaKeys are the content repository's thumbnail and URL preview keys.
func (d *decoder) mediaKeys(c *Config) handlers {
	return handlers{
		"max_image_pixels":               d.size(&c.MaxImagePixels),
		"dynamic_thumbnails":             d.boolean(&c.DynamicThumbnails),
		"thumbnail_sizes":                listOf(d, &c.ThumbnailSizes, d.thumbnailSize),
		"url_preview_enabled":            d.boolean(&c.URLPreviewEnabled),
		"url_preview_ip_range_blacklist": d.ipRanges(&c.URLPreviewIPRangeBlacklist),
		"url_preview_ip_range_whitelist": d.ipRanges(&c.URLPreviewIPRangeWhitelist),
		"url_preview_url_blacklist":      listOf(d, &c.URLPreviewURLBlacklist, d.urlBlacklistRule),
		"max_spider_size":                d.size(&c.MaxSpiderSize),
		"url_preview_accept_language":    d.strList(&c.URLPreviewAcceptLanguage, nil),
	}
}

// listOf reads a list whose items item decodes; a list with a bad item
// is reported and leaves dst alone.
func listOf[T any](d *decoder, dst *[]T, item func(key string, n *yaml.Node) (T, bool)) func(string, *yaml.Node) {
	return func(key string, n *yaml.Node) {
		out := []T{}
		if d.list(key, n, func(k string, c *yaml.Node) {
			if v, ok := item(k, c); ok {
				out = append(out, v)
			}
		}) {
			*dst = out
		}
	}
}

func (d *decoder) thumbnailSize(key string, n *yaml.Node) (ThumbnailSize, bool) {
	var s ThumbnailSize
	nerr := len(d.errs)
	d.object(key, n, handlers{
		"width":  d.integer(&s.Width, 1, maxThumbnailSide),
		"height": d.integer(&s.Height, 1, maxThumbnailSide),
		"method": d.choice(&s.Method, "crop", "scale"),
	})
	if len(d.errs) > nerr {
		return s, false
	}
	for _, f := range []struct {
		name string
		set  bool
		fix  string
	}{{"width", s.Width != 0, "a number of pixels"}, {"height", s.Height != 0, "a number of pixels"}, {"method", s.Method != "", `"crop" or "scale"`}} {
		if !f.set {
			d.fail(join(key, f.name), n, "missing; set %s", f.fix)
		}
	}
	return s, len(d.errs) == nerr
}

func (d *decoder) urlBlacklistRule(key string, n *yaml.Node) (URLBlacklistRule, bool) {
	if d.describe(key, "mapping of URL parts ("+strings.Join(urlBlacklistComponents, ", ")+") to globs, or regular expressions starting with ^", "") {
		return nil, false
	}
	r := URLBlacklistRule{}
	ok := true
	d.dict(key, n, func(k, component string, v *yaml.Node) {
		if !slices.Contains(urlBlacklistComponents, component) {
			d.fail(k, v, "%q is not a part of a URL; use %s", component, orList(urlBlacklistComponents))
			ok = false
			return
		}
		pattern, good := d.scalarString(k, v)
		if !good {
			ok = false
			return
		}
		if pattern != "" && pattern[0] == '^' {
			if _, err := regexp.Compile(pattern); err != nil {
				d.fail(k, v, "%q is not a regular expression Myelin can use (%v); patterns starting with ^ are regular expressions, others are globs", pattern, err)
				ok = false
				return
			}
		}
		r[component] = pattern
	})
	return r, ok
}

// mediaDefaults fills the media keys' defaults and cross-key rules after
// every file has been read.
func (d *decoder) mediaDefaults(c *Config, p *present, at func(string) (string, *yaml.Node)) {
	if _, ok := p.keys["thumbnail_sizes"]; !ok {
		c.ThumbnailSizes = DefaultThumbnailSizes()
	}
	if c.URLPreviewAcceptLanguage == nil {
		c.URLPreviewAcceptLanguage = []string{"en"}
	}
	if _, ok := p.keys["url_preview_ip_range_blacklist"]; ok {
		// As for ip_range_blacklist, the unspecified addresses are always
		// refused: they reach the local host.
		c.URLPreviewIPRangeBlacklist = append(c.URLPreviewIPRangeBlacklist, mustPrefixes(alwaysBlacklisted)...)
	} else if c.URLPreviewEnabled {
		// Synapse refuses to start in this case: previews fetch any URL a
		// user posts, so the operator must say what they may not reach.
		key, n := at("url_preview_enabled")
		d.fail(key, n, "url_preview_ip_range_blacklist must be set when URL previews are enabled; list at least the private ranges (Synapse's example: 127.0.0.0/8, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, 169.254.0.0/16, ::1/128, fe80::/10, fc00::/7)")
	}
}
