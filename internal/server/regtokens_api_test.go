package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

const tokensPath = adminV1 + "/registration_tokens"

type regToken struct {
	Token       string `json:"token"`
	UsesAllowed *int64 `json:"uses_allowed"`
	Pending     int64  `json:"pending"`
	Completed   int64  `json:"completed"`
	ExpiryTime  *int64 `json:"expiry_time"`
}

// storeToken puts a registration token straight into the database (for
// states the API refuses to make, such as an expiry in the past).
func storeToken(t *testing.T, s *servertest.Server, tok accounts.RegistrationToken) {
	t.Helper()
	acct, err := accounts.New(context.Background(), s.DB)
	if err != nil {
		t.Fatal(err)
	}
	if err := acct.CreateRegistrationToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
}

func validity(c *servertest.Client, token string) (int, bool) {
	var v struct {
		Valid bool `json:"valid"`
	}
	status, _ := c.Do("GET", "/_matrix/client/v1/register/m.login.registration_token/validity?token="+url.QueryEscape(token), nil, &v)
	return status, v.Valid
}

type uiaReply struct {
	Session   string   `json:"session"`
	Completed []string `json:"completed"`
	Errcode   string   `json:"errcode"`
	Flows     []struct {
		Stages []string `json:"stages"`
	} `json:"flows"`
	UserID      string `json:"user_id"`
	AccessToken string `json:"access_token"`
}

// registerStep posts one round of a registration.
func registerStep(t *testing.T, s *servertest.Server, body map[string]any) (int, uiaReply) {
	t.Helper()
	status, raw := s.Anonymous().Do("POST", "/_matrix/client/v3/register", body, nil)
	var r uiaReply
	_ = json.Unmarshal(raw, &r)
	return status, r
}

// registerWithToken runs the whole token flow and returns the new client.
func registerWithToken(t *testing.T, s *servertest.Server, localpart, token string) *servertest.Client {
	t.Helper()
	body := map[string]any{"username": localpart, "password": "correct horse battery staple"}
	_, r := registerStep(t, s, body)
	body["auth"] = map[string]any{"type": "m.login.registration_token", "token": token, "session": r.Session}
	if status, r2 := registerStep(t, s, body); status != http.StatusUnauthorized || len(r2.Completed) != 1 {
		t.Fatalf("token stage: %d %+v", status, r2)
	}
	body["auth"] = map[string]any{"type": "m.login.dummy", "session": r.Session}
	status, done := registerStep(t, s, body)
	if status != http.StatusOK {
		t.Fatalf("registration with token %s: %d %+v", token, status, done)
	}
	return s.As(&servertest.Client{UserID: done.UserID, AccessToken: done.AccessToken})
}

func startWithTokens(t *testing.T, db *sqldb.DB) (*servertest.Server, *servertest.Client) {
	t.Helper()
	s := servertest.Start(t, db, servertest.Options{ExtraYAML: "registration_requires_token: true\n"})
	storeToken(t, s, accounts.RegistrationToken{Token: "first"})
	admin := registerWithToken(t, s, "admin", "first")
	makeAdmin(t, s, admin.UserID)
	return s, admin
}

