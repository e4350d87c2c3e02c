package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/keybackupstore"
)

// Key backup API tests (client-server-api "Server-side key backups",
// key_backup.yaml).

const backupAlg = "m.megolm_backup.v1.curve25519-aes-sha2"

const roomKeys = "/_matrix/client/v3/room_keys"

type backupVersion struct {
	Algorithm string          `json:"algorithm"`
	AuthData  json.RawMessage `json:"auth_data"`
	Count     int             `json:"count"`
	Etag      string          `json:"etag"`
	Version   string          `json:"version"`
}

type backupCounts struct {
	Etag  string `json:"etag"`
	Count int    `json:"count"`
}

type backupKey struct {
	FirstMessageIndex int64           `json:"first_message_index"`
	ForwardedCount    int64           `json:"forwarded_count"`
	IsVerified        bool            `json:"is_verified"`
	SessionData       json.RawMessage `json:"session_data"`
}

func createBackup(t *testing.T, c *servertest.Client, publicKey string) string {
	t.Helper()
	var resp struct {
		Version string `json:"version"`
	}
	c.MustDo("POST", roomKeys+"/version", m{"algorithm": backupAlg, "auth_data": m{"public_key": publicKey}}, &resp)
	if resp.Version == "" {
		t.Fatal("no version")
	}
	return resp.Version
}

func sessionKey(index, forwarded int, verified bool, data string) m {
	return m{"first_message_index": index, "forwarded_count": forwarded, "is_verified": verified,
		"session_data": m{"ephemeral": "e", "ciphertext": data, "mac": "m"}}
}

func keyPath(roomID, sessionID, version string) string {
	p := roomKeys + "/keys"
	if roomID != "" {
		p += "/" + url.PathEscape(roomID)
	}
	if sessionID != "" {
		p += "/" + url.PathEscape(sessionID)
	}
	return p + "?version=" + url.QueryEscape(version)
}

func putKey(t *testing.T, c *servertest.Client, version, roomID, sessionID string, key m) backupCounts {
	t.Helper()
	var resp backupCounts
	c.MustDo("PUT", keyPath(roomID, sessionID, version), key, &resp)
	return resp
}

func getKey(t *testing.T, c *servertest.Client, version, roomID, sessionID string) backupKey {
	t.Helper()
	var k backupKey
	c.MustDo("GET", keyPath(roomID, sessionID, version), nil, &k)
	return k
}

