package clientapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/myelin-chat/myelin/internal/ids"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
)

// Profile fields (profile.yaml). The two classic ones are the users
// service's display name and avatar, copied into membership events; m.tz
// and custom fields (spec v1.16, MSC4133) hold any JSON value and stay in
// the profile.
const (
	fieldDisplayName = "displayname"
	fieldAvatarURL   = "avatar_url"
)

// profileKeyPattern is profile.yaml's keyName grammar, and
// maxProfileKeyBytes its key length limit (M_KEY_TOO_LARGE).
var profileKeyPattern = regexp.MustCompile(`^(avatar_url|displayname|m\.tz|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+)$`)

const maxProfileKeyBytes = 255

// getProfile is GET /profile/{userId}: the fields that are set. Another
// server's user's profile is asked of that server, as Synapse does.
func (a *AccountAPI) getProfile(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	if a.isRemoteUser(r.PathValue("userId")) {
		a.remoteProfile(w, r, "")
		return
	}
	p, err := a.svc.GetProfile(r.Context(), r.PathValue("userId"))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	fields, err := a.svc.ProfileFields(r.Context(), r.PathValue("userId"))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	out := map[string]any{}
	for k, v := range fields {
		out[k] = v
	}
	if p.DisplayName != "" {
		out[fieldDisplayName] = p.DisplayName
	}
	if p.AvatarURL != "" {
		out[fieldAvatarURL] = p.AvatarURL
	}
	writeAccountJSON(w, out)
}

// checkProfileKey validates the {keyName} of a profile field endpoint.
func checkProfileKey(key string) error {
	if len(key) > maxProfileKeyBytes {
		return merr.BadRequest(merr.CodeKeyTooLarge, "Profile key is longer than 255 bytes")
	}
	if !profileKeyPattern.MatchString(key) {
		return merr.InvalidParam("Invalid profile key")
	}
	return nil
}

// getProfileField is GET /profile/{userId}/{keyName}; a field that is unset
// (or not supported) is 404.
func (a *AccountAPI) getProfileField(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	key := r.PathValue("keyName")
	if err := checkProfileKey(key); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if a.isRemoteUser(r.PathValue("userId")) {
		a.remoteProfile(w, r, key)
		return
	}
	p, err := a.svc.GetProfile(r.Context(), r.PathValue("userId"))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	var value string
	switch key {
	case fieldDisplayName:
		value = p.DisplayName
	case fieldAvatarURL:
		value = p.AvatarURL
	default:
		fields, err := a.svc.ProfileFields(r.Context(), r.PathValue("userId"))
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		v, ok := fields[key]
		if !ok {
			httpapi.WriteError(w, httpapi.NotFound("Profile field not set"))
			return
		}
		writeAccountJSON(w, map[string]json.RawMessage{key: v})
		return
	}
	if value == "" {
		httpapi.WriteError(w, httpapi.NotFound("Profile field not set"))
		return
	}
	writeAccountJSON(w, map[string]string{key: value})
}

// profileTarget checks that the caller may change field of the profile in
// the path: only their own, guests only their display name
// (modules/guest_access), and suspended users none (suspension.go).
func (a *AccountAPI) profileTarget(r *http.Request, s *httpapi.Session) (userID, key string, err error) {
	userID, key = r.PathValue("userId"), r.PathValue("keyName")
	if err := checkProfileKey(key); err != nil {
		return "", "", err
	}
	if userID != s.UserID {
		return "", "", merr.Forbidden("You may only change your own profile")
	}
	if s.IsGuest && key != fieldDisplayName {
		return "", "", merr.GuestAccessForbidden("Guests may only change their display name")
	}
	if err := httpapi.RefuseSuspended(s, "Changing your profile"); err != nil {
		return "", "", err
	}
	return userID, key, nil
}

var errNotAString = errors.New("null is not a string")

