package clientapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/myelin-chat/myelin/internal/appservice"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/rooms"
)

// AppserviceAPI serves the Client-Server API's application service
// extensions (application-service-api.md, "Client-Server API
// Extensions") that are not part of another API: the ping, and the
// third-party lookups that appservices answer.
type AppserviceAPI struct {
	Auth        httpapi.TokenResolver
	Appservices *appservice.Set
	Client      *appservice.Client
	Now         func() time.Time
	Log         *slog.Logger
}

// Register adds the endpoints to rt.
func (a *AppserviceAPI) Register(rt *httpapi.Router) {
	rt.Handle("POST /_matrix/client/v1/appservice/{appserviceId}/ping", httpapi.RequireAuth(a.Auth, a.ping))
	for _, p := range clientPrefixes {
		rt.Handle("GET "+p+"/thirdparty/protocols", httpapi.RequireAuth(a.Auth, a.protocols))
		rt.Handle("GET "+p+"/thirdparty/protocol/{protocol}", httpapi.RequireAuth(a.Auth, a.protocolOne))
		rt.Handle("GET "+p+"/thirdparty/location/{protocol}", httpapi.RequireAuth(a.Auth, a.byProtocol(false)))
		rt.Handle("GET "+p+"/thirdparty/user/{protocol}", httpapi.RequireAuth(a.Auth, a.byProtocol(true)))
		rt.Handle("GET "+p+"/thirdparty/location", httpapi.RequireAuth(a.Auth, a.reverse(false)))
		rt.Handle("GET "+p+"/thirdparty/user", httpapi.RequireAuth(a.Auth, a.reverse(true)))
	}
}

// ping is POST /_matrix/client/v1/appservice/{appserviceId}/ping: the
// homeserver calls the appservice's /_matrix/app/v1/ping and reports how
// long the round trip took, or why it failed.
func (a *AppserviceAPI) ping(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	id := r.PathValue("appserviceId")
	reg := a.Appservices.ByID(id)
	if reg == nil || s.AppserviceID != id {
		httpapi.WriteError(w, httpapi.Forbidden("The access token does not belong to the application service "+id))
		return
	}
	var body struct {
		TransactionID *string `json:"transaction_id"`
	}
	if err := httpapi.ReadJSON(r, 64<<10, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	txn := ""
	if body.TransactionID != nil {
		txn = *body.TransactionID
	}
	start := a.Now()
	if err := a.Client.Ping(r.Context(), reg, txn); err != nil {
		httpapi.WriteError(w, pingError(err))
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]int64{"duration_ms": a.Now().Sub(start).Milliseconds()})
}

// pingError maps a failed ping to the errors appservice_ping.yaml lists.
func pingError(err error) error {
	var (
		se *appservice.StatusError
		ue *appservice.UnreachableError
		be *appservice.BadAnswerError
	)
	switch {
	case errors.Is(err, appservice.ErrURLNotSet):
		return merr.BadRequest(merr.CodeURLNotSet, "Application service URL is not configured")
	case errors.As(err, &se):
		e := merr.Newf(merr.ErrBadGateway, merr.CodeBadStatus, "Ping returned status %d", se.Status)
		e.Extra = map[string]any{"status": se.Status, "body": string(se.Body)}
		return e
	case errors.As(err, &ue) && ue.Timeout:
		return merr.New(merr.ErrGatewayTimeout, merr.CodeConnectionTimeout, "Connection to application service timed out")
	case errors.As(err, &ue), errors.As(err, &be):
		return merr.New(merr.ErrBadGateway, merr.CodeConnectionFailed, "Connection to application service failed")
	}
	return err
}

// Third-party lookups (client-server-api "Third-party networks"), answered
// by the appservices that declared the protocol in their registration.
// An appservice that fails to answer is left out of the answer and logged,
// as Synapse does, so one broken bridge does not hide the others.

// maxProtocols bounds GET /thirdparty/protocols.
const maxProtocols = 100

