package federationapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/myelin-chat/myelin/internal/clientevent"
	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/ratelimit"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

// makeMembership serves make_join, make_leave and make_knock.
func (a *API) makeMembership(membership string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		userID := r.PathValue("userId")
		srv, err := ids.UserServer(userID)
		if err != nil || string(srv) != a.Origin(r) {
			writeErr(w, merr.Forbidden("the user must belong to the requesting server"))
			return
		}
		if membership == event.Join {
			// A room with too many recent joins takes no more for now
			// (rc_joins_per_room; Synapse checks make_join too).
			if err := a.Limits.Peek(ratelimit.JoinsPerRoom, r.PathValue("roomId")); err != nil {
				writeErr(w, err)
				return
			}
		}
		var versions []string
		if membership != event.Leave {
			versions = r.URL.Query()["ver"]
			if len(versions) == 0 {
				versions = []string{"1"} // the spec's default when ver is absent
			}
		}
		tmpl, err := a.Engine.MakeMembership(r.Context(), r.PathValue("roomId"), userID, membership, versions)
		if err != nil {
			writeErr(w, err)
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"room_version": tmpl.RoomVersion, "event": tmpl.Event})
	}
}

// sendMembership serves send_join, send_leave and send_knock. v1 answers
// [200, body], as the v1 join and leave endpoints did.
func (a *API) sendMembership(membership string, v1 bool) http.HandlerFunc {
	write := func(w http.ResponseWriter, body any) {
		if v1 {
			httpapi.WriteJSON(w, http.StatusOK, []any{http.StatusOK, body})
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, body)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		roomID := r.PathValue("roomId")
		room, err := a.Engine.Store().Room(ctx, roomID)
		if err != nil {
			writeErr(w, merr.NotFound("unknown room"))
			return
		}
		body, err := httpapi.ReadBody(r, maxSmallBody)
		if err != nil {
			writeErr(w, err)
			return
		}
		ev, err := event.Parse(body, room.Version)
		if err != nil {
			writeErr(w, merr.BadJSON(err.Error()))
			return
		}
		// The event must be the membership the endpoint is for, of its
		// sender about themselves, from the requesting server (server-server
		// -api "Joining Rooms": the resident server "must check that the
		// event is a valid join/leave/knock event for the user").
		srv, _ := ids.UserServer(ev.Sender())
		sk := ev.StateKey()
		if ev.EventID() != r.PathValue("eventId") || ev.Type() != event.TypeMember || sk == nil || *sk != ev.Sender() ||
			ev.Membership() != membership || string(srv) != a.Origin(r) {
			writeErr(w, merr.BadJSON("the event is not a "+membership+" of its sender from the requesting server, with the path's event ID"))
			return
		}
		if membership == event.Join {
			// A restricted room's join naming one of our users gets our
			// signature before it is checked like any other event
			// (server-server-api "Restricted rooms"); the response's
			// "event" carries it back to the joining server.
			if ev, err = a.Engine.CountersignJoin(ctx, roomID, ev); err != nil {
				writeErr(w, err)
				return
			}
		}
		if ev, err = a.Verify.VerifyEvent(ctx, ev); err != nil {
			writeErr(w, err)
			return
		}
		res, err := a.Engine.AcceptMembership(ctx, roomID, ev)
		if err != nil {
			writeErr(w, err)
			return
		}
		if a.OnAccepted != nil {
			a.OnAccepted(ctx, res.Event)
		}
		switch membership {
		case event.Join:
			// Full state: we do not offer partial-state joins (members_omitted).
			write(w, map[string]any{
				"origin": a.ServerName, "state": pduList(res.State), "auth_chain": pduList(res.AuthChain),
				"event": rawJSON(res.Event.FederationJSON()), "members_omitted": false})
		case event.Knock:
			// Whole events in the room version's format, m.room.create
			// among them (send_knock, spec v1.16, MSC4311), as for invites.
			var roomState []*event.Event
			view, err := a.Engine.CurrentView(ctx, roomID)
			if err == nil {
				for _, typ := range clientevent.InviteStateTypes {
					if e := view.Get(typ, ""); e != nil {
						roomState = append(roomState, e)
					}
				}
			}
			write(w, map[string]any{"knock_room_state": pduList(roomState)})
		default:
			write(w, map[string]any{})
		}
	}
}

// invite is PUT /v2/invite/{roomId}/{eventId}: another server invites one
// of our users. We check it, add our signature and keep it so the user sees
// the invite.
func (a *API) invite(w http.ResponseWriter, r *http.Request) {
	var body struct {
		RoomVersion     string            `json:"room_version"`
		Event           json.RawMessage   `json:"event"`
		InviteRoomState []json.RawMessage `json:"invite_room_state"`
	}
	if err := httpapi.ReadJSON(r, maxSmallBody*2, &body); err != nil {
		writeErr(w, err)
		return
	}
	v, ok := roomversion.Get(roomversion.ID(body.RoomVersion))
	if !ok {
		writeErr(w, merr.New(merr.ErrBadRequest, merr.CodeIncompatibleRoomVer, "unsupported room version "+body.RoomVersion))
		return
	}
	signed, err := a.acceptInvite(r, v, body.Event, body.InviteRoomState)
	if err != nil {
		writeErr(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"event": rawJSON(signed.FederationJSON())})
}

