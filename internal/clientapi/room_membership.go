package clientapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/identity"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/ratelimit"
	"github.com/myelin-chat/myelin/internal/rooms"
)

// resolveRoom turns a room ID or alias into a room ID we know.
func (a *RoomAPI) resolveRoom(r *http.Request, idOrAlias string) (string, error) {
	switch {
	case strings.HasPrefix(idOrAlias, "!"):
		if !ids.ValidRoomID(idOrAlias) {
			return "", httpapi.InvalidParam("invalid room ID")
		}
		if _, err := a.Engine.Store().Room(r.Context(), idOrAlias); err != nil {
			return "", merr.NotFound("no known servers for this room")
		}
		return idOrAlias, nil
	case strings.HasPrefix(idOrAlias, "#"):
		if _, err := ids.ParseRoomAlias(idOrAlias); err != nil {
			return "", httpapi.InvalidParam("invalid room alias")
		}
		roomID, _, err := a.lookupAlias(r.Context(), idOrAlias)
		if err != nil {
			return "", merr.NotFound("room alias not found")
		}
		return roomID, nil
	}
	return "", httpapi.InvalidParam("expected a room ID or alias")
}

// sendMembership sends a membership event for target by the session user.
func (a *RoomAPI) sendMembership(r *http.Request, s *httpapi.Session, roomID, target, membership, reason string, extra map[string]any) (*event.Event, error) {
	content := map[string]any{"membership": membership}
	for k, v := range extra {
		content[k] = v
	}
	if reason != "" {
		content["reason"] = reason
	}
	b := &event.Builder{Type: event.TypeMember, StateKey: &target, Sender: s.UserID, Content: rooms.Content(content)}
	if err := a.refuseSuspendedEvent(r.Context(), s, b); err != nil {
		return nil, err
	}
	return a.Engine.Send(r.Context(), roomID, b, nil)
}

// join is POST /join/{roomIdOrAlias} and POST /rooms/{roomId}/join. A room
// this server is not in is joined through another server: the alias's
// server, the via/server_name parameters, the room ID's server, or the
// server that invited us.
func (a *RoomAPI) join(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	if err := httpapi.RefuseSuspended(s, "Joining rooms"); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	raw, err := httpapi.ReadBody(r, maxSmallBody)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	var body reasonBody
	var extra map[string]json.RawMessage
	if err := httpapi.DecodeOptionalJSON(raw, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	_ = httpapi.DecodeOptionalJSON(raw, &extra) // valid: checked just above
	ctx := r.Context()
	target := r.PathValue("roomIdOrAlias")
	if target == "" {
		target = r.PathValue("roomId")
	}
	roomID, servers, err := a.resolveForJoin(r, s.UserID, target)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if s.IsGuest {
		if err := a.checkGuestMayJoin(ctx, roomID, servers); err != nil {
			httpapi.WriteError(w, err)
			return
		}
	}
	profile := joinContent(a.memberProfile(r, s.UserID), extra)
	inRoom := false
	if _, err := a.Engine.Store().Room(ctx, roomID); err == nil {
		inRoom, _ = a.Engine.ServerInRoom(ctx, roomID, a.Engine.ServerName())
	}
	if !inRoom {
		if err := a.throughOtherServer(ctx, roomID, servers, profile, body.Reason); err != nil {
			httpapi.WriteError(w, err)
			return
		}
		if err := takeLimits(r.Context(), a.Limits, s, joinCosts(s, roomID, true)...); err != nil {
			httpapi.WriteError(w, err)
			return
		}
		if err := a.Fed.Join(ctx, s.UserID, roomID, servers, profile); err != nil {
			httpapi.WriteError(w, err)
			return
		}
		if s.IsGuest {
			if err := a.guestLeavesUnlessCanJoin(r, s, roomID); err != nil {
				httpapi.WriteError(w, err)
				return
			}
		}
		if old := a.predecessor(ctx, roomID); old != "" {
			a.carryUserState(ctx, old, roomID)
		}
		writeOK(w, map[string]string{"room_id": roomID})
		return
	}
	// Joining again while joined changes nothing unless the profile did.
	cur, err := a.Engine.State(ctx, roomID, event.TypeMember, s.UserID)
	if joined := err == nil && cur.Membership() == event.Join; joined {
		profile["membership"] = event.Join
		if sameJSON(cur.Content(), rooms.Content(profile)) {
			writeOK(w, map[string]string{"room_id": roomID})
			return
		}
		delete(profile, "membership")
	} else if err := takeLimits(r.Context(), a.Limits, s, joinCosts(s, roomID, false)...); err != nil {
		// Only a new join counts: a rejoin is a profile change (Synapse).
		httpapi.WriteError(w, err)
		return
	}
	// A restricted room lets in members of its allowed rooms, vouched for by
	// one of our users who may invite (client-server-api "Restricted rooms").
	via, err := a.Engine.RestrictedJoinAuthoriser(ctx, roomID, s.UserID)
	if merr.CodeOf(err) == merr.CodeUnableToGrantJoin {
		// The user qualifies but only another server's users may vouch for
		// the join: make it through one of those servers, as Synapse does.
		err = merr.Forbidden("no user of this server may authorise your join to this restricted room")
		if servers, _ := a.Engine.AuthorisingServers(ctx, roomID); len(servers) > 0 && a.Fed != nil {
			if body.Reason != "" {
				profile["reason"] = body.Reason
			}
			err = a.Fed.Join(ctx, s.UserID, roomID, servers, profile)
			if err == nil {
				writeOK(w, map[string]string{"room_id": roomID})
				return
			}
		}
	}
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if via != "" {
		profile["join_authorised_via_users_server"] = via
	}
	if _, err := a.sendMembership(r, s, roomID, s.UserID, event.Join, body.Reason, profile); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, map[string]string{"room_id": roomID})
}

