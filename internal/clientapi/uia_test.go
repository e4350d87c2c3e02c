package clientapi

import "testing"

// Spec: client-server-api "User-Interactive Authentication API" — stages
// of a flow must be completed in order.
func TestUIA_FlowOrder(t *testing.T) {
	flows := [][]string{{"a", "b"}, {"a", "c"}, {"d"}}
	for _, tt := range []struct {
		completed []string
		stage     string
		allowed   bool
	}{
		{nil, "a", true},
		{nil, "d", true},
		{nil, "b", false},
		{[]string{"a"}, "b", true},
		{[]string{"a"}, "c", true},
		{[]string{"a"}, "d", false},
		{[]string{"a", "b"}, "c", false},
	} {
		if got := nextStageAllowed(flows, tt.completed, tt.stage); got != tt.allowed {
			t.Errorf("after %v, %s allowed = %v, want %v", tt.completed, tt.stage, got, tt.allowed)
		}
	}
	for _, tt := range []struct {
		completed []string
		done      bool
	}{
		{nil, false}, {[]string{"a"}, false}, {[]string{"a", "c"}, true}, {[]string{"d"}, true},
	} {
		if got := flowDone(flows, tt.completed); got != tt.done {
			t.Errorf("flowDone(%v) = %v, want %v", tt.completed, got, tt.done)
		}
	}
}

// Completed stages cannot be retried; retrying after a completed flow
// lets the call through (the spec allows either answer).
func TestUIA_CompletedSessionIsReusableForTheSameCall(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		r.register("alice", "secret", map[string]any{"device_id": "ONE"})
		token := r.mustLogin("alice", "secret", map[string]any{"device_id": "TWO"})
		first := r.do("POST", "/_matrix/client/v3/delete_devices", token, map[string]any{"devices": []string{}})
		session := first.str("session")
		ok := r.do("POST", "/_matrix/client/v3/delete_devices", token, map[string]any{"devices": []string{}, "auth": passwordAuth("alice", "secret", session)})
		if ok.status != 200 {
			t.Fatalf("first completion: %d %v", ok.status, ok.body)
		}
		again := r.do("POST", "/_matrix/client/v3/delete_devices", token, map[string]any{"devices": []string{}, "auth": map[string]any{"session": session}})
		if again.status != 200 {
			t.Errorf("retry with the completed session: %d %v", again.status, again.body)
		}
		// Another user cannot use the session.
		bob := r.register("bob", "pw", nil).str("access_token")
		r.expect(r.do("POST", "/_matrix/client/v3/delete_devices", bob, map[string]any{"devices": []string{}, "auth": map[string]any{"session": session}}), 403, "M_FORBIDDEN")
	})
}

// client-server-api "User-Interactive Authentication API": the client
// retries "the request" with auth added, so a session authorises that one
// request (method, path and body without auth). Confirming the deletion of
// one device must not let the same session delete others.
func TestUIA_SessionAuthorisesOnlyTheBodyItWasStartedFor(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		token := r.register("alice", "secret", map[string]any{"device_id": "ONE"}).str("access_token")
		for _, d := range []string{"TWO", "THREE", "FOUR"} {
			r.mustLogin("alice", "secret", map[string]any{"device_id": d})
		}
		const path = "/_matrix/client/v3/delete_devices"
		first := r.do("POST", path, token, map[string]any{"devices": []string{"TWO"}})
		session := first.str("session")
		// Changing the body in the middle of the flow is refused too.
		r.expect(r.do("POST", path, token, map[string]any{"devices": []string{"THREE"}, "auth": passwordAuth("alice", "secret", session)}), 403, "M_FORBIDDEN")
		// Key order and spacing are not a change.
		ok := r.do("POST", path, token, `{"auth": {"type": "m.login.password", "identifier": {"user": "alice", "type": "m.id.user"}, "password": "secret", "session": "`+session+`"},  "devices": ["TWO"]}`)
		if ok.status != 200 {
			t.Fatalf("completing the flow: %d %v", ok.status, ok.body)
		}
		r.expect(r.do("POST", path, token, map[string]any{"devices": []string{"THREE", "FOUR"}, "auth": map[string]any{"session": session}}), 403, "M_FORBIDDEN")
		for _, d := range []string{"THREE", "FOUR"} {
			if got := r.do("GET", "/_matrix/client/v3/devices/"+d, token, nil); got.status != 200 {
				t.Errorf("device %s after reusing the session: %d %v", d, got.status, got.body)
			}
		}
	})
}

// A flow opened with an empty body (as clients do to learn the stages) is
// bound by the first request that carries parameters.
func TestUIA_EmptyOpeningBodyBindsToTheFirstRealOne(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		probe := r.do("POST", "/_matrix/client/v3/register", "", map[string]any{})
		if probe.status != 401 {
			t.Fatalf("probe: %d %v", probe.status, probe.body)
		}
		session := probe.str("session")
		done := r.do("POST", "/_matrix/client/v3/register", "", map[string]any{"username": "alice", "password": "secret",
			"auth": map[string]any{"type": "m.login.dummy", "session": session}})
		if done.status != 200 {
			t.Fatalf("register: %d %v", done.status, done.body)
		}
		r.expect(r.do("POST", "/_matrix/client/v3/register", "", map[string]any{"username": "bob", "password": "secret",
			"auth": map[string]any{"session": session}}), 403, "M_FORBIDDEN")
	})
}
