package clientapi

import (
	"context"
	"encoding/json"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/httpapi"
)

// Account suspension (client-server-api "Account suspension", MSC3823).
// The spec leaves what a suspended user may do to the server, asks that
// they keep logging in, reading and syncing, verifying devices, writing
// cross-signing data and key backups, leaving rooms and rejecting
// invites, redacting their own events, logging out, deleting devices,
// deactivating, and changing or adding (not removing) admin contacts; and
// recommends forbidding joins and knocks, sending and accepting invites,
// sending messages, profile changes and redacting other users' events.
// Myelin forbids exactly that list, as Synapse documents its suspension
// ("prohibited from sending invites, joining or knocking on rooms,
// sending messages, changing profile data, and redacting messages other
// than their own"), and reads it as follows where the spec is silent:
//
//   - "sending messages" covers every room event but a redaction of one's
//     own event and one's own leave: state events too (they are what
//     others see of the room), and kicks, bans and unbans of others, which
//     act on others as invites and redactions of their events do;
//   - creating and upgrading rooms are refused: both join the user to a
//     new room and send its first events;
//   - uploading media is refused: an upload serves no allowed action and
//     publishes content under the user's name (Synapse's documentation
//     does not mention uploads);
//   - removing a third-party identifier is refused ("but not remove");
//   - everything else (receipts, typing, account data, tags, presence,
//     keys, devices, filters, directory lookups) is allowed.
//
// The flag is read with the access token on every request (users.Authenticate
// joins the account row), so a suspension applies to the next request on
// every process sharing the database.

// refuseSuspendedEvent refuses a room event a suspended user may not send:
// anything but their own leave and a redaction of their own event.
func (a *RoomAPI) refuseSuspendedEvent(ctx context.Context, s *httpapi.Session, b *event.Builder) error {
	if !s.Suspended {
		return nil
	}
	switch b.Type {
	case event.TypeRedaction:
		// An event not found cannot be shown to be the user's own.
		if target, err := a.Engine.Store().EventOnly(ctx, b.Redacts); err != nil || target.Sender() != s.UserID {
			return httpapi.Suspended("Redacting other users' events")
		}
		return nil
	case event.TypeMember:
		var c struct {
			Membership string `json:"membership"`
		}
		if b.StateKey != nil && *b.StateKey == s.UserID && json.Unmarshal(b.Content, &c) == nil && c.Membership == event.Leave {
			return nil
		}
		return httpapi.Suspended("Changing room memberships other than leaving")
	}
	if b.StateKey != nil {
		return httpapi.Suspended("Sending state events")
	}
	return httpapi.Suspended("Sending messages")
}
