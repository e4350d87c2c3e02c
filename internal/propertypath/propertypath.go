// Package propertypath reads the dot-separated property paths of the
// Matrix spec (appendices, "Dot-separated property paths"): "content.body"
// names the body property of an event's content; a literal dot or
// backslash in a property name is escaped with a backslash
// ("content.m\.relates_to"), and any other escape is kept as written.
package propertypath

import (
	"reflect"
	"strings"
)

// Split breaks a path into its property names, unescaping "\." and "\\".
// An empty path is one empty name.
func Split(path string) []string {
	if !strings.Contains(path, `\`) {
		return strings.Split(path, ".")
	}
	var (
		out []string
		cur strings.Builder
	)
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case c == '\\' && i+1 < len(path) && (path[i+1] == '.' || path[i+1] == '\\'):
			cur.WriteByte(path[i+1])
			i++
		case c == '.':
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(out, cur.String())
}

// Select returns a copy of obj holding only the properties the paths name
// (each split by Split), with the objects on the way to them. A path through
// a property that is missing or not an object selects nothing; a path that
// ends on an object selects it whole.
func Select(obj map[string]any, paths [][]string) map[string]any {
	out := map[string]any{}
	for _, p := range paths {
		selectInto(out, obj, p)
	}
	return out
}

func selectInto(dst, src map[string]any, path []string) {
	if len(path) == 0 {
		return
	}
	v, ok := src[path[0]]
	if !ok {
		return
	}
	if len(path) == 1 {
		dst[path[0]] = v
		return
	}
	child, ok := v.(map[string]any)
	if !ok {
		return
	}
	prev, had := dst[path[0]]
	sub, partial := prev.(map[string]any)
	if had && !partial {
		return
	}
	if had && isWhole(sub, child) {
		return // an earlier path selected this object whole
	}
	if !had {
		sub = map[string]any{}
	}
	selectInto(sub, child, path[1:])
	if len(sub) > 0 {
		dst[path[0]] = sub
	}
}

// isWhole reports whether sub is the source object itself, selected whole
// (a map is a reference: the selection shares it).
func isWhole(sub, src map[string]any) bool {
	return len(sub) > 0 && reflect.ValueOf(sub).UnsafePointer() == reflect.ValueOf(src).UnsafePointer()
}