// protocol asks every appservice that serves p for its description and
// merges them: the first one's fields, everybody's instances, each with its
// instance_id. ok is false when no appservice answered.
func (a *AppserviceAPI) protocol(r *http.Request, p string) (map[string]any, bool) {
	var merged map[string]any
	var instances []any
	for _, reg := range a.Appservices.ServingProtocol(p) {
		raw, err := a.Client.ThirdPartyProtocol(r.Context(), reg, p)
		if err != nil {
			a.log().Warn("appservice protocol lookup failed", "appservice", reg.ID, "protocol", p, "err", err)
			continue
		}
		var desc map[string]any
		if json.Unmarshal(raw, &desc) != nil {
			continue
		}
		list, _ := desc["instances"].([]any)
		for _, item := range list {
			inst, ok := item.(map[string]any)
			if !ok {
				continue
			}
			if nid, ok := inst["network_id"].(string); ok {
				inst["instance_id"] = rooms.InstanceID(reg.ID, nid)
			}
			instances = append(instances, inst)
		}
		if merged == nil {
			merged = desc
		}
	}
	if merged == nil {
		return nil, false
	}
	if instances == nil {
		instances = []any{}
	}
	merged["instances"] = instances
	return merged, true
}

// protocols is GET /thirdparty/protocols: an empty object when no
// appservice declares a protocol.
func (a *AppserviceAPI) protocols(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	out := map[string]any{}
	for _, reg := range a.Appservices.All() {
		for _, p := range reg.Protocols {
			if _, done := out[p]; done || len(out) >= maxProtocols {
				continue
			}
			if desc, ok := a.protocol(r, p); ok {
				out[p] = desc
			}
		}
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
}

// protocolOne is GET /thirdparty/protocol/{protocol}.
func (a *AppserviceAPI) protocolOne(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	desc, ok := a.protocol(r, r.PathValue("protocol"))
	if !ok {
		httpapi.WriteError(w, merr.NotFound("The protocol is unknown"))
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, desc)
}

// thirdPartyLookup is one kind of third-party search, asked of appservices.
type thirdPartyLookup func(ctx context.Context, reg *appservice.Registration) ([]json.RawMessage, error)

// gather asks each of regs and concatenates what they found.
func (a *AppserviceAPI) gather(w http.ResponseWriter, r *http.Request, regs []*appservice.Registration, ask thirdPartyLookup) {
	out := []json.RawMessage{}
	for _, reg := range regs {
		found, err := ask(r.Context(), reg)
		if err != nil {
			a.log().Warn("appservice third-party lookup failed", "appservice", reg.ID, "path", r.URL.Path, "err", err)
			continue
		}
		out = append(out, found...)
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
}

// byProtocol serves GET /thirdparty/location/{protocol} and
// /thirdparty/user/{protocol}: the query string's fields are passed on.
// An unknown protocol is 404; a known one with no results an empty list.
func (a *AppserviceAPI) byProtocol(users bool) httpapi.AuthHandler {
	return func(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
		p := r.PathValue("protocol")
		regs := a.Appservices.ServingProtocol(p)
		if len(regs) == 0 {
			httpapi.WriteError(w, merr.NotFound("The protocol is unknown"))
			return
		}
		fields := r.URL.Query()
		delete(fields, "access_token")
		a.gather(w, r, regs, func(ctx context.Context, reg *appservice.Registration) ([]json.RawMessage, error) {
			if users {
				return a.Client.ThirdPartyUsers(ctx, reg, p, fields)
			}
			return a.Client.ThirdPartyLocations(ctx, reg, p, fields)
		})
	}
}

// reverse serves GET /thirdparty/location?alias= and /thirdparty/user?userid=:
// every appservice with a protocol is asked.
func (a *AppserviceAPI) reverse(users bool) httpapi.AuthHandler {
	return func(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
		param := "alias"
		if users {
			param = "userid"
		}
		v := r.URL.Query().Get(param)
		if v == "" {
			httpapi.WriteError(w, merr.MissingParam("Missing "+param))
			return
		}
		var regs []*appservice.Registration
		for _, reg := range a.Appservices.All() {
			if len(reg.Protocols) > 0 {
				regs = append(regs, reg)
			}
		}
		a.gather(w, r, regs, func(ctx context.Context, reg *appservice.Registration) ([]json.RawMessage, error) {
			if users {
				return a.Client.ThirdPartyUsersByUserID(ctx, reg, v)
			}
			return a.Client.ThirdPartyLocationsByAlias(ctx, reg, v)
		})
	}
}

func (a *AppserviceAPI) log() *slog.Logger {
	if a.Log != nil {
		return a.Log
	}
	return slog.Default()
}
