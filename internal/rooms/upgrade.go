package rooms

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/eventauth"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

// UpgradeRequest is POST /rooms/{roomId}/upgrade, validated by the client API.
type UpgradeRequest struct {
	RoomID string
	User   string
	// Member is the content of the upgrader's join in the new room.
	Member  map[string]any
	Version *roomversion.Version
	// AdditionalCreators are the new room's additional creators, for room
	// versions with privileged creators (ignored otherwise).
	AdditionalCreators []string
}

// UpgradeResult says what an upgrade made.
type UpgradeResult struct {
	RoomID string
	// RemoteInvitees are members of the old invite-only room on other
	// servers: their invites need their servers' countersignature, so the
	// caller sends them (as createRoom does).
	RemoteInvitees []string
}

// upgradeCopiedState are the state events copied into the replacement
// room: the spec's recommended list (client-server-api "Room Upgrades",
// server behaviour 3) without power levels, which are rebuilt; Synapse
// copies the same ones.
var upgradeCopiedState = []string{
	event.TypeServerACL, event.TypeEncryption, event.TypeName, event.TypeAvatar, event.TypeTopic,
	event.TypeGuestAccess, event.TypeHistoryVisibility, event.TypeJoinRules,
}

// maxUpgradeInvites bounds the invites an upgrade of an invite-only room
// sends in its creation batch.
const maxUpgradeInvites = 1000

