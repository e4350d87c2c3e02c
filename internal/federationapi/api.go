// Package federationapi serves the Server-Server API's room endpoints
// (/_matrix/federation/v1 and v2): receiving transactions, serving events
// and state to servers that may see them, and the join/leave/knock/invite
// handshakes. Requests arrive already authenticated (X-Matrix) by the
// federation transport's middleware; this package decides what they mean.
package federationapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/invitepermission"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/ratelimit"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/tpinvite"
)

// Verifier checks a received event's signatures (fetching keys as needed)
// and content hash. It returns the event to use: the redacted form when the
// content hash does not match (server-server-api "Validating hashes and
// signatures on received events"), or an error when signatures fail.
type Verifier interface {
	VerifyEvent(ctx context.Context, ev *event.Event) (*event.Event, error)
}

// Profiles looks up local users' profiles for /query/profile.
type Profiles interface {
	DisplayNameAndAvatar(ctx context.Context, userID string) (displayName, avatarURL string, err error)
	// ProfileFields are the other fields: m.tz and custom ones (spec
	// v1.16).
	ProfileFields(ctx context.Context, userID string) (map[string]json.RawMessage, error)
}

// AppserviceAliases asks the application services whose alias namespaces
// hold an alias we do not know whether it exists; one that says yes has
// created it before it answers (application-service-api.md, "Querying").
type AppserviceAliases interface {
	AliasExists(ctx context.Context, alias string) bool
}

// API holds the handlers' dependencies.
type API struct {
	Engine     *rooms.Engine
	ServerName string
	Verify     Verifier
	// Remote returns a fetcher that asks the given server for missing events.
	Remote func(origin string) rooms.RemoteFetcher
	// Origin is the authenticated origin of a request (set by Auth).
	Origin func(r *http.Request) string
	// Auth wraps a handler with X-Matrix authentication.
	Auth     func(http.Handler) http.Handler
	Profiles Profiles
	// Appservices answers /query/directory for unknown aliases of their
	// namespaces; nil: no one is asked.
	Appservices AppserviceAliases
	// Spaces answers /hierarchy; nil: every room is unknown.
	Spaces Hierarchies
	// PublicRoomsOverFederation is allow_public_rooms_over_federation.
	PublicRoomsOverFederation bool
	// OnAccepted, when set, is told of membership events accepted through
	// send_join/send_leave/send_knock, which we must relay to the other
	// servers in the room.
	OnAccepted func(ctx context.Context, ev *event.Event)
	// Limits applies rc_joins_per_room to make_join and
	// rc_invites.per_user to invites of our users; nil: none.
	Limits *ratelimit.Limiter
	// Throttle applies rc_federation to every authenticated request, per
	// origin server; nil: none.
	Throttle *ratelimit.Federation
	Log      *slog.Logger
	Now      func() time.Time
	// InvitePermission refuses invites of our users who block them
	// (client-server-api "Invite permission"); nil: nobody does.
	InvitePermission *invitepermission.Checker
	// Metrics counts inbound transactions; nil: none.
	Metrics *Metrics
	// ThirdPartyInvites serves /3pid/onbind and
	// /exchange_third_party_invite; nil: neither is served.
	ThirdPartyInvites *tpinvite.Service

	acls        aclCache
	eduHandlers map[string]EDUHandler
	durableEDUs map[string]bool // HandleDurableEDU
	router      *httpapi.Router

	txnMu sync.Mutex
	txns  map[string]json.RawMessage // origin + " " + txnID → response
	order []string
}

// maxTxnCache bounds how many recent transaction responses are remembered
// for replays; a replay older than that is still harmless, because events
// already stored are skipped.
const maxTxnCache = 10000

// Limits from server-server-api "Transactions".
const (
	maxPDUs      = 50
	maxEDUs      = 100
	maxTxnBody   = 50 * 70 * 1024 // 50 PDUs of up to 64 KiB plus EDUs
	maxSmallBody = 65536 + 4096
)

