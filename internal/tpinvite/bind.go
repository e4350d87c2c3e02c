package tpinvite

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/eventauth"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/rooms"
)

// MaxBindInvites bounds the pending invites one /3pid/onbind may carry.
const MaxBindInvites = 100

// Binding is the body of PUT /_matrix/federation/v1/3pid/onbind: an
// identity server telling us that one of our users bound a third-party
// identifier, with the invites it kept for that identifier.
type Binding struct {
	Medium  string          `json:"medium"`
	Address string          `json:"address"`
	MXID    string          `json:"mxid"`
	Invites []PendingInvite `json:"invites"`
}

// PendingInvite is one invite of a Binding.
type PendingInvite struct {
	Medium  string          `json:"medium"`
	Address string          `json:"address"`
	MXID    string          `json:"mxid"`
	RoomID  string          `json:"room_id"`
	Sender  string          `json:"sender"`
	Signed  json.RawMessage `json:"signed"`
}

// OnBind turns each pending invite of a binding into an m.room.member
// invite of the user who bound the identifier (server-server-api
// "Third-party invites"): built and sent here when the inviter is one of
// our users (so this server is the room's and can authorise it), else
// handed to the inviter's server, and failing that the room's, through
// /exchange_third_party_invite, since only a server in the room can build
// the event and must check the identity server's key. Every invite is
// tried; the last failure is returned, as Synapse does.
func (s *Service) OnBind(ctx context.Context, b Binding) error {
	if b.MXID == "" || b.Invites == nil {
		return merr.MissingParam("onbind needs mxid and invites")
	}
	if _, err := ids.ParseUserID(b.MXID); err != nil || !s.local(b.MXID) {
		return merr.InvalidParam("mxid is not a user of this server")
	}
	if len(b.Invites) > MaxBindInvites {
		return merr.InvalidParam(fmt.Sprintf("at most %d invites at once", MaxBindInvites))
	}
	var last error
	for _, inv := range b.Invites {
		if err := s.bindOne(ctx, b.MXID, inv); err != nil {
			s.log().Info("third-party invite not completed", "room_id", inv.RoomID, "mxid", b.MXID, "sender", inv.Sender, "err", err)
			last = err
		}
	}
	return last
}

func (s *Service) bindOne(ctx context.Context, mxid string, inv PendingInvite) error {
	if inv.MXID != mxid {
		return merr.InvalidParam("an invite names another user than the binding")
	}
	if !ids.ValidRoomID(inv.RoomID) {
		return merr.InvalidParam("an invite's room_id is not a room ID")
	}
	if _, err := ids.ParseUserID(inv.Sender); err != nil {
		return merr.InvalidParam("an invite's sender is not a user ID")
	}
	if err := checkSigned(inv.Signed, mxid); err != nil {
		return err
	}
	if s.local(inv.Sender) {
		return s.complete(ctx, inv.RoomID, inv.Sender, mxid, inv.Signed)
	}
	if s.Fed == nil {
		return merr.Forbidden("the invite is from another server, and this server does not federate")
	}
	third := map[string]any{"signed": inv.Signed}
	// display_name is the room's to give (the receiving server takes it
	// from its m.room.third_party_invite, as Synapse does); when we share
	// the room we know it already.
	if ev, err := s.Engine.State(ctx, inv.RoomID, event.TypeThirdPartyInvite, tokenOf(inv.Signed)); err == nil {
		if name, ok := contentString(ev.Content(), "display_name"); ok {
			third["display_name"] = name
		}
	}
	partial, err := json.Marshal(map[string]any{"type": event.TypeMember, "room_id": inv.RoomID, "sender": inv.Sender,
		"state_key": mxid, "content": map[string]any{"membership": event.Invite, "third_party_invite": third}})
	if err != nil {
		return err
	}
	// Synapse asks the inviter's server and the room ID's server; the
	// inviter's comes first, since it is the one that must be in the room.
	servers := []string{domainOf(inv.Sender)}
	if srv, ok := ids.RoomIDServer(inv.RoomID); ok && string(srv) != servers[0] && string(srv) != s.Engine.ServerName() {
		servers = append(servers, string(srv))
	}
	var last error
	for _, srv := range servers {
		if last = s.Fed.ExchangeThirdPartyInvite(ctx, srv, inv.RoomID, partial); last == nil {
			return nil
		}
	}
	return last
}

