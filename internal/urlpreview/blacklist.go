package urlpreview

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/myelin-chat/myelin/internal/config"
)

// rule is a compiled url_preview_url_blacklist entry: a URL is refused
// when every component it names matches (Synapse's rule).
type rule map[string]*regexp.Regexp

// compileRules compiles the configured rules. config.Load has already
// checked the component names and the regular expressions.
func compileRules(rules []config.URLBlacklistRule) ([]rule, error) {
	out := make([]rule, 0, len(rules))
	for _, r := range rules {
		c := rule{}
		for component, pattern := range r {
			var re *regexp.Regexp
			var err error
			if strings.HasPrefix(pattern, "^") {
				// Python's re.match anchors at the start only; so does a
				// pattern that begins with ^.
				re, err = regexp.Compile(pattern)
			} else {
				re, err = regexp.Compile(globToRegexp(pattern))
			}
			if err != nil {
				return nil, err
			}
			c[component] = re
		}
		out = append(out, c)
	}
	return out, nil
}

// globToRegexp turns an fnmatch glob into an anchored regular expression:
// * matches any run of characters (slashes included, as in fnmatch), ?
// any one character, everything else itself.
func globToRegexp(glob string) string {
	var b strings.Builder
	b.WriteString(`^`)
	for _, r := range glob {
		switch r {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`$`)
	return b.String()
}

// components are the parts of u that rules match against, named as
// Python's urllib.parse.urlparse names them (Synapse matches those).
func components(u *url.URL) map[string]string {
	path, params := u.EscapedPath(), ""
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		if j := strings.IndexByte(path[i:], ';'); j >= 0 {
			path, params = path[:i+j], path[i+j+1:]
		}
	}
	netloc := u.Host
	if u.User != nil {
		netloc = u.User.String() + "@" + netloc
	}
	parts := map[string]string{
		"scheme": u.Scheme, "netloc": netloc, "path": path, "params": params,
		"query": u.RawQuery, "fragment": u.Fragment,
	}
	// urlparse gives None for these when the URL lacks them, and Synapse
	// counts a rule naming a None component as not matching.
	if u.User != nil {
		parts["username"] = u.User.Username()
		if pw, ok := u.User.Password(); ok {
			parts["password"] = pw
		}
	}
	if h := u.Hostname(); h != "" {
		parts["hostname"] = strings.ToLower(h)
	}
	if p := u.Port(); p != "" {
		parts["port"] = p
	}
	return parts
}

// blocked reports whether any rule refuses u.
func blocked(rules []rule, u *url.URL) bool {
	if len(rules) == 0 {
		return false
	}
	parts := components(u)
	for _, r := range rules {
		all := true
		for component, re := range r {
			v, ok := parts[component]
			if !ok || !re.MatchString(v) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}
