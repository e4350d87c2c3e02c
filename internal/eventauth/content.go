package eventauth

import (
	"encoding/json"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
)

// Event content is canonical JSON (the event package canonicalizes it), so
// members are looked up by exact key with canonicaljson.Get instead of
// decoding into Go structs, whose field matching is case-insensitive.

// contentGet returns the raw value of content[key].
func contentGet(content json.RawMessage, key string) (json.RawMessage, error) {
	return canonicaljson.Get(content, key)
}

// contentString returns content[key] when it is a JSON string. Keys are
// matched exactly on the canonical content.
func contentString(content json.RawMessage, key string) (string, bool) {
	raw, err := canonicaljson.Get(content, key)
	if err != nil {
		return "", false
	}
	return stringValue(string(raw))
}

// contentHas reports whether content has key (with any value, null included).
func contentHas(content json.RawMessage, key string) bool {
	_, err := canonicaljson.Get(content, key)
	return err == nil
}