// UpgradeRoom replaces a room by a new one of another room version
// (client-server-api "Room Upgrades", server behaviour): it checks the
// user may send m.room.tombstone, creates the replacement with a
// predecessor, copies the transferable state (and, as Synapse does, bans
// and space children), moves the local aliases, the canonical alias and
// the directory listing, sends the tombstone, then raises the old room's
// events_default and invite levels. Members of an invite-only room are
// invited to the new one.
func (e *Engine) UpgradeRoom(ctx context.Context, req UpgradeRequest) (*UpgradeResult, error) {
	release, err := e.upgradeSlot(ctx, req.RoomID)
	if err != nil {
		return nil, err
	}
	defer release()

	old, err := e.store.Room(ctx, req.RoomID)
	if err != nil {
		return nil, err
	}
	view, err := e.CurrentView(ctx, req.RoomID)
	if err != nil {
		return nil, err
	}
	// 1. The user must be able to send the tombstone.
	if m := view.Get(event.TypeMember, req.User); m == nil || m.Membership() != event.Join {
		return nil, merr.Forbidden("you are not in the room")
	}
	pl, err := eventauth.PowerLevelsFrom(view, old.Version)
	if err != nil {
		return nil, err
	}
	if pl.UserLevel(req.User) < pl.EventLevel(event.TypeTombstone, true) {
		return nil, merr.Forbidden("you may not send m.room.tombstone in this room, so you cannot upgrade it")
	}
	createEv := view.Get(event.TypeCreate, "")
	if createEv == nil || view.Err() != nil {
		return nil, fmt.Errorf("rooms: upgrade: reading the create event: %v", view.Err())
	}

	// 2. The create event: predecessor and the old room's type.
	predecessor := map[string]any{"room_id": req.RoomID}
	if !req.Version.PrivilegedCreators {
		// The last known event of the old room; rooms v12 and later may
		// leave event_id out (spec v1.16), and Synapse does.
		fwd, err := e.store.ForwardExtremities(ctx, req.RoomID)
		if err != nil {
			return nil, err
		}
		if len(fwd) > 0 {
			predecessor["event_id"] = fwd[0]
		}
	}
	creation := map[string]any{"predecessor": predecessor}
	var oldCreate struct {
		Type json.RawMessage `json:"type"`
	}
	if json.Unmarshal(createEv.Content(), &oldCreate) == nil && len(oldCreate.Type) > 0 && string(oldCreate.Type) != "null" {
		creation["type"] = oldCreate.Type
	}
	var creators []string
	if req.Version.PrivilegedCreators {
		creators = append(creators, req.User)
		for _, u := range req.AdditionalCreators {
			if u != req.User && !containsString(creators, u) {
				creators = append(creators, u)
			}
		}
		if len(creators) > 1 {
			creation["additional_creators"] = creators[1:]
		}
	}

	// 3. The state to copy.
	var initial []StateInput
	copyState := func(typ, stateKey string, content json.RawMessage) {
		initial = append(initial, StateInput{Type: typ, StateKey: stateKey, Content: content})
	}
	for _, typ := range upgradeCopiedState {
		if ev := view.Get(typ, ""); ev != nil {
			copyState(typ, "", ev.Content())
		}
	}
	canonical := view.Get(event.TypeCanonicalAlias, "")
	others, err := view.Events(func(t event.StateTuple) bool {
		return t.Type == event.TypeSpaceChild || t.Type == event.TypeMember
	})
	if err != nil {
		return nil, err
	}
	var bans []string
	for _, ev := range others {
		switch {
		case ev.Type() == event.TypeSpaceChild && string(ev.Content()) != "{}":
			copyState(ev.Type(), *ev.StateKey(), ev.Content())
		case ev.Type() == event.TypeMember && ev.Membership() == event.Ban:
			// Synapse carries bans over, so an upgrade is no amnesty.
			bans = append(bans, *ev.StateKey())
			copyState(event.TypeMember, *ev.StateKey(), Content(map[string]any{"membership": event.Ban}))
		}
	}
	if view.Err() != nil {
		return nil, view.Err()
	}

	// Invite-only rooms: the members are invited to the replacement, which
	// they could not otherwise join.
	var local, remote []string
	joinRule := JoinRule(view)
	if joinRule == "invite" || joinRule == "knock" {
		joined, err := e.store.Members(ctx, req.RoomID, event.Join)
		if err != nil {
			return nil, err
		}
		for u := range joined {
			if u == req.User || containsString(creators, u) {
				continue
			}
			if len(local)+len(remote) >= maxUpgradeInvites {
				e.log.Warn("upgrade: too many members to invite; inviting the first ones", "room_id", req.RoomID, "limit", maxUpgradeInvites)
				break
			}
			if srv, _ := ids.UserServer(u); string(srv) == e.serverName {
				local = append(local, u)
			} else {
				remote = append(remote, u)
			}
		}
	}

	finalPL, startPL := upgradedPowerLevels(pl, req.User, creators, req.Version, initial, len(local)+len(remote) > 0, len(bans) > 0)
	var after []StateInput
	if startPL != nil {
		after = append(after, StateInput{Type: event.TypePowerLevels, Content: Content(finalPL)})
	} else {
		startPL = finalPL
	}

	newRoom, err := e.CreateRoom(ctx, CreateRoomRequest{
		Creator: req.User, CreatorMember: req.Member, Version: req.Version, Preset: "private_chat",
		NoPresetState: true, Invite: local, InviteLater: remote, InitialState: initial,
		CreationContent: creation, PowerLevelOverride: startPL, FinalState: after,
	})
	if err != nil {
		return nil, err
	}

	// 4. Local aliases, the canonical alias and the directory listing.
	if err := e.store.MoveAliases(ctx, req.RoomID, newRoom); err != nil {
		return nil, err
	}
	if canonical != nil {
		kept, moved := splitCanonicalAlias(canonical.Content(), e.serverName)
		if moved != nil {
			if _, err := e.Send(ctx, newRoom, stateB(req.User, event.TypeCanonicalAlias, moved), nil); err != nil {
				e.log.Warn("upgrade: canonical alias in the new room", "room_id", newRoom, "err", err)
			}
			if _, err := e.Send(ctx, req.RoomID, stateB(req.User, event.TypeCanonicalAlias, kept), nil); err != nil {
				e.log.Info("upgrade: clearing the old room's canonical alias", "room_id", req.RoomID, "err", err)
			}
		}
	}
	if old.IsPublic {
		if err := e.store.SetPublic(ctx, newRoom, true); err != nil {
			return nil, err
		}
		if err := e.store.SetPublic(ctx, req.RoomID, false); err != nil {
			return nil, err
		}
	}

	// 5. The tombstone.
	if _, err := e.Send(ctx, req.RoomID, stateB(req.User, event.TypeTombstone, map[string]any{
		"body": "This room has been replaced", "replacement_room": newRoom,
	}), nil); err != nil {
		return nil, err
	}

	// 6. Restrict the old room: events_default and invite to the greater of
	// 50 and users_default + 1, as the spec suggests. The user may lack
	// the power to change power levels; the tombstone is what matters.
	if restricted := restrictedPowerLevels(pl); restricted != nil {
		if _, err := e.Send(ctx, req.RoomID, stateB(req.User, event.TypePowerLevels, restricted), nil); err != nil {
			e.log.Info("upgrade: restricting the old room's power levels", "room_id", req.RoomID, "err", err)
		}
	}
	return &UpgradeResult{RoomID: newRoom, RemoteInvitees: remote}, nil
}

