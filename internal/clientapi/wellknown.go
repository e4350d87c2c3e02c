package clientapi

import (
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/myelin-chat/myelin/internal/httpapi"
)

// wellKnownClient is GET /.well-known/matrix/client (client-server-api,
// "Well-known URIs"; wellknown.yaml): where clients find the client API.
// The router adds the CORS headers the spec asks for.
func (a *AccountAPI) wellKnownClient(w http.ResponseWriter, r *http.Request) {
	if a.opts.PublicBaseURL == "" {
		httpapi.WriteError(w, httpapi.NotFound("No client discovery information"))
		return
	}
	writeAccountJSON(w, a.clientWellKnown())
}

func (a *AccountAPI) clientWellKnown() map[string]any {
	return map[string]any{"m.homeserver": map[string]string{"base_url": a.opts.PublicBaseURL}}
}

// wellKnownServer is GET /.well-known/matrix/server (server-server-api,
// "Server discovery"), served when serve_server_wellknown is set: as Synapse
// documents it, federation is delegated to port 443 of the public_baseurl
// host.
func (a *AccountAPI) wellKnownServer(w http.ResponseWriter, r *http.Request) {
	u, err := url.Parse(a.opts.PublicBaseURL)
	if err != nil || u.Hostname() == "" {
		httpapi.WriteError(w, httpapi.NotFound("No server discovery information"))
		return
	}
	writeAccountJSON(w, map[string]string{"m.server": net.JoinHostPort(u.Hostname(), "443")})
}

// wellKnownSupport is GET /.well-known/matrix/support (support.yaml, spec
// v1.10): how to reach the server's administrator. Synapse has no option
// for it (operators serve the file themselves); Myelin announces
// admin_contact, Synapse's key for the contact shown in its errors: a
// "mailto:" URI or plain address becomes an email contact, a user ID a
// Matrix one. Without it the answer is 404, which the spec allows ("not
// necessarily handled by the homeserver").
func (a *AccountAPI) wellKnownSupport(w http.ResponseWriter, r *http.Request) {
	c := strings.TrimSpace(a.opts.AdminContact)
	contact := map[string]string{"role": "m.role.admin"}
	switch {
	case c == "":
		httpapi.WriteError(w, httpapi.NotFound("No support information"))
		return
	case strings.HasPrefix(c, "@"):
		contact["matrix_id"] = c
	default:
		contact["email_address"] = strings.TrimPrefix(c, "mailto:")
	}
	writeAccountJSON(w, map[string]any{"contacts": []map[string]string{contact}})
}