// checkGuestMayJoin lets a guest join only a room whose m.room.guest_access
// is can_join (client-server-api "Guest Access", server behaviour).
//
// A room this server is not in cannot be read before the join, and whether
// a user is a guest is not shared over federation, so the joining server
// enforces the rule itself in two steps: here, the room's summary from the
// servers that would let us in (their federation /hierarchy, which carries
// guest_can_join) refuses the join when it says guests may not; and after
// the join, guestLeavesUnlessCanJoin reads the state send_join brought
// (our current state then) and leaves at once when it is not can_join,
// which also covers rooms no server would describe. Synapse differs: it
// checks only the state it already holds, so it refuses every guest join
// of a room it is not in (its issue #2065, open since 2017).
func (a *RoomAPI) checkGuestMayJoin(ctx context.Context, roomID string, servers []string) error {
	in, err := a.Engine.InRoom(ctx, roomID)
	if err != nil {
		return err
	}
	if in {
		return a.guestAccessIsCanJoin(ctx, roomID)
	}
	if a.Fed == nil {
		return guestJoinRefused
	}
	if a.GuestProbe != nil {
		if answered, canJoin := a.GuestProbe.RemoteGuestAccess(ctx, roomID, servers); answered && !canJoin {
			return guestJoinRefused
		}
	}
	return nil
}

var guestJoinRefused = merr.GuestAccessForbidden("guests may only join rooms whose guest access is can_join")

// guestAccessIsCanJoin checks the room's current m.room.guest_access.
func (a *RoomAPI) guestAccessIsCanJoin(ctx context.Context, roomID string) error {
	ev, err := a.Engine.State(ctx, roomID, event.TypeGuestAccess, "")
	if merr.CodeOf(err) == merr.CodeNotFound {
		return guestJoinRefused
	} else if err != nil {
		return err
	}
	var c struct {
		GuestAccess string `json:"guest_access"`
	}
	if json.Unmarshal(ev.Content(), &c) != nil || c.GuestAccess != "can_join" {
		return guestJoinRefused
	}
	return nil
}

// guestLeavesUnlessCanJoin checks a guest's join of a room held by other
// servers against the state the join brought (see checkGuestMayJoin): if
// guests may not join, the guest leaves at once and is refused.
func (a *RoomAPI) guestLeavesUnlessCanJoin(r *http.Request, s *httpapi.Session, roomID string) error {
	refused := a.guestAccessIsCanJoin(r.Context(), roomID)
	if merr.CodeOf(refused) != merr.CodeGuestAccessForbidden {
		return refused
	}
	if _, err := a.sendMembership(r, s, roomID, s.UserID, event.Leave, "guest access is not can_join", nil); err != nil {
		a.log().Warn("guest access: leaving a room guests may not join failed", "room_id", roomID, "user_id", s.UserID, "err", err)
		return err
	}
	return refused
}