// A backup is created, found as the current version, its auth_data updated
// and deleted; versions are opaque strings that grow.
func TestKeyBackup_VersionLifecycle(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		if status, raw := alice.Do("GET", roomKeys+"/version", nil, nil); status != 404 || servertest.Errcode(raw) != "M_NOT_FOUND" {
			t.Fatalf("no backup yet: %d %s", status, raw)
		}
		v1 := createBackup(t, alice, "key1")
		var got backupVersion
		alice.MustDo("GET", roomKeys+"/version", nil, &got)
		if got.Version != v1 || got.Algorithm != backupAlg || string(got.AuthData) != `{"public_key":"key1"}` || got.Count != 0 || got.Etag == "" {
			t.Fatalf("current version: %+v", got)
		}
		v2 := createBackup(t, alice, "key2")
		if v2 == v1 {
			t.Fatalf("same version twice: %s", v2)
		}
		alice.MustDo("GET", roomKeys+"/version", nil, &got)
		if got.Version != v2 {
			t.Fatalf("the newest version is current: %+v", got)
		}
		alice.MustDo("GET", roomKeys+"/version/"+v1, nil, &got)
		if got.Version != v1 || string(got.AuthData) != `{"public_key":"key1"}` {
			t.Fatalf("old version: %+v", got)
		}

		// Only auth_data changes; the algorithm must stay and a version in
		// the body must match the path.
		alice.MustDo("PUT", roomKeys+"/version/"+v2, m{"algorithm": backupAlg, "auth_data": m{"public_key": "key2", "signatures": m{}}, "version": v2}, nil)
		alice.MustDo("GET", roomKeys+"/version/"+v2, nil, &got)
		if string(got.AuthData) != `{"public_key":"key2","signatures":{}}` {
			t.Fatalf("updated auth_data: %s", got.AuthData)
		}
		for _, tc := range []struct {
			name string
			body m
			code string
		}{
			{"other algorithm", m{"algorithm": "other", "auth_data": m{}}, "M_INVALID_PARAM"},
			{"other version in the body", m{"algorithm": backupAlg, "auth_data": m{}, "version": v1}, "M_INVALID_PARAM"},
			{"without auth_data", m{"algorithm": backupAlg}, "M_MISSING_PARAM"},
		} {
			if status, raw := alice.Do("PUT", roomKeys+"/version/"+v2, tc.body, nil); status != 400 || servertest.Errcode(raw) != tc.code {
				t.Errorf("update with %s: %d %s, want 400 %s", tc.name, status, raw, tc.code)
			}
		}

		// Deleting the current version makes the one before current;
		// deleting it again still succeeds, a version that never existed
		// is 404.
		alice.MustDo("DELETE", roomKeys+"/version/"+v2, nil, nil)
		alice.MustDo("DELETE", roomKeys+"/version/"+v2, nil, nil)
		alice.MustDo("GET", roomKeys+"/version", nil, &got)
		if got.Version != v1 {
			t.Fatalf("after deleting the newest: %+v", got)
		}
		for _, v := range []string{v2, "999", "not-a-version"} {
			if status, raw := alice.Do("GET", roomKeys+"/version/"+v, nil, nil); status != 404 || servertest.Errcode(raw) != "M_NOT_FOUND" {
				t.Errorf("GET version %s: %d %s", v, status, raw)
			}
			if status, raw := alice.Do("PUT", roomKeys+"/version/"+v, m{"algorithm": backupAlg, "auth_data": m{}}, nil); status != 404 {
				t.Errorf("PUT version %s: %d %s", v, status, raw)
			}
		}
		if status, raw := alice.Do("DELETE", roomKeys+"/version/999", nil, nil); status != 404 || servertest.Errcode(raw) != "M_NOT_FOUND" {
			t.Errorf("DELETE a version that never existed: %d %s", status, raw)
		}
		// A new version never reuses a deleted one's number.
		if v3 := createBackup(t, alice, "key3"); v3 == v2 || v3 == v1 {
			t.Fatalf("reused version %s", v3)
		}
	})
}

// Backups are per user: another user sees none of them.
func TestKeyBackup_OtherUsersBackupsInvisible(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		v := createBackup(t, alice, "key")
		putKey(t, alice, v, "!room:localhost", "S1", sessionKey(0, 0, false, "secret"))
		if status, _ := bob.Do("GET", roomKeys+"/version", nil, nil); status != 404 {
			t.Fatalf("bob sees alice's backup: %d", status)
		}
		if status, _ := bob.Do("GET", keyPath("", "", v), nil, nil); status != 404 {
			t.Fatalf("bob reads alice's keys: %d", status)
		}
		if status, _ := bob.Do("DELETE", roomKeys+"/version/"+v, nil, nil); status != 404 {
			t.Fatalf("bob deletes alice's backup: %d", status)
		}
	})
}

