package fede2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
	"github.com/myelin-chat/myelin/internal/signing"
)

// e2eDevice is a client device's Ed25519 identity key, signing as a client
// does (appendices "Signing JSON").
type e2eDevice struct {
	c    *client
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
}

func newE2EDevice(t testing.TB, c *client) *e2eDevice {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &e2eDevice{c: c, priv: priv, pub: pub}
}

func (d *e2eDevice) sign(t testing.TB, obj map[string]any) map[string]any {
	raw, err := canonicaljson.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	obj["signatures"] = map[string]any{d.c.userID: map[string]any{"ed25519:" + d.c.deviceID: signing.EncodeBase64(ed25519.Sign(d.priv, raw))}}
	return obj
}

func (d *e2eDevice) deviceKeys(t testing.TB) map[string]any {
	return d.sign(t, map[string]any{"user_id": d.c.userID, "device_id": d.c.deviceID,
		"algorithms": []string{"m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"},
		"keys":       map[string]any{"curve25519:" + d.c.deviceID: "curve-" + d.c.deviceID, "ed25519:" + d.c.deviceID: signing.EncodeBase64(d.pub)}})
}

// upload publishes the device's keys and one one-time key.
func (d *e2eDevice) upload(t testing.TB) {
	d.c.must(t, "POST", "/_matrix/client/v3/keys/upload", map[string]any{
		"device_keys":   d.deviceKeys(t),
		"one_time_keys": map[string]any{"signed_curve25519:OTK" + d.c.deviceID: d.sign(t, map[string]any{"key": "otk-" + d.c.deviceID})},
	}, nil)
}

// login logs in another device of the user.
func (s *homeserver) login(t testing.TB, localpart, deviceID string) *client {
	t.Helper()
	var resp struct {
		UserID      string `json:"user_id"`
		AccessToken string `json:"access_token"`
		DeviceID    string `json:"device_id"`
	}
	x, err := s.do(context.Background(), "", "POST", "/_matrix/client/v3/login", map[string]any{"type": "m.login.password",
		"identifier": map[string]any{"type": "m.id.user", "user": localpart}, "password": password, "device_id": deviceID})
	if err != nil {
		t.Fatal(err)
	}
	s.proc.RequireOK(t, x, localpart, &resp)
	return &client{s: s, userID: resp.UserID, deviceID: resp.DeviceID, token: resp.AccessToken}
}

type keysQuery struct {
	DeviceKeys map[string]map[string]struct {
		Keys map[string]string `json:"keys"`
	} `json:"device_keys"`
	Failures map[string]json.RawMessage `json:"failures"`
}

// queryDevices returns the devices /keys/query lists per user, sorted, and
// the failures.
func (c *client) queryDevices(t testing.TB, users ...string) (map[string][]string, map[string]json.RawMessage) {
	t.Helper()
	req := map[string]any{}
	for _, u := range users {
		req[u] = []string{}
	}
	var resp keysQuery
	c.must(t, "POST", "/_matrix/client/v3/keys/query", map[string]any{"device_keys": req}, &resp)
	out := map[string][]string{}
	for u, devs := range resp.DeviceKeys {
		for d := range devs {
			out[u] = append(out[u], d)
		}
		sort.Strings(out[u])
	}
	return out, resp.Failures
}

// deviceListsSince runs one /sync from since and returns device_lists
// changed and the next token.
func (c *client) deviceListsSince(t testing.TB, since string, timeout time.Duration) ([]string, string) {
	t.Helper()
	q := url.Values{"timeout": {fmt.Sprint(timeout.Milliseconds())}, "filter": {`{"room":{"timeline":{"limit":1}}}`}}
	if since != "" {
		q.Set("since", since)
	}
	var resp struct {
		NextBatch   string `json:"next_batch"`
		DeviceLists struct {
			Changed []string `json:"changed"`
		} `json:"device_lists"`
	}
	c.must(t, "GET", "/_matrix/client/v3/sync?"+q.Encode(), nil, &resp)
	return resp.DeviceLists.Changed, resp.NextBatch
}

