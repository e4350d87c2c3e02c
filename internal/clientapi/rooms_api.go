package clientapi

import (
	"context"
	"encoding/json"
	"github.com/myelin-chat/myelin/internal/appservice"
	"github.com/myelin-chat/myelin/internal/relations"
	"log/slog"
	"net/http"
	"time"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/invitepermission"
	"github.com/myelin-chat/myelin/internal/ratelimit"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/syncapi"
	"github.com/myelin-chat/myelin/internal/tpinvite"
)

// Profile is a user's display name and avatar.
type Profile struct {
	DisplayName string
	AvatarURL   string
}

// ProfileSource looks up local users' profiles (for the content of joins).
type ProfileSource interface {
	Profile(ctx context.Context, userID string) (Profile, error)
}

// FilterStore keeps uploaded sync filters.
type FilterStore interface {
	PutFilter(ctx context.Context, userID string, filter []byte) (string, error)
	Filter(ctx context.Context, userID, filterID string) ([]byte, error)
}

// AccountDataStore keeps account data; positions come from the shared
// stream so that /sync sees changes in order.
type AccountDataStore interface {
	PutAccountData(ctx context.Context, userID, roomID, typ string, content []byte, pos int64) error
	AccountData(ctx context.Context, userID, roomID, typ string) ([]byte, error)
	// RoomAccountData lists the user's entries for one room, at most
	// limit of them.
	RoomAccountData(ctx context.Context, userID, roomID string, limit int) ([]syncapi.AccountDataItem, error)
}

// Federation is what the client API needs from other servers.
type Federation interface {
	// Join joins a local user to a room through one of servers.
	Join(ctx context.Context, userID, roomID string, servers []string, content map[string]any) error
	// ResolveAlias asks the alias's server which room it names.
	ResolveAlias(ctx context.Context, alias, server string) (roomID string, servers []string, err error)
	// Invite has the invitee's server countersign an invite.
	Invite(ctx context.Context, ev *event.Event, stripped []json.RawMessage) (*event.Event, error)
	// RejectInvite turns down an invite to a room this server is not in.
	RejectInvite(ctx context.Context, userID string, invite *event.Event) error
	// Knock knocks on a room this server is not in, through one of servers.
	Knock(ctx context.Context, userID, roomID string, servers []string, content map[string]any) error
	// RescindKnock withdraws a knock on a room this server is not in.
	RescindKnock(ctx context.Context, userID string, knock *event.Event) error
	// PublicRooms asks another server for a page of its room directory.
	PublicRooms(ctx context.Context, server string, q rooms.DirectoryQuery) (*rooms.DirectoryPage, error)
}

// GuestProbe tells from other servers' room summaries whether guests may
// join a room this server is not in (internal/spaces).
type GuestProbe interface {
	// RemoteGuestAccess reports whether a server described the room and
	// whether its guest access is can_join.
	RemoteGuestAccess(ctx context.Context, roomID string, via []string) (answered, canJoin bool)
}

// RoomAPI serves rooms, membership, messages, state, aliases, the public
// room directory, account data, filters and /sync.
type RoomAPI struct {
	Engine *rooms.Engine
	// NoticeRooms tells server notices rooms, which their user cannot
	// leave; nil without server notices.
	NoticeRooms    NoticeRooms
	Syncer         *syncapi.Syncer
	Auth           httpapi.TokenResolver
	Profiles       ProfileSource
	Filters        FilterStore
	AccountData    AccountDataStore
	DefaultVersion roomversion.ID
	// Limits applies the rc_* rate limits (see ratelimit.go); nil: none.
	Limits *ratelimit.Limiter
	// ThirdPartyInvites serves invites by third-party identifier; nil:
	// they are refused with M_THREEPID_DENIED.
	ThirdPartyInvites *tpinvite.Service
	// AllowPublicRoomsWithoutAuth is Synapse's allow_public_rooms_without_auth.
	AllowPublicRoomsWithoutAuth bool
	Now                         func() time.Time
	// Fed reaches other servers; nil on a server without federation.
	Fed Federation
	// History backfills rooms from other servers; nil without federation.
	History HistoryFetcher
	// Appservices own exclusive alias namespaces; AppserviceQueries asks
	// them about unknown aliases of their namespaces. Nil: none.
	Appservices       *appservice.Set
	AppserviceQueries *appservice.Queries
	// Log receives what a client's answer cannot carry; nil means
	// slog.Default().
	Log *slog.Logger
	// Relations serves /relations and /threads and bundles aggregations
	// into the events served; nil: neither.
	Relations *relations.Service
	// InvitePermission refuses invites of local users who block them; nil:
	// nobody does.
	InvitePermission *invitepermission.Checker
	// GuestProbe asks other servers whether guests may join a room this
	// server is not in; nil: the state a join brings decides alone.
	GuestProbe GuestProbe
	// Presence shows members' presence in a room's initialSync; nil:
	// none is shown.
	Presence PresenceReader
	// UpgradeCopier carries members' tags and push rules to an upgraded
	// room; nil: nothing is carried.
	UpgradeCopier UpgradeCopier
}

func (a *RoomAPI) log() *slog.Logger {
	if a.Log != nil {
		return a.Log
	}
	return slog.Default()
}