// Keys are stored, read and deleted at all three levels; etag and count
// follow the stored keys.
func TestKeyBackup_KeysAtAllThreeLevels(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		v := createBackup(t, alice, "key")
		r1, r2 := "!one:localhost", "!two:localhost"
		c := putKey(t, alice, v, r1, "S1", sessionKey(0, 0, false, "a"))
		if c.Count != 1 || c.Etag == "" {
			t.Fatalf("after one key: %+v", c)
		}
		var c2 backupCounts
		alice.MustDo("PUT", keyPath(r1, "", v), m{"sessions": m{"S2": sessionKey(0, 0, false, "b")}}, &c2)
		var c3 backupCounts
		alice.MustDo("PUT", keyPath("", "", v), m{"rooms": m{r2: m{"sessions": m{"S3": sessionKey(3, 1, true, "c")}}}}, &c3)
		if c2.Count != 2 || c3.Count != 3 || c2.Etag == c.Etag || c3.Etag == c2.Etag {
			t.Fatalf("counts and etags: %+v %+v %+v", c, c2, c3)
		}
		var info backupVersion
		alice.MustDo("GET", roomKeys+"/version/"+v, nil, &info)
		if info.Count != 3 || info.Etag != c3.Etag {
			t.Fatalf("version info: %+v", info)
		}

		if k := getKey(t, alice, v, r2, "S3"); k.FirstMessageIndex != 3 || k.ForwardedCount != 1 || !k.IsVerified ||
			!strings.Contains(string(k.SessionData), `"ciphertext":"c"`) {
			t.Fatalf("one key: %+v", k)
		}
		var room struct {
			Sessions map[string]backupKey `json:"sessions"`
		}
		alice.MustDo("GET", keyPath(r1, "", v), nil, &room)
		if len(room.Sessions) != 2 {
			t.Fatalf("room keys: %+v", room)
		}
		raw := alice.MustDo("GET", keyPath("!empty:localhost", "", v), nil, nil)
		if strings.TrimSpace(string(raw)) != `{"sessions":{}}` {
			t.Fatalf("room without keys: %s", raw)
		}
		var all struct {
			Rooms map[string]struct {
				Sessions map[string]backupKey `json:"sessions"`
			} `json:"rooms"`
		}
		alice.MustDo("GET", keyPath("", "", v), nil, &all)
		if len(all.Rooms) != 2 || len(all.Rooms[r1].Sessions) != 2 || len(all.Rooms[r2].Sessions) != 1 {
			t.Fatalf("all keys: %+v", all)
		}
		if status, raw := alice.Do("GET", keyPath(r1, "NOSUCH", v), nil, nil); status != 404 || servertest.Errcode(raw) != "M_NOT_FOUND" {
			t.Fatalf("missing session: %d %s", status, raw)
		}

		var d backupCounts
		alice.MustDo("DELETE", keyPath(r1, "S1", v), nil, &d)
		if d.Count != 2 || d.Etag == c3.Etag {
			t.Fatalf("after deleting a session: %+v", d)
		}
		alice.MustDo("DELETE", keyPath(r1, "", v), nil, &d)
		if d.Count != 1 {
			t.Fatalf("after deleting a room: %+v", d)
		}
		alice.MustDo("DELETE", keyPath("", "", v), nil, &d)
		if d.Count != 0 {
			t.Fatalf("after deleting all: %+v", d)
		}
		raw = alice.MustDo("GET", keyPath("", "", v), nil, nil)
		if strings.TrimSpace(string(raw)) != `{"rooms":{}}` {
			t.Fatalf("empty backup: %s", raw)
		}
	})
}

// A stored key is replaced only by a better one: verified beats
// unverified, then the lower first_message_index, then the lower
// forwarded_count (end_to_end_encryption.md "Server-side key backups").
func TestKeyBackup_ReplaceOnlyWithBetterKey(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		v := createBackup(t, alice, "key")
		const room = "!room:localhost"
		for i, tc := range []struct {
			name     string
			stored   m
			uploaded m
			replaced bool
		}{
			{"verified replaces unverified even with a higher index", sessionKey(0, 0, false, "old"), sessionKey(5, 3, true, "new"), true},
			{"unverified never replaces verified", sessionKey(5, 3, true, "old"), sessionKey(0, 0, false, "new"), false},
			{"lower first_message_index replaces", sessionKey(5, 0, false, "old"), sessionKey(2, 9, false, "new"), true},
			{"higher first_message_index does not", sessionKey(2, 9, false, "old"), sessionKey(5, 0, false, "new"), false},
			{"same index: lower forwarded_count replaces", sessionKey(1, 3, true, "old"), sessionKey(1, 1, true, "new"), true},
			{"same index: higher forwarded_count does not", sessionKey(1, 1, true, "old"), sessionKey(1, 3, true, "new"), false},
			{"an equal key does not", sessionKey(1, 1, false, "old"), sessionKey(1, 1, false, "new"), false},
		} {
			session := fmt.Sprintf("S%d", i)
			before := putKey(t, alice, v, room, session, tc.stored)
			after := putKey(t, alice, v, room, session, tc.uploaded)
			got := getKey(t, alice, v, room, session)
			replaced := strings.Contains(string(got.SessionData), `"new"`)
			if replaced != tc.replaced {
				t.Errorf("%s: replaced = %v, want %v", tc.name, replaced, tc.replaced)
			}
			// The etag changes exactly when the backup changed.
			if (after.Etag != before.Etag) != tc.replaced || after.Count != before.Count {
				t.Errorf("%s: etag %s → %s, count %d → %d", tc.name, before.Etag, after.Etag, before.Count, after.Count)
			}
		}
	})
}