// The admin API creates, lists, reads, changes and deletes tokens with
// Synapse's shapes and checks.
func TestRegistrationTokens_AdminAPI(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		admin := newAdmin(t, s, "admin")
		var made regToken
		admin.MustDo("POST", tokensPath+"/new", map[string]any{"token": "abc.DEF_~-1", "uses_allowed": 3}, &made)
		if made.Token != "abc.DEF_~-1" || made.UsesAllowed == nil || *made.UsesAllowed != 3 || made.ExpiryTime != nil {
			t.Fatalf("created: %+v", made)
		}
		var gen regToken
		admin.MustDo("POST", tokensPath+"/new", map[string]any{"length": 20}, &gen)
		if len(gen.Token) != 20 || gen.UsesAllowed != nil {
			t.Fatalf("generated: %+v", gen)
		}
		admin.MustDo("POST", tokensPath+"/new", nil, &gen)
		if len(gen.Token) != 16 {
			t.Fatalf("generated with defaults: %+v", gen)
		}

		var upd regToken
		admin.MustDo("PUT", tokensPath+"/abc.DEF_~-1", map[string]any{"uses_allowed": nil, "expiry_time": 4102444800000}, &upd)
		if upd.UsesAllowed != nil || upd.ExpiryTime == nil || *upd.ExpiryTime != 4102444800000 {
			t.Fatalf("updated: %+v", upd)
		}
		var one regToken
		admin.MustDo("GET", tokensPath+"/abc.DEF_~-1", nil, &one)
		if one.Token != upd.Token || one.UsesAllowed != nil || one.ExpiryTime == nil || *one.ExpiryTime != *upd.ExpiryTime {
			t.Errorf("GET after PUT: %+v, want %+v", one, upd)
		}
		var list struct {
			Tokens []regToken `json:"registration_tokens"`
		}
		admin.MustDo("GET", tokensPath, nil, &list)
		if len(list.Tokens) != 3 {
			t.Fatalf("list: %+v", list)
		}
		storeToken(t, s, accounts.RegistrationToken{Token: "old", ExpiryTime: ptr(int64(1000))})
		admin.MustDo("GET", tokensPath+"?valid=false", nil, &list)
		if len(list.Tokens) != 1 || list.Tokens[0].Token != "old" {
			t.Errorf("valid=false: %+v", list)
		}
		admin.MustDo("GET", tokensPath+"?valid=true", nil, &list)
		if len(list.Tokens) != 3 {
			t.Errorf("valid=true: %+v", list)
		}

		admin.MustDo("DELETE", tokensPath+"/abc.DEF_~-1", nil, nil)
		status, raw := admin.Do("GET", tokensPath+"/abc.DEF_~-1", nil, nil)
		expectStatus(t, "deleted token", status, raw, http.StatusNotFound, "M_NOT_FOUND")
		status, raw = admin.Do("DELETE", tokensPath+"/abc.DEF_~-1", nil, nil)
		expectStatus(t, "deleting again", status, raw, http.StatusNotFound, "M_NOT_FOUND")
		status, raw = admin.Do("PUT", tokensPath+"/nope", map[string]any{"uses_allowed": 1}, nil)
		expectStatus(t, "changing an unknown token", status, raw, http.StatusNotFound, "M_NOT_FOUND")

		for name, body := range map[string]map[string]any{
			"bad characters":   {"token": "a b"},
			"too long":         {"token": strings.Repeat("a", 65)},
			"taken":            {"token": "old"},
			"negative uses":    {"uses_allowed": -1},
			"fractional uses":  {"uses_allowed": 1.5},
			"expiry in past":   {"expiry_time": 1000},
			"expiry as string": {"expiry_time": "soon"},
			"length 0":         {"length": 0},
			"length 65":        {"length": 65},
		} {
			status, raw := admin.Do("POST", tokensPath+"/new", body, nil)
			expectStatus(t, name, status, raw, http.StatusBadRequest, "M_INVALID_PARAM")
		}
		user := s.Register("user")
		for _, e := range []struct{ method, path string }{
			{"GET", tokensPath}, {"POST", tokensPath + "/new"}, {"GET", tokensPath + "/old"},
			{"PUT", tokensPath + "/old"}, {"DELETE", tokensPath + "/old"},
		} {
			status, raw := user.Do(e.method, e.path, map[string]any{}, nil)
			expectStatus(t, "non-admin "+e.method+" "+e.path, status, raw, http.StatusForbidden, "M_FORBIDDEN")
			status, raw = s.Anonymous().Do(e.method, e.path, map[string]any{}, nil)
			expectStatus(t, "anonymous "+e.method+" "+e.path, status, raw, http.StatusUnauthorized, "M_MISSING_TOKEN")
		}
	})
}

func ptr[T any](v T) *T { return &v }

