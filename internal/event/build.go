package event

import (
	"encoding/base64"
	"encoding/json"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/signing"
)

// Builder describes a new event before it is hashed and signed. The room
// engine fills PrevEvents, AuthEvents and Depth from the room's state (see
// eventauth.SelectAuthEvents); Build then adds hashes, signatures and the event ID.
type Builder struct {
	Type     string
	StateKey *string
	Sender   string
	// RoomID is left empty for a v12 m.room.create, whose room ID is derived.
	RoomID  string
	Content json.RawMessage // any JSON object; canonicalized by Build
	// Redacts is the target of an m.room.redaction; Build places it where the
	// room version expects it.
	Redacts        string
	PrevEvents     []string
	AuthEvents     []string
	Depth          int64
	OriginServerTS int64
	// EventID is required in room v1/v2 (sender-assigned "$opaque:server")
	// and ignored otherwise.
	EventID string
	// RefHashes maps prev/auth event IDs to their reference hashes (unpadded
	// base64), used only for the [id, {sha256}] pairs of room v1/v2.
	RefHashes map[string]string
	// Origin is the server name written to the legacy `origin` field (v1–v10).
	Origin string
}

// Build assembles, hashes and signs the event for version v as server
// `server` with key, following server-server-api.md "Adding hashes and
// signatures to outgoing events", and returns it parsed and checked.
func (b *Builder) Build(v *roomversion.Version, server string, key signing.SigningKey) (*Event, error) {
	obj, err := b.object(v)
	if err != nil {
		return nil, err
	}
	if err := hashAndSign(obj, v, server, key); err != nil {
		return nil, err
	}
	return fromObject(obj, v)
}

func (b *Builder) object(v *roomversion.Version) (object, error) {
	opts := canonicaljson.LenientOptions
	if v.StrictCanonicalJSON {
		opts = canonicaljson.StrictOptions
	}
	content := b.Content
	if len(content) == 0 {
		content = json.RawMessage("{}")
	}
	content, err := canonicaljson.Canonicalize(content, opts)
	if err != nil {
		return nil, errorf("content: %v", err)
	}
	if content[0] != '{' {
		return nil, errorf("content must be an object")
	}
	obj := object{
		"type":             quote(b.Type),
		"sender":           quote(b.Sender),
		"content":          content,
		"depth":            intJSON(b.Depth),
		"origin_server_ts": intJSON(b.OriginServerTS),
		"hashes":           json.RawMessage(`{}`),
		"signatures":       json.RawMessage(`{}`),
	}
	isCreate := b.Type == TypeCreate && b.StateKey != nil && *b.StateKey == ""
	if !(isCreate && !v.CreateEventHasRoomID) {
		obj["room_id"] = quote(b.RoomID)
	}
	if b.StateKey != nil {
		obj["state_key"] = quote(*b.StateKey)
	}
	if b.Redacts != "" {
		if v.RedactsInContent {
			c, err := parseObject(content)
			if err != nil {
				return nil, errorf("content: %v", err)
			}
			c["redacts"] = quote(b.Redacts)
			obj["content"] = c.encode()
		} else {
			obj["redacts"] = quote(b.Redacts)
			// A redaction sent through /send carries redacts in its
			// content, which before room version 11 moves to the top
			// level (room_send.yaml, spec v1.18).
			if c, err := parseObject(content); err == nil {
				if _, ok := c["redacts"]; ok {
					delete(c, "redacts")
					obj["content"] = c.encode()
				}
			}
		}
	}
	if v.LegacyPDUFields && b.Origin != "" {
		obj["origin"] = quote(b.Origin)
	}
	obj["prev_events"] = b.refs(b.PrevEvents, v)
	obj["auth_events"] = b.refs(b.AuthEvents, v)
	if !v.EventIDsAreHashes() {
		if b.EventID == "" {
			return nil, errorf("room version %s needs a sender-assigned event_id", v.ID)
		}
		obj["event_id"] = quote(b.EventID)
	}
	return obj, nil
}

func (b *Builder) refs(ids []string, v *roomversion.Version) json.RawMessage {
	if v.EventIDsAreHashes() {
		out := make([]json.RawMessage, len(ids))
		for i, id := range ids {
			out[i] = quote(id)
		}
		return joinArray(out)
	}
	out := make([]json.RawMessage, len(ids))
	for i, id := range ids {
		h := object{}
		if sha, ok := b.RefHashes[id]; ok {
			h["sha256"] = quote(sha)
		}
		out[i] = joinArray([]json.RawMessage{quote(id), h.encode()})
	}
	return joinArray(out)
}

