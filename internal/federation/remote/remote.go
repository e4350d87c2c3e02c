// Package remote is the room engine's reach into other servers: verifying
// received events with the key ring, fetching missing events, joining rooms
// through a resident server, sending invites, and carrying the sender's
// transactions over the federation client.
package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/federation/fedclient"
	"github.com/myelin-chat/myelin/internal/federation/keys"
	"github.com/myelin-chat/myelin/internal/federation/sender"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/signing"
)

// Remote holds what talking to other servers needs.
type Remote struct {
	ServerName string
	Key        signing.SigningKey
	Client     *fedclient.Client
	KeyRing    *keys.KeyRing
	Engine     *rooms.Engine
	// Log reports what other servers answered wrongly; nil: slog's
	// default.
	Log *slog.Logger
}

func (r *Remote) log() *slog.Logger {
	if r.Log == nil {
		return slog.Default()
	}
	return r.Log
}

// VerifyEvent checks a received event's signatures, fetching the keys of
// its required signers first, and its content hash; on a hash mismatch it
// returns the redacted event (server-server-api "Validating hashes and
// signatures on received events").
func (r *Remote) VerifyEvent(ctx context.Context, ev *event.Event) (*event.Event, error) {
	v := ev.Version()
	var reqs []keys.KeyRequest
	sigs := ev.Signatures()
	for _, server := range ev.RequiredSigners() {
		for keyID := range sigs[server] {
			min := int64(0)
			if v.EnforceKeyValidity {
				min = ev.OriginServerTS()
			}
			reqs = append(reqs, keys.KeyRequest{Server: server, KeyID: keyID, MinValidTS: min})
		}
	}
	_ = r.KeyRing.Prefetch(ctx, reqs) // missing keys show up as failed verification
	if err := ev.VerifySignatures(r.KeyRing.Verifier(v.EnforceKeyValidity)); err != nil {
		return nil, merr.Forbidden(err.Error())
	}
	if !ev.CheckContentHash() {
		return ev.Redacted(), nil
	}
	return ev, nil
}

// parsePDUs parses and verifies PDUs from a remote answer for room version v.
func (r *Remote) parsePDUs(ctx context.Context, raws []json.RawMessage, v *roomversion.Version) []*event.Event {
	out := make([]*event.Event, 0, len(raws))
	for _, raw := range raws {
		ev, err := event.Parse(raw, v)
		if err != nil {
			continue
		}
		if ev, err = r.VerifyEvent(ctx, ev); err == nil {
			out = append(out, ev)
		}
	}
	return out
}

// Fetcher returns a rooms.RemoteFetcher that asks server.
func (r *Remote) Fetcher(server string) rooms.RemoteFetcher { return &fetcher{r: r, server: server} }

type fetcher struct {
	r      *Remote
	server string
}

func (f *fetcher) version(ctx context.Context, roomID string) (*roomversion.Version, error) {
	room, err := f.r.Engine.Store().Room(ctx, roomID)
	if err != nil {
		return nil, err
	}
	return room.Version, nil
}

func (f *fetcher) FetchEvent(ctx context.Context, roomID, eventID string) (*event.Event, error) {
	v, err := f.version(ctx, roomID)
	if err != nil {
		return nil, err
	}
	var resp struct {
		PDUs []json.RawMessage `json:"pdus"`
	}
	if err := f.r.Client.Get(ctx, f.server, "/_matrix/federation/v1/event/"+url.PathEscape(eventID), &resp); err != nil {
		return nil, err
	}
	evs := f.r.parsePDUs(ctx, resp.PDUs, v)
	for _, ev := range evs {
		if ev.EventID() == eventID {
			return ev, nil
		}
	}
	return nil, fmt.Errorf("%s did not return event %s", f.server, eventID)
}

func (f *fetcher) MissingEvents(ctx context.Context, roomID string, earliest, latest []string, limit int) ([]*event.Event, error) {
	v, err := f.version(ctx, roomID)
	if err != nil {
		return nil, err
	}
	body := map[string]any{"earliest_events": nonNil(earliest), "latest_events": nonNil(latest), "limit": limit}
	var resp struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := f.r.Client.Post(ctx, f.server, "/_matrix/federation/v1/get_missing_events/"+url.PathEscape(roomID), body, &resp); err != nil {
		return nil, err
	}
	return f.r.parsePDUs(ctx, resp.Events, v), nil
}

