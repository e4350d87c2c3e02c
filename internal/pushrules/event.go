package pushrules

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/myelin-chat/myelin/internal/propertypath"
)

// RoomContext is what the conditions need to know about the room when the
// event was sent, found once per event by the caller.
type RoomContext struct {
	// MemberCount is the number of joined members (room_member_count).
	MemberCount int
	// SenderPowerLevel is the sender's power level.
	SenderPowerLevel int64
	// NotificationLevels is the notifications object of m.room.power_levels.
	// A missing "room" counts as 50, the default the event's schema gives.
	NotificationLevels map[string]int64
}

// Event is one event prepared for evaluation: its properties flattened to
// their dotted paths once, with the lower-cased strings globs compare, so
// that evaluating it for each recipient reads maps and compares strings.
// It is not changed by evaluation and may be shared by goroutines.
type Event struct {
	props  map[string]value
	sender string
	roomID string
	room   RoomContext
}

type valueKind uint8

const (
	valOther valueKind = iota // objects, floats, integers out of range
	valString
	valInt
	valBool
	valNull
	valArray
)

// value is a flattened property: a non-compound canonical JSON value, or
// an array of them (elements of other types are dropped).
type value struct {
	kind  valueKind
	s     string // valString
	lower string // valString, lower-cased for event_match
	i     int64
	b     bool
	arr   []value
}

func (v value) equal(w value) bool {
	if v.kind != w.kind {
		return false
	}
	switch v.kind {
	case valString:
		return v.s == w.s
	case valInt:
		return v.i == w.i
	case valBool:
		return v.b == w.b
	case valNull:
		return true
	}
	return false
}

// maxSafeInt is the largest integer canonical JSON allows (2**53 - 1).
const maxSafeInt = 1<<53 - 1

// maxDepth bounds how deep flattening goes; events are at most 64 KiB.
const maxDepth = 64

// scalar converts a decoded JSON value; ok is false for compound values
// and for numbers canonical JSON does not allow.
func scalar(x any) (value, bool) {
	switch t := x.(type) {
	case string:
		return value{kind: valString, s: t, lower: strings.ToLower(t)}, true
	case bool:
		return value{kind: valBool, b: t}, true
	case nil:
		return value{kind: valNull}, true
	case json.Number:
		i, err := strconv.ParseInt(string(t), 10, 64)
		if err != nil || i > maxSafeInt || i < -maxSafeInt {
			return value{}, false
		}
		return value{kind: valInt, i: i}, true
	}
	return value{}, false
}

// escapeName escapes a property name for a canonical dotted path.
func escapeName(name string) string {
	if !strings.ContainsAny(name, `.\`) {
		return name
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		if name[i] == '.' || name[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(name[i])
	}
	return b.String()
}

// canonicalPath rewrites a dot-separated path (appendices "Dot-separated
// property paths") into the form flatten uses as its keys, so that
// "content.m\.relates_to" and an escape kept as written both find the
// property they name.
func canonicalPath(path string) string {
	parts := propertypath.Split(path)
	for i, p := range parts {
		parts[i] = escapeName(p)
	}
	return strings.Join(parts, ".")
}

func flatten(out map[string]value, prefix string, obj map[string]any, depth int) {
	for k, x := range obj {
		key := escapeName(k)
		if prefix != "" {
			key = prefix + "." + key
		}
		switch t := x.(type) {
		case map[string]any:
			if depth < maxDepth {
				flatten(out, key, t, depth+1)
			}
		case []any:
			arr := make([]value, 0, len(t))
			for _, e := range t {
				if v, ok := scalar(e); ok {
					arr = append(arr, v)
				}
			}
			out[key] = value{kind: valArray, arr: arr}
		default:
			if v, ok := scalar(x); ok {
				out[key] = v
			} else {
				out[key] = value{kind: valOther}
			}
		}
	}
}

// Prepare flattens an event (client or federation format JSON) for
// evaluation. It fails only on JSON that is not an object.
func Prepare(eventJSON []byte, room RoomContext) (*Event, error) {
	dec := json.NewDecoder(bytes.NewReader(eventJSON))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, errNotObject
	}
	ev := &Event{props: make(map[string]value, 16), room: room}
	flatten(ev.props, "", obj, 0)
	ev.sender, _ = obj["sender"].(string)
	ev.roomID, _ = obj["room_id"].(string)
	return ev, nil
}

// Sender is the event's sender.
func (e *Event) Sender() string { return e.sender }
