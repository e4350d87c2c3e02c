// Package adminapi serves Synapse's admin API (/_synapse/admin/...) with
// the paths, shapes and errors Synapse documents (docs/admin_api/ in
// Synapse), so that operators' tools (synadm, synapse-admin) work
// unchanged. Handlers are thin: they parse, check that the caller is a
// server admin, call internal/users or internal/admin, and map errors.
package adminapi

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/myelin-chat/myelin/internal/admin"
	"github.com/myelin-chat/myelin/internal/bgupdates"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/servernotices"
	"github.com/myelin-chat/myelin/internal/users"
)

// maxBody bounds request bodies: the largest is a user with its
// third-party IDs.
const maxBody = 64 << 10

// API serves the admin endpoints.
type API struct {
	Auth  httpapi.TokenResolver
	Users *users.Service
	Admin *admin.Service
	// Notices sends server notices; nil when they are not configured.
	Notices *servernotices.Service
	// Reports serves the event reports API; nil leaves it out.
	Reports Reports
	// Updates are the background updates of this process.
	Updates *bgupdates.Registry
	// Version is reported by GET /_synapse/admin/v1/server_version.
	Version string
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Log receives background operations' outcomes; nil: slog.Default().
	Log *slog.Logger
}

func (a *API) now() time.Time {
	if a.Now == nil {
		return time.Now()
	}
	return a.Now()
}

// errNotAdmin is Synapse's answer to a caller who is not a server admin.
var errNotAdmin = merr.Forbidden("You are not a server admin")

// adminOnly runs h for server admins: 401 without a valid token, 403
// M_FORBIDDEN for everyone else.
func (a *API) adminOnly(h httpapi.AuthHandler) http.Handler {
	return httpapi.RequireAuth(a.Auth, func(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
		if !s.IsAdmin {
			httpapi.WriteError(w, errNotAdmin)
			return
		}
		h(w, r, s)
	})
}

