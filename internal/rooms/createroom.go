package rooms

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

// StateInput is one state event asked for by a client.
type StateInput struct {
	Type     string          `json:"type"`
	StateKey string          `json:"state_key"`
	Content  json.RawMessage `json:"content"`
}

// CreateRoomRequest is POST /createRoom, validated by the client API.
type CreateRoomRequest struct {
	Creator string
	// CreatorMember is the content of the creator's join (displayname, avatar_url).
	CreatorMember map[string]any
	Version       *roomversion.Version
	Preset        string // private_chat, public_chat, trusted_private_chat
	Name, Topic   *string
	Alias         string // full canonical alias, already reserved by the caller
	Invite        []string
	// InviteLater are invitees whose invites the caller sends once the
	// room exists (users of other servers, whose servers must countersign
	// the invite first). Like Invite they count for the preset's power
	// levels and v12's additional creators; no invite events are made.
	InviteLater  []string
	IsDirect     bool
	InitialState []StateInput
	// CreationContent is merged into the m.room.create content.
	CreationContent map[string]any
	// PowerLevelOverride is merged over the default power levels.
	PowerLevelOverride map[string]any
	// NoPresetState leaves out the preset's join rules, history visibility
	// and guest access (a room upgrade copies the old room's instead).
	NoPresetState bool
	// FinalState is sent after the invites: an upgrade's real power levels,
	// once the upgrader's temporary level has done its work.
	FinalState []StateInput
}

// CreateRoom creates a room, following the event order of client-server-api
// "POST /createRoom": create, creator join, power levels, canonical alias,
// preset join rules / history visibility / guest access, initial_state,
// name, topic, invites. All of it commits in one transaction.
func (e *Engine) CreateRoom(ctx context.Context, req CreateRoomRequest) (string, error) {
	v := req.Version
	if v == nil {
		v = roomversion.MustGet(roomversion.Default)
	}
	trusted := req.Preset == "trusted_private_chat"
	invitees := append(append([]string(nil), req.Invite...), req.InviteLater...)

	createContent := map[string]any{}
	for k, val := range req.CreationContent {
		createContent[k] = val
	}
	createContent["room_version"] = string(v.ID)
	if !v.CreatorIsSender {
		createContent["creator"] = req.Creator
	} else {
		delete(createContent, "creator")
	}
	if v.PrivilegedCreators && trusted && len(invitees) > 0 {
		// MSC4289 as adopted in room v12: the trusted_private_chat preset makes
		// invitees additional creators rather than listing them at PL 100.
		createContent["additional_creators"] = invitees
	}

	ts := e.nowMS()
	var createEv *event.Event
	for attempt := 0; ; attempt++ {
		create := &event.Builder{Type: event.TypeCreate, StateKey: strp(""), Sender: req.Creator,
			Content: Content(createContent), Depth: 1, OriginServerTS: ts}
		if !v.RoomIDFromCreateEvent() {
			create.RoomID = newRoomID(e.serverName)
		}
		if !v.EventIDsAreHashes() {
			create.EventID = newLegacyEventID(e.serverName)
		}
		if v.LegacyPDUFields {
			create.Origin = e.serverName
		}
		ev, err := create.Build(v, e.serverName, e.key)
		if err != nil {
			return "", merr.BadJSON("creation_content: " + err.Error())
		}
		// In room v12 the room ID is the create event's hash, so the same
		// user creating two identical rooms in the same millisecond would get
		// the same room. Reserve the ID; on a clash, move the timestamp on.
		free, err := e.reserveRoomID(ctx, ev.RoomID())
		if err != nil {
			return "", err
		}
		if free {
			createEv = ev
			break
		}
		if attempt > 100 {
			return "", errors.New("rooms: could not find a free room ID")
		}
		ts++
	}
	defer e.releaseRoomID(createEv.RoomID())
	roomID := createEv.RoomID()

	member := map[string]any{"membership": event.Join}
	for k, val := range req.CreatorMember {
		member[k] = val
	}
	bs := []*event.Builder{
		{Type: event.TypeMember, StateKey: strp(req.Creator), Sender: req.Creator, Content: Content(member)},
		{Type: event.TypePowerLevels, StateKey: strp(""), Sender: req.Creator, Content: Content(e.defaultPowerLevels(req, v, trusted))},
	}
	if req.Alias != "" {
		bs = append(bs, stateB(req.Creator, event.TypeCanonicalAlias, map[string]any{"alias": req.Alias}))
	}
	joinRule, guest := "invite", "can_join"
	if req.Preset == "public_chat" {
		joinRule, guest = "public", ""
	}
	if !req.NoPresetState {
		bs = append(bs, stateB(req.Creator, event.TypeJoinRules, map[string]any{"join_rule": joinRule}),
			stateB(req.Creator, event.TypeHistoryVisibility, map[string]any{"history_visibility": "shared"}))
		if guest != "" {
			bs = append(bs, stateB(req.Creator, event.TypeGuestAccess, map[string]any{"guest_access": guest}))
		}
	}
	bs = appendState(bs, req.Creator, req.InitialState)
	if req.Name != nil {
		bs = append(bs, stateB(req.Creator, event.TypeName, map[string]any{"name": *req.Name}))
	}
	if req.Topic != nil {
		bs = append(bs, stateB(req.Creator, event.TypeTopic, topicContent(*req.Topic)))
	}
	for _, u := range req.Invite {
		c := map[string]any{"membership": event.Invite}
		if req.IsDirect {
			c["is_direct"] = true
		}
		bs = append(bs, &event.Builder{Type: event.TypeMember, StateKey: strp(u), Sender: req.Creator, Content: Content(c)})
	}
	bs = appendState(bs, req.Creator, req.FinalState)
	for _, b := range bs {
		b.OriginServerTS = ts
	}
	if _, err := e.submit(ctx, roomID, &request{newRoom: createEv, builders: bs}); err != nil {
		return "", err
	}
	return roomID, nil
}

