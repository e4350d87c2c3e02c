package rooms

import (
	"context"
	"strings"
	"time"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/policyserver"
)

// PolicySigner asks a room's Policy Server to sign an event
// (server-server-api "Asking for a Policy Server signature on an event")
// and returns the event with the signature added and verified against
// cfg's key, every other signature kept. Its errors are Matrix errors for
// the client: the Policy Server's own error verbatim when it refused, a
// gateway error when it could not be asked.
type PolicySigner interface {
	SignEvent(ctx context.Context, cfg policyserver.Config, ev *event.Event) (*event.Event, error)
}

// SetPolicySigner makes the engine ask rooms' Policy Servers for their
// signatures through s. Without one (no federation), no room can be
// using a Policy Server that has a joined user, so nothing is asked. Set
// while wiring, before the engine serves requests.
func (e *Engine) SetPolicySigner(s PolicySigner) { e.policy = s }

// policySignTimeout bounds one request to a Policy Server. The spec sets
// none; Synapse waits 30 s (it first used 3 s and saw Policy Servers that
// scan media time out), and so do we. A local event waits for it in its
// room's actor, since the signature covers the prev_events the actor
// chose.
const policySignTimeout = 30 * time.Second

// policyServer returns the room's Policy Server when its current state
// says the room is using one (server-server-api "Determining if a Policy
// Server is enabled in a room"). A room naming this server is treated as
// using none: Myelin is not a Policy Server, so it can neither sign its
// own events nor sign others' when asked, and would otherwise refuse its
// users' events and soft-fail everyone else's. Synapse, which is not a
// Policy Server either, does the same; other servers still ask the
// Policy Server under this name for its signature.
func (a *actor) policyServer() (policyserver.Config, bool) {
	pev := a.st.state[event.StateTuple{Type: policyserver.EventType}]
	if pev == nil {
		return policyserver.Config{}, false
	}
	cfg, ok := policyserver.Enabled(pev, a.hasJoinedUserOf)
	if !ok || cfg.Via == a.e.serverName {
		return policyserver.Config{}, false
	}
	return cfg, true
}

// hasJoinedUserOf reports whether a user of server is joined in the
// current state.
func (a *actor) hasJoinedUserOf(server string) bool {
	for u := range a.st.joined {
		if i := strings.IndexByte(u, ':'); i >= 0 && u[i+1:] == server {
			return true
		}
	}
	return false
}

// policySign asks the room's Policy Server, if it uses one, to sign a
// local event before it is stored; an error (the Policy Server refused,
// could not be reached, or signed wrongly) means the event is discarded
// and the client gets the error (server-server-api "Validating Policy
// Server signatures": "reject the Client-Server API request ... If the
// Policy Server returned an error, that error SHOULD be provided to the
// client verbatim"). Refusing when the Policy Server cannot be reached is
// what Synapse does too: any failure to get a valid signature rejects
// the event.
func (a *actor) policySign(ctx context.Context, ev *event.Event) (*event.Event, error) {
	if a.e.policy == nil || !policyserver.NeedsSignature(ev) {
		return ev, nil
	}
	cfg, ok := a.policyServer()
	if !ok {
		return ev, nil
	}
	if policyserver.Verify(ev, cfg) == nil {
		return ev, nil
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, policySignTimeout)
	defer cancel()
	signed, err := a.e.policy.SignEvent(ctx, cfg, ev)
	if err != nil {
		a.e.log.Info("the room's Policy Server did not sign a local event", "room_id", a.roomID,
			"policy_server", cfg.Via, "type", ev.Type(), "err", err)
		return nil, err
	}
	return signed, nil
}

// policyRecommends reports whether a received event passes the Policy
// Server check against the current state: true when the room uses no
// Policy Server, the event is exempt, or it carries the Policy Server's
// valid signature. Otherwise the event is soft-failed (server-server-api
// "Checks performed on receipt of a PDU", step 7).
func (a *actor) policyRecommends(ev *event.Event) bool {
	if !policyserver.NeedsSignature(ev) {
		return true
	}
	cfg, ok := a.policyServer()
	if !ok {
		return true
	}
	return policyserver.Verify(ev, cfg) == nil
}

// askPolicyForReceived asks the room's Policy Server for a signature on
// the received events that lack a valid one, before they are checked: the
// spec says a server SHOULD ask for a new signature when one is missing or
// invalid (the Policy Server's key may have rotated), and only then soft
// fail. Events the Policy Server refuses, or that it does not answer for
// within policySignTimeout for the whole batch, are left as they are and
// soft-failed in the actor if the room still uses that Policy Server.
func (e *Engine) askPolicyForReceived(ctx context.Context, roomID string, evs []*event.Event) {
	if e.policy == nil {
		return
	}
	// Most rooms have no m.room.policy: one indexed read says so without
	// queueing on the room's actor.
	if se, err := e.store.CurrentStateEvent(ctx, roomID, policyserver.EventType, ""); err != nil || se == nil {
		return
	}
	var cfg policyserver.Config
	var on bool
	if _, err := e.submit(ctx, roomID, &request{template: func(a *actor) error {
		cfg, on = a.policyServer()
		return nil
	}}); err != nil || !on {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, policySignTimeout)
	defer cancel()
	for i, ev := range evs {
		if !policyserver.NeedsSignature(ev) || policyserver.Verify(ev, cfg) == nil {
			continue
		}
		if ctx.Err() != nil {
			return
		}
		signed, err := e.policy.SignEvent(ctx, cfg, ev)
		if err != nil {
			e.log.Info("the room's Policy Server did not sign a received event", "room_id", roomID,
				"event_id", ev.EventID(), "policy_server", cfg.Via, "err", err)
			continue
		}
		evs[i] = signed
	}
}
