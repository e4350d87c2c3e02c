package event

import (
	"encoding/json"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

// BuilderFromTemplate turns the event template of make_join, make_leave or
// make_knock (server-server-api "Joining Rooms") into a Builder the joining
// server completes and signs. The resident server chose prev_events,
// auth_events and depth; the joining server keeps them. In room v1/v2 the
// [id, {hashes}] references keep their hashes.
func BuilderFromTemplate(tmpl []byte, v *roomversion.Version) (*Builder, error) {
	canon, err := canonicaljson.Canonicalize(tmpl, canonicaljson.LenientOptions)
	if err != nil {
		return nil, errorf("template: %v", err)
	}
	obj, err := parseObject(canon)
	if err != nil {
		return nil, errorf("template: %v", err)
	}
	p, err := readPDU(obj)
	if err != nil {
		return nil, err
	}
	if !p.Type.ok || !p.Sender.ok || !p.StateKey.ok {
		return nil, errorf("template needs type, sender and state_key")
	}
	sk := p.StateKey.String()
	b := &Builder{Type: p.Type.String(), Sender: p.Sender.String(), StateKey: &sk, Content: p.Content,
		RoomID: p.RoomID.String(), Origin: p.Origin.String()}
	if b.Depth, err = parseInt(p.Depth, "depth"); err != nil {
		return nil, err
	}
	if len(p.OriginServerTS) > 0 {
		if b.OriginServerTS, err = parseInt(p.OriginServerTS, "origin_server_ts"); err != nil {
			return nil, err
		}
	}
	if b.PrevEvents, err = parseRefs(p.PrevEvents, v, "prev_events", MaxPrevEvents); err != nil {
		return nil, err
	}
	if b.AuthEvents, err = parseRefs(p.AuthEvents, v, "auth_events", MaxAuthEvents); err != nil {
		return nil, err
	}
	if !v.EventIDsAreHashes() {
		b.RefHashes = map[string]string{}
		for _, field := range []json.RawMessage{p.PrevEvents, p.AuthEvents} {
			var pairs [][]json.RawMessage
			_ = json.Unmarshal(field, &pairs)
			for _, pair := range pairs {
				var id string
				if len(pair) == 2 && json.Unmarshal(pair[0], &id) == nil {
					if sha, ok := stringAt(pair[1], "sha256"); ok {
						b.RefHashes[id] = sha
					}
				}
			}
		}
	}
	return b, nil
}