// putProfileField is PUT /profile/{userId}/{keyName}; the body holds the one
// field named in the path.
func (a *AccountAPI) putProfileField(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	userID, key, err := a.profileTarget(r, s)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	var body map[string]json.RawMessage
	if err := httpapi.ReadJSON(r, profileMaxBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	field, ok := body[key]
	if !ok {
		httpapi.WriteError(w, httpapi.MissingParam("Missing key '"+key+"'"))
		return
	}
	if key != fieldDisplayName && key != fieldAvatarURL {
		// Any JSON value, null included: the spec asks servers that
		// accept null to store it rather than delete the field.
		if len(body) != 1 {
			httpapi.WriteError(w, httpapi.BadJSON("The body must hold exactly the field '"+key+"'"))
			return
		}
		if err := takeLimits(r.Context(), a.limits, s, messageCost(s)); err != nil {
			httpapi.WriteError(w, err)
			return
		}
		if err := a.svc.SetProfileField(r.Context(), userID, key, field); err != nil {
			httpapi.WriteError(w, err)
			return
		}
		writeAccountJSON(w, map[string]any{})
		return
	}
	var value string
	if err = json.Unmarshal(field, &value); err == nil && string(field) == "null" {
		err = errNotAString
	}
	if err == nil && strings.ContainsRune(value, 0) {
		// As ReadJSON refuses NUL in strings it decodes: neither backend
		// stores it in a column of text.
		httpapi.WriteError(w, httpapi.BadJSON("Strings must not contain U+0000 (NUL)"))
		return
	}
	if err != nil {
		// Both fields are strings (profile.yaml); null is refused, as the
		// spec allows, since DELETE removes a field.
		httpapi.WriteError(w, httpapi.BadJSON("'"+key+"' must be a string"))
		return
	}
	a.setProfileField(w, r, s, userID, key, value)
}

// deleteProfileField is DELETE /profile/{userId}/{keyName} (v1.16).
func (a *AccountAPI) deleteProfileField(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	userID, key, err := a.profileTarget(r, s)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if key != fieldDisplayName && key != fieldAvatarURL {
		if err := a.svc.DeleteProfileField(r.Context(), userID, key); err != nil {
			httpapi.WriteError(w, err)
			return
		}
		writeAccountJSON(w, map[string]any{})
		return
	}
	a.setProfileField(w, r, s, userID, key, "")
}

// setProfileField changes one field. The change is sent to every room the
// user is in, so it costs an rc_message token, as in Synapse.
func (a *AccountAPI) setProfileField(w http.ResponseWriter, r *http.Request, s *httpapi.Session, userID, key, value string) {
	if err := takeLimits(r.Context(), a.limits, s, messageCost(s)); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	var err error
	if key == fieldDisplayName {
		err = a.svc.SetDisplayName(r.Context(), userID, value)
	} else {
		err = a.svc.SetAvatarURL(r.Context(), userID, value)
	}
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeAccountJSON(w, map[string]any{})
}

// isRemoteUser reports whether userID is a valid user ID of another server
// whose profile can be asked for.
func (a *AccountAPI) isRemoteUser(userID string) bool {
	if a.remote == nil || a.svc.IsLocal(userID) {
		return false
	}
	_, err := ids.ParseUserID(userID)
	return err == nil
}

// remoteProfile answers a profile lookup of another server's user from
// that server's answer: the whole profile, or the one field key (404 when
// it is not set). The answer is passed on as it came, field by field;
// the two classic fields only when they are strings, as the spec types
// them.
func (a *AccountAPI) remoteProfile(w http.ResponseWriter, r *http.Request, key string) {
	got, err := a.remote.QueryProfile(r.Context(), r.PathValue("userId"), key)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	out := map[string]json.RawMessage{}
	for k, v := range got {
		if key != "" && k != key {
			continue
		}
		if k == fieldDisplayName || k == fieldAvatarURL {
			var str string
			if json.Unmarshal(v, &str) != nil || str == "" {
				continue
			}
		}
		out[k] = v
	}
	if key != "" && len(out) == 0 {
		httpapi.WriteError(w, httpapi.NotFound("Profile field not set"))
		return
	}
	writeAccountJSON(w, out)
}