func joinArray(items []json.RawMessage) json.RawMessage {
	n := 2
	for _, it := range items {
		n += len(it) + 1
	}
	buf := make([]byte, 0, n)
	buf = append(buf, '[')
	for i, it := range items {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, it...)
	}
	return append(buf, ']')
}

// hashAndSign sets hashes.sha256 on a canonical event object and adds the
// server's signature over its redacted form, keeping existing signatures.
func hashAndSign(obj object, v *roomversion.Version, server string, key signing.SigningKey) error {
	h := contentHash(obj)
	obj["hashes"] = object{"sha256": quote(base64.RawStdEncoding.EncodeToString(h[:]))}.encode()
	return signObject(obj, v, server, key)
}

// signObject signs the redacted form of obj and copies the signature back.
func signObject(obj object, v *roomversion.Version, server string, key signing.SigningKey) error {
	redacted := redactObject(obj, v)
	delete(redacted, "unsigned")
	signed, err := signing.SignJSON(redacted.encode(), server, key)
	if err != nil {
		return err
	}
	so, err := parseObject(signed)
	if err != nil {
		return err
	}
	obj["signatures"] = so["signatures"]
	return nil
}

// SignEventJSON hashes and signs any event-shaped JSON object (such as the
// spec's test vectors) and returns canonical JSON with `unsigned` preserved.
func SignEventJSON(eventJSON []byte, v *roomversion.Version, server string, key signing.SigningKey) ([]byte, error) {
	canon, err := canonicaljson.Canonicalize(eventJSON, canonicaljson.LenientOptions)
	if err != nil {
		return nil, errorf("%v", err)
	}
	obj, err := parseObject(canon)
	if err != nil {
		return nil, errorf("%v", err)
	}
	if err := hashAndSign(obj, v, server, key); err != nil {
		return nil, err
	}
	return obj.encode(), nil
}

// AddSignature returns a copy of e with one more server signature over its
// redacted form, e.g. a resident server countersigning a send_join or invite.
func (e *Event) AddSignature(server string, key signing.SigningKey) (*Event, error) {
	obj, err := parseObject(e.json)
	if err != nil {
		return nil, err
	}
	if err := signObject(obj, e.version, server, key); err != nil {
		return nil, err
	}
	ne, err := fromObject(obj, e.version)
	if err != nil {
		return nil, err
	}
	ne.unsigned = e.unsigned
	return ne, nil
}

// WithSignature returns a copy of e with signatures[server][keyID] set to
// sig and every other signature kept, including other keys of the same
// server: a Policy Server may share its name with the event's origin, whose
// signature must survive (server-server-api "Policy Servers", v1.19). The
// event ID does not change, since signatures are outside the reference
// hash; sig is not checked here.
func (e *Event) WithSignature(server string, keyID signing.KeyID, sig string) (*Event, error) {
	obj, err := parseObject(e.json)
	if err != nil {
		return nil, err
	}
	sigs := map[string]map[string]string{}
	if raw, ok := obj["signatures"]; ok {
		if err := json.Unmarshal(raw, &sigs); err != nil || sigs == nil {
			return nil, errorf("signatures is not an object of objects of strings")
		}
	}
	if sigs[server] == nil {
		sigs[server] = map[string]string{}
	}
	sigs[server][string(keyID)] = sig
	enc, err := canonicaljson.Marshal(sigs)
	if err != nil {
		return nil, errorf("%v", err)
	}
	obj["signatures"] = enc
	ne, err := fromObject(obj, e.version)
	if err != nil {
		return nil, err
	}
	ne.unsigned = e.unsigned
	return ne, nil
}

// WithUnsigned returns a copy of e carrying the given unsigned object (which
// is outside hashes and signatures).
func (e *Event) WithUnsigned(unsigned json.RawMessage) *Event {
	c := *e
	c.unsigned = unsigned
	return &c
}

// FederationJSON is the PDU as sent over federation: JSON plus unsigned when
// present. Room v1/v2 PDUs already carry event_id.
func (e *Event) FederationJSON() []byte {
	if len(e.unsigned) == 0 {
		return e.json
	}
	obj, err := parseObject(e.json)
	if err != nil {
		return e.json
	}
	obj["unsigned"] = e.unsigned
	return obj.encode()
}
