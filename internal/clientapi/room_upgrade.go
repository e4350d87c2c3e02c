package clientapi

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/ratelimit"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

// maxAdditionalCreators bounds additional_creators in an upgrade request.
const maxAdditionalCreators = 100

// upgradeRoom is POST /rooms/{roomId}/upgrade (client-server-api "Room
// Upgrades").
func (a *RoomAPI) upgradeRoom(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	if err := httpapi.RefuseSuspended(s, "Upgrading rooms"); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	var body struct {
		NewVersion         string   `json:"new_version"`
		AdditionalCreators []string `json:"additional_creators"`
	}
	if err := httpapi.ReadJSON(r, maxSmallBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if body.NewVersion == "" {
		httpapi.WriteError(w, httpapi.MissingParam("new_version is required"))
		return
	}
	v, ok := roomversion.Get(roomversion.ID(body.NewVersion))
	if !ok {
		httpapi.WriteError(w, httpapi.UnsupportedRoomVersion("room version "+body.NewVersion+" is not supported"))
		return
	}
	if len(body.AdditionalCreators) > maxAdditionalCreators {
		httpapi.WriteError(w, httpapi.InvalidParam("too many additional_creators"))
		return
	}
	for _, u := range body.AdditionalCreators {
		if err := a.checkTarget(u); err != nil {
			httpapi.WriteError(w, httpapi.InvalidParam("additional_creators must hold valid user IDs"))
			return
		}
	}
	roomID := r.PathValue("roomId")
	if s.ShadowBanned {
		// Synapse answers with a room ID that names no room (shadowban.go).
		writeOK(w, map[string]string{"replacement_room": a.shadowRoomID()})
		return
	}
	// An upgrade creates a room: Synapse counts it as one.
	if err := takeLimits(r.Context(), a.Limits, s, messageCost(s), ratelimit.Cost{Action: ratelimit.RoomCreation, Key: s.UserID}); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	res, err := a.Engine.UpgradeRoom(r.Context(), rooms.UpgradeRequest{
		RoomID: roomID, User: s.UserID, Member: a.memberProfile(r, s.UserID), Version: v,
		AdditionalCreators: body.AdditionalCreators,
	})
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	a.carryUserState(r.Context(), roomID, res.RoomID)
	for _, u := range res.RemoteInvitees {
		if _, err := a.remoteInvite(r, s, res.RoomID, u, "", nil); err != nil {
			// The room is upgraded; the member can still follow the
			// tombstone if the new room lets them in.
			a.log().Info("upgrade: inviting a remote member failed", "room_id", res.RoomID, "invitee", u, "err", err)
		}
	}
	writeOK(w, map[string]string{"replacement_room": res.RoomID})
}

// UpgradeCopier carries a user's own state about a room (tags, m.direct,
// push rules) to the room that replaces it.
type UpgradeCopier interface {
	CopyOnUpgrade(ctx context.Context, userID, oldRoom, newRoom string) error
}

// carryUserState copies the own state of the old room's local members to
// the new room, as Synapse does when this server learns of an upgraded
// room: when it upgrades the room itself, and when its first user joins an
// upgraded room held by other servers (the spec leaves this to servers).
// Failures are logged: the upgrade or join has happened either way.
func (a *RoomAPI) carryUserState(ctx context.Context, oldRoom, newRoom string) {
	if a.UpgradeCopier == nil {
		return
	}
	// The copies are finished even if the client goes away.
	ctx = context.WithoutCancel(ctx)
	users, err := a.Engine.LocalMembers(ctx, oldRoom)
	if err != nil {
		a.log().Warn("upgrade: listing the old room's members", "room_id", oldRoom, "err", err)
		return
	}
	for _, u := range users {
		if err := a.UpgradeCopier.CopyOnUpgrade(ctx, u, oldRoom, newRoom); err != nil {
			a.log().Warn("upgrade: copying a member's tags and push rules", "room_id", newRoom, "user_id", u, "err", err)
		}
	}
}

// predecessor returns the room a room replaces (its create event's
// predecessor), when this server knows it.
func (a *RoomAPI) predecessor(ctx context.Context, roomID string) string {
	create, err := a.Engine.State(ctx, roomID, event.TypeCreate, "")
	if err != nil {
		return ""
	}
	var c struct {
		Predecessor struct {
			RoomID string `json:"room_id"`
		} `json:"predecessor"`
	}
	if json.Unmarshal(create.Content(), &c) != nil || c.Predecessor.RoomID == "" {
		return ""
	}
	if _, err := a.Engine.Store().Room(ctx, c.Predecessor.RoomID); err != nil {
		return ""
	}
	return c.Predecessor.RoomID
}
