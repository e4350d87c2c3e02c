package clientapi

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/pushrules"
)

// PushRuleStore keeps users' push rules (internal/push).
type PushRuleStore interface {
	// Get returns the user's full ruleset, the server defaults included.
	Get(ctx context.Context, userID string) (pushrules.Ruleset, error)
	// Update applies edit and stores the result durably; nothing is
	// stored when edit fails.
	Update(ctx context.Context, userID string, edit func(*pushrules.Ruleset) error) error
}

// PushRulesAPI serves /pushrules (client-server-api "Push Rules: API").
type PushRulesAPI struct {
	Auth  httpapi.TokenResolver
	Rules PushRuleStore
}

// maxPushRuleBody bounds a rule; the stored rules are bounded by count.
const maxPushRuleBody = 65536

// Register adds the endpoints under both the v3 and r0 prefixes. Only the
// global scope exists.
func (a *PushRulesAPI) Register(rt *httpapi.Router) {
	registerAuthed(rt, a.Auth, func(auth func(method, path string, h httpapi.AuthHandler)) {
		auth("GET", "/pushrules/{$}", a.getAll)
		auth("GET", "/pushrules/global/{$}", a.getGlobal)
		auth("GET", "/pushrules/global/{kind}/{ruleId}", a.getRule)
		auth("PUT", "/pushrules/global/{kind}/{ruleId}", a.putRule)
		auth("DELETE", "/pushrules/global/{kind}/{ruleId}", a.deleteRule)
		auth("GET", "/pushrules/global/{kind}/{ruleId}/enabled", a.getEnabled)
		auth("PUT", "/pushrules/global/{kind}/{ruleId}/enabled", a.putEnabled)
		auth("GET", "/pushrules/global/{kind}/{ruleId}/actions", a.getActions)
		auth("PUT", "/pushrules/global/{kind}/{ruleId}/actions", a.putActions)
	})
}

// registerAuthed adds endpoints that need an access token under both the
// v3 and r0 prefixes.
func registerAuthed(rt *httpapi.Router, resolver httpapi.TokenResolver, routes func(auth func(method, path string, h httpapi.AuthHandler))) {
	for _, p := range []string{"/_matrix/client/v3", "/_matrix/client/r0"} {
		routes(func(method, path string, h httpapi.AuthHandler) {
			rt.Handle(method+" "+p+path, httpapi.RequireAuth(resolver, h))
		})
	}
}

// getAll is GET /pushrules/: every ruleset, of which only global exists.
func (a *PushRulesAPI) getAll(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	rs, err := a.Rules.Get(r.Context(), s.UserID)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, pushrules.Document{Global: rs})
}

// getGlobal is GET /pushrules/global/.
func (a *PushRulesAPI) getGlobal(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	rs, err := a.Rules.Get(r.Context(), s.UserID)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, rs)
}

// rule reads the rule the path names.
func (a *PushRulesAPI) rule(r *http.Request, s *httpapi.Session) (pushrules.Rule, error) {
	rs, err := a.Rules.Get(r.Context(), s.UserID)
	if err != nil {
		return pushrules.Rule{}, err
	}
	return pushrules.Get(&rs, pushrules.Kind(r.PathValue("kind")), r.PathValue("ruleId"))
}

// getRule is GET /pushrules/global/{kind}/{ruleId}.
func (a *PushRulesAPI) getRule(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	rule, err := a.rule(r, s)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, rule)
}

// getEnabled is GET /pushrules/global/{kind}/{ruleId}/enabled.
func (a *PushRulesAPI) getEnabled(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	rule, err := a.rule(r, s)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, map[string]bool{"enabled": rule.Enabled})
}

// getActions is GET /pushrules/global/{kind}/{ruleId}/actions.
func (a *PushRulesAPI) getActions(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	rule, err := a.rule(r, s)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, map[string][]pushrules.Action{"actions": rule.Actions})
}

// readObject reads a bounded JSON object body.
func readObject(r *http.Request) ([]byte, error) {
	body, err := httpapi.ReadBody(r, maxPushRuleBody)
	if err != nil {
		return nil, err
	}
	var obj map[string]json.RawMessage
	if err := httpapi.DecodeJSON(body, &obj); err != nil {
		return nil, err
	}
	return body, nil
}

// requiredField reads a JSON object body and returns one of its fields.
func requiredField(r *http.Request, name string) (json.RawMessage, error) {
	body, err := readObject(r)
	if err != nil {
		return nil, err
	}
	var obj map[string]json.RawMessage
	_ = json.Unmarshal(body, &obj)
	raw, ok := obj[name]
	if !ok {
		return nil, merr.MissingParam(name + " is required")
	}
	return raw, nil
}

// putRule is PUT /pushrules/global/{kind}/{ruleId}: add or replace a user
// rule, placed by the before and after query parameters.
func (a *PushRulesAPI) putRule(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	kind, ruleID := pushrules.Kind(r.PathValue("kind")), r.PathValue("ruleId")
	if !pushrules.ValidKind(kind) {
		httpapi.WriteError(w, merr.InvalidParam("unknown rule kind"))
		return
	}
	if err := pushrules.CheckRuleID(ruleID); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	body, err := readObject(r)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	nr, err := pushrules.ParseNewRule(kind, body)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	q := r.URL.Query()
	a.update(w, r, s, func(rs *pushrules.Ruleset) error {
		return pushrules.Put(rs, kind, ruleID, nr, q.Get("before"), q.Get("after"))
	})
}

// deleteRule is DELETE /pushrules/global/{kind}/{ruleId}.
func (a *PushRulesAPI) deleteRule(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	kind, ruleID := pushrules.Kind(r.PathValue("kind")), r.PathValue("ruleId")
	a.update(w, r, s, func(rs *pushrules.Ruleset) error {
		return pushrules.Delete(rs, kind, ruleID)
	})
}

// putEnabled is PUT /pushrules/global/{kind}/{ruleId}/enabled; it works on
// the server-default rules too.
func (a *PushRulesAPI) putEnabled(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	raw, err := requiredField(r, "enabled")
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	var enabled bool
	if err := json.Unmarshal(raw, &enabled); err != nil {
		httpapi.WriteError(w, merr.BadJSON("enabled must be a boolean"))
		return
	}
	kind, ruleID := pushrules.Kind(r.PathValue("kind")), r.PathValue("ruleId")
	a.update(w, r, s, func(rs *pushrules.Ruleset) error {
		return pushrules.SetEnabled(rs, kind, ruleID, enabled)
	})
}

// putActions is PUT /pushrules/global/{kind}/{ruleId}/actions; it works on
// the server-default rules too.
func (a *PushRulesAPI) putActions(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	raw, err := requiredField(r, "actions")
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	actions, err := pushrules.ParseActions(raw)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	kind, ruleID := pushrules.Kind(r.PathValue("kind")), r.PathValue("ruleId")
	a.update(w, r, s, func(rs *pushrules.Ruleset) error {
		return pushrules.SetActions(rs, kind, ruleID, actions)
	})
}

// update applies edit to the caller's rules and answers {} once stored.
func (a *PushRulesAPI) update(w http.ResponseWriter, r *http.Request, s *httpapi.Session, edit func(*pushrules.Ruleset) error) {
	if err := a.Rules.Update(r.Context(), s.UserID, edit); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, emptyObject)
}
