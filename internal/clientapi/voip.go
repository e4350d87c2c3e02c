package clientapi

import (
	"net/http"
	"time"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/turn"
)

// VoIPAPI serves GET /voip/turnServer.
type VoIPAPI struct {
	Auth    httpapi.TokenResolver
	Servers turn.Servers
	// AllowGuests is Synapse's turn_allow_guests.
	AllowGuests bool
	Now         func() time.Time
}

// Register adds the endpoint under the v3 and r0 prefixes. Guests may
// call it (the guest access module lists it), subject to AllowGuests.
func (a *VoIPAPI) Register(rt *httpapi.Router) {
	for _, p := range []string{"/_matrix/client/v3", "/_matrix/client/r0"} {
		rt.Handle("GET "+p+"/voip/turnServer", httpapi.RequireAuthAllowGuests(a.Auth, a.turnServer))
	}
}

func (a *VoIPAPI) turnServer(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	if s.IsGuest && !a.AllowGuests {
		httpapi.WriteError(w, httpapi.GuestAccessForbidden("Guests may not use this server's TURN servers"))
		return
	}
	now := time.Now()
	if a.Now != nil {
		now = a.Now()
	}
	c, ok := a.Servers.For(s.UserID, now)
	if !ok {
		// The spec's answer requires credentials; with none configured
		// Synapse answers an empty object, which clients read as "no
		// TURN", so Myelin does the same.
		writeOK(w, struct{}{})
		return
	}
	writeOK(w, c)
}