// Register adds the admin endpoints to rt.
func (a *API) Register(rt *httpapi.Router) {
	h := func(pattern string, fn httpapi.AuthHandler) { rt.Handle(pattern, a.adminOnly(fn)) }

	// Synapse answers this without authentication: it is what a proxy's
	// Server header would say.
	rt.HandleFunc("GET /_synapse/admin/v1/server_version", a.serverVersion)

	h("GET /_synapse/admin/v2/users", a.listUsers)
	h("GET /_synapse/admin/v2/users/{userId}", a.getUser)
	h("PUT /_synapse/admin/v2/users/{userId}", a.putUser)
	h("POST /_synapse/admin/v1/deactivate/{userId}", a.deactivate)
	h("POST /_synapse/admin/v1/reset_password/{userId}", a.resetPassword)
	h("GET /_synapse/admin/v1/users/{userId}/joined_rooms", a.joinedRooms)
	h("GET /_synapse/admin/v1/username_available", a.usernameAvailable)
	h("GET /_synapse/admin/v1/users/{userId}/admin", a.getAdmin)
	h("PUT /_synapse/admin/v1/users/{userId}/admin", a.putAdmin)
	h("POST /_synapse/admin/v1/users/{userId}/login", a.loginAs)
	h("GET /_synapse/admin/v1/users/{userId}/accountdata", a.accountData)
	h("GET /_synapse/admin/v1/users/{userId}/pushers", a.pushers)
	h("GET /_synapse/admin/v1/users/{userId}/override_ratelimit", a.getRatelimit)
	h("POST /_synapse/admin/v1/users/{userId}/override_ratelimit", a.setRatelimit)
	h("DELETE /_synapse/admin/v1/users/{userId}/override_ratelimit", a.deleteRatelimit)
	h("POST /_synapse/admin/v1/users/{userId}/shadow_ban", a.shadowBan)
	h("DELETE /_synapse/admin/v1/users/{userId}/shadow_ban", a.unShadowBan)
	h("PUT /_synapse/admin/v1/suspend/{userId}", a.suspend)

	// GET /_synapse/admin/v1/whois/{userId} is the client API's whois,
	// served by clientapi.AccountAPI.

	h("GET /_synapse/admin/v1/registration_tokens", a.listTokens)
	h("POST /_synapse/admin/v1/registration_tokens/new", a.newToken)
	h("GET /_synapse/admin/v1/registration_tokens/{token}", a.getToken)
	h("PUT /_synapse/admin/v1/registration_tokens/{token}", a.putToken)
	h("DELETE /_synapse/admin/v1/registration_tokens/{token}", a.deleteToken)

	h("GET /_synapse/admin/v1/rooms", a.listRooms)
	h("GET /_synapse/admin/v1/rooms/{roomId}", a.getRoom)
	h("GET /_synapse/admin/v1/rooms/{roomId}/members", a.roomMembers)
	h("GET /_synapse/admin/v1/rooms/{roomId}/state", a.roomState)
	h("POST /_synapse/admin/v1/join/{roomIdOrAlias}", a.joinRoom)
	h("POST /_synapse/admin/v1/rooms/{roomIdOrAlias}/make_room_admin", a.makeRoomAdmin)
	h("GET /_synapse/admin/v1/rooms/{roomId}/block", a.getBlock)
	h("PUT /_synapse/admin/v1/rooms/{roomId}/block", a.putBlock)
	h("DELETE /_synapse/admin/v1/rooms/{roomId}", a.deleteRoomV1)
	h("DELETE /_synapse/admin/v2/rooms/{roomId}", a.deleteRoomV2)
	h("GET /_synapse/admin/v2/rooms/{first}/{second}", a.deleteStatus)
	h("POST /_synapse/admin/v1/purge_history/{roomId}", a.purgeHistory)
	h("POST /_synapse/admin/v1/purge_history/{roomId}/{eventId}", a.purgeHistory)
	h("GET /_synapse/admin/v1/purge_history_status/{purgeId}", a.purgeHistoryStatus)
	h("POST /_synapse/admin/v1/send_server_notice", a.sendServerNotice)
	h("PUT /_synapse/admin/v1/send_server_notice/{txnId}", a.sendServerNotice)

	h("GET /_synapse/admin/v1/federation/destinations", a.listDestinations)
	h("GET /_synapse/admin/v1/federation/destinations/{destination}", a.getDestination)
	h("POST /_synapse/admin/v1/federation/destinations/{destination}/reset_connection", a.resetConnection)
	h("GET /_synapse/admin/v1/federation/destinations/{destination}/rooms", a.destinationRooms)

	h("GET /_synapse/admin/v1/background_updates/status", a.bgStatus)
	h("GET /_synapse/admin/v1/background_updates/enabled", a.bgEnabled)
	h("POST /_synapse/admin/v1/background_updates/enabled", a.bgSetEnabled)
	h("POST /_synapse/admin/v1/background_updates/start_job", a.bgStartJob)

	h("GET /_synapse/admin/v1/statistics/users/media", a.usersMedia)
	h("GET /_synapse/admin/v1/statistics/database/rooms", a.databaseRooms)
	a.registerReports(h)

	h("GET /_synapse/admin/v2/users/{userId}/devices", a.listDevices)
	h("POST /_synapse/admin/v2/users/{userId}/delete_devices", a.deleteDevices)
	h("GET /_synapse/admin/v2/users/{userId}/devices/{deviceId}", a.getDevice)
	h("PUT /_synapse/admin/v2/users/{userId}/devices/{deviceId}", a.putDevice)
	h("DELETE /_synapse/admin/v2/users/{userId}/devices/{deviceId}", a.deleteDevice)
}

func (a *API) serverVersion(w http.ResponseWriter, _ *http.Request) {
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"server_version": a.Version})
}

// Query parameters, parsed as Synapse parses them (synapse/http/servlet.py).

// queryBool reads a boolean parameter: "true" or "false", else 400.
func queryBool(r *http.Request, name string, def bool) (bool, error) {
	v, ok := r.URL.Query()[name]
	if !ok {
		return def, nil
	}
	switch v[0] {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, merr.InvalidParam("Boolean query parameter " + strconv.Quote(name) + " must be one of ['true', 'false']")
}

// queryOptBool is queryBool for a parameter whose absence means "either".
func queryOptBool(r *http.Request, name string) (*bool, error) {
	if !r.URL.Query().Has(name) {
		return nil, nil
	}
	b, err := queryBool(r, name, false)
	return &b, err
}

// queryNonNegative reads a non-negative integer parameter.
func queryNonNegative(r *http.Request, name string, def int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, merr.InvalidParam("Query parameter " + name + " must be a string representing a positive integer.")
	}
	return n, nil
}

// queryDir reads dir: "f" (the default) or "b"; it reports whether
// backwards.
func queryDir(r *http.Request) (bool, error) {
	switch d := r.URL.Query().Get("dir"); d {
	case "", "f":
		return false, nil
	case "b":
		return true, nil
	default:
		return false, merr.InvalidParam("Unknown direction: " + d)
	}
}

// nullable renders "" as JSON null, as Synapse shows unset columns.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func writeOK(w http.ResponseWriter, v any) { httpapi.WriteJSON(w, http.StatusOK, v) }

var empty = struct{}{}
