package adminapi

import (
	"encoding/json"
	"net/http"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
)

// Synapse's background updates admin API
// (usage/administration/admin_api/background_updates.md). Myelin's
// background updates are its one-off index backfills (search, relations),
// which index the events stored before an index existed; they are
// reported while they run in this process and can be paused here.

// bgStatus is GET /_synapse/admin/v1/background_updates/status. Synapse
// keys current_updates by database, one update running on each; Myelin's
// run side by side on its one database, so they are keyed by name.
func (a *API) bgStatus(w http.ResponseWriter, _ *http.Request, _ *httpapi.Session) {
	current := map[string]any{}
	for _, u := range a.Updates.Running() {
		ms := float64(u.Duration.Microseconds()) / 1000
		avg := 0.0
		if ms > 0 {
			avg = float64(u.Items) / ms
		}
		current[u.Name] = map[string]any{"name": u.Name, "total_item_count": u.Items,
			"total_duration_ms": ms, "average_items_per_ms": avg}
	}
	writeOK(w, map[string]any{"enabled": a.Updates.Enabled(), "current_updates": current})
}

// bgEnabled is GET /_synapse/admin/v1/background_updates/enabled.
func (a *API) bgEnabled(w http.ResponseWriter, _ *http.Request, _ *httpapi.Session) {
	writeOK(w, map[string]bool{"enabled": a.Updates.Enabled()})
}

// bgSetEnabled is POST /_synapse/admin/v1/background_updates/enabled:
// pausing lasts until resumed or until the process restarts, as in
// Synapse.
func (a *API) bgSetEnabled(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	var body struct {
		Enabled json.RawMessage `json:"enabled"`
	}
	if err := httpapi.ReadOptionalJSON(r, maxBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	enabled := true
	if len(body.Enabled) > 0 {
		if err := json.Unmarshal(body.Enabled, &enabled); err != nil {
			httpapi.WriteError(w, merr.BadRequest(merr.CodeUnknown, "'enabled' parameter must be a boolean"))
			return
		}
	}
	a.Updates.SetEnabled(enabled)
	writeOK(w, map[string]bool{"enabled": a.Updates.Enabled()})
}

// synapseJobs are the jobs Synapse's start_job knows. Both rebuild tables
// Myelin does not keep (room statistics and the user directory are read
// from current state when asked), so there is nothing to run and the
// request succeeds at once.
var synapseJobs = map[string]bool{"populate_stats_process_rooms": true, "regenerate_directory": true}

// bgStartJob is POST /_synapse/admin/v1/background_updates/start_job.
func (a *API) bgStartJob(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	var body struct {
		JobName *string `json:"job_name"`
	}
	if err := httpapi.ReadJSON(r, maxBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if body.JobName == nil {
		httpapi.WriteError(w, merr.MissingParam("Missing params: ['job_name']"))
		return
	}
	if !synapseJobs[*body.JobName] {
		httpapi.WriteError(w, merr.BadRequest(merr.CodeUnknown, "Invalid job_name"))
		return
	}
	writeOK(w, empty)
}
