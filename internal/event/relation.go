package event

import "encoding/json"

// Relationship types the spec defines (client-server-api "Relationship
// types").
const (
	RelThread     = "m.thread"
	RelReplace    = "m.replace"
	RelReference  = "m.reference"
	RelAnnotation = "m.annotation"
)

// Relation is what an event's content.m.relates_to says about its parent
// (client-server-api "Forming relationships between events").
type Relation struct {
	// EventID is the parent event's ID.
	EventID string
	// RelType is the relationship type.
	RelType string
	// Key is an annotation's key (m.annotation), else "".
	Key string
	// HasNewContent reports whether the content holds an m.new_content
	// object, which a valid m.replace needs.
	HasNewContent bool
}

// relationJSON reads the parts of a content that relations look at.
type relationJSON struct {
	RelatesTo *struct {
		EventID json.RawMessage `json:"event_id"`
		RelType json.RawMessage `json:"rel_type"`
		Key     json.RawMessage `json:"key"`
	} `json:"m.relates_to"`
	NewContent json.RawMessage `json:"m.new_content"`
}

// maxRelationField bounds the IDs and types a relation carries: longer
// ones cannot name an event (IDs are at most 255 bytes) or be worth an
// index row.
const maxRelationField = 255

// RelationOf returns the relationship e's content forms, if any: an
// m.relates_to object with a string event_id and a string rel_type (a
// rich reply's m.in_reply_to alone is not a relationship). Events whose
// content the room version's redaction strips of m.relates_to lose their
// relation with it, so RelationOf of a redacted event is false.
func RelationOf(e *Event) (Relation, bool) {
	var c relationJSON
	if json.Unmarshal(e.Content(), &c) != nil || c.RelatesTo == nil {
		return Relation{}, false
	}
	var r Relation
	if json.Unmarshal(c.RelatesTo.EventID, &r.EventID) != nil || json.Unmarshal(c.RelatesTo.RelType, &r.RelType) != nil {
		return Relation{}, false
	}
	if r.EventID == "" || r.RelType == "" || len(r.EventID) > maxRelationField || len(r.RelType) > maxRelationField {
		return Relation{}, false
	}
	if r.RelType == RelAnnotation && c.RelatesTo.Key != nil {
		if json.Unmarshal(c.RelatesTo.Key, &r.Key) != nil || len(r.Key) > maxRelationField {
			r.Key = ""
		}
	}
	r.HasNewContent = len(c.NewContent) > 0 && c.NewContent[0] == '{'
	return r, true
}