// Keys are written only to the current version: an older one is refused
// with M_WRONG_ROOM_KEYS_VERSION naming the current version, one that does
// not exist with M_NOT_FOUND; old versions stay readable.
func TestKeyBackup_WritesOnlyToCurrentVersion(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		const room = "!room:localhost"
		if status, raw := alice.Do("PUT", keyPath(room, "S", "1"), sessionKey(0, 0, false, "x"), nil); status != 404 || servertest.Errcode(raw) != "M_NOT_FOUND" {
			t.Fatalf("no backup at all: %d %s", status, raw)
		}
		v1 := createBackup(t, alice, "key1")
		putKey(t, alice, v1, room, "S", sessionKey(0, 0, false, "x"))
		v2 := createBackup(t, alice, "key2")
		status, raw := alice.Do("PUT", keyPath(room, "S", v1), sessionKey(0, 0, false, "y"), nil)
		var e struct {
			Errcode        string `json:"errcode"`
			CurrentVersion string `json:"current_version"`
		}
		_ = json.Unmarshal(raw, &e)
		if status != 403 || e.Errcode != "M_WRONG_ROOM_KEYS_VERSION" || e.CurrentVersion != v2 {
			t.Fatalf("old version: %d %s", status, raw)
		}
		if status, raw := alice.Do("PUT", keyPath(room, "S", "12345"), sessionKey(0, 0, false, "y"), nil); status != 404 || servertest.Errcode(raw) != "M_NOT_FOUND" {
			t.Fatalf("unknown version: %d %s", status, raw)
		}
		if k := getKey(t, alice, v1, room, "S"); !strings.Contains(string(k.SessionData), `"x"`) {
			t.Fatalf("old version's key: %+v", k)
		}
		if status, _ := alice.Do("GET", keyPath(room, "S", v2), nil, nil); status != 404 {
			t.Fatalf("keys do not move between versions: %d", status)
		}
		// Deleting a version deletes its keys.
		alice.MustDo("DELETE", roomKeys+"/version/"+v1, nil, nil)
		if status, raw := alice.Do("GET", keyPath(room, "S", v1), nil, nil); status != 404 || servertest.Errcode(raw) != "M_NOT_FOUND" {
			t.Fatalf("key of a deleted version: %d %s", status, raw)
		}
		if status, raw := alice.Do("DELETE", keyPath("", "", v1), nil, nil); status != 404 {
			t.Fatalf("delete keys of a deleted version: %d %s", status, raw)
		}
	})
}

