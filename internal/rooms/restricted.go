package rooms

import (
	"context"
	"encoding/json"
	"sort"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/eventauth"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

// AllowedRooms returns the room IDs of the m.room_membership conditions of
// an m.room.join_rules content (client-server-api "Restricted rooms",
// "Conditions"). Conditions of other types, or not matching the schema,
// are skipped: they can never be met.
func AllowedRooms(joinRulesContent json.RawMessage) []string {
	var c struct {
		Allow []json.RawMessage `json:"allow"`
	}
	if json.Unmarshal(joinRulesContent, &c) != nil {
		return nil
	}
	var out []string
	for _, raw := range c.Allow {
		var cond struct {
			Type   any `json:"type"`
			RoomID any `json:"room_id"`
		}
		if json.Unmarshal(raw, &cond) != nil {
			continue
		}
		typ, _ := cond.Type.(string)
		roomID, _ := cond.RoomID.(string)
		if typ == "m.room_membership" && roomID != "" {
			out = append(out, roomID)
		}
	}
	return out
}

// RoomMembership is what this server knows of a user in an allowed room:
// Known is false when the server cannot tell (it is not in the room).
type RoomMembership struct {
	Known, Joined bool
}

// CheckAllowConditions decides whether a user meets a restricted room's
// conditions, given their membership in each allowed room as this server
// knows it (client-server-api "Restricted rooms"; server-server-api
// "Restricted rooms"):
//   - joined to any allowed room: met (nil);
//   - otherwise, if some allowed room is one this server cannot see into,
//     the user may be joined there: 400 M_UNABLE_TO_AUTHORISE_JOIN, so the
//     joining server tries another resident (as Synapse does);
//   - otherwise (no conditions, or all known and unmet): 403 M_FORBIDDEN.
func CheckAllowConditions(allowed []string, member func(roomID string) RoomMembership) error {
	unknown := false
	for _, roomID := range allowed {
		m := member(roomID)
		if m.Joined {
			return nil
		}
		unknown = unknown || !m.Known
	}
	if unknown {
		return merr.BadRequest(merr.CodeUnableToAuthoriseJoin, "this server is not in the rooms that would allow the join; try another server")
	}
	return merr.Forbidden("you are not a member of any room that allows joining this one")
}

// ChooseAuthoriser picks the user to name in join_authorised_via_users_server
// among joined, the room's joined members of this server: one whose power
// level reaches the invite level, as the v8+ auth rules require. The spec
// allows any; we take the most powerful, then the smallest user ID, so the
// choice is deterministic. "" when none qualifies.
func ChooseAuthoriser(joined []string, pl *eventauth.PowerLevels) string {
	best, bestLevel := "", int64(0)
	cands := append([]string(nil), joined...)
	sort.Strings(cands)
	for _, u := range cands {
		l := pl.UserLevel(u)
		if l < pl.Invite {
			continue
		}
		if best == "" || l > bestLevel {
			best, bestLevel = u, l
		}
	}
	return best
}

// restrictedRule reports whether joins to a room in this state are
// restricted: join rule restricted (v8+) or knock_restricted (v10+). The
// knock half of knock_restricted is the knock endpoint's business; a join
// only ever goes through the restricted half.
func restrictedRule(v *roomversion.Version, state eventauth.StateLookup) bool {
	jr := state.Get(event.TypeJoinRules, "")
	if jr == nil || !v.RestrictedJoins {
		return false
	}
	var c struct {
		JoinRule any `json:"join_rule"`
	}
	_ = json.Unmarshal(jr.Content(), &c)
	rule, _ := c.JoinRule.(string)
	return (rule == "restricted" || rule == "knock_restricted") && v.AllowsJoinRule(rule)
}

// restrictedJoin is a join that needs an authorising user: the room's
// current state, its power levels and the users of this server joined.
type restrictedJoin struct {
	pl          *eventauth.PowerLevels
	localJoined []string
}

// checkRestricted checks userID's join to roomID against the room's allow
// conditions. It returns nil, nil when no authorisation is needed (the room
// is not restricted, or the user is already invited or joined, which the
// auth rules accept without conditions, or banned, which they refuse).
func (e *Engine) checkRestricted(ctx context.Context, roomID, userID string) (*restrictedJoin, error) {
	room, err := e.store.Room(ctx, roomID)
	if err != nil {
		return nil, err
	}
	view, err := e.CurrentView(ctx, roomID)
	if err != nil {
		return nil, err
	}
	if !restrictedRule(room.Version, view) {
		return nil, view.Err()
	}
	if m := view.Get(event.TypeMember, userID); m != nil {
		switch m.Membership() {
		case event.Invite, event.Join, event.Ban:
			return nil, nil
		}
	}
	jr := view.Get(event.TypeJoinRules, "")
	local := domainOf(userID) == e.serverName
	err = CheckAllowConditions(AllowedRooms(jr.Content()), func(allowed string) RoomMembership {
		return e.membershipIn(ctx, allowed, userID, local)
	})
	if err != nil {
		return nil, err
	}
	pl, err := eventauth.PowerLevelsFrom(view, room.Version)
	if err != nil {
		return nil, err
	}
	members, err := e.store.Members(ctx, roomID, event.Join)
	if err != nil {
		return nil, err
	}
	var localJoined []string
	for u := range members {
		if domainOf(u) == e.serverName {
			localJoined = append(localJoined, u)
		}
	}
	return &restrictedJoin{pl: pl, localJoined: localJoined}, view.Err()
}

// membershipIn tells whether userID is joined to roomID as this server
// knows it. Our own users' memberships are ours to know (a local user
// joined to a room makes us a member of it); another server's user we can
// only vouch for in a room we are in.
func (e *Engine) membershipIn(ctx context.Context, roomID, userID string, local bool) RoomMembership {
	if _, err := e.store.Room(ctx, roomID); err != nil {
		return RoomMembership{Known: local}
	}
	known := local
	if !local {
		in, err := e.ServerInRoom(ctx, roomID, e.serverName)
		if err != nil || !in {
			return RoomMembership{}
		}
		known = true
	}
	se, err := e.store.CurrentStateEvent(ctx, roomID, event.TypeMember, userID)
	if err != nil || se == nil {
		return RoomMembership{Known: known}
	}
	return RoomMembership{Known: known, Joined: se.Membership() == event.Join}
}

// RestrictedJoinAuthoriser returns the local user to name in a join's
// join_authorised_via_users_server for userID joining roomID, or "" when
// the join needs none. It fails with 403 M_FORBIDDEN when the user meets no
// allow condition, 400 M_UNABLE_TO_AUTHORISE_JOIN when we cannot tell, and
// 400 M_UNABLE_TO_GRANT_JOIN when the user qualifies but no user of ours
// may invite (server-server-api "Restricted rooms").
func (e *Engine) RestrictedJoinAuthoriser(ctx context.Context, roomID, userID string) (string, error) {
	rj, err := e.checkRestricted(ctx, roomID, userID)
	if err != nil || rj == nil {
		return "", err
	}
	via := ChooseAuthoriser(rj.localJoined, rj.pl)
	if via == "" {
		return "", merr.BadRequest(merr.CodeUnableToGrantJoin, "no user on "+e.serverName+" may invite to this room; try another server")
	}
	return via, nil
}

// CountersignJoin adds our signature to a remote server's join (send_join)
// that names one of our users in join_authorised_via_users_server, after
// checking again that the join qualifies and that the named user may
// authorise it: the auth rules want the authorising server's signature
// (rooms/v8 "Authorization rules", 4.2.1; server-server-api "Restricted
// rooms"). Other events come back unchanged. The result still needs the
// joining server's signature verified.
func (e *Engine) CountersignJoin(ctx context.Context, roomID string, ev *event.Event) (*event.Event, error) {
	via := ev.JoinAuthorisedVia()
	if via == "" || domainOf(via) != e.serverName || ev.Membership() != event.Join {
		return ev, nil
	}
	rj, err := e.checkRestricted(ctx, roomID, ev.Sender())
	if err != nil {
		return nil, err
	}
	if rj != nil {
		ok := false
		for _, u := range rj.localJoined {
			ok = ok || (u == via && rj.pl.UserLevel(u) >= rj.pl.Invite)
		}
		if !ok {
			return nil, merr.BadRequest(merr.CodeUnableToGrantJoin, via+" cannot authorise joins to this room")
		}
	}
	signed, err := ev.AddSignature(e.serverName, e.key)
	if err != nil {
		return nil, merr.BadJSON("cannot sign the join: " + err.Error())
	}
	return signed, nil
}

// AuthorisingServers lists the other servers with a joined member who may
// invite to roomID: where a local user's restricted join can be made when
// none of our users may vouch for it. The spec leaves this case to the
// server; Synapse likewise joins through such a server.
func (e *Engine) AuthorisingServers(ctx context.Context, roomID string) ([]string, error) {
	room, err := e.store.Room(ctx, roomID)
	if err != nil {
		return nil, err
	}
	view, err := e.CurrentView(ctx, roomID)
	if err != nil {
		return nil, err
	}
	pl, err := eventauth.PowerLevelsFrom(view, room.Version)
	if err != nil {
		return nil, err
	}
	if err := view.Err(); err != nil {
		return nil, err
	}
	members, err := e.store.Members(ctx, roomID, event.Join)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{e.serverName: true}
	var out []string
	for u := range members {
		if d := domainOf(u); !seen[d] && pl.UserLevel(u) >= pl.Invite {
			seen[d] = true
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out, nil
}