// inviteV1 is PUT /v1/invite/{roomId}/{eventId}, the form servers used
// before v2 and that the spec still lists: the body is the event itself,
// with the stripped state in its unsigned invite_room_state, and the room
// version is not given, so it "must" be taken to be 1 or 2, which share an
// event format (server-server-api "PUT /_matrix/federation/v1/invite").
// The answer is v1's [200, {"event": …}].
func (a *API) inviteV1(w http.ResponseWriter, r *http.Request) {
	raw, err := httpapi.ReadBody(r, maxSmallBody*2)
	if err != nil {
		writeErr(w, err)
		return
	}
	var body struct {
		Unsigned struct {
			InviteRoomState []json.RawMessage `json:"invite_room_state"`
		} `json:"unsigned"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		writeErr(w, merr.BadJSON("the body must be the invite event"))
		return
	}
	v, _ := roomversion.Get("1")
	signed, err := a.acceptInvite(r, v, raw, body.Unsigned.InviteRoomState)
	if err != nil {
		writeErr(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, []any{http.StatusOK, map[string]any{"event": rawJSON(signed.FederationJSON())}})
}

// acceptInvite checks an invite of one of our users sent by the request's
// origin, countersigns it and stores it with its stripped state.
func (a *API) acceptInvite(r *http.Request, v *roomversion.Version, raw json.RawMessage, inviteRoomState []json.RawMessage) (*event.Event, error) {
	ctx := r.Context()
	ev, err := a.parseFor(ctx, raw, v)
	if err != nil {
		return nil, err
	}
	target := ""
	if ev.StateKey() != nil {
		target = *ev.StateKey()
	}
	tsrv, _ := ids.UserServer(target)
	ssrv, _ := ids.UserServer(ev.Sender())
	if ev.Type() != event.TypeMember || ev.Membership() != event.Invite || string(tsrv) != a.ServerName ||
		string(ssrv) != a.Origin(r) || ev.EventID() != r.PathValue("eventId") || ev.RoomID() != r.PathValue("roomId") {
		return nil, merr.BadJSON("not an invite of one of our users from your server")
	}
	// client-server-api "Invite permission": 403 M_INVITE_BLOCKED when
	// the invitee blocks invites; the invite is neither signed nor kept.
	if err := a.InvitePermission.Check(ctx, target); err != nil {
		return nil, err
	}
	// rc_invites.per_user counts invites our users receive from anywhere;
	// the sending server is trusted to limit per room (Synapse).
	if err := a.Limits.Check(ratelimit.InvitesPerUser, target); err != nil {
		return nil, err
	}
	if len(inviteRoomState) > maxInviteRoomState {
		inviteRoomState = inviteRoomState[:maxInviteRoomState]
	}
	// invite_room_state (spec v1.16, MSC4311): whole events of the room
	// in its version's format, correctly signed, m.room.create among
	// them. Servers "SHOULD apply" this to room versions after 11 (those
	// whose room ID is the create event's hash), refusing with
	// M_INVALID_PARAM, and "SHOULD warn ... rather than error" for
	// versions 1 to 11 while servers migrate (server-server-api "Inviting
	// to a room").
	if _, err := rooms.CheckRoomStatePDUs(ctx, v, ev.RoomID(), inviteRoomState, a.Verify.VerifyEvent); err != nil {
		me, _ := merr.As(err)
		if v.RoomIDFromCreateEvent() {
			return nil, merr.InvalidParam("invite_room_state: " + me.Message)
		}
		a.Log.Warn("an invite's invite_room_state fails the checks of spec v1.16; accepted for this room version",
			"room", ev.RoomID(), "origin", a.Origin(r), "room_version", v.ID, "problem", me.Message)
	}
	return a.Engine.StoreInvite(ctx, v, ev, inviteRoomState)
}

// maxInviteRoomState bounds the invite_room_state kept with an invite.
const maxInviteRoomState = 50

// queryDirectory is GET /query/directory?room_alias=….
func (a *API) queryDirectory(w http.ResponseWriter, r *http.Request) {
	alias := r.URL.Query().Get("room_alias")
	parsed, err := ids.ParseRoomAlias(alias)
	if err != nil || string(parsed.Server) != a.ServerName {
		writeErr(w, merr.NotFound("room alias not found"))
		return
	}
	roomID, _, err := a.Engine.Store().Alias(r.Context(), alias)
	// An alias of an appservice's namespace is asked of the appservice,
	// as a client's lookup is (Synapse does the same for both).
	if errors.Is(err, merr.ErrNotFound) && a.Appservices != nil && a.Appservices.AliasExists(r.Context(), alias) {
		roomID, _, err = a.Engine.Store().Alias(r.Context(), alias)
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	servers, err := a.Engine.ServersInRoom(r.Context(), roomID)
	if err != nil {
		writeErr(w, err)
		return
	}
	// Our own name first: we know the alias, so we are the best place to join.
	out := []string{a.ServerName}
	for _, s := range servers {
		if s != a.ServerName {
			out = append(out, s)
		}
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"room_id": roomID, "servers": out})
}

// queryProfile is GET /query/profile?user_id=…[&field=…].
func (a *API) queryProfile(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	userID := q.Get("user_id")
	srv, err := ids.UserServer(userID)
	if err != nil || string(srv) != a.ServerName || a.Profiles == nil {
		writeErr(w, merr.NotFound("user not found"))
		return
	}
	name, avatar, err := a.Profiles.DisplayNameAndAvatar(r.Context(), userID)
	if err != nil {
		writeErr(w, merr.NotFound("user not found"))
		return
	}
	fields, err := a.Profiles.ProfileFields(r.Context(), userID)
	if err != nil {
		writeErr(w, err)
		return
	}
	out := map[string]any{}
	field := q.Get("field")
	for k, v := range fields {
		if field == "" || field == k {
			out[k] = v
		}
	}
	if (field == "" || field == "displayname") && name != "" {
		out["displayname"] = name
	}
	if (field == "" || field == "avatar_url") && avatar != "" {
		out["avatar_url"] = avatar
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
}
