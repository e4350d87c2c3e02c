package remote

import (
	"context"
	"encoding/json"
	"net/url"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

// maxKnockState bounds the stripped state events kept from a knock answer.
const maxKnockState = 50

// Knock knocks on a room this server is not in, through the first of
// servers that lets it (server-server-api "Knocking upon a room":
// make_knock, then send_knock), and records the knock with the stripped
// state the resident sent, which the user's /sync shows in its knock
// section. Failures are reported as Join reports them.
func (r *Remote) Knock(ctx context.Context, userID, roomID string, servers []string, content map[string]any) error {
	return r.throughServers(servers, func(server string) error {
		knock, v, err := r.makeMembership(ctx, server, event.Knock, userID, roomID, content)
		if err != nil {
			return err
		}
		var resp struct {
			KnockRoomState []json.RawMessage `json:"knock_room_state"`
		}
		path := "/_matrix/federation/v1/send_knock/" + url.PathEscape(roomID) + "/" + url.PathEscape(knock.EventID())
		if err := r.Client.Put(ctx, server, path, json.RawMessage(knock.FederationJSON()), &resp); err != nil {
			return err
		}
		if len(resp.KnockRoomState) > maxKnockState {
			resp.KnockRoomState = resp.KnockRoomState[:maxKnockState]
		}
		return r.Engine.StoreKnock(ctx, v, knock, r.checkKnockRoomState(ctx, v, roomID, server, resp.KnockRoomState))
	})
}

// checkKnockRoomState checks send_knock's knock_room_state (spec v1.16,
// MSC4311: whole events of the room in its version's format, m.room.create
// among them; "Entries which are improperly signed or formatted SHOULD be
// removed by the server prior to supplying them over the Client-Server
// API"). For room versions after 11 (room ID from the create event) the
// failing entries are dropped; for versions 1 to 11, whose servers may
// still send stripped events, they are kept with a warning, as the spec
// has invites treated while servers migrate. The knock itself stands: the
// room accepted it.
func (r *Remote) checkKnockRoomState(ctx context.Context, v *roomversion.Version, roomID, server string, roomState []json.RawMessage) []json.RawMessage {
	kept, err := rooms.CheckRoomStatePDUs(ctx, v, roomID, roomState, r.VerifyEvent)
	if err == nil {
		return roomState
	}
	r.log().Warn("a knock's knock_room_state fails the checks of spec v1.16", "room", roomID, "server", server,
		"room_version", v.ID, "problem", err.Error(), "dropped", v.RoomIDFromCreateEvent())
	if v.RoomIDFromCreateEvent() {
		return kept
	}
	return roomState
}

// RescindKnock withdraws a local user's pending knock on a room this
// server is not in: make_leave and send_leave through a server of the
// room (the room ID's, or the senders' of the state the knock was
// answered with), then the leave is recorded here. If none answers, the
// knock is withdrawn locally only, as RejectInvite does with invites.
func (r *Remote) RescindKnock(ctx context.Context, userID string, knock *event.Event) error {
	var servers []string
	add := func(s string) {
		if s == "" || s == r.ServerName {
			return
		}
		for _, x := range servers {
			if x == s {
				return
			}
		}
		servers = append(servers, s)
	}
	if srv, ok := ids.RoomIDServer(knock.RoomID()); ok {
		add(string(srv))
	}
	var unsigned struct {
		State []struct {
			Sender string `json:"sender"`
		} `json:"knock_room_state"`
	}
	_ = json.Unmarshal(knock.Unsigned(), &unsigned)
	for _, st := range unsigned.State {
		add(domainOf(st.Sender))
	}
	return r.leaveOutsider(ctx, userID, knock, servers)
}