// server-server-api "Device Management" and "End-to-End Encryption":
// users of three servers share a room. Each downloads the others' device
// keys and claims their one-time keys through its own server; a device
// added on one server shows in the others' /sync device_lists.changed (an
// m.device_list_update), and their next key query lists it.
func TestFederation_DeviceKeysAndDeviceListsAcrossServers(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hs1, hs2, hs3 := c.add("hs1"), c.add("hs2"), c.add("hs3")
	alice, bob, carol := hs1.register(t, "alice"), hs2.register(t, "bob"), hs3.register(t, "carol")
	roomID := alice.createRoom(t, map[string]any{"preset": "public_chat"})
	bob.join(t, roomID, hs1.name)
	carol.join(t, roomID, hs1.name)
	for _, u := range []*client{alice, bob, carol} {
		newE2EDevice(t, u).upload(t)
	}

	// Each sees the others' devices through its own server.
	c.eventually(t, "every user sees every device", syncBound, func() string {
		for _, u := range []*client{alice, bob, carol} {
			got, failures := u.queryDevices(t, alice.userID, bob.userID, carol.userID)
			want := map[string][]string{alice.userID: {alice.deviceID}, bob.userID: {bob.deviceID}, carol.userID: {carol.deviceID}}
			if fmt.Sprint(got) != fmt.Sprint(want) || len(failures) != 0 {
				return fmt.Sprintf("%s sees %v, failures %s", u.userID, got, failures)
			}
		}
		return ""
	})

	// One-time keys are claimed from the owning server, once.
	var claimed struct {
		OneTimeKeys map[string]map[string]map[string]json.RawMessage `json:"one_time_keys"`
		Failures    map[string]json.RawMessage                       `json:"failures"`
	}
	body := map[string]any{"one_time_keys": map[string]any{bob.userID: map[string]any{bob.deviceID: "signed_curve25519"},
		carol.userID: map[string]any{carol.deviceID: "signed_curve25519"}}}
	alice.must(t, "POST", "/_matrix/client/v3/keys/claim", body, &claimed)
	if _, ok := claimed.OneTimeKeys[bob.userID][bob.deviceID]["signed_curve25519:OTK"+bob.deviceID]; !ok || len(claimed.Failures) != 0 {
		t.Fatalf("claim of bob's key: %+v", claimed)
	}
	if _, ok := claimed.OneTimeKeys[carol.userID][carol.deviceID]["signed_curve25519:OTK"+carol.deviceID]; !ok {
		t.Fatalf("claim of carol's key: %+v", claimed)
	}
	claimed.OneTimeKeys = nil
	alice.must(t, "POST", "/_matrix/client/v3/keys/claim", body, &claimed)
	if len(claimed.OneTimeKeys) != 0 {
		t.Fatalf("a one-time key was given out twice: %+v", claimed)
	}

	// Alice's new device reaches bob's and carol's device_lists.changed,
	// and their servers list it.
	_, bobSince := bob.deviceListsSince(t, "", 0)
	_, carolSince := carol.deviceListsSince(t, "", 0)
	phone := hs1.login(t, "alice", "ALICEPHONE")
	newE2EDevice(t, phone).upload(t)
	for _, w := range []struct {
		u     *client
		since string
	}{{bob, bobSince}, {carol, carolSince}} {
		since := w.since
		c.eventually(t, w.u.userID+" sees alice's new device", syncBound, func() string {
			changed, next := w.u.deviceListsSince(t, since, time.Second)
			since = next
			if !contains(changed, alice.userID) {
				return fmt.Sprintf("changed %v", changed)
			}
			return ""
		})
		c.eventually(t, w.u.userID+" lists alice's new device", syncBound, func() string {
			got, _ := w.u.queryDevices(t, alice.userID)
			if fmt.Sprint(got[alice.userID]) != fmt.Sprint([]string{"ALICEPHONE", alice.deviceID}) {
				return fmt.Sprintf("alice's devices %v", got[alice.userID])
			}
			return ""
		})
	}
}

