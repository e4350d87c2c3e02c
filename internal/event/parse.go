package event

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
	"unique"
	"unsafe"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

// Limits from client-server-api "Size limits" and the PDU schemas.
const (
	MaxEventBytes  = 65536 // whole PDU in canonical JSON, signatures included
	MaxIDBytes     = 255   // sender, room_id, event_id, type, state_key
	MaxPrevEvents  = 20
	MaxAuthEvents  = 10
	maxDepthLegacy = 1<<63 - 1 // v1–v5
	maxDepthStrict = 1<<53 - 1 // v6+ (canonical JSON integer range)
)

// pdu holds the fields Myelin reads from a PDU. Unknown fields are kept in
// the JSON (they are covered by hashes and signatures) but not interpreted.
type pdu struct {
	EventID, RoomID, Sender, Type, StateKey, Redacts, Origin istr
	HasSHA256, HasSignatures                                 bool
	Content, PrevEvents, AuthEvents, Depth, OriginServerTS   json.RawMessage
}

// istr is an optional interned string field.
type istr struct {
	h  unique.Handle[string]
	ok bool
}

// String is the field's text ("" when absent).
func (s istr) String() string {
	if !s.ok {
		return ""
	}
	return s.h.Value()
}

// noOrigin is the origin of an event without one (v11+ dropped the field),
// made once rather than looked up for every event parsed.
var noOrigin = unique.Make("")

// intern returns the handle of the JSON string raw (quotes included): a
// string stays in memory once however many events hold it, for as long as
// one does. A plain string (no escapes, valid UTF-8, as almost every ID
// is) is looked up through a view of raw without a copy; unique.Make
// copies it only when it is new. ok is false when raw is not a string.
func intern(raw []byte) (h unique.Handle[string], ok bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return h, false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return unique.Make(unsafe.String(unsafe.SliceData(inner), len(inner))), true
	}
	var v string
	if json.Unmarshal(raw, &v) != nil {
		return h, false
	}
	return unique.Make(v), true
}

// readPDU reads the fields by their exact names. encoding/json's struct
// decoding would match keys case-insensitively and take "Type" for "type",
// disagreeing with every other server about what the event says.
func readPDU(obj object) (pdu, error) {
	var p pdu
	for _, f := range [...]struct {
		key string
		dst *istr
	}{{"event_id", &p.EventID}, {"room_id", &p.RoomID}, {"sender", &p.Sender}, {"type", &p.Type},
		{"state_key", &p.StateKey}, {"redacts", &p.Redacts}, {"origin", &p.Origin}} {
		key, dst := f.key, f.dst
		raw, present := obj[key]
		if !present {
			continue
		}
		if dst.h, dst.ok = intern(raw); !dst.ok {
			return p, errorf("%s must be a string", key)
		}
	}
	p.Content, p.PrevEvents, p.AuthEvents = obj["content"], obj["prev_events"], obj["auth_events"]
	p.Depth, p.OriginServerTS = obj["depth"], obj["origin_server_ts"]
	if h, ok := obj["hashes"]; ok {
		if len(h) == 0 || h[0] != '{' {
			return p, errorf("hashes must be an object")
		}
		_, p.HasSHA256 = stringAt(h, "sha256")
	}
	if sigs, ok := obj["signatures"]; ok {
		var signatures map[string]map[string]string
		if err := json.Unmarshal(sigs, &signatures); err != nil || signatures == nil {
			return p, errorf("signatures must be an object of objects of strings")
		}
		p.HasSignatures = true
	}
	return p, nil
}