func (f *fetcher) StateIDs(ctx context.Context, roomID, eventID string) ([]string, []string, error) {
	var resp struct {
		PDUIDs       []string `json:"pdu_ids"`
		AuthChainIDs []string `json:"auth_chain_ids"`
	}
	path := "/_matrix/federation/v1/state_ids/" + url.PathEscape(roomID) + "?event_id=" + url.QueryEscape(eventID)
	if err := f.r.Client.Get(ctx, f.server, path, &resp); err != nil {
		return nil, nil, err
	}
	return resp.PDUIDs, resp.AuthChainIDs, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// SendTransaction carries a sender transaction (sender.Transport).
func (r *Remote) SendTransaction(ctx context.Context, destination, txnID string, body []byte) (*sender.TransactionResponse, error) {
	resp, err := r.Client.Do(ctx, fedclient.Request{Method: "PUT", Destination: destination,
		Path: "/_matrix/federation/v1/send/" + url.PathEscape(txnID), Body: body})
	if err != nil {
		if errors.Is(err, fedclient.ErrDenied) {
			return nil, fmt.Errorf("%w: %v", sender.ErrRejected, err)
		}
		if st := fedclient.StatusOf(err); st >= 400 && st < 500 && st != 429 && st != 401 && st != 404 {
			return nil, fmt.Errorf("%w: %v", sender.ErrRejected, err)
		}
		return nil, err
	}
	var out sender.TransactionResponse
	_ = json.NewDecoder(bytes.NewReader(resp.Body)).Decode(&out) // a 200 means received
	return &out, nil
}

// Join joins userID to a room through the first of servers that answers
// (server-server-api "Joining Rooms": make_join, then send_join v2), and
// persists the room. content is merged into the join (displayname…).
//
// Every server is tried in turn: one may not be in the room, or (for a
// restricted room) may answer M_UNABLE_TO_AUTHORISE_JOIN or
// M_UNABLE_TO_GRANT_JOIN, which the spec says mean "try another server"
// (server-server-api "Restricted rooms"). When all fail, the client gets
// the most telling answer, passed through with its errcode as the
// make_join description asks; when no server answered, a 502 (504 if
// they all timed out) naming each server and why it could not be used.
func (r *Remote) Join(ctx context.Context, userID, roomID string, servers []string, content map[string]any) error {
	return r.throughServers(servers, func(server string) error {
		return r.joinVia(ctx, server, userID, roomID, content)
	})
}

// throughServers tries a membership change through each server in turn
// until one succeeds, and otherwise returns the most telling failure (see
// Join).
func (r *Remote) throughServers(servers []string, try func(server string) error) error {
	var best error
	var failures []serverFailure
	for _, server := range servers {
		if server == r.ServerName || server == "" {
			continue
		}
		err := try(server)
		if err == nil {
			return nil
		}
		failures = append(failures, serverFailure{server, err})
		if best == nil || joinErrorRank(err) > joinErrorRank(best) {
			best = err
		}
	}
	if best == nil {
		return merr.NotFound("no server to join the room through")
	}
	return clientJoinError(best, failures)
}

// serverFailure is why joining through one server failed.
type serverFailure struct {
	server string
	err    error
}

// joinErrorRank orders failed joins by how much they tell the user: a
// resident's refusal, then its "ask another server", then any other
// answer or error of ours, then no answer at all.
func joinErrorRank(err error) int {
	var fe *fedclient.Error
	if !errors.As(err, &fe) {
		if fedclient.Reason(err) != "" && !isOurs(err) {
			return 0
		}
		return 1
	}
	switch {
	case fe.Status == 403:
		return 4
	case fe.Errcode == merr.CodeUnableToAuthoriseJoin || fe.Errcode == merr.CodeUnableToGrantJoin:
		return 3
	case fe.Status >= 400 && fe.Status < 500:
		return 2
	}
	return 1
}

// isOurs reports whether err is a Matrix error of ours (say, a room
// version we do not support) rather than a failure to reach the server.
func isOurs(err error) bool {
	_, ok := merr.As(err)
	return ok
}

// maxNamedServers bounds how many servers a join error names.
const maxNamedServers = 5

// clientJoinError turns the most telling failure into the error our
// client gets: a resident server's 4xx Matrix error as the same error; an
// unusable answer as 502; no answer from any server as 502 (or 504 when
// every server timed out) naming each server and the reason
// (unreachable, TLS verification failed, blocked by ip_range_blacklist…).
// Errors of our own are returned as they are. failures are all the
// servers tried, in order.
func clientJoinError(best error, failures []serverFailure) error {
	var fe *fedclient.Error
	switch {
	case errors.As(best, &fe):
		if fe.Errcode != "" {
			switch fe.Status {
			case 403:
				return merr.New(merr.ErrForbidden, fe.Errcode, fe.Message)
			case 404:
				return merr.New(merr.ErrNotFound, fe.Errcode, fe.Message)
			case 400:
				return merr.New(merr.ErrBadRequest, fe.Errcode, fe.Message)
			}
		}
		msg := fmt.Sprintf("Could not join the room through %s: it answered %d", fe.Destination, fe.Status)
		if fe.Message != "" {
			msg += " (" + fe.Message + ")"
		}
		return fmt.Errorf("%w: %w", merr.New(merr.ErrBadGateway, merr.CodeUnknown, msg), best)
	case isOurs(best) || fedclient.Reason(best) == "":
		return best
	}
	var parts []string
	var causes []error
	timedOut := true
	for _, f := range failures {
		timedOut = timedOut && fedclient.TimedOut(f.err)
		causes = append(causes, f.err)
		if len(parts) < maxNamedServers {
			parts = append(parts, f.server+": "+fedclient.Reason(f.err))
		}
	}
	if n := len(failures) - len(parts); n > 0 {
		parts = append(parts, fmt.Sprintf("and %d more", n))
	}
	kind := merr.ErrBadGateway
	if timedOut {
		kind = merr.ErrGatewayTimeout
	}
	msg := "Could not join the room through " + parts[0]
	if len(failures) > 1 {
		msg = "No server could be reached to join the room: " + strings.Join(parts, "; ")
	}
	// The causes stay in the chain for the request's log line.
	return fmt.Errorf("%w: %w", merr.New(kind, merr.CodeUnknown, msg), errors.Join(causes...))
}

// badAnswer marks an answer from server that we cannot use.
func badAnswer(server, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", fedclient.ErrBadResponse, server, fmt.Sprintf(format, args...))
}

func (r *Remote) joinVia(ctx context.Context, server, userID, roomID string, content map[string]any) error {
	join, v, err := r.makeMembership(ctx, server, event.Join, userID, roomID, content)
	if err != nil {
		return err
	}
	var resp struct {
		State     []json.RawMessage `json:"state"`
		AuthChain []json.RawMessage `json:"auth_chain"`
		Event     json.RawMessage   `json:"event"`
	}
	path := "/_matrix/federation/v2/send_join/" + url.PathEscape(roomID) + "/" + url.PathEscape(join.EventID())
	if err := r.Client.Put(ctx, server, path, json.RawMessage(join.FederationJSON()), &resp); err != nil {
		return err
	}
	// The resident countersigns a join to a restricted room and returns it
	// as "event" (server-server-api "Restricted rooms"); use its copy when it
	// is the same event and its signatures hold.
	if len(resp.Event) > 0 {
		if ev, err := event.Parse(resp.Event, v); err == nil && ev.EventID() == join.EventID() {
			if _, err := r.VerifyEvent(ctx, ev); err != nil || !ev.CheckContentHash() {
				return badAnswer(server, "it returned our join with bad signatures or content: %v", err)
			}
			join = ev
		}
	}
	if in, _ := r.Engine.ServerInRoom(ctx, roomID, r.ServerName); in {
		// A room we are in already (a restricted join that only another
		// server could vouch for): the join is one more event of it, and the
		// resident does not send it back to us.
		for _, res := range r.Engine.Ingest(ctx, roomID, []*event.Event{join}, r.Fetcher(server)) {
			if res.Err != nil {
				return res.Err
			}
			if res.SoftFailed {
				return merr.Forbidden("our join is not allowed by the room's current state")
			}
		}
		return nil
	}
	state := r.parsePDUs(ctx, resp.State, v)
	chain := r.parsePDUs(ctx, resp.AuthChain, v)
	return r.Engine.JoinRemoteRoom(ctx, v, join, state, chain)
}

// makeMembership asks server for a join or knock template (make_join,
// make_knock with every room version we support), fills in content and
// signs the event.
func (r *Remote) makeMembership(ctx context.Context, server, membership, userID, roomID string, content map[string]any) (*event.Event, *roomversion.Version, error) {
	q := url.Values{}
	for _, v := range roomversion.All() {
		q.Add("ver", string(v.ID))
	}
	var tmpl struct {
		RoomVersion string          `json:"room_version"`
		Event       json.RawMessage `json:"event"`
	}
	path := "/_matrix/federation/v1/make_" + membership + "/" + url.PathEscape(roomID) + "/" + url.PathEscape(userID) + "?" + q.Encode()
	if err := r.Client.Get(ctx, server, path, &tmpl); err != nil {
		return nil, nil, err
	}
	v, ok := roomversion.Get(roomversion.ID(tmpl.RoomVersion))
	if !ok {
		return nil, nil, merr.New(merr.ErrBadRequest, merr.CodeUnsupportedRoomVersion, "room version "+tmpl.RoomVersion+" is not supported")
	}
	b, err := event.BuilderFromTemplate(tmpl.Event, v)
	if err != nil {
		return nil, nil, badAnswer(server, "its make_%s template is invalid: %v", membership, err)
	}
	if b.Type != event.TypeMember || b.Sender != userID || b.StateKey == nil || *b.StateKey != userID || b.RoomID != roomID {
		return nil, nil, badAnswer(server, "its make_%s template is for something else", membership)
	}
	merged := map[string]any{}
	_ = json.Unmarshal(b.Content, &merged)
	for k, val := range content {
		merged[k] = val
	}
	merged["membership"] = membership
	b.Content, _ = json.Marshal(merged)
	if !v.EventIDsAreHashes() {
		b.EventID = "$" + strings.ReplaceAll(randomID(), ":", "") + ":" + r.ServerName
	}
	if v.LegacyPDUFields {
		b.Origin = r.ServerName
	}
	ev, err := b.Build(v, r.ServerName, r.Key)
	return ev, v, err
}

// ResolveAlias asks the alias's server which room it names.
func (r *Remote) ResolveAlias(ctx context.Context, alias, server string) (string, []string, error) {
	var resp struct {
		RoomID  string   `json:"room_id"`
		Servers []string `json:"servers"`
	}
	if err := r.Client.Get(ctx, server, "/_matrix/federation/v1/query/directory?room_alias="+url.QueryEscape(alias), &resp); err != nil {
		return "", nil, merr.NotFound("room alias not found")
	}
	return resp.RoomID, resp.Servers, nil
}

// Invite asks the invitee's server to countersign an invite (PUT
// /invite/v2) and returns the signed event.
func (r *Remote) Invite(ctx context.Context, ev *event.Event, stripped []json.RawMessage) (*event.Event, error) {
	server := domainOf(*ev.StateKey())
	body := map[string]any{"room_version": string(ev.Version().ID), "event": json.RawMessage(ev.FederationJSON()),
		"invite_room_state": stripped}
	var resp struct {
		Event json.RawMessage `json:"event"`
	}
	path := "/_matrix/federation/v2/invite/" + url.PathEscape(ev.RoomID()) + "/" + url.PathEscape(ev.EventID())
	if err := r.Client.Put(ctx, server, path, body, &resp); err != nil {
		// client-server-api "Invite permission": the inviter learns that
		// the invitee blocks invites as if the invitee were ours.
		var fe *fedclient.Error
		if errors.As(err, &fe) && fe.Status == http.StatusForbidden && fe.Errcode == merr.CodeInviteBlocked {
			return nil, merr.InviteBlocked(*ev.StateKey() + " does not accept invites")
		}
		return nil, err
	}
	signed, err := event.Parse(resp.Event, ev.Version())
	if err != nil || signed.EventID() != ev.EventID() {
		return nil, fmt.Errorf("%s returned a different invite", server)
	}
	if _, err := r.VerifyEvent(ctx, signed); err != nil {
		return nil, err
	}
	if _, ok := signed.Signatures()[server]; !ok {
		return nil, fmt.Errorf("%s did not sign the invite", server)
	}
	return signed, nil
}

var errNoServer = errors.New("no server to leave the room through")

func domainOf(id string) string {
	if i := strings.IndexByte(id, ':'); i >= 0 {
		return id[i+1:]
	}
	return ""
}

// RejectInvite turns down an invite to a room we are not in: make_leave and
// send_leave v2 through the inviting server, then the leave is recorded
// here. If no server answers, the invite is rejected locally only, as
// Synapse does, so the user is not stuck with it.
func (r *Remote) RejectInvite(ctx context.Context, userID string, invite *event.Event) error {
	return r.leaveOutsider(ctx, userID, invite, []string{domainOf(invite.Sender())})
}

// leaveOutsider replaces a local user's invite or knock in a room this
// server is not in by a leave, made through the first of servers that
// answers, or made and kept here alone if none does.
func (r *Remote) leaveOutsider(ctx context.Context, userID string, invite *event.Event, servers []string) error {
	roomID, v := invite.RoomID(), invite.Version()
	var leave *event.Event
	err := errNoServer
	for _, server := range servers {
		if leave, err = r.remoteLeave(ctx, server, userID, roomID, v); err == nil {
			break
		}
	}
	if err != nil {
		// Local rejection: a leave signed by us that only we hold.
		b := &event.Builder{Type: event.TypeMember, StateKey: &userID, Sender: userID, RoomID: roomID,
			Content: json.RawMessage(`{"membership":"leave"}`), PrevEvents: []string{invite.EventID()},
			AuthEvents: []string{invite.EventID()}, Depth: invite.Depth() + 1, OriginServerTS: invite.OriginServerTS() + 1}
		if !v.EventIDsAreHashes() {
			b.EventID = "$" + randomID() + ":" + r.ServerName
		}
		if leave, err = b.Build(v, r.ServerName, r.Key); err != nil {
			return err
		}
	}
	return r.Engine.RecordOutsiderMembership(ctx, leave)
}

func (r *Remote) remoteLeave(ctx context.Context, server, userID, roomID string, v *roomversion.Version) (*event.Event, error) {
	var tmpl struct {
		Event json.RawMessage `json:"event"`
	}
	if err := r.Client.Get(ctx, server, "/_matrix/federation/v1/make_leave/"+url.PathEscape(roomID)+"/"+url.PathEscape(userID), &tmpl); err != nil {
		return nil, err
	}
	b, err := event.BuilderFromTemplate(tmpl.Event, v)
	if err != nil {
		return nil, err
	}
	if b.Sender != userID || b.StateKey == nil || *b.StateKey != userID || b.RoomID != roomID {
		return nil, fmt.Errorf("%s sent a make_leave template for something else", server)
	}
	b.Content = json.RawMessage(`{"membership":"leave"}`)
	if !v.EventIDsAreHashes() {
		b.EventID = "$" + randomID() + ":" + r.ServerName
	}
	if v.LegacyPDUFields {
		b.Origin = r.ServerName
	}
	leave, err := b.Build(v, r.ServerName, r.Key)
	if err != nil {
		return nil, err
	}
	path := "/_matrix/federation/v2/send_leave/" + url.PathEscape(roomID) + "/" + url.PathEscape(leave.EventID())
	if err := r.Client.Put(ctx, server, path, json.RawMessage(leave.FederationJSON()), nil); err != nil {
		return nil, err
	}
	return leave, nil
}

// ExchangeThirdPartyInvite asks server, which is in the room, to complete a
// third-party invite of one of our users: PUT
// /_matrix/federation/v1/exchange_third_party_invite/{roomId} with the
// partial m.room.member event (server-server-api "Third-party invites").
// That server builds, signs and sends the invite, which reaches us as any
// invite does.
func (r *Remote) ExchangeThirdPartyInvite(ctx context.Context, server, roomID string, partial json.RawMessage) error {
	var resp json.RawMessage
	err := r.Client.Put(ctx, server, "/_matrix/federation/v1/exchange_third_party_invite/"+url.PathEscape(roomID), partial, &resp)
	var fe *fedclient.Error
	if errors.As(err, &fe) && (fe.Status == http.StatusForbidden || fe.Status == http.StatusBadRequest) {
		// The inviter's server judged the invite: its verdict is the
		// answer (a bad signature, a revoked key), not a failure of ours.
		code := merr.CodeForbidden
		if fe.Status == http.StatusBadRequest {
			code = merr.CodeInvalidParam
		}
		return merr.Newf(merr.ErrForbidden, code, "%s refused the third-party invite: %s", server, fe.Message)
	}
	return err
}