// server-server-api "Device Management": an m.device_list_update whose
// prev_id names an update the receiver never got means it missed one, and
// it fetches the whole list again with /user/devices; a complete chain is
// applied without asking.
func TestFederation_MissedDeviceListUpdateTriggersResync(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hs1 := c.add("hs1")
	alice := hs1.register(t, "alice")
	roomID := alice.createRoom(t, map[string]any{"preset": "public_chat"})
	mal := newRogue(t, c, "mal", nil)
	eve := mal.userID("eve")

	// The rogue's view of eve's devices, served by /user/devices.
	var fetches atomic.Int32
	var devices atomic.Value // []string
	var streamID atomic.Int64
	devices.Store([]string{"E1"})
	streamID.Store(1)
	mal.handle("GET /_matrix/federation/v1/user/devices/{userId}", func(w http.ResponseWriter, req *http.Request) {
		fetches.Add(1)
		var devs []map[string]any
		for _, d := range devices.Load().([]string) {
			devs = append(devs, map[string]any{"device_id": d, "keys": map[string]any{"user_id": eve, "device_id": d,
				"algorithms": []string{"m.olm.v1.curve25519-aes-sha2"}, "keys": map[string]any{"ed25519:" + d: "k" + d}}})
		}
		writeJSONBytes(w, http.StatusOK, mustJSON(map[string]any{"user_id": eve, "stream_id": streamID.Load(), "devices": devs}))
	})
	mal.join(t, hs1, roomID, "eve")

	if got, _ := alice.queryDevices(t, eve); fmt.Sprint(got[eve]) != "[E1]" || fetches.Load() != 1 {
		t.Fatalf("first query: %v, %d fetches", got, fetches.Load())
	}
	update := func(device string, id int64, prev ...int64) {
		content := map[string]any{"user_id": eve, "device_id": device, "stream_id": id, "prev_id": prev,
			"keys": map[string]any{"user_id": eve, "device_id": device, "algorithms": []string{"m.olm.v1.curve25519-aes-sha2"},
				"keys": map[string]any{"ed25519:" + device: "k" + device}}}
		mal.send(t, hs1, newTxnID(), mustJSON(map[string]any{"origin": mal.name, "origin_server_ts": time.Now().UnixMilli(),
			"pdus": []any{}, "edus": []any{map[string]any{"edu_type": "m.device_list_update", "content": content}}}))
	}

	// A complete chain: applied from the EDU alone.
	devices.Store([]string{"E1", "E2"})
	streamID.Store(2)
	update("E2", 2, 1)
	if got, _ := alice.queryDevices(t, eve); fmt.Sprint(got[eve]) != "[E1 E2]" || fetches.Load() != 1 {
		t.Fatalf("after an update in sequence: %v, %d fetches", got, fetches.Load())
	}

	// Update 3 is lost; 4 names it: hs1 fetches the list by itself.
	devices.Store([]string{"E1", "E2", "E3", "E4"})
	streamID.Store(4)
	update("E4", 4, 3)
	c.eventually(t, "hs1 fetches eve's devices after the gap", syncBound, func() string {
		if n := fetches.Load(); n != 2 {
			return fmt.Sprintf("%d fetches", n)
		}
		return ""
	})
	c.eventually(t, "alice sees the resynchronised list", syncBound, func() string {
		if got, _ := alice.queryDevices(t, eve); fmt.Sprint(got[eve]) != "[E1 E2 E3 E4]" {
			return fmt.Sprintf("eve's devices %v", got[eve])
		}
		return ""
	})
	if n := fetches.Load(); n != 2 {
		t.Fatalf("the resynchronised list was fetched again: %d fetches", n)
	}
}

