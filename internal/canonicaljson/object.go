package canonicaljson

import (
	"bytes"
)

// The helpers in this file work on JSON that has already been through
// Canonicalize (or is known canonical for another reason). They scan rather
// than parse, so they are cheap, but they do not re-validate: given malformed
// input they return ErrSyntax or a meaningless result, never panic. Keys are
// matched on their canonical encoding, so non-canonical input (for example a
// key written as "\u0061") may not match.

// topMember locates one member of a top-level object.
type topMember struct {
	start, end int // the whole `"key":value`
	key        []byte
	value      []byte
}

// forEachMember calls fn for each member of the object in obj, stopping early
// when fn returns false.
func forEachMember(obj []byte, fn func(m topMember) bool) error {
	i := skipWS(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return &Error{Kind: ErrSyntax, Offset: i, Detail: "not a JSON object"}
	}
	i = skipWS(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		if skipWS(obj, i+1) != len(obj) {
			return &Error{Kind: ErrSyntax, Offset: i + 1, Detail: "trailing data"}
		}
		return nil
	}
	for {
		i = skipWS(obj, i)
		if i >= len(obj) || obj[i] != '"' {
			return &Error{Kind: ErrSyntax, Offset: i, Detail: "expected string key"}
		}
		start := i
		keyEnd, err := skipString(obj, i)
		if err != nil {
			return err
		}
		key := obj[i+1 : keyEnd-1]
		i = skipWS(obj, keyEnd)
		if i >= len(obj) || obj[i] != ':' {
			return &Error{Kind: ErrSyntax, Offset: i, Detail: "expected ':'"}
		}
		i = skipWS(obj, i+1)
		valStart := i
		valEnd, err := skipValue(obj, i)
		if err != nil {
			return err
		}
		if !fn(topMember{start: start, end: valEnd, key: key, value: obj[valStart:valEnd]}) {
			return nil
		}
		i = skipWS(obj, valEnd)
		if i >= len(obj) {
			return &Error{Kind: ErrSyntax, Offset: i, Detail: "unterminated object"}
		}
		switch obj[i] {
		case ',':
			i++
		case '}':
			if skipWS(obj, i+1) != len(obj) {
				return &Error{Kind: ErrSyntax, Offset: i + 1, Detail: "trailing data"}
			}
			return nil
		default:
			return &Error{Kind: ErrSyntax, Offset: i, Detail: "expected ',' or '}'"}
		}
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the offset just past the string starting at b[i] ('"').
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, &Error{Kind: ErrSyntax, Offset: i, Detail: "unterminated string"}
}

// skipValue returns the offset just past the value starting at b[i]. Nested
// containers are skipped with a counter, not recursion.
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, &Error{Kind: ErrSyntax, Offset: i, Detail: "missing value"}
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, &Error{Kind: ErrSyntax, Offset: i, Detail: "unterminated container"}
	case ',', '}', ']', ':':
		return 0, &Error{Kind: ErrSyntax, Offset: i, Detail: "missing value"}
	default:
		j := i
		for j < len(b) {
			switch b[j] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return j, nil
			}
			j++
		}
		return j, nil
	}
}

// RemoveKeys returns a copy of the canonical object with the named top-level
// members removed (absent names are ignored). Removing members from a
// canonical object leaves it canonical, so this is the cheap way to strip
// "signatures", "unsigned" and "hashes" before signing or hashing.
func RemoveKeys(canonicalObject []byte, keys ...string) ([]byte, error) {
	out := make([]byte, 0, len(canonicalObject))
	out = append(out, '{')
	first := true
	err := forEachMember(canonicalObject, func(m topMember) bool {
		for _, k := range keys {
			if string(m.key) == k || keyMatches(m.key, k) {
				return true
			}
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = append(out, canonicalObject[m.start:m.end]...)
		return true
	})
	if err != nil {
		return nil, err
	}
	return append(out, '}'), nil
}

// keyMatches compares an encoded key (without quotes) against a Go string,
// for the rare keys that need escaping.
func keyMatches(encoded []byte, key string) bool {
	if len(encoded) < len(key) || bytes.IndexByte(encoded, '\\') < 0 {
		return false
	}
	enc := appendString(nil, key)
	return bytes.Equal(encoded, enc[1:len(enc)-1])
}

// Get returns the raw bytes of the value at path in the canonical object,
// where each path element names a member of a nested object. It returns an
// error wrapping ErrNotFound if a member is absent or an intermediate value
// is not an object, and ErrSyntax for malformed input. The result aliases
// object.
func Get(object []byte, path ...string) ([]byte, error) {
	cur := object
	for depth, key := range path {
		var found []byte
		ok := false
		i := skipWS(cur, 0)
		if i >= len(cur) || cur[i] != '{' {
			if depth == 0 {
				return nil, &Error{Kind: ErrSyntax, Offset: i, Detail: "not a JSON object"}
			}
			return nil, &Error{Kind: ErrNotFound, Detail: "not an object at " + key}
		}
		err := forEachMember(cur, func(m topMember) bool {
			if string(m.key) == key || keyMatches(m.key, key) {
				found, ok = m.value, true
				return false
			}
			return true
		})
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, &Error{Kind: ErrNotFound, Detail: key}
		}
		cur = found
	}
	return cur, nil
}

// Set returns a copy of the canonical object with the top-level member key
// set to value, replacing any existing member and keeping keys in canonical
// order. value must itself be canonical JSON; it is not checked.
func Set(canonicalObject []byte, key string, value []byte) ([]byte, error) {
	encKey := appendString(make([]byte, 0, len(key)+2), key)
	out := make([]byte, 0, len(canonicalObject)+len(encKey)+len(value)+2)
	out = append(out, '{')
	first := true
	inserted := false
	add := func(b ...[]byte) {
		if !first {
			out = append(out, ',')
		}
		first = false
		for _, x := range b {
			out = append(out, x...)
		}
	}
	colon := []byte{':'}
	err := forEachMember(canonicalObject, func(m topMember) bool {
		if !inserted {
			// Compare decoded keys: for keys without escapes the
			// encoded form is the decoded form.
			c := compareEncodedKeys(m.key, encKey[1:len(encKey)-1])
			if c >= 0 {
				add(encKey, colon, value)
				inserted = true
				if c == 0 {
					return true
				}
			}
		}
		add(canonicalObject[m.start:m.end])
		return true
	})
	if err != nil {
		return nil, err
	}
	if !inserted {
		add(encKey, colon, value)
	}
	return append(out, '}'), nil
}

// compareEncodedKeys orders two canonically encoded keys by their decoded
// values.
func compareEncodedKeys(a, b []byte) int {
	if bytes.IndexByte(a, '\\') < 0 && bytes.IndexByte(b, '\\') < 0 {
		return bytes.Compare(a, b)
	}
	return bytes.Compare(decodeKey(a), decodeKey(b))
}

func decodeKey(enc []byte) []byte {
	quoted := make([]byte, 0, len(enc)+2)
	quoted = append(quoted, '"')
	quoted = append(quoted, enc...)
	quoted = append(quoted, '"')
	p := parser{data: quoted}
	s, err := p.readString(nil, strDecode)
	if err != nil {
		return enc
	}
	return s
}

// isCanonical checks data against the strict canonical form in one pass
// without building output. Nesting is limited to DefaultMaxDepth.
func isCanonical(data []byte) bool {
	p := parser{data: data, strict: true, canon: true, maxDepth: DefaultMaxDepth}
	var mbuf [32]member
	p.members = mbuf[:0]
	return p.parseDocument() == nil
}
