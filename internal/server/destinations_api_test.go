package server_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/fedqueue"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

type destination struct {
	Destination                  string `json:"destination"`
	RetryLastTS                  int64  `json:"retry_last_ts"`
	RetryInterval                int64  `json:"retry_interval"`
	FailureTS                    *int64 `json:"failure_ts"`
	LastSuccessfulStreamOrdering *int64 `json:"last_successful_stream_ordering"`
}

// Synapse's federation admin API lists the servers this one sends to with
// their retry state, pages and orders them, shows one, and resets a
// failing one's backoff; a healthy or unknown one cannot be reset.
func TestAdminAPI_FederationDestinations(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s := servertest.Start(t, db, servertest.Options{})
		ctx := context.Background()
		q, err := fedqueue.New(ctx, s.DB)
		if err != nil {
			t.Fatal(err)
		}
		// What the sender records: a success with good.example, failures
		// with dead.example since t=1000, retrying at 61000 after 60 s.
		if _, err := q.Acknowledge(ctx, fedqueue.Delivery{Destination: "good.example", StreamPos: 42, NowMS: 5000}); err != nil {
			t.Fatal(err)
		}
		if err := q.SetRetry(ctx, "dead.example", fedqueue.Retry{IntervalMS: 60000, AtMS: 61000, FailingSinceMS: 1000}); err != nil {
			t.Fatal(err)
		}
		admin, user := newAdmin(t, s, "admin"), s.Register("user")
		const base = adminV1 + "/federation/destinations"
		if code, _ := user.Do("GET", base, nil, nil); code != http.StatusForbidden {
			t.Fatalf("non-admin: %d", code)
		}

		var list struct {
			Destinations []destination `json:"destinations"`
			Total        int           `json:"total"`
			NextToken    *string       `json:"next_token"`
		}
		admin.MustDo("GET", base, nil, &list)
		if list.Total != 2 || len(list.Destinations) != 2 || list.NextToken != nil {
			t.Fatalf("list: %+v", list)
		}
		dead, good := list.Destinations[0], list.Destinations[1]
		if dead.Destination != "dead.example" || dead.RetryInterval != 60000 || dead.RetryLastTS != 1000 || dead.FailureTS == nil || *dead.FailureTS != 1000 || dead.LastSuccessfulStreamOrdering != nil {
			t.Errorf("dead.example: %+v", dead)
		}
		if good.Destination != "good.example" || good.FailureTS != nil || good.LastSuccessfulStreamOrdering == nil || *good.LastSuccessfulStreamOrdering != 42 {
			t.Errorf("good.example: %+v", good)
		}
		admin.MustDo("GET", base+"?limit=1&order_by=retry_interval&dir=b", nil, &list)
		if len(list.Destinations) != 1 || list.Destinations[0].Destination != "dead.example" || list.NextToken == nil || *list.NextToken != "1" {
			t.Errorf("page ordered by retry_interval desc: %+v", list)
		}
		admin.MustDo("GET", base+"?destination=GOOD", nil, &list)
		if len(list.Destinations) != 1 || list.Destinations[0].Destination != "good.example" {
			t.Errorf("search: %+v", list)
		}
		if code, raw := admin.Do("GET", base+"?order_by=nonsense", nil, nil); code != http.StatusBadRequest || servertest.Errcode(raw) != "M_INVALID_PARAM" {
			t.Errorf("bad order_by: %d %s", code, raw)
		}

		var one destination
		admin.MustDo("GET", base+"/good.example", nil, &one)
		if one.Destination != "good.example" {
			t.Errorf("one: %+v", one)
		}
		if code, raw := admin.Do("GET", base+"/never.example", nil, nil); code != http.StatusNotFound {
			t.Errorf("unknown destination: %d %s", code, raw)
		}
		if code, raw := admin.Do("POST", base+"/good.example/reset_connection", map[string]any{}, nil); code != http.StatusBadRequest {
			t.Errorf("resetting a healthy destination: %d %s", code, raw)
		}
		admin.MustDo("POST", base+"/dead.example/reset_connection", map[string]any{}, nil)
		admin.MustDo("GET", base+"/dead.example", nil, &one)
		if one.RetryInterval != 0 || one.FailureTS != nil || one.RetryLastTS != 0 {
			t.Errorf("after reset: %+v", one)
		}
		var rooms struct {
			Rooms []any `json:"rooms"`
			Total int   `json:"total"`
		}
		admin.MustDo("GET", base+"/good.example/rooms", nil, &rooms)
		if rooms.Total != 0 || len(rooms.Rooms) != 0 {
			t.Errorf("rooms shared with good.example: %+v", rooms)
		}
	})
}