// throughOtherServer checks what a join or knock made through another
// server needs (it does not pass the engine's checks): the room is not
// blocked here and there are servers to ask; the reason goes into the
// event's content.
func (a *RoomAPI) throughOtherServer(ctx context.Context, roomID string, servers []string, content map[string]any, reason string) error {
	if err := a.Engine.CheckNotBlocked(ctx, roomID); err != nil {
		return err
	}
	if a.Fed == nil || len(servers) == 0 {
		return merr.NotFound("no known servers for this room")
	}
	if reason != "" {
		content["reason"] = reason
	}
	return nil
}

// resolveForJoin finds the room to join and the servers that may let us in.
func (a *RoomAPI) resolveForJoin(r *http.Request, userID, target string) (string, []string, error) {
	ctx := r.Context()
	var servers []string
	add := func(s string) {
		if s == "" || s == a.Engine.ServerName() {
			return
		}
		for _, x := range servers {
			if x == s {
				return
			}
		}
		servers = append(servers, s)
	}
	q := r.URL.Query()
	for _, s := range append(q["via"], q["server_name"]...) {
		add(s)
	}
	if strings.HasPrefix(target, "#") {
		alias, err := ids.ParseRoomAlias(target)
		if err != nil {
			return "", nil, httpapi.InvalidParam("invalid room alias")
		}
		if string(alias.Server) == a.Engine.ServerName() || a.Fed == nil {
			roomID, err := a.resolveRoom(r, target)
			return roomID, servers, err
		}
		roomID, remote, err := a.Fed.ResolveAlias(ctx, target, string(alias.Server))
		if err != nil {
			return "", nil, err
		}
		add(string(alias.Server))
		for _, s := range remote {
			add(s)
		}
		return roomID, servers, nil
	}
	if !strings.HasPrefix(target, "!") || !ids.ValidRoomID(target) {
		return "", nil, httpapi.InvalidParam("expected a room ID or alias")
	}
	if srv, ok := ids.RoomIDServer(target); ok {
		add(string(srv))
	}
	if inv, err := a.Engine.State(ctx, target, event.TypeMember, userID); err == nil && inv.Membership() == event.Invite {
		if srv, err := ids.UserServer(inv.Sender()); err == nil {
			add(string(srv))
		}
	}
	if _, err := a.Engine.Store().Room(ctx, target); err != nil && len(servers) == 0 {
		return "", nil, merr.NotFound("no known servers for this room")
	}
	return target, servers, nil
}

// joinContent adds the client's own keys from a join body to the member
// event's content. The spec's join bodies are open objects (joining.yaml:
// no additionalProperties: false) and Synapse copies unknown keys into the
// event, which clients use for their own metadata. The client may set its
// displayname and avatar_url for this room (overriding its global profile),
// but never the keys the server decides: membership,
// join_authorised_via_users_server (restricted rooms), and
// third_party_signed, which is a request parameter, not content. reason is
// added by the caller once checked to be a string.
func joinContent(profile map[string]any, body map[string]json.RawMessage) map[string]any {
	for k, v := range body {
		switch k {
		case "membership", "join_authorised_via_users_server", "third_party_signed", "reason":
			continue
		}
		profile[k] = v
	}
	return profile
}

// knock is POST /knock/{roomIdOrAlias}.
func (a *RoomAPI) knock(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	if err := httpapi.RefuseSuspended(s, "Knocking on rooms"); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	var body reasonBody
	if err := httpapi.ReadOptionalJSON(r, maxSmallBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	ctx := r.Context()
	roomID, servers, err := a.resolveForJoin(r, s.UserID, r.PathValue("roomIdOrAlias"))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	profile := a.memberProfile(r, s.UserID)
	if in, err := a.Engine.InRoom(ctx, roomID); err != nil {
		httpapi.WriteError(w, err)
		return
	} else if !in {
		// A room held by other servers: make_knock and send_knock through
		// one of them (server-server-api "Knocking upon a room").
		if err := a.throughOtherServer(ctx, roomID, servers, profile, body.Reason); err != nil {
			httpapi.WriteError(w, err)
			return
		}
		if err := a.Fed.Knock(ctx, s.UserID, roomID, servers, profile); err != nil {
			httpapi.WriteError(w, err)
			return
		}
		writeOK(w, map[string]string{"room_id": roomID})
		return
	}
	if _, err := a.sendMembership(r, s, roomID, s.UserID, event.Knock, body.Reason, profile); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, map[string]string{"room_id": roomID})
}

