package clientapi

import (
	"net/http"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

// capabilities is GET /capabilities (client-server-api, "Capabilities
// negotiation"; capabilities.yaml).
func (a *AccountAPI) capabilities(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	available := map[string]string{}
	for _, v := range roomversion.All() {
		stability := "unstable"
		if v.Stable {
			stability = "stable"
		}
		available[string(v.ID)] = stability
	}
	enabled := func(b bool) map[string]bool { return map[string]bool{"enabled": b} }
	caps := map[string]any{
		"m.room_versions": map[string]any{
			"default":   a.opts.DefaultRoomVersion,
			"available": available,
		},
		"m.change_password": enabled(a.svc.Options().PasswordReauth),
		// Deprecated in favour of m.profile_fields but still read by
		// clients; the two must agree.
		"m.set_displayname": enabled(true),
		"m.set_avatar_url":  enabled(true),
		// Every field may be set (spec v1.16, MSC4133); guests only their
		// display name, which profileTarget enforces.
		"m.profile_fields":  map[string]any{"enabled": true},
		"m.3pid_changes":    enabled(a.threepidChangesAllowed()),
		"m.get_login_token": enabled(false),
		// Leaving forgets the room when forget_rooms_on_leave is set
		// (spec v1.18, MSC4267).
		"m.forget_forced_upon_leave": enabled(a.opts.ForgetRoomsOnLeave),
	}
	if s.IsAdmin {
		// Server admins may suspend and lock local users through
		// admin_moderation.go; capabilities.yaml asks that the capability
		// be left out for everyone else (both would be false).
		caps["m.account_moderation"] = map[string]bool{"suspend": true, "lock": true}
	}
	writeAccountJSON(w, map[string]any{"capabilities": caps})
}