func TestKeyBackup_BadRequestsRefused(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		v := createBackup(t, alice, "key")
		const room = "!room:localhost"
		for _, tc := range []struct {
			name, method, path string
			body               any
			status             int
			code               string
		}{
			{"create without algorithm", "POST", roomKeys + "/version", m{"auth_data": m{}}, 400, "M_MISSING_PARAM"},
			{"create without auth_data", "POST", roomKeys + "/version", m{"algorithm": backupAlg}, 400, "M_MISSING_PARAM"},
			{"create with auth_data not an object", "POST", roomKeys + "/version", m{"algorithm": backupAlg, "auth_data": "x"}, 400, "M_BAD_JSON"},
			{"create with huge auth_data", "POST", roomKeys + "/version", m{"algorithm": backupAlg, "auth_data": m{"k": strings.Repeat("x", 70<<10)}}, 413, "M_TOO_LARGE"},
			{"create not JSON", "POST", roomKeys + "/version", "{", 400, "M_NOT_JSON"},
			{"put without version", "PUT", roomKeys + "/keys/" + url.PathEscape(room) + "/S", sessionKey(0, 0, false, "x"), 400, "M_MISSING_PARAM"},
			{"get without version", "GET", roomKeys + "/keys", nil, 400, "M_MISSING_PARAM"},
			{"delete without version", "DELETE", roomKeys + "/keys", nil, 400, "M_MISSING_PARAM"},
			{"put without rooms", "PUT", keyPath("", "", v), m{}, 400, "M_MISSING_PARAM"},
			{"put room without sessions", "PUT", keyPath(room, "", v), m{}, 400, "M_MISSING_PARAM"},
			{"key without is_verified", "PUT", keyPath(room, "S", v), m{"first_message_index": 0, "forwarded_count": 0, "session_data": m{}}, 400, "M_MISSING_PARAM"},
			{"key without session_data", "PUT", keyPath(room, "S", v), m{"first_message_index": 0, "forwarded_count": 0, "is_verified": false}, 400, "M_MISSING_PARAM"},
			{"negative index", "PUT", keyPath(room, "S", v), sessionKey(-1, 0, false, "x"), 400, "M_INVALID_PARAM"},
			{"fractional index", "PUT", keyPath(room, "S", v), m{"first_message_index": 1.5, "forwarded_count": 0, "is_verified": false, "session_data": m{}}, 400, "M_BAD_JSON"},
			{"session_data not an object", "PUT", keyPath(room, "S", v), m{"first_message_index": 0, "forwarded_count": 0, "is_verified": false, "session_data": "x"}, 400, "M_BAD_JSON"},
			{"huge session_data", "PUT", keyPath(room, "S", v), sessionKey(0, 0, false, strings.Repeat("x", 20<<10)), 413, "M_TOO_LARGE"},
			{"bad room ID", "PUT", keyPath("room", "S", v), sessionKey(0, 0, false, "x"), 400, "M_INVALID_PARAM"},
		} {
			status, raw := alice.Do(tc.method, tc.path, tc.body, nil)
			if status != tc.status || servertest.Errcode(raw) != tc.code {
				t.Errorf("%s: %d %s, want %d %s", tc.name, status, raw, tc.status, tc.code)
			}
		}
		many := m{}
		for i := range 10_001 {
			many[fmt.Sprint("S", i)] = sessionKey(0, 0, false, "x")
		}
		if status, raw := alice.Do("PUT", keyPath(room, "", v), m{"sessions": many}, nil); status != 400 || servertest.Errcode(raw) != "M_INVALID_PARAM" {
			t.Errorf("10 001 keys in one request: %d %s", status, raw)
		}
		var info backupVersion
		alice.MustDo("GET", roomKeys+"/version", nil, &info)
		if info.Count != 0 {
			t.Fatalf("refused uploads stored keys: %+v", info)
		}
		for _, p := range []string{"/version", "/keys?version=" + v} {
			if status, _ := s.Anonymous().Do("GET", roomKeys+p, nil, nil); status != http.StatusUnauthorized {
				t.Errorf("GET %s without a token: %d", p, status)
			}
		}
	})
}

// Deactivating an account deletes its backups, as Synapse does: nobody can
// read them any more.
func TestKeyBackup_DeactivationDeletesBackups(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		bob := s.Register("bob")
		v := createBackup(t, bob, "key")
		putKey(t, bob, v, "!room:localhost", "S", sessionKey(0, 0, false, "x"))
		body := m{"auth": m{"type": "m.login.password", "password": testPassword, "identifier": m{"type": "m.id.user", "user": bob.UserID}}}
		bob.MustDo("POST", "/_matrix/client/v3/account/deactivate", body, nil)
		store, err := keybackupstore.New(context.Background(), s.DB)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.GetVersion(context.Background(), bob.UserID, v); !errors.Is(err, keybackupstore.ErrNoVersion) {
			t.Fatalf("backup after deactivation: %v", err)
		}
	})
}
