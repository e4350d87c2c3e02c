package event

import (
	"crypto/sha256"
	"encoding/base64"

	"github.com/myelin-chat/myelin/internal/roomversion"
)

// contentHash is SHA-256 over the canonical event without unsigned,
// signatures and hashes (server-server-api.md, "Calculating the content hash").
func contentHash(obj object) [32]byte {
	c := obj.clone()
	delete(c, "unsigned")
	delete(c, "signatures")
	delete(c, "hashes")
	return sha256.Sum256(c.encode())
}

// referenceHash is SHA-256 over the redacted event without signatures and
// unsigned ("Calculating the reference hash for an event").
func referenceHash(obj object, v *roomversion.Version) [32]byte {
	r := redactObject(obj, v)
	delete(r, "signatures")
	delete(r, "unsigned")
	return sha256.Sum256(r.encode())
}

// referenceHashB64 encodes the reference hash as the version's event IDs do:
// standard unpadded base64 in v3, URL-safe unpadded base64 from v4
// (rooms/fragments/v4-event-ids.md).
func referenceHashB64(obj object, v *roomversion.Version) string {
	h := referenceHash(obj, v)
	if v.EventFormat == roomversion.EventFormatV3 {
		return base64.RawStdEncoding.EncodeToString(h[:])
	}
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// CheckContentHash reports whether hashes.sha256 matches the event's content.
// A mismatch means the event must be replaced by its redacted form
// (server-server-api.md, "Validating hashes and signatures on received events").
func (e *Event) CheckContentHash() bool {
	obj, err := parseObject(e.json)
	if err != nil {
		return false
	}
	h := contentHash(obj)
	claimed, err := base64.RawStdEncoding.DecodeString(trimPad(e.ContentHash()))
	if err != nil {
		return false
	}
	return string(claimed) == string(h[:])
}

// ReferenceHash returns the event's reference hash.
func (e *Event) ReferenceHash() [32]byte {
	obj, _ := parseObject(e.json)
	return referenceHash(obj, e.version)
}

func trimPad(s string) string {
	for len(s) > 0 && s[len(s)-1] == '=' {
		s = s[:len(s)-1]
	}
	return s
}
