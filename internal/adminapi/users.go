package adminapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
	"github.com/myelin-chat/myelin/internal/users"
)

// Synapse's user admin API (docs/admin_api/user_admin_api.md). Flags are
// JSON booleans, as current Synapse sends them (its older docs show 0/1;
// clients accept both).

// defaultUserPage is Synapse's default limit for the user list.
const defaultUserPage = 100

// listUsers is GET /_synapse/admin/v2/users. Application services' users
// are listed and counted in total like anyone, as in Synapse, whose
// documentation leaves them out only of monthly active users and of the
// phone-home usage statistics (total_nonbridged_users), neither of which
// Myelin keeps; appservice_id says which appservice registered them.
func (a *API) listUsers(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	q, err := userQuery(r)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	list, total, err := a.Users.ListUsers(r.Context(), q)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	out := make([]map[string]any, len(list))
	for i := range list {
		out[i] = userListEntry(&list[i])
	}
	resp := map[string]any{"users": out, "total": total}
	if next := int64(q.Offset + len(list)); len(list) > 0 && next < total {
		resp["next_token"] = strconv.FormatInt(next, 10)
	}
	writeOK(w, resp)
}

func userQuery(r *http.Request) (accounts.UserQuery, error) {
	q := accounts.UserQuery{
		UserID:  r.URL.Query().Get("user_id"),
		Name:    r.URL.Query().Get("name"),
		OrderBy: accounts.UserOrder(r.URL.Query().Get("order_by")),
	}
	var err error
	if q.Offset, err = queryNonNegative(r, "from", 0); err != nil {
		return q, err
	}
	if q.Limit, err = queryNonNegative(r, "limit", defaultUserPage); err != nil {
		return q, err
	}
	if q.Desc, err = queryDir(r); err != nil {
		return q, err
	}
	if q.IncludeGuests, err = queryBool(r, "guests", true); err != nil {
		return q, err
	}
	if q.IncludeDeactivated, err = queryBool(r, "deactivated", false); err != nil {
		return q, err
	}
	if q.IncludeLocked, err = queryBool(r, "locked", false); err != nil {
		return q, err
	}
	q.Admins, err = queryOptBool(r, "admins")
	return q, err
}

// userListEntry is one user of the list; creation_ts is in milliseconds
// here (in seconds in the single-user answer), as Synapse documents.
func userListEntry(u *accounts.User) map[string]any {
	return map[string]any{
		"name":          u.UserID,
		"is_guest":      u.IsGuest,
		"admin":         u.IsAdmin,
		"user_type":     nullable(u.UserType),
		"deactivated":   u.Deactivated,
		"erased":        u.Erased,
		"shadow_banned": u.ShadowBanned,
		"displayname":   nullable(u.DisplayName),
		"avatar_url":    nullable(u.AvatarURL),
		"creation_ts":   u.CreatedTS,
		"approved":      true,
		"locked":        u.Locked,
		"last_seen_ts":  lastSeen(u.LastSeenTS),
	}
}

func lastSeen(ts int64) any {
	if ts == 0 {
		return nil
	}
	return ts
}

func userDetails(u *users.AdminUser) map[string]any {
	tps := make([]map[string]any, len(u.Threepids))
	for i, t := range u.Threepids {
		tps[i] = map[string]any{"medium": t.Medium, "address": t.Address, "added_at": t.AddedAt, "validated_at": t.ValidatedAt}
	}
	return map[string]any{
		"name":                       u.UserID,
		"displayname":                nullable(u.DisplayName),
		"avatar_url":                 nullable(u.AvatarURL),
		"threepids":                  tps,
		"is_guest":                   u.IsGuest,
		"admin":                      u.IsAdmin,
		"deactivated":                u.Deactivated,
		"erased":                     u.Erased,
		"shadow_banned":              u.ShadowBanned,
		"creation_ts":                u.CreatedTS / 1000,
		"appservice_id":              nullable(u.AppserviceID),
		"consent_server_notice_sent": nil,
		"consent_version":            nil,
		"consent_ts":                 nil,
		"external_ids":               []any{},
		"user_type":                  nullable(u.UserType),
		"locked":                     u.Locked,
		"suspended":                  u.Suspended,
		"last_seen_ts":               lastSeen(u.LastSeenTS),
	}
}

// localUser reads the {userId} path value and checks that it is a local
// user ID; notLocal is Synapse's message for another server's user.
func (a *API) localUser(w http.ResponseWriter, r *http.Request, notLocal string) (string, bool) {
	userID := r.PathValue("userId")
	if err := a.Users.CheckLocalUser(userID, notLocal); err != nil {
		httpapi.WriteError(w, err)
		return "", false
	}
	return userID, true
}

// getUser is GET /_synapse/admin/v2/users/{userId}.
func (a *API) getUser(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	userID, ok := a.localUser(w, r, "Can only look up local users")
	if !ok {
		return
	}
	u, err := a.Users.GetUserForAdmin(r.Context(), userID)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, userDetails(u))
}

type threepidBody struct {
	Medium  string `json:"medium"`
	Address string `json:"address"`
}

type putUserBody struct {
	Password      *string         `json:"password"`
	LogoutDevices *bool           `json:"logout_devices"`
	DisplayName   *string         `json:"displayname"`
	AvatarURL     *string         `json:"avatar_url"`
	Admin         *bool           `json:"admin"`
	Deactivated   *bool           `json:"deactivated"`
	Locked        *bool           `json:"locked"`
	UserType      json.RawMessage `json:"user_type"`
	Threepids     *[]threepidBody `json:"threepids"`
	ExternalIDs   []any           `json:"external_ids"`
}