// Exchange answers PUT /exchange_third_party_invite/{roomId} from origin,
// the invitee's server: it checks the partial m.room.member event, then
// builds, signs and sends it as the inviter's server.
func (s *Service) Exchange(ctx context.Context, origin, roomID string, partial json.RawMessage) error {
	var p struct {
		Type     string `json:"type"`
		RoomID   string `json:"room_id"`
		Sender   string `json:"sender"`
		StateKey string `json:"state_key"`
		Content  struct {
			Membership       string `json:"membership"`
			ThirdPartyInvite struct {
				Signed json.RawMessage `json:"signed"`
			} `json:"third_party_invite"`
		} `json:"content"`
	}
	if err := json.Unmarshal(partial, &p); err != nil {
		return merr.BadJSON("the body must be a partial m.room.member event")
	}
	switch {
	case p.Type != event.TypeMember || p.Content.Membership != event.Invite:
		return merr.InvalidParam("the event must be an m.room.member invite")
	case p.RoomID != roomID:
		return merr.InvalidParam("room_id does not match the path")
	case !s.local(p.Sender):
		return merr.Forbidden("the inviter is not a user of this server")
	}
	if _, err := ids.ParseUserID(p.StateKey); err != nil || domainOf(p.StateKey) != origin {
		// Only the invitee's server hears of the binding (/3pid/onbind).
		return merr.Forbidden("state_key must be a user of the requesting server")
	}
	if err := checkSigned(p.Content.ThirdPartyInvite.Signed, p.StateKey); err != nil {
		return err
	}
	return s.complete(ctx, roomID, p.Sender, p.StateKey, p.Content.ThirdPartyInvite.Signed)
}

// complete sends the m.room.member invite that completes a third-party
// invite, from this server, which is in the room: it finds the
// m.room.third_party_invite the token names, checks the identity server's
// signature with that event's keys and, being the server the invitee's
// joins through, that the key is still valid at its key_validity_url
// (client-server-api "Third-party invites": the participating server "MUST
// validate that the public key used for signing is still valid").
func (s *Service) complete(ctx context.Context, roomID, sender, target string, signed json.RawMessage) error {
	token := tokenOf(signed)
	tpi, err := s.Engine.State(ctx, roomID, event.TypeThirdPartyInvite, token)
	if err != nil {
		return merr.Forbidden("no pending third-party invite in " + roomID + " has this token")
	}
	if tpi.Sender() != sender {
		return merr.Forbidden("the third-party invite was sent by " + tpi.Sender() + ", not " + sender)
	}
	key, ok := eventauth.ThirdPartySigner(signed, eventauth.ThirdPartyInviteKeys(tpi.Content()))
	if !ok {
		return merr.Forbidden("the identity server's signature on the invite does not verify with the third-party invite's keys")
	}
	if key.ValidityURL != "" {
		valid, err := s.Identity.KeyValid(ctx, key.ValidityURL, key.Encoded)
		if err != nil {
			return err
		}
		if !valid {
			return merr.Forbidden("the identity server says the key that signed the invite is no longer valid")
		}
	}
	if cur, err := s.Engine.State(ctx, roomID, event.TypeMember, target); err == nil && (cur.Membership() == event.Join || cur.Membership() == event.Invite) {
		// Already there: nothing to complete (an identity server may
		// notify twice).
		return nil
	}
	name, _ := contentString(tpi.Content(), "display_name")
	content := map[string]any{"membership": event.Invite,
		"third_party_invite": map[string]any{"display_name": name, "signed": signed}}
	b := &event.Builder{Type: event.TypeMember, StateKey: &target, Sender: sender, Content: rooms.Content(content)}
	if s.local(target) {
		// A user who blocks invites is not invited by address either;
		// another server's user is protected by their server's /invite.
		if err := s.InvitePermission.Check(ctx, target); err != nil {
			return err
		}
		_, err := s.Engine.Send(ctx, roomID, b, nil)
		return err
	}
	if s.Fed == nil {
		return errNoFederation
	}
	// An invite of another server's user is countersigned by that server
	// first (server-server-api "Inviting to a room"), as Synapse does for
	// third-party invites too.
	ev, err := s.Engine.BuildEvent(ctx, roomID, b)
	if err != nil {
		return err
	}
	countersigned, err := s.Fed.Invite(ctx, ev, s.Engine.InviteRoomState(ctx, roomID, sender))
	if err != nil {
		return merr.Newf(merr.ErrBadGateway, merr.CodeUnknown, "the invitee's server refused the invite: %v", err)
	}
	for _, res := range s.Engine.Ingest(ctx, roomID, []*event.Event{countersigned}, nil) {
		if res.Err != nil {
			return merr.Forbidden(res.Err.Error())
		}
	}
	return nil
}

// checkSigned checks the shape of a third-party invite's signed object:
// an object naming mxid, with a token and signatures.
func checkSigned(signed json.RawMessage, mxid string) error {
	if len(signed) == 0 || signed[0] != '{' {
		return merr.InvalidParam("signed must be an object")
	}
	if got, _ := contentString(signed, "mxid"); got != mxid {
		return merr.InvalidParam("signed.mxid is not the invited user")
	}
	if tokenOf(signed) == "" {
		return merr.InvalidParam("signed.token is missing")
	}
	if _, err := canonicaljson.Get(signed, "signatures"); err != nil {
		return merr.InvalidParam("signed.signatures is missing")
	}
	return nil
}

func tokenOf(signed json.RawMessage) string {
	t, _ := contentString(signed, "token")
	return t
}

// contentString reads a string member of a JSON object.
func contentString(obj json.RawMessage, key string) (string, bool) {
	raw, err := canonicaljson.Get(obj, key)
	if err != nil {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}
