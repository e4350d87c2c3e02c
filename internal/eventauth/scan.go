package eventauth

import (
	"encoding/json"
	"errors"
	"strings"
)

// A small scanner over canonical JSON objects. Event content reaches this
// package in canonical form (the event package canonicalizes and validates
// it), so there is no whitespace and keys are unique; what is left is to walk
// members without encoding/json's reflection and allocations. Power levels
// with a thousand users are read on every Check, so this matters. Malformed
// input yields errBadJSON, never a panic.

var errBadJSON = errors.New("malformed JSON")

// eachMember calls fn for each member of the JSON object obj with the decoded
// key and the raw value. Keys without escapes are substrings of obj, so
// callers that pass a string built once share its memory.
func eachMember(obj string, fn func(key, value string) error) error {
	if len(obj) < 2 || obj[0] != '{' || obj[len(obj)-1] != '}' {
		return errBadJSON
	}
	i := 1
	if obj[i] == '}' {
		return nil
	}
	for {
		end, err := skipString(obj, i)
		if err != nil {
			return err
		}
		key := obj[i+1 : end-1]
		if strings.IndexByte(key, '\\') >= 0 {
			var ok bool
			if key, ok = stringValue(obj[i:end]); !ok {
				return errBadJSON
			}
		}
		if end >= len(obj) || obj[end] != ':' {
			return errBadJSON
		}
		vStart := end + 1
		vEnd, err := skipValue(obj, vStart)
		if err != nil {
			return err
		}
		if err := fn(key, obj[vStart:vEnd]); err != nil {
			return err
		}
		if vEnd >= len(obj) {
			return errBadJSON
		}
		switch obj[vEnd] {
		case ',':
			i = vEnd + 1
		case '}':
			if vEnd != len(obj)-1 {
				return errBadJSON
			}
			return nil
		default:
			return errBadJSON
		}
	}
}

// skipString returns the index just after the string starting at obj[i].
func skipString(obj string, i int) (int, error) {
	if i >= len(obj) || obj[i] != '"' {
		return 0, errBadJSON
	}
	for j := i + 1; j < len(obj); j++ {
		switch obj[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errBadJSON
}

// skipValue returns the index just after the value starting at obj[i]:
// strings are skipped with their escapes, objects and arrays by counting
// brackets outside strings, scalars up to the next delimiter.
func skipValue(obj string, i int) (int, error) {
	if i >= len(obj) {
		return 0, errBadJSON
	}
	switch obj[i] {
	case '"':
		return skipString(obj, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(obj); j++ {
			switch obj[j] {
			case '"':
				end, err := skipString(obj, j)
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
		return 0, errBadJSON
	}
	j := i
	for j < len(obj) && obj[j] != ',' && obj[j] != '}' && obj[j] != ']' {
		j++
	}
	if j == i {
		return 0, errBadJSON
	}
	return j, nil
}

// stringValue decodes a raw JSON string value; ok is false for other values.
func stringValue(raw string) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	s := raw[1 : len(raw)-1]
	if strings.IndexByte(s, '\\') < 0 {
		return s, true
	}
	var d string // apart from s, so that s does not escape on the fast path
	if json.Unmarshal([]byte(raw), &d) != nil {
		return "", false
	}
	return d, true
}
