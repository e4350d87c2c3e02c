package tpinvite

import (
	"context"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/identity"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/rooms"
)

// Invite is the server's part of POST /rooms/{roomId}/invite with a
// third-party identifier (client-server-api "Third-party invites", "Server
// behaviour"): it asks the identity server who bound the identifier. When
// someone did, it returns their user ID, and the caller invites them as any
// user. When nobody did, it has the identity server store the invite and
// sends the m.room.third_party_invite event that records it in the room,
// and returns "".
func (s *Service) Invite(ctx context.Context, sender, roomID string, r identity.Request) (string, error) {
	if err := r.Validate(); err != nil {
		return "", err
	}
	if joined, err := s.Engine.IsJoined(ctx, roomID, sender); err != nil || !joined {
		return "", merr.Forbidden("you are not in this room")
	}
	mxid, err := s.Identity.Lookup(ctx, r)
	if err != nil || mxid != "" {
		return mxid, err
	}
	// Whether the sender may send the event is known before the identity
	// server is asked to store anything (the auth rules' invite level for
	// m.room.third_party_invite): build one, without keeping it.
	probe := thirdPartyInviteBuilder(sender, "probe", identity.StoredInvite{DisplayName: "-",
		PublicKeys: []identity.PublicKey{{PublicKey: "-", KeyValidityURL: "-"}}})
	if _, err := s.Engine.BuildEvent(ctx, roomID, probe); err != nil {
		return "", err
	}
	stored, err := s.Identity.StoreInvite(ctx, r, s.inviteDetails(ctx, roomID, sender))
	if err != nil {
		return "", err
	}
	if _, err := s.Engine.Send(ctx, roomID, thirdPartyInviteBuilder(sender, stored.Token, *stored), nil); err != nil {
		return "", err
	}
	return "", nil
}

// thirdPartyInviteBuilder makes the m.room.third_party_invite event for an
// invite the identity server stored: the token is its state key, and the
// first key also goes into public_key and key_validity_url, which the spec
// still requires for older servers (as Synapse does).
func thirdPartyInviteBuilder(sender, token string, stored identity.StoredInvite) *event.Builder {
	content := map[string]any{
		"display_name":     stored.DisplayName,
		"public_keys":      stored.PublicKeys,
		"public_key":       stored.PublicKeys[0].PublicKey,
		"key_validity_url": stored.PublicKeys[0].KeyValidityURL,
	}
	return &event.Builder{Type: event.TypeThirdPartyInvite, StateKey: &token, Sender: sender, Content: rooms.Content(content)}
}

// inviteDetails fills what /store-invite may tell the invitee about the
// room and the inviter, from the room's current state.
func (s *Service) inviteDetails(ctx context.Context, roomID, sender string) identity.InviteDetails {
	d := identity.InviteDetails{RoomID: roomID, Sender: sender}
	view, err := s.Engine.CurrentView(ctx, roomID)
	if err != nil {
		return d
	}
	str := func(typ, stateKey, field string) string {
		ev := view.Get(typ, stateKey)
		if ev == nil {
			return ""
		}
		v, _ := contentString(ev.Content(), field)
		return v
	}
	d.RoomAlias = str(event.TypeCanonicalAlias, "", "alias")
	d.RoomAvatarURL = str(event.TypeAvatar, "", "url")
	d.RoomJoinRules = str(event.TypeJoinRules, "", "join_rule")
	d.RoomName = str(event.TypeName, "", "name")
	d.RoomType = str(event.TypeCreate, "", "type")
	d.SenderDisplayName = str(event.TypeMember, sender, "displayname")
	d.SenderAvatarURL = str(event.TypeMember, sender, "avatar_url")
	return d
}