type targetBody struct {
	UserID string `json:"user_id"`
	Reason string `json:"reason,omitempty"`
}

// targeted handles invite, kick, ban and unban: membership changes made by
// one user to another.
func (a *RoomAPI) targeted(w http.ResponseWriter, r *http.Request, s *httpapi.Session, membership string, check func(cur string) error) {
	if err := httpapi.RefuseSuspended(s, "Changing other users' memberships"); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	var body targetBody
	if err := httpapi.ReadJSON(r, maxSmallBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if err := a.checkTarget(body.UserID); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	roomID := r.PathValue("roomId")
	if membership == event.Invite && s.ShadowBanned {
		// Synapse answers a shadow-banned user's invite before any check,
		// and invites no one (see shadowban.go).
		writeOK(w, emptyObject)
		return
	}
	if _, err := a.Engine.Store().Room(r.Context(), roomID); err != nil {
		httpapi.WriteError(w, merr.Forbidden("you are not in this room"))
		return
	}
	cur := ""
	if ev, err := a.Engine.State(r.Context(), roomID, event.TypeMember, body.UserID); err == nil {
		cur = ev.Membership()
	}
	if check != nil {
		if err := check(cur); err != nil {
			httpapi.WriteError(w, err)
			return
		}
	}
	var extra map[string]any
	if membership == event.Invite {
		if err := a.checkInvitee(r.Context(), body.UserID); err != nil {
			httpapi.WriteError(w, err)
			return
		}
		if err := takeLimits(r.Context(), a.Limits, s, inviteCosts(s, roomID, body.UserID)...); err != nil {
			httpapi.WriteError(w, err)
			return
		}
		extra = a.memberProfile(r, body.UserID)
		if srv, _ := ids.UserServer(body.UserID); string(srv) != a.Engine.ServerName() && a.Fed != nil {
			if _, err := a.remoteInvite(r, s, roomID, body.UserID, body.Reason, nil); err != nil {
				httpapi.WriteError(w, err)
				return
			}
			writeOK(w, emptyObject)
			return
		}
	}
	if _, err := a.sendMembership(r, s, roomID, body.UserID, membership, body.Reason, extra); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, emptyObject)
}

// checkTarget refuses user IDs no server can have as the target of a
// membership change. A user of this server must match the user ID grammar
// this server registers users with (appendices, "User Identifiers": no empty
// localpart, spaces or invisible characters); a remote user ID must at least
// parse, since other servers may still hold historical IDs the spec asks us
// to accept.
func (a *RoomAPI) checkTarget(userID string) error {
	u, err := ids.ParseUserID(userID)
	if err != nil {
		return httpapi.InvalidParam("user_id must be a valid user ID")
	}
	if string(u.Server) == a.Engine.ServerName() {
		if err := ids.ValidateLocalpart(u.Localpart); err != nil {
			return httpapi.InvalidParam("user_id is not a valid user ID of this server")
		}
	}
	return nil
}