// Parse validates untrusted PDU JSON for room version v and returns the
// event. It never panics. Errors wrap ErrBadFormat or ErrTooLarge.
//
// For room v3+, a received `event_id` field is ignored (the ID is the
// reference hash); `unsigned` is split off and available via Unsigned.
func Parse(data []byte, v *roomversion.Version) (*Event, error) {
	if len(data) > 4*MaxEventBytes {
		// Whitespace can make a valid event larger than the limit, but not
		// this much larger; refuse before spending effort on it.
		return nil, ErrTooLarge
	}
	opts := canonicaljson.LenientOptions
	if v.StrictCanonicalJSON {
		opts = canonicaljson.StrictOptions
	}
	canon, err := canonicaljson.Canonicalize(data, opts)
	if err != nil {
		return nil, errorf("%v", err)
	}
	if len(canon) > MaxEventBytes {
		return nil, ErrTooLarge
	}
	obj, err := parseObject(canon)
	if err != nil {
		return nil, errorf("%v", err)
	}
	unsigned := obj["unsigned"]
	delete(obj, "unsigned")
	if v.EventIDsAreHashes() {
		delete(obj, "event_id")
	}
	e, err := fromObject(obj, v)
	if err != nil {
		return nil, err
	}
	if len(unsigned) > 0 && unsigned[0] == '{' {
		e.unsigned = unsigned
	}
	return e, nil
}

// ParseTrusted rebuilds an event from JSON this server produced or already
// validated (its own database), with its known event ID: it skips the
// canonical JSON checks and the reference hash that Parse spends most of
// its time on. Never use it on input from the network.
func ParseTrusted(data []byte, v *roomversion.Version, eventID string) (*Event, error) {
	obj, err := parseObject(data)
	if err != nil {
		return nil, errorf("%v", err)
	}
	unsigned := obj["unsigned"]
	delete(obj, "unsigned")
	if v.EventIDsAreHashes() {
		delete(obj, "event_id")
	}
	e, err := buildEvent(obj, v, eventID)
	if err != nil {
		return nil, err
	}
	if len(unsigned) > 0 && unsigned[0] == '{' {
		e.unsigned = unsigned
	}
	return e, nil
}

// fromObject checks the fields of a canonical PDU object (without unsigned)
// and builds the Event, computing the event ID for v3+.
func fromObject(obj object, v *roomversion.Version) (*Event, error) {
	return buildEvent(obj, v, "")
}

// buildEvent is fromObject with an optional known event ID (trusted input).
func buildEvent(obj object, v *roomversion.Version, knownID string) (*Event, error) {
	p, err := readPDU(obj)
	if err != nil {
		return nil, err
	}
	raw, content := obj.encodeFinding("content")
	e := &Event{version: v, json: raw[:len(raw):len(raw)], origin: noOrigin}

	if typ := p.Type.String(); typ == "" {
		return nil, errorf("missing type")
	}
	e.typ = p.Type.h
	if sender := p.Sender.String(); !strings.HasPrefix(sender, "@") || !strings.Contains(sender, ":") {
		return nil, errorf("missing or invalid sender")
	}
	e.sender = p.Sender.h
	if p.StateKey.ok {
		e.stateKey, e.isState = p.StateKey.String(), true
	}
	if len(p.Content) == 0 || p.Content[0] != '{' {
		return nil, errorf("content must be an object")
	}
	// The content kept is the JSON's own bytes: a cached event holds its
	// content once.
	e.content = content
	if !p.HasSHA256 {
		return nil, errorf("missing hashes.sha256")
	}
	if !p.HasSignatures {
		return nil, errorf("missing signatures")
	}
	if e.depth, err = parseInt(p.Depth, "depth"); err != nil {
		return nil, err
	}
	maxDepth := int64(maxDepthLegacy)
	if v.StrictCanonicalJSON {
		maxDepth = maxDepthStrict
	}
	if e.depth < 0 || e.depth > maxDepth {
		return nil, errorf("depth out of range")
	}
	if e.ts, err = parseInt(p.OriginServerTS, "origin_server_ts"); err != nil {
		return nil, err
	}
	if p.Origin.ok {
		e.origin = p.Origin.h
	}
	if e.prevEvents, err = parseRefs(p.PrevEvents, v, "prev_events", MaxPrevEvents); err != nil {
		return nil, err
	}
	if e.authEvents, err = parseRefs(p.AuthEvents, v, "auth_events", MaxAuthEvents); err != nil {
		return nil, err
	}
	if e.Type() == TypeRedaction {
		e.redacts = redactsTarget(p.Redacts, e.content, v)
	}

	isV12Create := e.Type() == TypeCreate && e.isState && e.stateKey == "" && v.RoomIDFromCreateEvent()
	switch {
	case isV12Create:
		// rooms/v12.md auth rule 1.2: the create event has no room_id; the
		// room ID is derived from the event ID. We refuse the field here so
		// that a create event can only ever describe one room.
		if p.RoomID.ok {
			return nil, errorf("m.room.create must not have room_id in room version %s", v.ID)
		}
	case !strings.HasPrefix(p.RoomID.String(), "!"):
		return nil, errorf("missing or invalid room_id")
	default:
		e.roomID = p.RoomID.h
	}

	if knownID != "" {
		e.id = knownID
	} else if v.EventIDsAreHashes() {
		e.id = "$" + referenceHashB64(obj, v)
	} else {
		id := p.EventID.String()
		if !strings.HasPrefix(id, "$") || !strings.Contains(id, ":") {
			return nil, errorf("missing or invalid event_id")
		}
		e.id = id
	}
	if isV12Create {
		e.roomID = unique.Make("!" + e.EventID()[1:])
	}

	for name, s := range map[string]string{"sender": e.Sender(), "room_id": e.RoomID(), "event_id": e.EventID(), "type": e.Type()} {
		if len(s) > MaxIDBytes {
			return nil, errorf("%s longer than %d bytes", name, MaxIDBytes)
		}
	}
	if len(e.stateKey) > MaxIDBytes {
		return nil, errorf("state_key longer than %d bytes", MaxIDBytes)
	}
	return e, nil
}

