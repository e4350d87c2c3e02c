package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"unicode/utf8"
)

// Text that arrives from outside is checked once, here at the edge, with
// the same rule for both database backends: PostgreSQL refuses NUL and
// invalid UTF-8 in TEXT columns (a 500 on a write, or on a lookup), while
// SQLite stores them, and Go's conversions would turn invalid UTF-8 into
// U+FFFD further in, so two different identifiers could collide. Rejecting
// them before any handler runs keeps both backends answering alike.
//
// Path parameters and query parameters are checked by the Router for every
// route (checkRequestText); JSON bodies by DecodeJSON (rejectNULStrings).

// MaxPathParam bounds every path parameter, in bytes, so that no index of
// either backend meets a key it cannot hold (PostgreSQL's B-tree entries
// stop near 2.7 kB). It is above the spec's 255-byte limits on identifiers,
// event types and state keys (appendices "Identifier Grammar";
// client-server-api "Size limits") so that handlers can apply those with
// the errcode their endpoint specifies (M_KEY_TOO_LARGE for a profile key).
const MaxPathParam = 1024

// TextProblem says why s cannot be taken as an identifier or stored text:
// "" when it is valid UTF-8 without NUL.
func TextProblem(s string) string {
	switch {
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	case strings.IndexByte(s, 0) >= 0:
		return "contains a NUL character"
	}
	return ""
}

// pathWildcards returns the names of the {wildcards} of a ServeMux pattern
// ("{name}" and "{name...}"; "{$}" is not one).
func pathWildcards(pattern string) []string {
	var names []string
	for rest := pattern; ; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			return names
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return names
		}
		name := strings.TrimSuffix(rest[i+1:i+j], "...")
		if name != "$" && name != "" {
			names = append(names, name)
		}
		rest = rest[i+j+1:]
	}
}

// checkRequestText wraps h so that a request whose path parameters or
// query parameters are not valid text gets 400 M_INVALID_PARAM before h
// runs. Path parameters are also bounded by MaxPathParam. Matching is left
// to the mux, so unknown paths still get 404 M_UNRECOGNIZED.
func checkRequestText(pattern string, h http.Handler) http.Handler {
	names := pathWildcards(pattern)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := requestTextError(r, names); err != nil {
			WriteError(w, err)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func requestTextError(r *http.Request, names []string) *Error {
	for _, name := range names {
		v := r.PathValue(name)
		if p := TextProblem(v); p != "" {
			return InvalidParam(fmt.Sprintf("Path parameter %s %s", name, p))
		}
		if len(v) > MaxPathParam {
			return InvalidParam(fmt.Sprintf("Path parameter %s is longer than %d bytes", name, MaxPathParam))
		}
	}
	if r.URL.RawQuery == "" {
		return nil
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return InvalidParam("Malformed query string")
	}
	for k, vs := range q {
		if p := TextProblem(k); p != "" {
			return InvalidParam("A query parameter name " + p)
		}
		for _, v := range vs {
			if p := TextProblem(v); p != "" {
				return InvalidParam(fmt.Sprintf("Query parameter %s %s", k, p))
			}
		}
	}
	return nil
}

// rejectNULStrings reports whether any string decoded into v (struct
// fields, map keys and values, slice elements, at any depth) contains NUL.
// Invalid UTF-8 and unpaired surrogates never get this far: the body was
// already checked by canonicaljson. json.RawMessage and other byte slices
// are not looked into: they stay JSON text, in which U+0000 is the escape
// "\u0000" that both backends store.
// The walk is as deep as the body, which canonicaljson bounded.
func rejectNULStrings(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String:
		return strings.IndexByte(v.String(), 0) >= 0
	case reflect.Pointer, reflect.Interface:
		return !v.IsNil() && rejectNULStrings(v.Elem())
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() && rejectNULStrings(v.Field(i)) {
				return true
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			if rejectNULStrings(it.Key()) || rejectNULStrings(it.Value()) {
				return true
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return false
		}
		for i := 0; i < v.Len(); i++ {
			if rejectNULStrings(v.Index(i)) {
				return true
			}
		}
	}
	return false
}

// maxUserAgent bounds the User-Agent kept for a device's last-seen record.
const maxUserAgent = 512

// UserAgent returns the request's User-Agent for storing: cut to about
// maxUserAgent bytes and invalid UTF-8 replaced by U+FFFD. HTTP allows any octet
// above 0x7F in a header value (Go's server already refuses NUL and other
// controls), and refusing a request over an informational header would be
// unkind; Synapse likewise decodes it with replacement.
func UserAgent(r *http.Request) string { return cleanUserAgent(r.UserAgent()) }

func cleanUserAgent(ua string) string {
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent] // a rune cut in two becomes U+FFFD below
	}
	return strings.ToValidUTF8(ua, "\uFFFD")
}