// Register mounts the endpoints.
func (a *API) Register(rt *httpapi.Router) {
	if a.Now == nil {
		a.Now = time.Now
	}
	if a.Log == nil {
		a.Log = slog.Default()
	}
	a.txns = map[string]json.RawMessage{}
	a.router = rt
	h := func(pattern string, f http.HandlerFunc) { rt.Handle(pattern, a.Auth(a.throttled(f))) }
	// Endpoints the server ACL protects (server-server-api "Server Access
	// Control Lists (ACLs)"); /send applies it per PDU instead.
	acl := func(pattern string, f http.HandlerFunc) { h(pattern, a.withACL(f)) }
	const v1, v2 = "/_matrix/federation/v1", "/_matrix/federation/v2"
	// GET /version is served by the transport with the key endpoints.
	h("PUT "+v1+"/send/{txnId}", a.send)
	h("GET "+v1+"/event/{eventId}", a.getEvent)
	acl("GET "+v1+"/state/{roomId}", a.state)
	acl("GET "+v1+"/state_ids/{roomId}", a.stateIDs)
	acl("GET "+v1+"/event_auth/{roomId}/{eventId}", a.eventAuth)
	acl("GET "+v1+"/backfill/{roomId}", a.backfill)
	acl("POST "+v1+"/get_missing_events/{roomId}", a.getMissingEvents)
	acl("GET "+v1+"/timestamp_to_event/{roomId}", a.timestampToEvent)
	acl("GET "+v1+"/make_join/{roomId}/{userId}", a.makeMembership(event.Join))
	acl("GET "+v1+"/make_leave/{roomId}/{userId}", a.makeMembership(event.Leave))
	acl("GET "+v1+"/make_knock/{roomId}/{userId}", a.makeMembership(event.Knock))
	acl("PUT "+v2+"/send_join/{roomId}/{eventId}", a.sendMembership(event.Join, false))
	acl("PUT "+v2+"/send_leave/{roomId}/{eventId}", a.sendMembership(event.Leave, false))
	acl("PUT "+v1+"/send_knock/{roomId}/{eventId}", a.sendMembership(event.Knock, false))
	// The v1 forms: spec v1.18 removed them (MSC4376), but servers that
	// predate v2 still call them, and Synapse still serves them; the ACL
	// section still lists their prefixes. Same checks, v1's answer shape.
	acl("PUT "+v1+"/send_join/{roomId}/{eventId}", a.sendMembership(event.Join, true))
	acl("PUT "+v1+"/send_leave/{roomId}/{eventId}", a.sendMembership(event.Leave, true))
	acl("PUT "+v2+"/invite/{roomId}/{eventId}", a.invite)
	acl("PUT "+v1+"/invite/{roomId}/{eventId}", a.inviteV1)
	h("GET "+v1+"/query/directory", a.queryDirectory)
	h("GET "+v1+"/query/profile", a.queryProfile)
	h("GET "+v1+"/publicRooms", a.publicRooms)
	acl("GET "+v1+"/hierarchy/{roomId}", a.hierarchy)
	h("POST "+v1+"/publicRooms", a.publicRooms)
	if a.ThirdPartyInvites != nil {
		acl("PUT "+v1+"/exchange_third_party_invite/{roomId}", a.exchangeThirdPartyInvite)
		// Unauthenticated: identity servers are not Matrix servers. The
		// spec says PUT; Sydent sends POST, which Synapse serves, so both.
		rt.Handle("PUT "+v1+"/3pid/onbind", http.HandlerFunc(a.onBind))
		rt.Handle("POST "+v1+"/3pid/onbind", http.HandlerFunc(a.onBind))
	}
}

// Protect wraps a federation endpoint served by another package (the
// media repository's) as this API wraps its own: X-Matrix authentication,
// then rc_federation for the origin.
func (a *API) Protect(h http.Handler) http.Handler { return a.Auth(a.throttled(h.ServeHTTP)) }

// throttled runs f under rc_federation for the request's origin: it may
// wait for its turn, and is refused with 429 while too many of the
// origin's requests wait already (Synapse applies it to every
// authenticated federation request alike).
func (a *API) throttled(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		release, err := a.Throttle.Enter(r.Context(), a.Origin(r))
		if err != nil {
			if r.Context().Err() == nil {
				writeErr(w, err)
			}
			return
		}
		defer release()
		f(w, r)
	}
}

// readPDU parses a received PDU for its room's version (the room must be
// one we know), without verifying its signatures yet.
func (a *API) readPDU(ctx context.Context, raw json.RawMessage) (*event.Event, error) {
	roomRaw, err := canonicaljson.Get(raw, "room_id")
	var roomID string
	if err != nil || json.Unmarshal(roomRaw, &roomID) != nil {
		return nil, merr.BadJSON("PDU without a room_id")
	}
	room, err := a.Engine.Store().Room(ctx, roomID)
	if err != nil {
		return nil, merr.NotFound("unknown room " + roomID)
	}
	ev, err := event.Parse(raw, room.Version)
	if err != nil {
		return nil, merr.BadJSON(err.Error())
	}
	return ev, nil
}

func (a *API) parseFor(ctx context.Context, raw json.RawMessage, v *roomversion.Version) (*event.Event, error) {
	ev, err := event.Parse(raw, v)
	if err != nil {
		return nil, merr.BadJSON(err.Error())
	}
	return a.Verify.VerifyEvent(ctx, ev)
}

func (a *API) nowMS() int64 { return a.Now().UnixMilli() }

func writeErr(w http.ResponseWriter, err error) { httpapi.WriteError(w, err) }