// redactsTarget reads the redacted event ID: content.redacts from v11 (rooms/v11.md
// "Event format"), the top-level field before. Either may be absent.
func redactsTarget(top istr, content json.RawMessage, v *roomversion.Version) string {
	if v.RedactsInContent {
		r, _ := stringAt(content, "redacts")
		return r
	}
	return top.String()
}

func parseInt(raw json.RawMessage, field string) (int64, error) {
	if len(raw) == 0 {
		return 0, errorf("missing %s", field)
	}
	if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return 0, errorf("%s must be an integer", field)
	}
	// raw is one JSON value of an object already decoded, so a number;
	// ParseInt refuses the fractions and exponents that are not integers
	// (what json.Number's Int64 did, without a Decoder per field: two per
	// event, ~40 % of what parsing a stored event allocated).
	i, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, errorf("%s must be an integer", field)
	}
	return i, nil
}

// parseRefs reads prev_events / auth_events: plain ID lists in v3+,
// [id, {hashes}] pairs in v1/v2 (pdu_v1.yaml).
func parseRefs(raw json.RawMessage, v *roomversion.Version, field string, max int) ([]string, error) {
	if len(raw) == 0 {
		return nil, errorf("missing %s", field)
	}
	var ids []string
	if v.EventIDsAreHashes() {
		if err := json.Unmarshal(raw, &ids); err != nil {
			return nil, errorf("%s must be a list of event IDs", field)
		}
	} else {
		var pairs [][]json.RawMessage
		if err := json.Unmarshal(raw, &pairs); err != nil {
			return nil, errorf("%s must be a list of [event_id, hashes] pairs", field)
		}
		for _, pair := range pairs {
			var id string
			if len(pair) != 2 || json.Unmarshal(pair[0], &id) != nil || len(pair[1]) == 0 || pair[1][0] != '{' {
				return nil, errorf("%s must be a list of [event_id, hashes] pairs", field)
			}
			ids = append(ids, id)
		}
	}
	if len(ids) > max {
		return nil, errorf("%s has more than %d entries", field, max)
	}
	for _, id := range ids {
		if !strings.HasPrefix(id, "$") || len(id) > MaxIDBytes {
			return nil, errorf("%s contains an invalid event ID", field)
		}
	}
	if ids == nil {
		ids = []string{}
	}
	return ids, nil
}
