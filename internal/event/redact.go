package event

import (
	"encoding/json"

	"github.com/myelin-chat/myelin/internal/roomversion"
)

// Top-level keys that survive redaction (rooms/fragments/v1-redactions.md and
// v11-redactions.md). v11 stopped protecting origin, membership, prev_state.
var (
	keepTopLegacy = set("event_id", "type", "room_id", "sender", "state_key", "content", "hashes",
		"signatures", "depth", "prev_events", "prev_state", "auth_events", "origin", "origin_server_ts", "membership")
	keepTopV11 = set("event_id", "type", "room_id", "sender", "state_key", "content", "hashes",
		"signatures", "depth", "prev_events", "auth_events", "origin_server_ts")
)

// contentKeys lists, per redaction algorithm and event type, the content keys
// that survive. A nil entry with allContent=true keeps everything.
func contentKeys(alg roomversion.RedactionAlgorithm, typ string) (keys map[string]bool, allContent bool) {
	switch typ {
	case TypeMember:
		switch alg {
		case roomversion.RedactionV1, roomversion.RedactionV6:
			return set("membership"), false
		default: // v9+: restricted-join authorisations must survive (rooms/v9.md)
			return set("membership", "join_authorised_via_users_server"), false
		}
	case TypeCreate:
		if alg == roomversion.RedactionV11 {
			return nil, true
		}
		return set("creator"), false
	case TypeJoinRules:
		if alg == roomversion.RedactionV1 || alg == roomversion.RedactionV6 {
			return set("join_rule"), false
		}
		return set("join_rule", "allow"), false
	case TypePowerLevels:
		if alg == roomversion.RedactionV11 {
			return set("ban", "events", "events_default", "invite", "kick", "redact", "state_default", "users", "users_default"), false
		}
		return set("ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default"), false
	case TypeAliases:
		if alg == roomversion.RedactionV1 {
			return set("aliases"), false
		}
	case TypeHistoryVisibility:
		return set("history_visibility"), false
	case TypeRedaction:
		if alg == roomversion.RedactionV11 {
			return set("redacts"), false
		}
	}
	return nil, false
}

// redactObject applies the redaction algorithm of version v to a canonical
// PDU object and returns a new object (the input is not modified).
func redactObject(obj object, v *roomversion.Version) object {
	keepTop := keepTopLegacy
	if v.Redaction == roomversion.RedactionV11 {
		keepTop = keepTopV11
	}
	out := make(object, len(keepTop))
	for k, val := range obj {
		if keepTop[k] {
			out[k] = val
		}
	}
	var typ string
	if t, ok := obj["type"]; ok && len(t) > 0 && t[0] == '"' {
		_ = json.Unmarshal(t, &typ)
	}
	content, ok := obj["content"]
	if !ok {
		return out
	}
	keys, all := contentKeys(v.Redaction, typ)
	if all {
		return out
	}
	c, err := parseObject(content)
	if err != nil {
		out["content"] = json.RawMessage("{}")
		return out
	}
	kept := object{}
	for k, val := range c {
		if keys[k] {
			kept[k] = val
		}
	}
	// v11: m.room.member keeps third_party_invite.signed, and only that.
	if v.Redaction == roomversion.RedactionV11 && typ == TypeMember {
		if tpi, ok := c["third_party_invite"]; ok {
			if inner, err := parseObject(tpi); err == nil {
				if signed, ok := inner["signed"]; ok {
					kept["third_party_invite"] = object{"signed": signed}.encode()
				}
			}
		}
	}
	out["content"] = kept.encode()
	return out
}

// RedactJSON applies the redaction algorithm of v to a canonical JSON object
// (any event-shaped object, as in the spec's test vectors) and returns the
// redacted canonical JSON.
func RedactJSON(canonical []byte, v *roomversion.Version) ([]byte, error) {
	obj, err := parseObject(canonical)
	if err != nil {
		return nil, errorf("%v", err)
	}
	return redactObject(obj, v).encode(), nil
}

// Redacted returns the redacted form of the event: same event ID, hashes and
// signatures, with content stripped per the room version.
func (e *Event) Redacted() *Event {
	obj, err := parseObject(e.json)
	if err != nil {
		return e // unreachable: e.json is canonical
	}
	r := *e
	red := redactObject(obj, e.version)
	r.json, r.content = red.encodeFinding("content")
	if len(r.content) == 0 {
		r.content = json.RawMessage("{}")
	}
	if e.Type() == TypeRedaction {
		p, _ := readPDU(red)
		r.redacts = redactsTarget(p.Redacts, r.content, e.version)
	}
	r.unsigned = nil
	return &r
}

func set(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}