func (a *RoomAPI) invite(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	body, err := httpapi.ReadBody(r, maxSmallBody)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if req, ok, err := thirdPartyRequest(body); err != nil {
		httpapi.WriteError(w, err)
		return
	} else if ok {
		mxid, err := a.inviteThirdParty(r.Context(), s, r.PathValue("roomId"), req)
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		if mxid == "" {
			writeOK(w, emptyObject)
			return
		}
		// Someone bound the address: they are invited as any user is.
		body, _ = json.Marshal(targetBody{UserID: mxid})
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	a.targeted(w, r, s, event.Invite, func(cur string) error {
		if cur == event.Join || cur == event.Ban {
			return merr.Forbidden("user is " + cur + "ed in this room")
		}
		return nil
	})
}

// thirdPartyRequest reads an invite by third-party identifier
// (client-server-api "POST /rooms/{roomId}/invite" with id_server,
// id_access_token, medium and address); ok is false for a body that is
// not one (it has a user_id, or none of those fields).
func thirdPartyRequest(body []byte) (req identity.Request, ok bool, err error) {
	var b struct {
		UserID      *string `json:"user_id"`
		IDServer    *string `json:"id_server"`
		AccessToken *string `json:"id_access_token"`
		Medium      *string `json:"medium"`
		Address     *string `json:"address"`
	}
	if json.Unmarshal(body, &b) != nil {
		var probe map[string]json.RawMessage
		if json.Unmarshal(body, &probe) == nil && probe["user_id"] == nil &&
			(probe["id_server"] != nil || probe["medium"] != nil || probe["address"] != nil) {
			return req, false, merr.BadJSON("id_server, id_access_token, medium and address must be strings")
		}
		return req, false, nil
	}
	if b.UserID != nil || (b.IDServer == nil && b.Medium == nil && b.Address == nil) {
		return req, false, nil
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	req = identity.Request{IDServer: str(b.IDServer), AccessToken: str(b.AccessToken), Medium: str(b.Medium), Address: str(b.Address)}
	return req, true, req.Validate()
}

// inviteThirdParty is the server's part of an invite by third-party
// identifier: rc_third_party_invite is taken before the identity server
// is asked (as Synapse does), and the service looks the address up and,
// when nobody bound it, stores the invite. It returns the user ID the
// address is bound to, to be invited as any user, or "".
func (a *RoomAPI) inviteThirdParty(ctx context.Context, s *httpapi.Session, roomID string, req identity.Request) (string, error) {
	// The invite is sent by the third-party invite service, past the
	// checks of sendEvent (suspension.go).
	if err := httpapi.RefuseSuspended(s, "Sending invites"); err != nil {
		return "", err
	}
	if a.ThirdPartyInvites == nil {
		return "", merr.New(merr.ErrForbidden, merr.CodeThreepidDenied, "Third-party invites are not supported by this server")
	}
	if s.ShadowBanned {
		// As for other invites (shadowban.go): answered, nothing done.
		return "", nil
	}
	if err := takeLimits(ctx, a.Limits, s, ratelimit.Cost{Action: ratelimit.ThirdPartyInvite, Key: s.UserID}); err != nil {
		return "", err
	}
	return a.ThirdPartyInvites.Invite(ctx, s.UserID, roomID, req)
}

func (a *RoomAPI) kick(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	a.targeted(w, r, s, event.Leave, func(cur string) error {
		// Synapse refuses to kick someone who is not in the room at all.
		if cur != event.Join && cur != event.Invite && cur != event.Knock {
			return merr.Forbidden("user is not in the room")
		}
		return nil
	})
}

func (a *RoomAPI) ban(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	a.targeted(w, r, s, event.Ban, nil)
}

func (a *RoomAPI) unban(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	a.targeted(w, r, s, event.Leave, func(cur string) error {
		if cur != event.Ban {
			return merr.Forbidden("user is not banned")
		}
		return nil
	})
}

// leave is POST /rooms/{roomId}/leave (also rejects invites and rescinds knocks).
func (a *RoomAPI) leave(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	var body reasonBody
	if err := httpapi.ReadOptionalJSON(r, maxSmallBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	roomID := r.PathValue("roomId")
	if _, err := a.Engine.Store().Room(r.Context(), roomID); err != nil {
		httpapi.WriteError(w, merr.Forbidden("you are not in this room"))
		return
	}
	cur, err := a.Engine.State(r.Context(), roomID, event.TypeMember, s.UserID)
	if err == nil && cur.Membership() == event.Leave {
		writeOK(w, emptyObject) // already left: nothing to do
		return
	}
	// client-server-api "Server Notices": rejecting the invite to the
	// notices room, and leaving it where the server prevents that (as
	// Synapse does), is M_CANNOT_LEAVE_SERVER_NOTICE_ROOM.
	if a.NoticeRooms != nil {
		if notices, err := a.NoticeRooms.IsNoticeRoom(r.Context(), roomID); err != nil {
			httpapi.WriteError(w, err)
			return
		} else if notices {
			httpapi.WriteError(w, merr.New(merr.ErrForbidden, merr.CodeCannotLeaveServerNoticeRoom, "You cannot leave the server notices room"))
			return
		}
	}
	if err == nil && (cur.Membership() == event.Invite || cur.Membership() == event.Knock) && a.Fed != nil {
		if in, _ := a.Engine.ServerInRoom(r.Context(), roomID, a.Engine.ServerName()); !in {
			withdraw := a.Fed.RejectInvite
			if cur.Membership() == event.Knock {
				withdraw = a.Fed.RescindKnock
			}
			if err := withdraw(r.Context(), s.UserID, cur); err != nil {
				httpapi.WriteError(w, err)
				return
			}
			writeOK(w, emptyObject)
			return
		}
	}
	if _, err := a.sendMembership(r, s, roomID, s.UserID, event.Leave, body.Reason, nil); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, emptyObject)
}

// forget is POST /rooms/{roomId}/forget: allowed once the user has left.
func (a *RoomAPI) forget(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	ctx := r.Context()
	roomID := r.PathValue("roomId")
	// The user's latest membership as /sync sees it, so that every room sync
	// can list under "leave" (rejected remote invites included) can be
	// forgotten.
	ms, err := a.Engine.Store().MembershipsAt(ctx, s.UserID, a.Engine.Stream().Current())
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	membership := ""
	for _, m := range ms {
		if m.RoomID == roomID {
			membership = m.Membership
		}
	}
	switch membership {
	case event.Leave, event.Ban:
	case "":
		// The spec lists no error for a room the user was never in (Synapse
		// answers 200 and stores nothing); a 404 tells the client the room
		// ID is wrong, and keeps clients from filling forgotten_rooms with
		// rooms they never knew.
		httpapi.WriteError(w, httpapi.NotFound("You have never been in this room"))
		return
	default:
		// Spec: 400 M_UNKNOWN when the user has not left the room.
		httpapi.WriteError(w, httpapi.Unknown(http.StatusBadRequest, "you must leave the room before forgetting it"))
		return
	}
	if err := a.Engine.Store().Forget(ctx, s.UserID, roomID); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, emptyObject)
}

// checkInvitee refuses an invite of a user of this server whose
// m.invite_permission_config blocks invites (client-server-api "Invite
// permission": 403 M_INVITE_BLOCKED). Users of other servers are checked
// by their server, whose refusal of the federation /invite remoteInvite
// passes on.
func (a *RoomAPI) checkInvitee(ctx context.Context, userID string) error {
	if srv, _ := ids.UserServer(userID); string(srv) != a.Engine.ServerName() {
		return nil
	}
	return a.InvitePermission.Check(ctx, userID)
}

// remoteInvite invites a user of another server: the invite is built and
// checked here, countersigned by the invitee's server (PUT /invite), and
// then stored and sent to the room like any event of ours.
func (a *RoomAPI) remoteInvite(r *http.Request, s *httpapi.Session, roomID, target, reason string, extra map[string]any) (string, error) {
	ctx := r.Context()
	content := map[string]any{"membership": event.Invite}
	for k, v := range extra {
		content[k] = v
	}
	if reason != "" {
		content["reason"] = reason
	}
	b := &event.Builder{Type: event.TypeMember, StateKey: &target, Sender: s.UserID, Content: rooms.Content(content)}
	ev, err := a.Engine.BuildEvent(ctx, roomID, b)
	if err != nil {
		return "", err
	}
	roomState := a.Engine.InviteRoomState(ctx, roomID, s.UserID)
	signed, err := a.Fed.Invite(ctx, ev, roomState)
	if merr.CodeOf(err) == merr.CodeInviteBlocked {
		return "", err
	}
	if err != nil {
		return "", merr.Forbidden("the invitee's server refused the invite: " + err.Error())
	}
	for _, res := range a.Engine.Ingest(ctx, roomID, []*event.Event{signed}, nil) {
		if res.Err != nil {
			return "", merr.Forbidden(res.Err.Error())
		}
	}
	return signed.EventID(), nil
}
