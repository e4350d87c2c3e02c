package server_test

import (
	"net/http"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

// Synapse's background updates API: status lists the running index
// backfills (none once they are done) and whether updates are enabled;
// enabled pauses and resumes them; start_job accepts Synapse's job names
// (nothing to rebuild here) and refuses others.
func TestAdminAPI_BackgroundUpdates(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		admin, bob := newAdmin(t, s, "admin"), s.Register("bob")
		const base = adminV1 + "/background_updates"
		var st struct {
			Enabled        *bool          `json:"enabled"`
			CurrentUpdates map[string]any `json:"current_updates"`
		}
		admin.MustDo("GET", base+"/status", nil, &st)
		if st.Enabled == nil || !*st.Enabled || st.CurrentUpdates == nil {
			t.Fatalf("status: %+v", st)
		}

		var en map[string]any
		admin.MustDo("POST", base+"/enabled", map[string]any{"enabled": false}, &en)
		if en["enabled"] != false {
			t.Errorf("after pausing: %v", en)
		}
		admin.MustDo("GET", base+"/enabled", nil, &en)
		if en["enabled"] != false {
			t.Errorf("GET after pausing: %v", en)
		}
		st.Enabled = nil
		admin.MustDo("GET", base+"/status", nil, &st)
		if st.Enabled == nil || *st.Enabled {
			t.Errorf("status after pausing: %+v", st)
		}
		admin.MustDo("POST", base+"/enabled", map[string]any{"enabled": true}, &en)
		if en["enabled"] != true {
			t.Errorf("after resuming: %v", en)
		}
		status, raw := admin.Do("POST", base+"/enabled", map[string]any{"enabled": "no"}, nil)
		expectStatus(t, "enabled not a boolean", status, raw, http.StatusBadRequest, "")

		admin.MustDo("POST", base+"/start_job", map[string]any{"job_name": "regenerate_directory"}, nil)
		admin.MustDo("POST", base+"/start_job", map[string]any{"job_name": "populate_stats_process_rooms"}, nil)
		status, raw = admin.Do("POST", base+"/start_job", map[string]any{"job_name": "nope"}, nil)
		expectStatus(t, "unknown job", status, raw, http.StatusBadRequest, "M_UNKNOWN")
		status, raw = admin.Do("POST", base+"/start_job", map[string]any{}, nil)
		expectStatus(t, "no job_name", status, raw, http.StatusBadRequest, "M_MISSING_PARAM")

		for _, e := range []struct{ m, p string }{{"GET", "/status"}, {"GET", "/enabled"}, {"POST", "/enabled"}, {"POST", "/start_job"}} {
			status, raw = bob.Do(e.m, base+e.p, map[string]any{"enabled": false, "job_name": "regenerate_directory"}, nil)
			expectStatus(t, "non-admin "+e.m+" "+e.p, status, raw, http.StatusForbidden, "M_FORBIDDEN")
		}
	})
}