// server-server-api "Device Management" and end_to_end_encryption.md
// "Tracking the device list for a user": while bob shares no room with
// anyone on hs1, his server sends hs1 no updates, so a device he adds then
// is not in hs1's cached list. When they share a room again (here alice
// joins bob's new room), alice sees bob in device_lists.changed and hs1
// fetches his list again before answering her query.
func TestFederation_DeviceListRefetchedWhenRoomSharedAgain(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hs1, hs2 := c.add("hs1"), c.add("hs2")
	alice, bob := hs1.register(t, "alice"), hs2.register(t, "bob")
	first := alice.createRoom(t, map[string]any{"preset": "public_chat"})
	bob.join(t, first, hs1.name)
	newE2EDevice(t, alice).upload(t)
	newE2EDevice(t, bob).upload(t)
	c.eventually(t, "alice sees bob's device", syncBound, func() string {
		if got, _ := alice.queryDevices(t, bob.userID); fmt.Sprint(got[bob.userID]) != fmt.Sprint([]string{bob.deviceID}) {
			return fmt.Sprintf("bob's devices %v", got[bob.userID])
		}
		return ""
	})

	bob.leave(t, first)
	c.eventually(t, "hs1 sees bob leave", syncBound, func() string {
		if m := alice.state(t, first).membershipOf(bob.userID); m != "leave" {
			return "bob's membership " + m
		}
		return ""
	})
	phone := hs2.login(t, "bob", "BOBPHONE")
	newE2EDevice(t, phone).upload(t)

	_, since := alice.deviceListsSince(t, "", 0)
	second := bob.createRoom(t, map[string]any{"preset": "public_chat"})
	alice.join(t, second, hs2.name)
	c.eventually(t, "bob in alice's device_lists.changed", syncBound, func() string {
		changed, next := alice.deviceListsSince(t, since, time.Second)
		since = next
		if !contains(changed, bob.userID) {
			return fmt.Sprintf("changed %v", changed)
		}
		return ""
	})
	got, failures := alice.queryDevices(t, bob.userID)
	wantIDs := []string{"BOBPHONE", bob.deviceID}
	sort.Strings(wantIDs) // queryDevices sorts; bob's first device ID is random
	if want := fmt.Sprint(wantIDs); fmt.Sprint(got[bob.userID]) != want || len(failures) != 0 {
		t.Fatalf("bob's devices after sharing a room again: %v (failures %s), want %s", got[bob.userID], failures, want)
	}
}

// server-server-api "Device Management": m.device_list_update EDUs "must
// be sent ... when that user joins a room which contains servers which
// are not already receiving updates for that user's device list". Alice
// joins a room in which a user of another server is: that server receives
// her device. And end_to_end_encryption.md "Tracking the device list for
// a user": when eve of that server joins dave's room, dave sees her in
// device_lists.changed.
func TestFederation_JoiningUserDevicesSentToNewServers(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hs1 := c.add("hs1")
	alice, dave := hs1.register(t, "alice"), hs1.register(t, "dave")
	roomID := dave.createRoom(t, map[string]any{"preset": "public_chat"})
	_, since := dave.deviceListsSince(t, "", 0)
	mal := newRogue(t, c, "mal", nil)
	mal.join(t, hs1, roomID, "eve")
	if changed, _ := dave.deviceListsSince(t, since, 0); !contains(changed, mal.userID("eve")) {
		t.Errorf("dave's device_lists.changed after eve joined: %v", changed)
	}
	newE2EDevice(t, alice).upload(t)

	alice.join(t, roomID)
	c.eventually(t, "mal receives alice's device", syncBound, func() string {
		var seen []string
		for _, raw := range mal.receivedEDUs("m.device_list_update") {
			var u struct {
				UserID   string          `json:"user_id"`
				DeviceID string          `json:"device_id"`
				StreamID int64           `json:"stream_id"`
				Keys     json.RawMessage `json:"keys"`
			}
			_ = json.Unmarshal(raw, &u)
			if u.UserID == alice.userID && u.DeviceID == alice.deviceID && u.StreamID > 0 && len(u.Keys) > 2 {
				return ""
			}
			seen = append(seen, u.UserID+"/"+u.DeviceID)
		}
		return fmt.Sprintf("device list updates received: %v", seen)
	})
}

