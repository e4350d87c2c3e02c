package clientapi

import (
	"net/http"
	"strings"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/merr"
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
		roomID, _, err := a.Engine.Store().Alias(r.Context(), idOrAlias)
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
	return a.Engine.Send(r.Context(), roomID, b, nil)
}

// join is POST /join/{roomIdOrAlias} and POST /rooms/{roomId}/join.
func (a *RoomAPI) join(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	var body reasonBody
	if err := httpapi.ReadJSON(r, maxSmallBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	target := r.PathValue("roomIdOrAlias")
	if target == "" {
		target = r.PathValue("roomId")
	}
	roomID, err := a.resolveRoom(r, target)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	// Joining again while joined changes nothing unless the profile did.
	profile := a.memberProfile(r, s.UserID)
	if cur, err := a.Engine.State(r.Context(), roomID, event.TypeMember, s.UserID); err == nil && cur.Membership() == event.Join {
		profile["membership"] = event.Join
		if sameJSON(cur.Content(), rooms.Content(profile)) {
			writeOK(w, map[string]string{"room_id": roomID})
			return
		}
		delete(profile, "membership")
	}
	if _, err := a.sendMembership(r, s, roomID, s.UserID, event.Join, body.Reason, profile); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, map[string]string{"room_id": roomID})
}

// knock is POST /knock/{roomIdOrAlias}.
func (a *RoomAPI) knock(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	var body reasonBody
	if err := httpapi.ReadJSON(r, maxSmallBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	roomID, err := a.resolveRoom(r, r.PathValue("roomIdOrAlias"))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if _, err := a.sendMembership(r, s, roomID, s.UserID, event.Knock, body.Reason, a.memberProfile(r, s.UserID)); err != nil {
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
	var body targetBody
	if err := httpapi.ReadJSON(r, maxSmallBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if _, err := ids.ParseUserID(body.UserID); err != nil {
		httpapi.WriteError(w, httpapi.InvalidParam("user_id must be a valid user ID"))
		return
	}
	roomID := r.PathValue("roomId")
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
		extra = a.memberProfile(r, body.UserID)
	}
	if _, err := a.sendMembership(r, s, roomID, body.UserID, membership, body.Reason, extra); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, emptyObject)
}

func (a *RoomAPI) invite(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	a.targeted(w, r, s, event.Invite, func(cur string) error {
		if cur == event.Join || cur == event.Ban {
			return merr.Forbidden("user is " + cur + "ed in this room")
		}
		return nil
	})
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
	if err := httpapi.ReadJSON(r, maxSmallBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	roomID := r.PathValue("roomId")
	if _, err := a.Engine.Store().Room(r.Context(), roomID); err != nil {
		httpapi.WriteError(w, merr.Forbidden("you are not in this room"))
		return
	}
	if cur, err := a.Engine.State(r.Context(), roomID, event.TypeMember, s.UserID); err == nil && cur.Membership() == event.Leave {
		writeOK(w, emptyObject) // already left: nothing to do
		return
	}
	if _, err := a.sendMembership(r, s, roomID, s.UserID, event.Leave, body.Reason, nil); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, emptyObject)
}

// forget is POST /rooms/{roomId}/forget: allowed once the user has left.
func (a *RoomAPI) forget(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	roomID := r.PathValue("roomId")
	if cur, err := a.Engine.State(r.Context(), roomID, event.TypeMember, s.UserID); err == nil {
		if m := cur.Membership(); m == event.Join || m == event.Invite || m == event.Knock {
			httpapi.WriteError(w, httpapi.Unknown(http.StatusBadRequest, "you must leave the room before forgetting it"))
			return
		}
	}
	if err := a.Engine.Store().Forget(r.Context(), s.UserID, roomID); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, emptyObject)
}
