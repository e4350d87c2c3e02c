package config

import (
	"fmt"
	"math"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Warning is a problem that does not stop loading, such as an unknown key.
type Warning struct {
	File string
	Line int
	// Key is the path of the key concerned, e.g. "listeners[0].portt".
	Key string
	// Message is complete on its own and includes Key.
	Message string
}

func (w Warning) String() string { return where(w.File, w.Line) + w.Message }

// FieldError is an invalid value. Its message names the key and the fix.
type FieldError struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e *FieldError) Error() string { return where(e.File, e.Line) + e.Key + ": " + e.Msg }

func where(file string, line int) string {
	switch {
	case file == "":
		return ""
	case line == 0:
		return file + ": "
	}
	return fmt.Sprintf("%s:%d: ", file, line)
}

// decoder walks YAML nodes, recording warnings and errors with the file the
// current top-level key came from.
type decoder struct {
	file, dir string
	warnings  []Warning
	errs      []error
	// ref, when set, makes the handlers describe their keys instead of
	// decoding (see reference.go).
	ref *reference
}

func (d *decoder) warn(key string, n *yaml.Node, format string, args ...any) {
	if d.ref != nil {
		return
	}
	d.warnings = append(d.warnings, Warning{File: d.file, Line: line(n), Key: key, Message: fmt.Sprintf(format, args...)})
}

func (d *decoder) fail(key string, n *yaml.Node, format string, args ...any) {
	if d.ref != nil {
		return
	}
	d.errs = append(d.errs, &FieldError{File: d.file, Line: line(n), Key: key, Msg: fmt.Sprintf(format, args...)})
}

func line(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	return n.Line
}

func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

type handlers map[string]func(key string, n *yaml.Node)

// object decodes a mapping by calling the handler for each key. Unknown
// keys become warnings (with a suggestion when one is close); keys in
// ignored are ones Synapse documents but Myelin does not implement. A null
// value counts as absent, like Synapse's config.get(key) returning None.
func (d *decoder) object(path string, n *yaml.Node, hs handlers, ignored ...string) {
	if d.ref != nil {
		d.ref.object(d, path, hs, ignored)
		return
	}
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(path, n, "must be a mapping of keys to values, found %s", kindName(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.fail(path, k, "keys must be plain strings")
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			d.warn(join(path, k.Value), k, "duplicate key %s (first on line %d); the last value wins", join(path, k.Value), prev)
		}
		seen[k.Value] = k.Line
		d.dispatch(path, k, v, hs, ignored)
	}
}

// dispatch hands one key's value to its handler, or warns about the key.
func (d *decoder) dispatch(path string, k, v *yaml.Node, hs handlers, ignored []string) {
	key := join(path, k.Value)
	h, ok := hs[k.Value]
	switch {
	case ok && isNull(v):
	case ok:
		h(key, v)
	case slices.Contains(ignored, k.Value):
		d.warn(key, k, "ignored key %s: Myelin does not support this Synapse option", key)
	default:
		msg := "unknown key " + key
		if s := suggest(k.Value, hs); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		d.warn(key, k, "%s", msg)
	}
}

// suggest returns the known key nearest to an unknown one, if it is close
// enough to be a likely typo.
func suggest(unknown string, hs handlers) string {
	best, bestDist := "", 3
	for k := range hs {
		if dist := editDistance(unknown, k); dist < bestDist || dist == bestDist && dist < 3 && k < best {
			best, bestDist = k, dist
		}
	}
	if bestDist > 2 || bestDist >= len(unknown) {
		return ""
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return kindName(n.Alias)
	}
	switch n.ShortTag() {
	case "!!null":
		return "nothing"
	case "!!bool":
		return "a boolean (" + n.Value + ")"
	case "!!int", "!!float":
		return "a number (" + n.Value + ")"
	}
	return fmt.Sprintf("%q", n.Value)
}