// client-server-api "POST /keys/query" and server-server-api "POST
// /user/keys/query": the users of one server are asked in one request for
// them all; a user whose device list the server must track but cannot
// fetch (GET /user/devices fails) is asked that way too rather than
// served stale or failed; a server that does not answer within the
// request's timeout is listed under failures while the others' users are
// answered.
func TestFederation_KeyQueryBatchedPerServerWithFailures(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hs1 := c.add("hs1")
	alice := hs1.register(t, "alice")
	roomID := alice.createRoom(t, map[string]any{"preset": "public_chat"})
	mal, mute := newRogue(t, c, "mal", nil), newRogue(t, c, "mute", nil)
	eve := mal.userID("eve")

	var mu sync.Mutex
	var queries [][]string // the users of each /user/keys/query mal got
	mal.handle("POST /_matrix/federation/v1/user/keys/query", func(w http.ResponseWriter, req *http.Request) {
		var body struct {
			DeviceKeys map[string][]string `json:"device_keys"`
		}
		_ = json.NewDecoder(req.Body).Decode(&body)
		var users []string
		keys := map[string]any{}
		for u := range body.DeviceKeys {
			users = append(users, u)
			d := "D" + strings.TrimPrefix(strings.SplitN(u, ":", 2)[0], "@")
			keys[u] = map[string]any{d: map[string]any{"user_id": u, "device_id": d,
				"algorithms": []string{"m.olm.v1.curve25519-aes-sha2"}, "keys": map[string]any{"ed25519:" + d: "k" + d}}}
		}
		sort.Strings(users)
		mu.Lock()
		queries = append(queries, users)
		mu.Unlock()
		writeJSONBytes(w, http.StatusOK, mustJSON(map[string]any{"device_keys": keys}))
	})
	mal.handle("GET /_matrix/federation/v1/user/devices/{userId}", func(w http.ResponseWriter, _ *http.Request) {
		writeJSONBytes(w, http.StatusInternalServerError, []byte(`{"errcode":"M_UNKNOWN","error":"down for maintenance"}`))
	})
	mute.handle("POST /_matrix/federation/v1/user/keys/query", func(_ http.ResponseWriter, req *http.Request) {
		<-req.Context().Done() // never answers; hs1 gives up at the timeout
	})
	asked := func() [][]string {
		mu.Lock()
		defer mu.Unlock()
		return append([][]string(nil), queries...)
	}

	// Three users of mal no one here shares a room with: one request.
	f, g, h := mal.userID("f"), mal.userID("g"), mal.userID("h")
	got, failures := alice.queryDevices(t, f, g, h)
	if fmt.Sprint(got) != fmt.Sprint(map[string][]string{f: {"Df"}, g: {"Dg"}, h: {"Dh"}}) || len(failures) != 0 {
		t.Fatalf("keys of mal's users: %v, failures %s", got, failures)
	}
	if q := asked(); fmt.Sprint(q) != fmt.Sprint([][]string{{f, g, h}}) {
		t.Fatalf("mal was asked %v, want one request for all three", q)
	}

	// eve shares a room with alice, but her list cannot be fetched: she is
	// asked for instead, with the others of her server, and not failed.
	mal.join(t, hs1, roomID, "eve")
	var resp keysQuery
	alice.must(t, "POST", "/_matrix/client/v3/keys/query", map[string]any{"timeout": 2000,
		"device_keys": map[string]any{eve: []string{}, f: []string{}, mute.userID("m"): []string{}}}, &resp)
	if _, ok := resp.DeviceKeys[eve]["Deve"]; !ok {
		t.Errorf("eve's device missing: %+v", resp.DeviceKeys)
	}
	if _, ok := resp.DeviceKeys[f]["Df"]; !ok {
		t.Errorf("f's device missing: %+v", resp.DeviceKeys)
	}
	if _, ok := resp.Failures[mute.name]; !ok || len(resp.Failures) != 1 {
		t.Errorf("failures %s, want only %s", resp.Failures, mute.name)
	}
}