// Body limits. Events are bounded at 64 KiB by the spec; other bodies are
// small JSON objects.
const (
	maxEventBody = 65536
	maxSmallBody = 65536
	maxLargeBody = 1 << 20 // createRoom with initial_state
)

func (a *RoomAPI) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Register adds the endpoints under both the v3 and r0 prefixes.
func (a *RoomAPI) Register(rt *httpapi.Router) {
	rt.Handle("GET /_synapse/admin/v1/rooms/{roomId}/messages", httpapi.RequireAuth(a.Auth, a.adminMessages))
	for _, p := range []string{"/_matrix/client/v3", "/_matrix/client/r0"} {
		auth := func(method, path string, h httpapi.AuthHandler) {
			rt.Handle(method+" "+p+path, httpapi.RequireAuth(a.Auth, h))
		}
		// The endpoints guests may use (client-server-api "Guest Access",
		// client behaviour); every other one answers them
		// M_GUEST_ACCESS_FORBIDDEN.
		guest := func(method, path string, h httpapi.AuthHandler) {
			rt.Handle(method+" "+p+path, httpapi.RequireAuthAllowGuests(a.Auth, h))
		}
		auth("POST", "/createRoom", a.createRoom)
		guest("PUT", "/rooms/{roomId}/send/{eventType}/{txnId}", a.send)
		guest("PUT", "/rooms/{roomId}/state/{eventType}", a.putState)
		guest("PUT", "/rooms/{roomId}/state/{eventType}/{stateKey...}", a.putState)
		guest("GET", "/rooms/{roomId}/state/{eventType}", a.getState)
		guest("GET", "/rooms/{roomId}/state/{eventType}/{stateKey...}", a.getState)
		guest("GET", "/rooms/{roomId}/state", a.getAllState)
		guest("GET", "/rooms/{roomId}/event/{eventId}", a.getEvent)
		guest("GET", "/rooms/{roomId}/messages", a.messages)
		guest("GET", "/rooms/{roomId}/context/{eventId}", a.context)
		guest("GET", "/rooms/{roomId}/members", a.members)
		auth("GET", "/rooms/{roomId}/joined_members", a.joinedMembers)
		auth("GET", "/joined_rooms", a.joinedRooms)
		auth("PUT", "/rooms/{roomId}/redact/{eventId}/{txnId}", a.redact)
		auth("POST", "/rooms/{roomId}/redact/{eventId}", a.redact)
		auth("GET", "/rooms/{roomId}/timestamp_to_event", a.timestampToEvent)
		auth("POST", "/join/{roomIdOrAlias}", a.join)
		guest("POST", "/rooms/{roomId}/join", a.join)
		auth("POST", "/rooms/{roomId}/invite", a.invite)
		guest("POST", "/rooms/{roomId}/leave", a.leave)
		auth("POST", "/rooms/{roomId}/forget", a.forget)
		auth("POST", "/rooms/{roomId}/kick", a.kick)
		auth("POST", "/rooms/{roomId}/ban", a.ban)
		auth("POST", "/rooms/{roomId}/unban", a.unban)
		auth("POST", "/knock/{roomIdOrAlias}", a.knock)
		auth("POST", "/rooms/{roomId}/upgrade", a.upgradeRoom)
		auth("PUT", "/directory/room/{roomAlias}", a.putAlias)
		rt.Handle("GET "+p+"/directory/room/{roomAlias}", http.HandlerFunc(a.getAlias))
		auth("DELETE", "/directory/room/{roomAlias}", a.deleteAlias)
		auth("GET", "/rooms/{roomId}/aliases", a.roomAliases)
		rt.Handle("GET "+p+"/directory/list/room/{roomId}", http.HandlerFunc(a.getVisibility))
		auth("PUT", "/directory/list/room/{roomId}", a.putVisibility)
		auth("PUT", "/directory/list/appservice/{networkId}/{roomId}", a.putNetworkVisibility)
		auth("DELETE", "/directory/list/appservice/{networkId}/{roomId}", a.putNetworkVisibility)
		rt.Handle("GET "+p+"/publicRooms", httpapi.OptionalAuth(a.Auth, a.publicRoomsGet))
		auth("POST", "/publicRooms", a.publicRoomsPost)
		guest("GET", "/sync", a.sync)
		guest("GET", "/rooms/{roomId}/initialSync", a.roomInitialSync)
		guest("GET", "/events", a.peekEvents)
		auth("POST", "/user/{userId}/filter", a.postFilter)
		auth("GET", "/user/{userId}/filter/{filterId}", a.getFilter)
		auth("PUT", "/user/{userId}/account_data/{type}", a.putAccountData)
		auth("GET", "/user/{userId}/account_data/{type}", a.getAccountData)
		auth("PUT", "/user/{userId}/rooms/{roomId}/account_data/{type}", a.putAccountData)
		auth("GET", "/user/{userId}/rooms/{roomId}/account_data/{type}", a.getAccountData)
	}
	// The spec puts timestamp_to_event under v1 (v1.6); the v3 path above
	// stays for clients that used it before.
	rt.Handle("GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event", httpapi.RequireAuth(a.Auth, a.timestampToEvent))
	a.registerRelations(rt)
}

func writeOK(w http.ResponseWriter, v any) { httpapi.WriteJSON(w, http.StatusOK, v) }

var emptyObject = json.RawMessage(`{}`)
