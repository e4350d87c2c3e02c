package server_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

type deviceListSync struct {
	NextBatch   string `json:"next_batch"`
	DeviceLists struct {
		Changed []string `json:"changed"`
		Left    []string `json:"left"`
	} `json:"device_lists"`
}

func syncDeviceLists(c *servertest.Client, since string) deviceListSync {
	var resp deviceListSync
	path := "/_matrix/client/v3/sync?timeout=0"
	if since != "" {
		path += "&since=" + url.QueryEscape(since)
	}
	c.MustDo("GET", path, nil, &resp)
	return resp
}

type keyChangesResp struct {
	Changed []string `json:"changed"`
	Left    []string `json:"left"`
}

func keyChanges(c *servertest.Client, from, to string) keyChangesResp {
	var resp keyChangesResp
	c.MustDo("GET", "/_matrix/client/v3/keys/changes?from="+url.QueryEscape(from)+"&to="+url.QueryEscape(to), nil, &resp)
	return resp
}

// end_to_end_encryption.md "Tracking the device list for a user": a new
// device, new device keys or a new device name of a user who shares a room
// with the caller puts them in device_lists.changed of the next sync and
// in /keys/changes between the two tokens; the caller's own new devices
// too. One-time keys are no one else's business, and users who share no
// room with the caller are not listed.
func TestDeviceLists_DeviceChangesOfRoomMatesAreListed(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob, dave := s.Register("alice"), s.Register("bob"), s.Register("dave")
		sharedRoom(t, alice, bob)
		since := syncDeviceLists(alice, "").NextBatch
		bobSince := syncDeviceLists(bob, "").NextBatch

		bob2 := login(t, s, "bob", "BOBPHONE")
		login(t, s, "dave", "DAVEPHONE")
		got := syncDeviceLists(alice, since)
		if fmt.Sprint(got.DeviceLists.Changed) != fmt.Sprint([]string{bob.UserID}) || len(got.DeviceLists.Left) != 0 {
			t.Fatalf("alice after bob's new device: %+v", got.DeviceLists)
		}
		if kc := keyChanges(alice, since, got.NextBatch); fmt.Sprint(kc.Changed) != fmt.Sprint([]string{bob.UserID}) || kc.Left == nil {
			t.Fatalf("keys/changes: %+v", kc)
		}
		if own := syncDeviceLists(bob, bobSince); fmt.Sprint(own.DeviceLists.Changed) != fmt.Sprint([]string{bob.UserID}) {
			t.Fatalf("bob sees his own new device: %+v", own.DeviceLists)
		}
		_ = dave

		// New identity keys are a change; one-time keys alone are not.
		since = got.NextBatch
		dev := newTestDevice(t, bob2)
		mustUpload(t, bob2, m{"device_keys": dev.deviceKeys(t)})
		got = syncDeviceLists(alice, since)
		if fmt.Sprint(got.DeviceLists.Changed) != fmt.Sprint([]string{bob.UserID}) {
			t.Fatalf("after a keys upload: %+v", got.DeviceLists)
		}
		since = got.NextBatch
		mustUpload(t, bob2, m{"one_time_keys": m{"signed_curve25519:AAAA": dev.signedKey(t, "k1", false)}})
		if got = syncDeviceLists(alice, since); len(got.DeviceLists.Changed) != 0 {
			t.Fatalf("one-time keys are not a device list change: %+v", got.DeviceLists)
		}

		// A renamed device, and a deleted one.
		since = got.NextBatch
		bob2.MustDo("PUT", "/_matrix/client/v3/devices/"+bob2.DeviceID, m{"display_name": "phone"}, nil)
		if got = syncDeviceLists(alice, since); fmt.Sprint(got.DeviceLists.Changed) != fmt.Sprint([]string{bob.UserID}) {
			t.Fatalf("after a rename: %+v", got.DeviceLists)
		}
		since = got.NextBatch
		bob2.MustDo("POST", "/_matrix/client/v3/logout", m{}, nil)
		if got = syncDeviceLists(alice, since); fmt.Sprint(got.DeviceLists.Changed) != fmt.Sprint([]string{bob.UserID}) {
			t.Fatalf("after a logout: %+v", got.DeviceLists)
		}
	})
}

