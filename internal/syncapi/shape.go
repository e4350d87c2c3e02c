package syncapi

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/propertypath"
)

// Event formats of a filter's event_format.
const (
	FormatClient     = "client"
	FormatFederation = "federation"
)

// Validate checks what decoding a filter cannot: event_format's values
// (data/api/client-server/definitions/sync_filter.yaml) and the length of
// every list (MaxFilterListLen).
func (f *Filter) Validate() error {
	switch f.EventFormat {
	case "", FormatClient, FormatFederation:
	default:
		return merr.BadJSON(`event_format must be "client" or "federation"`)
	}
	if err := checkLists(map[string][]string{"event_fields": f.EventFields}); err != nil {
		return err
	}
	if err := checkRoomLists(deref(f.Room.Rooms), f.Room.NotRooms); err != nil {
		return err
	}
	for _, ef := range []*EventFilter{&f.AccountData, &f.Presence} {
		if err := ef.validate(); err != nil {
			return err
		}
	}
	for _, rf := range []*RoomEventFilter{&f.Room.Timeline, &f.Room.State, &f.Room.Ephemeral, &f.Room.AccountData} {
		if err := rf.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Shapes reports whether the filter changes how events are written out:
// the federation format, or only some of their fields. An empty
// event_fields list counts as absent, as in Synapse.
func (f *Filter) Shapes() bool {
	return f != nil && (f.EventFormat == FormatFederation || len(f.EventFields) > 0)
}

// Encode writes a sync response out as JSON, with its rooms' timeline and
// state events in the filter's event_format and holding only its
// event_fields (client-server-api "Filtering"). Responses whose filter
// shapes nothing are plain JSON of resp.
//
// Shaping works on the response's JSON, so that the common case pays
// nothing for it: a filter asking for it is rare, and decoding the response
// again costs about what encoding it did.
func (s *Syncer) Encode(ctx context.Context, resp *Response, f *Filter) ([]byte, error) {
	raw, err := json.Marshal(resp)
	if err != nil || !f.Shapes() {
		return raw, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // keep integers exact
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	var lists [][]any // every events array to shape, in place
	rooms, _ := doc["rooms"].(map[string]any)
	for _, section := range []string{"join", "leave"} {
		byRoom, _ := rooms[section].(map[string]any)
		for _, room := range byRoom {
			r, _ := room.(map[string]any)
			for _, part := range []string{"timeline", "state", "state_after"} {
				p, _ := r[part].(map[string]any)
				if evs, ok := p["events"].([]any); ok {
					lists = append(lists, evs)
				}
			}
		}
	}
	if f.EventFormat == FormatFederation {
		if err := s.toFederationFormat(ctx, lists); err != nil {
			return nil, err
		}
	}
	if len(f.EventFields) > 0 {
		paths := make([][]string, len(f.EventFields))
		for i, p := range f.EventFields {
			paths[i] = propertypath.Split(p)
		}
		for _, evs := range lists {
			for i, ev := range evs {
				if obj, ok := ev.(map[string]any); ok {
					evs[i] = propertypath.Select(obj, paths)
				}
			}
		}
	}
	return json.Marshal(doc)
}

// toFederationFormat replaces each client-format event by the event as
// servers exchange it (its PDU), keeping the unsigned data the client
// format carried (age, transaction ID, previous content).
func (s *Syncer) toFederationFormat(ctx context.Context, lists [][]any) error {
	var ids []string
	for _, evs := range lists {
		for _, ev := range evs {
			if obj, ok := ev.(map[string]any); ok {
				if id, ok := obj["event_id"].(string); ok {
					ids = append(ids, id)
				}
			}
		}
	}
	pdus, err := s.rooms.Store().EventsOnly(ctx, ids)
	if err != nil {
		return err
	}
	for _, evs := range lists {
		for i, ev := range evs {
			obj, _ := ev.(map[string]any)
			id, _ := obj["event_id"].(string)
			pdu, ok := pdus[id]
			if !ok {
				continue
			}
			src := pdu
			if _, redacted := nested(obj, "unsigned", "redacted_because"); redacted {
				src = pdu.Redacted()
			}
			dec := json.NewDecoder(bytes.NewReader(src.FederationJSON()))
			dec.UseNumber()
			var fed map[string]any
			if dec.Decode(&fed) != nil {
				continue
			}
			// Room versions 3 and later leave the ID out of the PDU (it is
			// the hash); a client still needs it to refer to the event.
			fed["event_id"] = id
			if u, ok := obj["unsigned"]; ok {
				fed["unsigned"] = u
			}
			evs[i] = fed
		}
	}
	return nil
}

// nested returns obj[k1][k2] when both levels exist.
func nested(obj map[string]any, k1, k2 string) (any, bool) {
	inner, ok := obj[k1].(map[string]any)
	if !ok {
		return nil, false
	}
	v, ok := inner[k2]
	return v, ok
}
