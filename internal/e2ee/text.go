package e2ee

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/myelin-chat/myelin/internal/merr"
)

// Text from other servers is checked before it reaches the database:
// PostgreSQL refuses U+0000 and invalid UTF-8 in TEXT while SQLite keeps
// them, so the backends would disagree, and PostgreSQL's error would look
// like storage trouble, which fails a durable EDU's transaction for the
// sender to retry, forever (federationapi.HandleDurableEDU). What the
// clients sent stays JSON text, in which U+0000 is the escape "\u0000"
// that both backends store; names, IDs and types are refused with it.

// storable refuses values that are not valid UTF-8 or contain U+0000.
func storable(what string, values ...string) error {
	for _, v := range values {
		if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
			return merr.InvalidParam(what + " must be valid UTF-8 without U+0000")
		}
	}
	return nil
}

// storableJSON refuses JSON text that is not valid UTF-8 or has U+0000 in
// any of its strings or keys (device keys, names: nothing in them may
// hold one).
func storableJSON(what string, raw json.RawMessage) error {
	if !utf8.Valid(raw) {
		return merr.InvalidParam(what + " must be valid UTF-8")
	}
	// Only a text that spells the escape can hold a NUL.
	if !bytes.Contains(raw, []byte(`\u0000`)) {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return merr.BadJSON(what + ": " + err.Error())
	}
	if hasNUL(v) {
		return merr.InvalidParam(what + " must not contain U+0000")
	}
	return nil
}

// hasNUL reports whether a decoded JSON value has U+0000 in a string or
// key; its depth is the checked body's.
func hasNUL(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.IndexByte(v, 0) >= 0
	case map[string]any:
		for k, e := range v {
			if strings.IndexByte(k, 0) >= 0 || hasNUL(e) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if hasNUL(e) {
				return true
			}
		}
	}
	return false
}