// defaultPowerLevels follows what Synapse sends on room creation (the spec
// leaves the defaults to the server).
func (e *Engine) defaultPowerLevels(req CreateRoomRequest, v *roomversion.Version, trusted bool) map[string]any {
	users := map[string]any{}
	if !v.PrivilegedCreators {
		// v12 creators have infinite power and must not be listed (rooms/v12.md rule 10.4).
		users[req.Creator] = 100
		if trusted {
			for _, u := range append(req.Invite, req.InviteLater...) {
				users[u] = 100
			}
		}
	}
	pl := map[string]any{
		"users":          users,
		"users_default":  0,
		"events_default": 0,
		"state_default":  50,
		"ban":            50,
		"kick":           50,
		"redact":         50,
		"invite":         50,
		"events": map[string]any{
			"m.room.name":               50,
			"m.room.power_levels":       100,
			"m.room.history_visibility": 100,
			"m.room.canonical_alias":    50,
			"m.room.avatar":             50,
			"m.room.tombstone":          100,
			"m.room.server_acl":         100,
			"m.room.encryption":         100,
		},
		"notifications": map[string]any{"room": 50},
	}
	for k, val := range req.PowerLevelOverride {
		pl[k] = val
	}
	return pl
}

func appendState(bs []*event.Builder, sender string, state []StateInput) []*event.Builder {
	for _, s := range state {
		content := s.Content
		if len(content) == 0 {
			content = json.RawMessage(`{}`)
		}
		bs = append(bs, &event.Builder{Type: s.Type, StateKey: strp(s.StateKey), Sender: sender, Content: content})
	}
	return bs
}

func topicContent(topic string) map[string]any {
	// m.topic alongside topic: the spec's rich topic (v1.15) with the plain
	// text form for older clients.
	return map[string]any{"topic": topic, "m.topic": map[string]any{"m.text": []any{map[string]any{"body": topic}}}}
}

func stateB(sender, typ string, content map[string]any) *event.Builder {
	return &event.Builder{Type: typ, StateKey: strp(""), Sender: sender, Content: Content(content)}
}

func strp(s string) *string { return &s }

// newRoomID makes a server-assigned room ID (v1–v11): "!opaque:server".
func newRoomID(server string) string {
	return "!" + randomString(18) + ":" + server
}

// reserveRoomID claims a new room ID for the duration of its creation;
// false means it is taken (being created, or already stored).
func (e *Engine) reserveRoomID(ctx context.Context, roomID string) (bool, error) {
	e.mu.Lock()
	if e.creating[roomID] {
		e.mu.Unlock()
		return false, nil
	}
	e.creating[roomID] = true
	e.mu.Unlock()
	if _, err := e.store.Room(ctx, roomID); err == nil {
		e.releaseRoomID(roomID)
		return false, nil
	} else if !errors.Is(err, merr.ErrNotFound) {
		e.releaseRoomID(roomID)
		return false, err
	}
	return true, nil
}

func (e *Engine) releaseRoomID(roomID string) {
	e.mu.Lock()
	delete(e.creating, roomID)
	e.mu.Unlock()
}
