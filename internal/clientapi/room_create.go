package clientapi

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/identity"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/ratelimit"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

type createRoomBody struct {
	Visibility                string             `json:"visibility"`
	RoomAliasName             string             `json:"room_alias_name"`
	Name                      *string            `json:"name"`
	Topic                     *string            `json:"topic"`
	Invite                    []string           `json:"invite"`
	Invite3PID                []json.RawMessage  `json:"invite_3pid"`
	RoomVersion               string             `json:"room_version"`
	CreationContent           json.RawMessage    `json:"creation_content"`
	InitialState              []rooms.StateInput `json:"initial_state"`
	Preset                    string             `json:"preset"`
	IsDirect                  bool               `json:"is_direct"`
	PowerLevelContentOverride json.RawMessage    `json:"power_level_content_override"`
}

// createRoom is POST /createRoom (client-server-api "Creation").
func (a *RoomAPI) createRoom(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	if err := httpapi.RefuseSuspended(s, "Creating rooms"); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	var body createRoomBody
	if err := httpapi.ReadJSON(r, maxLargeBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	ctx := r.Context()
	v := roomversion.MustGet(a.DefaultVersion)
	if body.RoomVersion != "" {
		var ok bool
		if v, ok = roomversion.Get(roomversion.ID(body.RoomVersion)); !ok {
			httpapi.WriteError(w, httpapi.UnsupportedRoomVersion("room version "+body.RoomVersion+" is not supported"))
			return
		}
	}
	switch body.Visibility {
	case "", "private", "public":
	default:
		httpapi.WriteError(w, httpapi.InvalidParam("visibility must be public or private"))
		return
	}
	if body.Preset == "" {
		// The spec's default preset follows visibility.
		body.Preset = "private_chat"
		if body.Visibility == "public" {
			body.Preset = "public_chat"
		}
	}
	switch body.Preset {
	case "private_chat", "public_chat", "trusted_private_chat":
	default:
		httpapi.WriteError(w, httpapi.InvalidParam("unknown preset "+body.Preset))
		return
	}
	if len(body.Invite)+len(body.Invite3PID) > 100 || len(body.InitialState) > 100 {
		httpapi.WriteError(w, httpapi.InvalidParam("too many invites or initial state events"))
		return
	}
	invite3PID := make([]identity.Request, 0, len(body.Invite3PID))
	for _, raw := range body.Invite3PID {
		req, ok, err := thirdPartyRequest(raw)
		if err == nil && !ok {
			err = merr.MissingParam("each invite_3pid entry needs id_server, id_access_token, medium and address")
		}
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		invite3PID = append(invite3PID, req)
	}
	for _, u := range body.Invite {
		if err := a.checkTarget(u); err != nil {
			httpapi.WriteError(w, err)
			return
		}
	}
	for _, st := range body.InitialState {
		if st.Type == "" || len(st.Type) > 255 || len(st.StateKey) > 255 {
			httpapi.WriteError(w, httpapi.InvalidParam("initial_state events need a type"))
			return
		}
		if len(st.Content) > 0 && st.Content[0] != '{' {
			httpapi.WriteError(w, httpapi.BadJSON("initial_state content must be an object"))
			return
		}
	}
	creation, err := contentMembers("creation_content", body.CreationContent)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	delete(creation, "room_version")
	plOverride, err := contentMembers("power_level_content_override", body.PowerLevelContentOverride)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if plOverride != nil {
		// The same rules as a power levels event sent with PUT /state.
		if err := checkPowerLevelsContent(body.PowerLevelContentOverride); err != nil {
			httpapi.WriteError(w, err)
			return
		}
	}

	alias := ""
	if body.RoomAliasName != "" {
		if strings.ContainsAny(body.RoomAliasName, ":# \x00") {
			httpapi.WriteError(w, httpapi.InvalidParam("room_alias_name must be a bare localpart"))
			return
		}
		alias = "#" + body.RoomAliasName + ":" + a.Engine.ServerName()
		if _, err := ids.ParseRoomAlias(alias); err != nil {
			httpapi.WriteError(w, httpapi.InvalidParam("invalid room alias"))
			return
		}
		if err := a.Appservices.CheckAlias(alias, s.AppserviceID); err != nil {
			httpapi.WriteError(w, err)
			return
		}
		if _, _, err := a.Engine.Store().Alias(ctx, alias); err == nil {
			httpapi.WriteError(w, httpapi.RoomInUse("room alias already taken"))
			return
		}
	}

	// Users of other servers are invited once the room exists, through
	// their server, as POST /invite does (server-server-api "Inviting to a
	// room"): an invite event made in the creation batch would reach no one.
	var local, remote, blocked []string
	for _, u := range body.Invite {
		if srv, _ := ids.UserServer(u); string(srv) != a.Engine.ServerName() && a.Fed != nil {
			remote = append(remote, u)
			continue
		}
		// client-server-api "Invite permission": a user who blocks
		// invites is left out, and the room is created without them.
		if err := a.checkInvitee(ctx, u); merr.CodeOf(err) == merr.CodeInviteBlocked {
			blocked = append(blocked, u)
			continue
		} else if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		local = append(local, u)
	}
	if s.ShadowBanned {
		// The room is created, its invites dropped (shadowban.go).
		local, remote = nil, nil
	}
	// Synapse checks room creation once, up front, against both rc_message
	// and rc_room_creation; the events of the new room are not counted.
	if err := checkCreateInvites(a.Limits, s, len(body.Invite)); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if err := takeLimits(r.Context(), a.Limits, s, messageCost(s), ratelimit.Cost{Action: ratelimit.RoomCreation, Key: s.UserID}); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	req := rooms.CreateRoomRequest{
		Creator: s.UserID, CreatorMember: a.memberProfile(r, s.UserID), Version: v, Preset: body.Preset,
		Name: body.Name, Topic: body.Topic, Alias: alias, Invite: local, InviteLater: remote, IsDirect: body.IsDirect,
		InitialState: body.InitialState, CreationContent: creation,
		PowerLevelOverride: plOverride,
	}
	roomID, err := a.Engine.CreateRoom(ctx, req)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if alias != "" {
		if err := a.Engine.Store().CreateAlias(ctx, alias, roomID, s.UserID); err != nil {
			// Lost a race for the alias: the room exists without it, and the
			// canonical alias event names an alias that now points elsewhere.
			httpapi.WriteError(w, httpapi.RoomInUse("room alias already taken"))
			return
		}
	}
	if body.Visibility == "public" {
		if err := a.Engine.Store().SetPublic(ctx, roomID, true); err != nil {
			httpapi.WriteError(w, err)
			return
		}
	}
	for _, u := range remote {
		var extra map[string]any
		if body.IsDirect {
			extra = map[string]any{"is_direct": true}
		}
		if _, err := a.remoteInvite(r, s, roomID, u, "", extra); merr.CodeOf(err) == merr.CodeInviteBlocked {
			blocked = append(blocked, u)
		} else if err != nil {
			// The room exists: failing the request now would have the
			// client create another. Synapse too answers with the room
			// when an invite fails; the inviter can invite again.
			a.log().Info("createRoom: inviting a remote user failed", "room_id", roomID, "invitee", u, "err", err)
		}
	}
	// Invites by third-party identifier come last (client-server-api
	// createRoom: "Invite events implied by invite and invite_3pid"), each
	// as POST /invite would make it; a failure is logged, as for remote
	// users above, since the room exists.
	for _, req := range invite3PID {
		mxid, err := a.inviteThirdParty(ctx, s, roomID, req)
		if err == nil && mxid != "" {
			err = a.inviteBound(r, s, roomID, mxid, body.IsDirect)
		}
		if merr.CodeOf(err) == merr.CodeInviteBlocked {
			blocked = append(blocked, mxid)
		} else if err != nil {
			a.log().Info("createRoom: a third-party invite failed", "room_id", roomID, "id_server", req.IDServer, "err", err)
		}
	}
	if len(blocked) > 0 {
		// The spec has createRoom answer 403 M_INVITE_BLOCKED when an
		// invitee blocks invites, even though "the room creation as a
		// whole succeeds": the answer names the room so that the client
		// need not create another.
		e := merr.InviteBlocked(strings.Join(blocked, ", ") + " do not accept invites; the room was created without inviting them")
		e.Extra = map[string]any{"room_id": roomID}
		httpapi.WriteError(w, e)
		return
	}
	writeOK(w, map[string]string{"room_id": roomID})
}

// inviteBound invites the user an identity server found for an address
// given in createRoom's invite_3pid, as createRoom invites the users of
// its invite list.
func (a *RoomAPI) inviteBound(r *http.Request, s *httpapi.Session, roomID, userID string, isDirect bool) error {
	if err := a.checkInvitee(r.Context(), userID); err != nil {
		return err
	}
	extra := a.memberProfile(r, userID)
	if isDirect {
		extra["is_direct"] = true
	}
	if srv, _ := ids.UserServer(userID); string(srv) != a.Engine.ServerName() && a.Fed != nil {
		_, err := a.remoteInvite(r, s, roomID, userID, "", extra)
		return err
	}
	_, err := a.sendMembership(r, s, roomID, userID, event.Invite, "", extra)
	return err
}

// contentMembers splits an object of event content given to createRoom
// into its members, each kept as the client's JSON text. The room engine
// merges them into the event it builds, which then goes through the one
// canonical-JSON check every event content does (as with PUT /send):
// numbers are never re-encoded through float64, so 1e2 is refused in room
// versions with strict canonical JSON instead of becoming 100, and a large
// integer is refused rather than rounded. Absent or null gives nil.
func contentMembers(field string, raw json.RawMessage) (map[string]any, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var members map[string]json.RawMessage
	if raw[0] != '{' || json.Unmarshal(raw, &members) != nil {
		return nil, httpapi.BadJSON(field + " must be an object")
	}
	out := make(map[string]any, len(members))
	for k, v := range members {
		out[k] = v
	}
	return out, nil
}

// memberProfile is the displayname/avatar_url to put in a user's join.
func (a *RoomAPI) memberProfile(r *http.Request, userID string) map[string]any {
	out := map[string]any{}
	if a.Profiles == nil {
		return out
	}
	p, err := a.Profiles.Profile(r.Context(), userID)
	if err != nil {
		return out
	}
	if p.DisplayName != "" {
		out["displayname"] = p.DisplayName
	}
	if p.AvatarURL != "" {
		out["avatar_url"] = p.AvatarURL
	}
	return out
}

// checkPowerLevelsContent refuses string or float power levels from
// clients, as the spec asks of servers even in room versions that accept
// them over federation (server-server-api "Definitions", warning box).
func checkPowerLevelsContent(content []byte) error {
	var c map[string]json.RawMessage
	if err := json.Unmarshal(content, &c); err != nil {
		return merr.BadJSON("content must be an object")
	}
	isInt := func(raw json.RawMessage) bool {
		var n json.Number
		if json.Unmarshal(raw, &n) != nil || len(raw) == 0 || raw[0] == '"' {
			return false
		}
		_, err := n.Int64()
		return err == nil
	}
	for _, k := range []string{"ban", "kick", "redact", "invite", "events_default", "state_default", "users_default"} {
		if raw, ok := c[k]; ok && !isInt(raw) {
			return merr.BadJSON(k + " must be an integer")
		}
	}
	for _, k := range []string{"events", "users", "notifications"} {
		raw, ok := c[k]
		if !ok {
			continue
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) != nil {
			return merr.BadJSON(k + " must be an object")
		}
		for key, v := range m {
			if !isInt(v) {
				return merr.BadJSON(k + "." + key + " must be an integer")
			}
		}
	}
	return nil
}
