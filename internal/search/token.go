package search

import (
	"encoding/base64"
	"encoding/json"

	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/searchstore"
)

// token is a next_batch: where a page ended, in which order, and the group
// it is scoped to (search.md "Pagination": a token from a group continues
// within that group). It is opaque to clients: base64url of JSON.
type token struct {
	Order string  `json:"o"`
	Group string  `json:"g,omitempty"`
	Value string  `json:"v,omitempty"`
	Top   int64   `json:"t,omitempty"`
	Bot   int64   `json:"b,omitempty"`
	Rank  float64 `json:"r,omitempty"`
	Pos   int64   `json:"p"`
}

// maxTokenLen bounds what parseToken decodes (a group value is a room or
// user ID, at most 255 bytes).
const maxTokenLen = 1024

// parseToken reads a next_batch ("" is none). A token of another order
// than the request's cannot continue it.
func parseToken(s, order string) (*token, error) {
	if s == "" {
		return nil, nil
	}
	bad := merr.InvalidParam("next_batch is not a token this server gave for this search")
	if len(s) > maxTokenLen {
		return nil, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	var t token
	if json.Unmarshal(raw, &t) != nil || t.Order != order {
		return nil, bad
	}
	switch t.Group {
	case "":
		t.Value = ""
	case GroupRoom, GroupSender:
	default:
		return nil, bad
	}
	return &t, nil
}

// next is the token continuing after c, in t's group (t may be nil: no
// group).
func (t *token) next(order string, c searchstore.Cursor) string {
	n := token{Order: order, Top: c.Top, Bot: c.Bottom, Rank: c.Rank, Pos: c.Pos}
	if t != nil {
		n.Group, n.Value = t.Group, t.Value
	}
	raw, _ := json.Marshal(n)
	return base64.RawURLEncoding.EncodeToString(raw)
}
