package clientapi

import (
	"context"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/ratelimit"
	"github.com/myelin-chat/myelin/internal/rooms"
)

// Rate limits on the client API: which rc_* limit each request draws on,
// and who is exempt. The handlers call these just before acting, after
// validating the request, so a malformed request costs nothing.

// rateLimitExempt reports whether s is never rate limited. Server admins
// are exempt: they moderate, and Synapse lets operators lift every limit
// for such accounts. An appservice's sender, and the users an appservice
// whose registration says rate_limited: false acts as, are exempt too
// (the registration's rate_limited: "whether requests from masqueraded
// users are rate-limited. The sender is excluded.").
func rateLimitExempt(s *httpapi.Session) bool {
	return s.IsAdmin || s.RateLimitExempt
}

// takeLimits draws costs for the session's request unless it is exempt,
// applying the user's override if an admin set one.
func takeLimits(ctx context.Context, l *ratelimit.Limiter, s *httpapi.Session, costs ...ratelimit.Cost) error {
	if l == nil || rateLimitExempt(s) {
		return nil
	}
	return l.TakeFor(ctx, s.UserID, costs...)
}

// messageCost is rc_message for the session user.
func messageCost(s *httpapi.Session) ratelimit.Cost {
	return ratelimit.Cost{Action: ratelimit.Message, Key: s.UserID}
}

// limitTxn applies rc_message to an event sent under a transaction ID.
// A retry of a transaction that is already stored is answered with its
// event and costs nothing (spec: client-server-api "Transaction
// identifiers": the retry is the same request, not a new one); sent is
// its event ID.
func (a *RoomAPI) limitTxn(ctx context.Context, s *httpapi.Session, roomID string, b *event.Builder, txn *rooms.Txn, cost ratelimit.Cost) (sent string, err error) {
	if !a.Limits.Enabled(cost.Action) || rateLimitExempt(s) {
		return "", nil
	}
	if id, err := a.Engine.TxnEventID(ctx, roomID, b, txn); err != nil || id != "" {
		return id, err
	}
	return "", a.Limits.TakeFor(ctx, s.UserID, cost)
}

// redactionCost is rc_admin_redaction for a redaction of someone else's
// event when that limit is set, and rc_message otherwise. Like Synapse,
// "admin" means only "not the sender's own event": the power to redact
// it is checked when the redaction is sent.
func (a *RoomAPI) redactionCost(ctx context.Context, s *httpapi.Session, eventID string) ratelimit.Cost {
	if a.Limits.Enabled(ratelimit.AdminRedaction) {
		if se, err := a.Engine.Store().Event(ctx, eventID); err == nil && se.Event.Sender() != s.UserID {
			return ratelimit.Cost{Action: ratelimit.AdminRedaction, Key: s.UserID}
		}
	}
	return messageCost(s)
}

// joinCosts are the limits on a join by the session user: rc_joins.local
// or .remote for the user, and the room's rc_joins_per_room, which is
// tested here and counted when the join event is stored (whoever sent it).
func joinCosts(s *httpapi.Session, roomID string, remote bool) []ratelimit.Cost {
	action := ratelimit.JoinsLocal
	if remote {
		action = ratelimit.JoinsRemote
	}
	return []ratelimit.Cost{{Action: action, Key: s.UserID},
		{Action: ratelimit.JoinsPerRoom, Key: roomID, CheckOnly: true}}
}

// inviteCosts are rc_invites for one invite: per room, per invitee and per
// inviter.
func inviteCosts(s *httpapi.Session, roomID, invitee string) []ratelimit.Cost {
	return []ratelimit.Cost{{Action: ratelimit.InvitesPerRoom, Key: roomID},
		{Action: ratelimit.InvitesPerUser, Key: invitee},
		{Action: ratelimit.InvitesPerIssuer, Key: s.UserID}}
}

// checkCreateInvites refuses a createRoom inviting more users at once than
// rc_invites.per_room allows in a burst, with Synapse's 400. The invites a
// new room sends are not otherwise counted, as in Synapse.
func checkCreateInvites(l *ratelimit.Limiter, s *httpapi.Session, n int) error {
	if n == 0 || rateLimitExempt(s) || l.Fits(ratelimit.InvitesPerRoom, n) {
		return nil
	}
	return merr.BadRequest(merr.CodeUnknown, "Cannot invite so many users at once")
}