// putUser is PUT /_synapse/admin/v2/users/{userId}: 201 with the new
// account, or 200 with the changed one.
func (a *API) putUser(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	userID, ok := a.localUser(w, r, "This endpoint can only be used with local users")
	if !ok {
		return
	}
	var body putUserBody
	if err := httpapi.ReadJSON(r, maxBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if len(body.ExternalIDs) > 0 {
		// Myelin has no single sign-on to bind them to.
		httpapi.WriteError(w, merr.InvalidParam("external_ids are not supported by this server"))
		return
	}
	u := users.UserUpdate{Password: body.Password, LogoutDevices: true, DisplayName: body.DisplayName,
		AvatarURL: body.AvatarURL, Admin: body.Admin, Deactivated: body.Deactivated, Locked: body.Locked}
	if body.LogoutDevices != nil {
		u.LogoutDevices = *body.LogoutDevices
	}
	if len(body.UserType) > 0 {
		var t *string
		if err := json.Unmarshal(body.UserType, &t); err != nil {
			httpapi.WriteError(w, merr.InvalidParam("Invalid user type"))
			return
		}
		cleared := ""
		if t == nil {
			t = &cleared
		}
		u.UserType = t
	}
	if body.Threepids != nil {
		now := a.now().UnixMilli()
		tps := make([]accounts.Threepid, len(*body.Threepids))
		for i, t := range *body.Threepids {
			tps[i] = accounts.Threepid{Medium: t.Medium, Address: t.Address, ValidatedAt: now, AddedAt: now}
		}
		u.Threepids = &tps
	}
	created, err := a.Users.UpsertUser(r.Context(), s.UserID, userID, u)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	got, err := a.Users.GetUserForAdmin(r.Context(), userID)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	httpapi.WriteJSON(w, status, userDetails(got))
}

// deactivate is POST /_synapse/admin/v1/deactivate/{userId}.
func (a *API) deactivate(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	userID, ok := a.localUser(w, r, "Can only deactivate local users")
	if !ok {
		return
	}
	var body struct {
		Erase *bool `json:"erase"`
	}
	if err := httpapi.ReadOptionalJSON(r, maxBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if err := a.Users.DeactivateByAdmin(r.Context(), userID, body.Erase != nil && *body.Erase); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	// Myelin binds no third-party IDs at identity servers, so there is
	// never anything to unbind.
	writeOK(w, map[string]string{"id_server_unbind_result": "success"})
}

// resetPassword is POST /_synapse/admin/v1/reset_password/{userId}.
func (a *API) resetPassword(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	userID, ok := a.localUser(w, r, "Can only reset the password of local users")
	if !ok {
		return
	}
	var body struct {
		NewPassword   *string `json:"new_password"`
		LogoutDevices *bool   `json:"logout_devices"`
	}
	if err := httpapi.ReadJSON(r, maxBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if body.NewPassword == nil {
		httpapi.WriteError(w, merr.MissingParam("Missing param: new_password"))
		return
	}
	logout := body.LogoutDevices == nil || *body.LogoutDevices
	if err := a.Users.ResetPassword(r.Context(), userID, *body.NewPassword, logout); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, empty)
}

// joinedRooms is GET /_synapse/admin/v1/users/{userId}/joined_rooms.
func (a *API) joinedRooms(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	userID := r.PathValue("userId")
	if err := a.Users.CheckLocalUser(userID, "Can only look up local users"); err != nil && merr.CodeOf(err) == merr.CodeInvalidParam {
		httpapi.WriteError(w, err)
		return
	}
	rooms, err := a.Admin.JoinedRooms(r.Context(), userID)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, map[string]any{"joined_rooms": rooms, "total": len(rooms)})
}

// usernameAvailable is GET /_synapse/admin/v1/username_available: like
// the client API's, but open even when registration is closed.
func (a *API) usernameAvailable(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	username := r.URL.Query().Get("username")
	if username == "" {
		httpapi.WriteError(w, merr.MissingParam("Missing string query parameter 'username'"))
		return
	}
	if _, err := a.Users.ValidateUsername(r.Context(), username); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, map[string]bool{"available": true})
}

// getAdmin is GET /_synapse/admin/v1/users/{userId}/admin.
func (a *API) getAdmin(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	userID, ok := a.localUser(w, r, "Only local users can be admins of this homeserver")
	if !ok {
		return
	}
	u, err := a.Users.GetUserForAdmin(r.Context(), userID)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, map[string]bool{"admin": u.IsAdmin})
}

// putAdmin is PUT /_synapse/admin/v1/users/{userId}/admin.
func (a *API) putAdmin(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	userID, ok := a.localUser(w, r, "Only local users can be admins of this homeserver")
	if !ok {
		return
	}
	var body struct {
		Admin *bool `json:"admin"`
	}
	if err := httpapi.ReadJSON(r, maxBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if body.Admin == nil {
		httpapi.WriteError(w, merr.MissingParam("Missing 'admin'"))
		return
	}
	if err := a.Users.ModifyUser(r.Context(), s.UserID, userID, users.UserUpdate{Admin: body.Admin}); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, empty)
}

// loginAs is POST /_synapse/admin/v1/users/{userId}/login.
func (a *API) loginAs(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	userID, ok := a.localUser(w, r, "Only local users can be logged in as")
	if !ok {
		return
	}
	var body struct {
		ValidUntilMS *int64 `json:"valid_until_ms"`
	}
	if err := httpapi.ReadOptionalJSON(r, maxBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	var until int64
	if body.ValidUntilMS != nil {
		until = *body.ValidUntilMS
		if until <= 0 {
			httpapi.WriteError(w, merr.BadRequest(merr.CodeUnknown, "'valid_until_ms' is in the past"))
			return
		}
	}
	token, err := a.Users.LoginAs(r.Context(), s.UserID, userID, until)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, map[string]string{"access_token": token})
}