// resolve follows YAML aliases so *anchors work everywhere.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// scalarString accepts strings and numbers (which PyYAML would also hand
// to Synapse as values); booleans and collections are refused because they
// are almost always a mistake for a string key.
func (d *decoder) scalarString(key string, n *yaml.Node) (string, bool) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!bool" || n.ShortTag() == "!!null" {
		d.fail(key, n, "must be a string, found %s", kindName(n))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) str(dst *string) func(string, *yaml.Node) {
	return func(key string, n *yaml.Node) {
		if d.describe(key, "string", *dst) {
			return
		}
		if s, ok := d.scalarString(key, n); ok {
			*dst = s
		}
	}
}

// path reads a filesystem path, resolving it against the directory of the
// file it came from.
func (d *decoder) path(dst *string) func(string, *yaml.Node) {
	return func(key string, n *yaml.Node) {
		if d.describe(key, "path", *dst) {
			return
		}
		if s, ok := d.scalarString(key, n); ok {
			*dst = d.resolvePath(s)
		}
	}
}

func (d *decoder) resolvePath(s string) string {
	if s == "" || filepath.IsAbs(s) {
		return s
	}
	return filepath.Join(d.dir, s)
}

// yaml11Bools are the plain scalars PyYAML (YAML 1.1, which Synapse uses)
// reads as booleans; yaml.v3 follows YAML 1.2 and reads yes/no/on/off as
// strings, so they are recognised here.
var yaml11Bools = map[string]bool{
	"true": true, "yes": true, "on": true,
	"false": false, "no": false, "off": false,
}

func (d *decoder) parseBool(key string, n *yaml.Node) (bool, bool) {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!bool" || n.ShortTag() == "!!str" && n.Style == 0) {
		v := n.Value
		if v == strings.ToLower(v) || v == strings.ToUpper(v) || v == strings.ToUpper(v[:1])+v[1:] {
			if b, ok := yaml11Bools[strings.ToLower(v)]; ok {
				return b, true
			}
		}
	}
	d.fail(key, n, "must be true or false, found %s", kindName(n))
	return false, false
}

func (d *decoder) boolean(dst *bool) func(string, *yaml.Node) {
	return func(key string, n *yaml.Node) {
		if d.describe(key, "boolean", *dst) {
			return
		}
		if b, ok := d.parseBool(key, n); ok {
			*dst = b
		}
	}
}

func (d *decoder) optBool(dst **bool) func(string, *yaml.Node) {
	return func(key string, n *yaml.Node) {
		if d.describe(key, "boolean", *dst) {
			return
		}
		if b, ok := d.parseBool(key, n); ok {
			*dst = &b
		}
	}
}

func (d *decoder) parseInt(key string, n *yaml.Node, lo, hi int64) (int64, bool) {
	n = resolve(n)
	var v int64
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil {
		d.fail(key, n, "must be a whole number, found %s", kindName(n))
		return 0, false
	}
	if v < lo || v > hi {
		d.fail(key, n, "%d is out of range; use a value from %d to %d", v, lo, hi)
		return 0, false
	}
	return v, true
}

func (d *decoder) integer(dst *int, lo, hi int64) func(string, *yaml.Node) {
	return func(key string, n *yaml.Node) {
		if d.describe(key, "integer", *dst) {
			return
		}
		if v, ok := d.parseInt(key, n, lo, hi); ok {
			*dst = int(v)
		}
	}
}

func (d *decoder) number(dst *float64, lo float64) func(string, *yaml.Node) {
	return func(key string, n *yaml.Node) {
		if d.describe(key, "number", *dst) {
			return
		}
		n = resolve(n)
		var v float64
		if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") || n.Decode(&v) != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			d.fail(key, n, "must be a number, found %s", kindName(n))
			return
		}
		if v < lo {
			d.fail(key, n, "%v is too small; use a number of at least %v", v, lo)
			return
		}
		*dst = v
	}
}