// upgradeSlot serialises upgrades of one room, so a client's retry waits
// for the first attempt instead of making a second replacement room.
func (e *Engine) upgradeSlot(ctx context.Context, roomID string) (func(), error) {
	for {
		e.mu.Lock()
		busy, ok := e.upgrading[roomID]
		if !ok {
			done := make(chan struct{})
			e.upgrading[roomID] = done
			e.mu.Unlock()
			return func() {
				e.mu.Lock()
				delete(e.upgrading, roomID)
				e.mu.Unlock()
				close(done)
			}, nil
		}
		e.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// levelsContent renders power levels as event content with integer values
// (older room versions allowed strings, which newer ones refuse).
func levelsContent(pl *eventauth.PowerLevels) map[string]any {
	ints := mapOf
	return map[string]any{
		"ban": pl.Ban, "kick": pl.Kick, "redact": pl.Redact, "invite": pl.Invite,
		"events_default": pl.EventsDefault, "state_default": pl.StateDefault, "users_default": pl.UsersDefault,
		"events": ints(pl.Events), "users": ints(pl.Users), "notifications": ints(pl.Notifications),
	}
}

// upgradedPowerLevels is the replacement room's power levels: the old
// room's, with the users' levels. In room versions with privileged
// creators the creators are left out of users (rooms/v12.md, rule 10.4);
// in others the old room's creators (who had no listed level if it was v12)
// keep 100. If the upgrader's level there is below what the copied state
// needs, start is a first power levels event raising it, and final is sent
// once the state is in (Synapse does the same).
func upgradedPowerLevels(old *eventauth.PowerLevels, user string, creators []string, v *roomversion.Version,
	state []StateInput, invites, bans bool) (final, start map[string]any) {
	final = levelsContent(old)
	users := final["users"].(map[string]any)
	if v.PrivilegedCreators {
		for _, c := range creators {
			delete(users, c)
		}
		return final, nil
	}
	for c := range old.Creators {
		users[c] = int64(100)
	}
	have := old.UserLevel(user)
	if have == eventauth.Infinite {
		have = 100
		users[user] = have
	}
	need := old.EventLevel(event.TypePowerLevels, true)
	for _, s := range state {
		need = max(need, old.EventLevel(s.Type, true))
	}
	if invites {
		need = max(need, old.Invite)
	}
	if bans {
		need = max(need, old.Ban)
	}
	if have >= need {
		return final, nil
	}
	start = levelsContent(old)
	startUsers := start["users"].(map[string]any)
	for k, v := range users {
		startUsers[k] = v
	}
	startUsers[user] = need
	return final, start
}

// restrictedPowerLevels is the old room's power levels with events_default
// and invite raised to max(50, users_default+1); nil if already there.
func restrictedPowerLevels(pl *eventauth.PowerLevels) map[string]any {
	level := max(int64(50), pl.UsersDefault+1)
	if pl.EventsDefault >= level && pl.Invite >= level {
		return nil
	}
	// Without a power levels event, pl.Users holds the creator's 100
	// already (see eventauth.PowerLevelsFrom).
	c := levelsContent(pl)
	c["events_default"] = max(pl.EventsDefault, level)
	c["invite"] = max(pl.Invite, level)
	return c
}

func mapOf(m map[string]int64) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// splitCanonicalAlias divides an m.room.canonical_alias content between
// the old room (the other servers' aliases, which still point there) and
// the new one (this server's aliases, which have moved). moved is nil
// when no local alias is named.
func splitCanonicalAlias(content json.RawMessage, server string) (kept, moved map[string]any) {
	var c struct {
		Alias      string   `json:"alias"`
		AltAliases []string `json:"alt_aliases"`
	}
	if json.Unmarshal(content, &c) != nil {
		return nil, nil
	}
	isLocal := func(a string) bool {
		al, err := ids.ParseRoomAlias(a)
		return err == nil && string(al.Server) == server
	}
	kept, moved = map[string]any{}, map[string]any{}
	var keptAlt, movedAlt []string
	found := false
	if c.Alias != "" {
		if isLocal(c.Alias) {
			moved["alias"], found = c.Alias, true
		} else {
			kept["alias"] = c.Alias
		}
	}
	for _, a := range c.AltAliases {
		if isLocal(a) {
			movedAlt, found = append(movedAlt, a), true
		} else {
			keptAlt = append(keptAlt, a)
		}
	}
	if !found {
		return nil, nil
	}
	if len(keptAlt) > 0 {
		kept["alt_aliases"] = keptAlt
	}
	if len(movedAlt) > 0 {
		moved["alt_aliases"] = movedAlt
	}
	return kept, moved
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
