package event

import (
	"encoding/json"
	"strconv"
	"strings"

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
	EventID, RoomID, Sender, Type, StateKey, Redacts, Origin, HashSHA256 *string
	Content, PrevEvents, AuthEvents, Depth, OriginServerTS               json.RawMessage
	Signatures                                                           map[string]map[string]string
}

// readPDU reads the fields by their exact names. encoding/json's struct
// decoding would match keys case-insensitively and take "Type" for "type",
// disagreeing with every other server about what the event says.
func readPDU(obj object) (pdu, error) {
	var p pdu
	str := func(key string) (*string, error) {
		raw, ok := obj[key]
		if !ok {
			return nil, nil
		}
		var v string
		if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &v) != nil {
			return nil, errorf("%s must be a string", key)
		}
		return &v, nil
	}
	var err error
	for key, dst := range map[string]**string{"event_id": &p.EventID, "room_id": &p.RoomID, "sender": &p.Sender,
		"type": &p.Type, "state_key": &p.StateKey, "redacts": &p.Redacts, "origin": &p.Origin} {
		if *dst, err = str(key); err != nil {
			return p, err
		}
	}
	p.Content, p.PrevEvents, p.AuthEvents = obj["content"], obj["prev_events"], obj["auth_events"]
	p.Depth, p.OriginServerTS = obj["depth"], obj["origin_server_ts"]
	if h, ok := obj["hashes"]; ok {
		if len(h) == 0 || h[0] != '{' {
			return p, errorf("hashes must be an object")
		}
		if sha, ok := stringAt(h, "sha256"); ok {
			p.HashSHA256 = &sha
		}
	}
	if sigs, ok := obj["signatures"]; ok {
		if err := json.Unmarshal(sigs, &p.Signatures); err != nil || p.Signatures == nil {
			return p, errorf("signatures must be an object of objects of strings")
		}
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
	raw, content := obj.encodeFinding("content")
	p, err := readPDU(obj)
	if err != nil {
		return nil, err
	}
	e := &Event{version: v, json: raw}

	if p.Type == nil || *p.Type == "" {
		return nil, errorf("missing type")
	}
	e.typ = *p.Type
	if p.Sender == nil || !strings.HasPrefix(*p.Sender, "@") || !strings.Contains(*p.Sender, ":") {
		return nil, errorf("missing or invalid sender")
	}
	e.sender = *p.Sender
	if p.StateKey != nil {
		sk := *p.StateKey
		e.stateKey = &sk
	}
	if len(p.Content) == 0 || p.Content[0] != '{' {
		return nil, errorf("content must be an object")
	}
	// The content kept is the JSON's own bytes: a cached event holds its
	// content once.
	e.content = content
	if p.HashSHA256 == nil {
		return nil, errorf("missing hashes.sha256")
	}
	e.contentSHA = *p.HashSHA256
	if p.Signatures == nil {
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
	if p.Origin != nil {
		e.origin = *p.Origin
	}
	if e.prevEvents, err = parseRefs(p.PrevEvents, v, "prev_events", MaxPrevEvents); err != nil {
		return nil, err
	}
	if e.authEvents, err = parseRefs(p.AuthEvents, v, "auth_events", MaxAuthEvents); err != nil {
		return nil, err
	}
	if e.typ == TypeRedaction {
		e.redacts = redactsTarget(p.Redacts, e.content, v)
	}

	isV12Create := e.typ == TypeCreate && e.stateKey != nil && *e.stateKey == "" && v.RoomIDFromCreateEvent()
	switch {
	case isV12Create:
		// rooms/v12.md auth rule 1.2: the create event has no room_id; the
		// room ID is derived from the event ID. We refuse the field here so
		// that a create event can only ever describe one room.
		if p.RoomID != nil {
			return nil, errorf("m.room.create must not have room_id in room version %s", v.ID)
		}
	case p.RoomID == nil || !strings.HasPrefix(*p.RoomID, "!"):
		return nil, errorf("missing or invalid room_id")
	default:
		e.roomID = *p.RoomID
	}

	if knownID != "" {
		e.id = knownID
	} else if v.EventIDsAreHashes() {
		e.id = "$" + referenceHashB64(obj, v)
	} else {
		if p.EventID == nil || !strings.HasPrefix(*p.EventID, "$") || !strings.Contains(*p.EventID, ":") {
			return nil, errorf("missing or invalid event_id")
		}
		e.id = *p.EventID
	}
	if isV12Create {
		e.roomID = "!" + e.id[1:]
	}

	for name, s := range map[string]string{"sender": e.sender, "room_id": e.roomID, "event_id": e.id, "type": e.typ} {
		if len(s) > MaxIDBytes {
			return nil, errorf("%s longer than %d bytes", name, MaxIDBytes)
		}
	}
	if e.stateKey != nil && len(*e.stateKey) > MaxIDBytes {
		return nil, errorf("state_key longer than %d bytes", MaxIDBytes)
	}
	return e, nil
}

// redactsTarget reads the redacted event ID: content.redacts from v11 (rooms/v11.md
// "Event format"), the top-level field before. Either may be absent.
func redactsTarget(top *string, content json.RawMessage, v *roomversion.Version) string {
	if v.RedactsInContent {
		r, _ := stringAt(content, "redacts")
		return r
	}
	if top != nil {
		return *top
	}
	return ""
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