// size reads a byte count: an integer or a size string like "50M".
func (d *decoder) size(dst *int64) func(string, *yaml.Node) {
	return func(key string, n *yaml.Node) {
		if d.describe(key, "size", sizeDefault(*dst)) {
			return
		}
		n = resolve(n)
		if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!str") {
			if v, err := ParseSize(n.Value); err == nil {
				*dst = v
				return
			} else if n.ShortTag() == "!!str" {
				d.fail(key, n, "%q is %v", n.Value, err)
				return
			}
		}
		d.fail(key, n, "must be a size such as \"50M\", found %s", kindName(n))
	}
}

// duration reads an integer of milliseconds or a duration string like "1h".
func (d *decoder) duration(dst *time.Duration) func(string, *yaml.Node) {
	return func(key string, n *yaml.Node) {
		if d.describe(key, "duration", *dst) {
			return
		}
		n = resolve(n)
		if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!str") {
			if v, err := ParseDuration(n.Value); err == nil {
				*dst = v
				return
			} else if n.ShortTag() == "!!str" {
				d.fail(key, n, "%q is %v", n.Value, err)
				return
			}
		}
		d.fail(key, n, "must be a duration such as \"1h\" or a number of milliseconds, found %s", kindName(n))
	}
}

// list calls item for each element of a sequence.
func (d *decoder) list(key string, n *yaml.Node, item func(key string, n *yaml.Node)) bool {
	if d.ref != nil {
		item(key+"[]", probe)
		return false
	}
	n = resolve(n)
	if n.Kind != yaml.SequenceNode {
		d.fail(key, n, "must be a list, found %s", kindName(n))
		return false
	}
	for i, c := range n.Content {
		item(fmt.Sprintf("%s[%d]", key, i), c)
	}
	return true
}

// strList reads a list of strings; an empty list gives a non-nil slice so
// "explicitly nothing" stays distinct from "unset".
func (d *decoder) strList(dst *[]string, each func(key string, n *yaml.Node, s string) (string, bool)) func(string, *yaml.Node) {
	return func(key string, n *yaml.Node) {
		if d.describe(key, "list of strings", *dst) {
			return
		}
		out := []string{}
		ok := d.list(key, n, func(k string, c *yaml.Node) {
			s, ok := d.scalarString(k, c)
			if ok && each != nil {
				s, ok = each(k, c, s)
			}
			if ok {
				out = append(out, s)
			}
		})
		if ok {
			*dst = out
		}
	}
}

// ipRanges reads a list of CIDR ranges; a bare address means just itself.
func (d *decoder) ipRanges(dst *[]netip.Prefix) func(string, *yaml.Node) {
	return func(key string, n *yaml.Node) {
		if d.describe(key, "list of IP ranges", *dst) {
			return
		}
		out := []netip.Prefix{}
		ok := d.list(key, n, func(k string, c *yaml.Node) {
			s, ok := d.scalarString(k, c)
			if !ok {
				return
			}
			p, err := parsePrefix(s)
			if err != nil {
				d.fail(k, c, "%q is not an IP range; write CIDR notation such as \"10.0.0.0/8\" or \"fc00::/7\"", s)
				return
			}
			out = append(out, p)
		})
		if ok {
			*dst = out
		}
	}
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// choice reads a string that must be one of the allowed values.
func (d *decoder) choice(dst *string, allowed ...string) func(string, *yaml.Node) {
	return func(key string, n *yaml.Node) {
		if d.describe(key, "one of "+orList(allowed), *dst) {
			return
		}
		s, ok := d.scalarString(key, n)
		if !ok {
			return
		}
		if !slices.Contains(allowed, s) {
			d.fail(key, n, "%q is not supported; use %s", s, orList(allowed))
			return
		}
		*dst = s
	}
}

// orList renders `"a"`, `"a" or "b"`, `"a", "b" or "c"`.
func orList(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = strconv.Quote(v)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}
