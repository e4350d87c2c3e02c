package clientapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/rooms"
)

// Shadow-banning is Synapse's (admin API "Controlling whether a user is
// shadow-banned"; the spec has no such notion): a shadow-banned user's
// requests appear to succeed, but what they send is not seen by others, so
// that an abuser takes longer to notice moderation. As in Synapse:
//   - events other than memberships (messages, state, redactions) answer
//     200 with an event ID that names no event, and nothing is stored;
//   - invites answer 200 and invite no one; createRoom creates the room
//     but drops its invites; an upgrade answers with a room ID that names
//     no room;
//   - typing notices are accepted and shown to no one;
//   - joins, leaves, aliases and room directory publication work as for
//     anyone (Synapse does not shadow them), but an alias change's
//     m.room.canonical_alias event is swallowed like any other state.
// The flag travels with the session (read with the access token), so
// lifting the ban applies from the user's next request.

// shadowEventID returns a well-formed event ID (the room versions 4+ form:
// an unpadded URL-safe base64 of 32 bytes) that names no event.
func shadowEventID() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "$" + base64.RawURLEncoding.EncodeToString(b[:])
}

// shadowRoomID returns a well-formed room ID of this server that names no
// room.
func (a *RoomAPI) shadowRoomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "!" + base64.RawURLEncoding.EncodeToString(b[:]) + ":" + a.Engine.ServerName()
}

// shadowed reports whether the event b of s is to be swallowed: any event
// of a shadow-banned user but memberships. Of memberships Synapse swallows
// only invites, which targeted handles before any invite is built (a
// remote one never reaches sendEvent).
func shadowed(s *httpapi.Session, b *event.Builder) bool {
	return s.ShadowBanned && b.Type != event.TypeMember
}

// sendEvent sends b for the session's user and returns the event's ID: the
// one path by which the client API sends room events, so that a
// shadow-banned user's events are swallowed here and nowhere else.
func (a *RoomAPI) sendEvent(ctx context.Context, s *httpapi.Session, roomID string, b *event.Builder, txn *rooms.Txn) (string, error) {
	if err := a.refuseSuspendedEvent(ctx, s, b); err != nil {
		return "", err // checked by the handlers already; kept here as the one path's guard
	}
	if shadowed(s, b) {
		return shadowEventID(), nil
	}
	ev, err := a.Engine.Send(ctx, roomID, b, txn)
	if err != nil {
		return "", err
	}
	return ev.EventID(), nil
}
