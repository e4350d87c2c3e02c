package server

import (
	"context"
	"time"

	"github.com/myelin-chat/myelin/internal/config"
	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/ratelimit"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
)

// rateLimits maps the rc_* settings onto the limiter's actions.
func rateLimits(cfg *config.Config) map[ratelimit.Action]ratelimit.Limit {
	rl := func(r config.RateLimit) ratelimit.Limit {
		return ratelimit.Limit{PerSecond: r.PerSecond, BurstCount: r.BurstCount}
	}
	limits := map[ratelimit.Action]ratelimit.Limit{
		ratelimit.Message:            rl(cfg.RCMessage),
		ratelimit.RoomCreation:       rl(cfg.RCRoomCreation),
		ratelimit.JoinsLocal:         rl(cfg.RCJoins.Local),
		ratelimit.JoinsRemote:        rl(cfg.RCJoins.Remote),
		ratelimit.JoinsPerRoom:       rl(cfg.RCJoinsPerRoom),
		ratelimit.InvitesPerRoom:     rl(cfg.RCInvites.PerRoom),
		ratelimit.InvitesPerUser:     rl(cfg.RCInvites.PerUser),
		ratelimit.InvitesPerIssuer:   rl(cfg.RCInvites.PerIssuer),
		ratelimit.LoginAddress:       rl(cfg.RCLogin.Address),
		ratelimit.LoginAccount:       rl(cfg.RCLogin.Account),
		ratelimit.LoginFailed:        rl(cfg.RCLogin.FailedAttempts),
		ratelimit.Registration:       rl(cfg.RCRegistration),
		ratelimit.MediaCreate:        rl(cfg.RCMediaCreate),
		ratelimit.Reports:            rl(cfg.RCReports),
		ratelimit.ThreepidValidation: rl(cfg.RC3PIDValidation),
		ratelimit.ThirdPartyInvite:   rl(cfg.RCThirdPartyInvite),
		// Generous enough for a client checking a name as the user types.
		ratelimit.RegisterAvailable: {PerSecond: 1, BurstCount: 10},
		// Synapse's default for rc_registration_token_validity.
		ratelimit.RegistrationTokenValidity: {PerSecond: 0.1, BurstCount: 5},
	}
	if cfg.RCAdminRedaction != nil {
		limits[ratelimit.AdminRedaction] = rl(*cfg.RCAdminRedaction)
	}
	return limits
}

// countJoins returns the commit hook that feeds rc_joins_per_room: every
// join stored in a room, local or received over federation, counts against
// the room, as in Synapse (which counts on its notifier). Local joins and
// make_join from other servers are refused while the room's count is over.
func countJoins(l *ratelimit.Limiter) func([]rooms.Committed) {
	return func(batch []rooms.Committed) {
		if !l.Enabled(ratelimit.JoinsPerRoom) {
			return
		}
		for _, c := range batch {
			if c.Event.Type() == event.TypeMember && c.Event.Membership() == event.Join {
				l.Charge(ratelimit.JoinsPerRoom, c.Event.RoomID())
			}
		}
	}
}

// newFederationThrottle applies rc_federation to inbound federation.
func newFederationThrottle(rc config.FederationRateLimits, now func() time.Time) *ratelimit.Federation {
	return ratelimit.NewFederation(ratelimit.FederationLimits{WindowSize: rc.WindowSize, SleepLimit: rc.SleepLimit,
		SleepDelay: rc.SleepDelay, RejectLimit: rc.RejectLimit, Concurrent: rc.Concurrent}, now, nil)
}

// overrideLoader reads users' rate-limit overrides (Synapse's
// override_ratelimit) from the accounts store for the limiter's cache.
func overrideLoader(acct accounts.Store) ratelimit.OverrideLoader {
	return func(ctx context.Context, userID string) (ratelimit.Limit, bool, error) {
		o, ok, err := acct.RatelimitOverride(ctx, userID)
		return ratelimit.Limit{PerSecond: float64(o.MessagesPerSecond), BurstCount: float64(o.BurstCount)}, ok, err
	}
}