// client-server-api "Token-authenticated registration": with
// registration_requires_token every flow starts with the token stage; a
// token of one use is pending while a session holds it and used once the
// registration completes, after which it is no longer valid.
func TestRegistrationTokens_RunOutOfUses(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s, admin := startWithTokens(t, db)
		admin.MustDo("POST", tokensPath+"/new", map[string]any{"token": "once", "uses_allowed": 1}, nil)
		if status, valid := validity(s.Anonymous(), "once"); status != http.StatusOK || !valid {
			t.Fatalf("validity of a fresh token: %d %v", status, valid)
		}

		body := map[string]any{"username": "bob", "password": "pw"}
		status, r := registerStep(t, s, body)
		if status != http.StatusUnauthorized || len(r.Flows) != 1 || len(r.Flows[0].Stages) != 2 ||
			r.Flows[0].Stages[0] != "m.login.registration_token" {
			t.Fatalf("flows: %d %+v", status, r)
		}
		body["auth"] = map[string]any{"type": "m.login.dummy", "session": r.Session}
		if status, r2 := registerStep(t, s, body); status != http.StatusUnauthorized || len(r2.Completed) != 0 {
			t.Fatalf("dummy before the token: %d %+v", status, r2)
		}
		body["auth"] = map[string]any{"type": "m.login.registration_token", "token": "once", "session": r.Session}
		registerStep(t, s, body)
		var tok regToken
		admin.MustDo("GET", tokensPath+"/once", nil, &tok)
		if tok.Pending != 1 || tok.Completed != 0 {
			t.Errorf("while a session holds it: %+v", tok)
		}
		if _, valid := validity(s.Anonymous(), "once"); valid {
			t.Error("a token whose only use is pending is still valid")
		}
		body["auth"] = map[string]any{"type": "m.login.dummy", "session": r.Session}
		if status, done := registerStep(t, s, body); status != http.StatusOK || done.UserID != "@bob:localhost" {
			t.Fatalf("completing: %d %+v", status, done)
		}
		admin.MustDo("GET", tokensPath+"/once", nil, &tok)
		if tok.Pending != 0 || tok.Completed != 1 {
			t.Errorf("after registering: %+v", tok)
		}
		// The finished session cannot register again.
		body["username"] = "bob2"
		if status, _ := registerStep(t, s, body); status == http.StatusOK {
			t.Error("a finished session registered a second account")
		}

		body = map[string]any{"username": "carol", "password": "pw"}
		_, r = registerStep(t, s, body)
		body["auth"] = map[string]any{"type": "m.login.registration_token", "token": "once", "session": r.Session}
		status, r = registerStep(t, s, body)
		if status != http.StatusUnauthorized || r.Errcode != "M_UNAUTHORIZED" || len(r.Completed) != 0 {
			t.Errorf("a used-up token: %d %+v", status, r)
		}
		if _, valid := validity(s.Anonymous(), "once"); valid {
			t.Error("a used-up token is valid")
		}
	})
}

// An expired or unknown token is invalid and fails the stage; the
// validity endpoint needs a token and open registration.
func TestRegistrationTokens_ExpiredAndUnknown(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s, _ := startWithTokens(t, db)
		storeToken(t, s, accounts.RegistrationToken{Token: "stale", ExpiryTime: ptr(int64(1000))})
		for _, tok := range []string{"stale", "unknown", "bad token!"} {
			if status, valid := validity(s.Anonymous(), tok); status != http.StatusOK || valid {
				t.Errorf("validity of %q: %d %v", tok, status, valid)
			}
			body := map[string]any{"username": "dan", "password": "pw"}
			_, r := registerStep(t, s, body)
			body["auth"] = map[string]any{"type": "m.login.registration_token", "token": tok, "session": r.Session}
			if status, r := registerStep(t, s, body); status != http.StatusUnauthorized || r.Errcode != "M_UNAUTHORIZED" {
				t.Errorf("token stage with %q: %d %+v", tok, status, r)
			}
		}
		status, raw := s.Anonymous().Do("GET", "/_matrix/client/v1/register/m.login.registration_token/validity", nil, nil)
		expectStatus(t, "no token", status, raw, http.StatusBadRequest, "M_MISSING_PARAM")

		closed := servertest.Start(t, db, servertest.Options{ExtraYAML: "enable_registration: false\n"})
		if status, _ := validity(closed.Anonymous(), "stale"); status != http.StatusForbidden {
			t.Errorf("validity with registration closed: %d", status)
		}
	})
}
