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