// end_to_end_encryption.md "Tracking the device list for a user": a user
// who comes to share a room with the caller is listed in changed (the
// caller must fetch their devices), for both of them; one who no longer
// shares any room is listed in left, on either side of the leave.
func TestDeviceLists_JoiningAndLeavingSharedRooms(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob, carol := s.Register("alice"), s.Register("bob"), s.Register("carol")
		room := sharedRoom(t, alice, bob)
		other := sharedRoom(t, alice)
		since := syncDeviceLists(alice, "").NextBatch
		carolSince := syncDeviceLists(carol, "").NextBatch

		carol.MustDo("POST", "/_matrix/client/v3/join/"+url.PathEscape(room), m{}, nil)
		got := syncDeviceLists(alice, since)
		if fmt.Sprint(got.DeviceLists.Changed) != fmt.Sprint([]string{carol.UserID}) {
			t.Fatalf("alice after carol joined: %+v", got.DeviceLists)
		}
		cg := syncDeviceLists(carol, carolSince)
		if fmt.Sprint(cg.DeviceLists.Changed) != fmt.Sprint([]string{alice.UserID, bob.UserID}) {
			t.Fatalf("carol after joining: %+v", cg.DeviceLists)
		}

		// Carol also shares the other room: leaving one is not leaving.
		carol.MustDo("POST", "/_matrix/client/v3/join/"+url.PathEscape(other), m{}, nil)
		since = syncDeviceLists(alice, got.NextBatch).NextBatch
		carol.MustDo("POST", servertest.Room(room)+"/leave", m{}, nil)
		got = syncDeviceLists(alice, since)
		if len(got.DeviceLists.Left) != 0 {
			t.Fatalf("carol still shares a room: %+v", got.DeviceLists)
		}
		carolSince = syncDeviceLists(carol, "").NextBatch
		carol.MustDo("POST", servertest.Room(other)+"/leave", m{}, nil)
		got2 := syncDeviceLists(alice, got.NextBatch)
		if fmt.Sprint(got2.DeviceLists.Left) != fmt.Sprint([]string{carol.UserID}) {
			t.Fatalf("alice after carol left every shared room: %+v", got2.DeviceLists)
		}
		if kc := keyChanges(alice, since, got2.NextBatch); fmt.Sprint(kc.Left) != fmt.Sprint([]string{carol.UserID}) {
			t.Fatalf("keys/changes: %+v", kc)
		}
		if cg := syncDeviceLists(carol, carolSince); fmt.Sprint(cg.DeviceLists.Left) != fmt.Sprint([]string{alice.UserID}) {
			t.Fatalf("carol after leaving: %+v", cg.DeviceLists)
		}
	})
}

// keys.yaml: from and to are required sync tokens.
func TestKeyChanges_RequiresTwoTokens(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		tok := syncDeviceLists(alice, "").NextBatch
		for _, tc := range []struct{ query, errcode string }{
			{"from=" + url.QueryEscape(tok), "M_MISSING_PARAM"},
			{"to=" + url.QueryEscape(tok), "M_MISSING_PARAM"},
			{"from=nonsense&to=" + url.QueryEscape(tok), "M_INVALID_PARAM"},
		} {
			status, raw := alice.Do("GET", "/_matrix/client/v3/keys/changes?"+tc.query, nil, nil)
			if status != http.StatusBadRequest || servertest.Errcode(raw) != tc.errcode {
				t.Errorf("%s: %d %s", tc.query, status, raw)
			}
		}
		if kc := keyChanges(alice, tok, tok); kc.Changed == nil || kc.Left == nil || len(kc.Changed)+len(kc.Left) != 0 {
			t.Fatalf("no changes: %+v", kc)
		}
	})
}

// end_to_end_encryption.md "Cross-signing": new cross-signing keys are a
// change of the user's keys, which users sharing a room see in
// device_lists.changed like a device change.
func TestDeviceLists_CrossSigningKeysAreAChange(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		sharedRoom(t, alice, bob)
		since := syncDeviceLists(alice, "").NextBatch
		newCrossSigning(t, bob.UserID).mustBootstrap(t, bob)
		got := syncDeviceLists(alice, since)
		if fmt.Sprint(got.DeviceLists.Changed) != fmt.Sprint([]string{bob.UserID}) {
			t.Fatalf("after bob's cross-signing keys: %+v", got.DeviceLists)
		}
	})
}

// The device-list change log keeps a row per device a user has, not per
// device ID they ever had: the rows of deleted devices fold into one, and
// a sync from a token older than all of them still lists the user, while
// one from after them does not.
func TestDeviceLists_ChangeLogIsBoundedByTheDevicesAUserHas(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		sharedRoom(t, alice, bob)
		old := syncDeviceLists(alice, "").NextBatch
		for i := range 10 {
			c := login(t, s, "bob", fmt.Sprintf("CHURN%d", i))
			c.MustDo("POST", "/_matrix/client/v3/logout", map[string]any{}, nil)
		}
		// bob's registration device, the latest deletion (the chain's
		// head) and the row the others folded into.
		if n := countRows(t, s.DB, "e2ee_device_list_changes", "user_id", bob.UserID); n > 3 {
			t.Errorf("bob has %d rows in the change log after 10 devices came and went, want at most 3", n)
		}
		if got := syncDeviceLists(alice, old); fmt.Sprint(got.DeviceLists.Changed) != fmt.Sprint([]string{bob.UserID}) {
			t.Errorf("a sync from before the churn: %+v", got.DeviceLists)
		}
		recent := syncDeviceLists(alice, "").NextBatch
		if got := syncDeviceLists(alice, recent); len(got.DeviceLists.Changed) != 0 {
			t.Errorf("a sync from after the churn: %+v", got.DeviceLists)
		}
	})
}
