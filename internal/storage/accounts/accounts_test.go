package accounts

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

func hash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

func newStore(t *testing.T, db *sqldb.DB) Store {
	t.Helper()
	ctx := context.Background()
	s, err := New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	// Migrating again is a no-op.
	if _, err := New(ctx, db); err != nil {
		t.Fatalf("second New: %v", err)
	}
	return s
}

func mustCreateUser(t *testing.T, s Store, userID string, sess *NewSession) *SessionIDs {
	t.Helper()
	ids, err := s.CreateUser(context.Background(), NewUser{UserID: userID, PasswordHash: "hash", CreatedTS: 1000}, sess)
	if err != nil {
		t.Fatalf("CreateUser %s: %v", userID, err)
	}
	return ids
}

func session(userID, deviceID, token string) NewSession {
	return NewSession{UserID: userID, DeviceID: deviceID, DeviceDisplayName: "phone", NowTS: 1000,
		IP: "192.0.2.1", UserAgent: "test", AccessTokenHash: hash(token)}
}

func tokenGone(t *testing.T, s Store, token string) {
	t.Helper()
	if _, err := s.GetAccessToken(context.Background(), hash(token)); !errors.Is(err, ErrNotFound) {
		t.Errorf("token %s: err = %v, want ErrNotFound", token, err)
	}
}

func tokenValid(t *testing.T, s Store, token string) *AccessToken {
	t.Helper()
	at, err := s.GetAccessToken(context.Background(), hash(token))
	if err != nil {
		t.Fatalf("token %s: %v", token, err)
	}
	return at
}

func TestUsers(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)

		_, err := s.CreateUser(ctx, NewUser{UserID: "@alice:hs", PasswordHash: "h1", IsAdmin: true, UserType: "bot",
			DisplayName: "Alice", CreatedTS: 42}, nil)
		if err != nil {
			t.Fatal(err)
		}
		u, err := s.GetUser(ctx, "@alice:hs")
		if err != nil {
			t.Fatal(err)
		}
		want := User{UserID: "@alice:hs", PasswordHash: "h1", IsAdmin: true, UserType: "bot", CreatedTS: 42, DisplayName: "Alice"}
		if *u != want {
			t.Errorf("GetUser = %+v, want %+v", *u, want)
		}

		if _, err := s.CreateUser(ctx, NewUser{UserID: "@alice:hs", CreatedTS: 1}, nil); !errors.Is(err, ErrUserExists) {
			t.Errorf("duplicate CreateUser: %v, want ErrUserExists", err)
		}
		if _, err := s.GetUser(ctx, "@bob:hs"); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetUser unknown: %v", err)
		}
		for name, err := range map[string]error{
			"SetPasswordHash": s.SetPasswordHash(ctx, "@bob:hs", "x"),
			"SetAdmin":        s.SetAdmin(ctx, "@bob:hs", true),
			"SetDisplayName":  s.SetDisplayName(ctx, "@bob:hs", "x"),
			"SetAvatarURL":    s.SetAvatarURL(ctx, "@bob:hs", "x"),
			"DeactivateUser":  s.DeactivateUser(ctx, "@bob:hs", false),
		} {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("%s on unknown user: %v", name, err)
			}
		}

		if err := s.SetPasswordHash(ctx, "@alice:hs", "h2"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetAdmin(ctx, "@alice:hs", false); err != nil {
			t.Fatal(err)
		}
		if err := s.SetDisplayName(ctx, "@alice:hs", ""); err != nil {
			t.Fatal(err)
		}
		if err := s.SetAvatarURL(ctx, "@alice:hs", "mxc://hs/abc"); err != nil {
			t.Fatal(err)
		}
		u, _ = s.GetUser(ctx, "@alice:hs")
		if u.PasswordHash != "h2" || u.IsAdmin || u.DisplayName != "" || u.AvatarURL != "mxc://hs/abc" {
			t.Errorf("after updates: %+v", *u)
		}
	})
}

func TestDeactivateUser(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		sess := session("@alice:hs", "DEV1", "tok1")
		mustCreateUser(t, s, "@alice:hs", &sess)
		s.SetDisplayName(ctx, "@alice:hs", "Alice")
		s.PutAccountData(ctx, "@alice:hs", "", "m.push_rules", json.RawMessage(`{}`), 1)
		mustCreateUser(t, s, "@bob:hs", nil)
		s.SetDisplayName(ctx, "@bob:hs", "Bob")
		s.PutAccountData(ctx, "@bob:hs", "", "m.push_rules", json.RawMessage(`{}`), 2)
		bobSess := session("@bob:hs", "DEV1", "tokB")
		if _, err := s.CreateSession(ctx, bobSess); err != nil {
			t.Fatal(err)
		}

		if err := s.DeactivateUser(ctx, "@alice:hs", false); err != nil {
			t.Fatal(err)
		}
		u, _ := s.GetUser(ctx, "@alice:hs")
		if !u.Deactivated || u.PasswordHash != "" || u.Erased || u.DisplayName != "Alice" {
			t.Errorf("deactivated without erase: %+v", *u)
		}
		tokenGone(t, s, "tok1")
		if ds, _ := s.ListDevices(ctx, "@alice:hs"); len(ds) != 0 {
			t.Errorf("devices left: %v", ds)
		}
		if _, err := s.GetAccountData(ctx, "@alice:hs", "", "m.push_rules"); err != nil {
			t.Errorf("account data must survive a deactivation without erase: %v", err)
		}

		// Deactivated IDs are never reused.
		if _, err := s.CreateUser(ctx, NewUser{UserID: "@alice:hs", CreatedTS: 1}, nil); !errors.Is(err, ErrUserExists) {
			t.Errorf("re-registering a deactivated ID: %v", err)
		}

		if err := s.DeactivateUser(ctx, "@bob:hs", true); err != nil {
			t.Fatal(err)
		}
		u, _ = s.GetUser(ctx, "@bob:hs")
		if !u.Deactivated || !u.Erased || u.DisplayName != "" {
			t.Errorf("erased: %+v", *u)
		}
		if _, err := s.GetAccountData(ctx, "@bob:hs", "", "m.push_rules"); !errors.Is(err, ErrNotFound) {
			t.Errorf("erase must delete account data: %v", err)
		}
		tokenGone(t, s, "tokB")
	})
}

// Spec: client-server-api "Relationship between access tokens and devices".
func TestSessions_DeviceReuseReplacesItsTokens(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		sess := session("@alice:hs", "DEV1", "tok1")
		ids := mustCreateUser(t, s, "@alice:hs", &sess)
		if !ids.DeviceCreated || ids.AccessTokenID == 0 || ids.RefreshTokenID != 0 {
			t.Errorf("ids = %+v", ids)
		}
		at := tokenValid(t, s, "tok1")
		if at.UserID != "@alice:hs" || at.DeviceID != "DEV1" || at.ExpiresTS != 0 || at.Used || at.IsGuest {
			t.Errorf("token = %+v", at)
		}

		// A second device keeps the first's token.
		sess2 := session("@alice:hs", "DEV2", "tok2")
		if _, err := s.CreateSession(ctx, sess2); err != nil {
			t.Fatal(err)
		}
		tokenValid(t, s, "tok1")

		// Logging in again as DEV1 revokes DEV1's old token and keeps the
		// device's name.
		again := session("@alice:hs", "DEV1", "tok3")
		again.DeviceDisplayName = "renamed?"
		again.ReplaceDeviceTokens = true
		again.NowTS = 2000
		ids, err := s.CreateSession(ctx, again)
		if err != nil {
			t.Fatal(err)
		}
		if ids.DeviceCreated {
			t.Error("existing device reported as created")
		}
		tokenGone(t, s, "tok1")
		tokenValid(t, s, "tok2")
		tokenValid(t, s, "tok3")
		d, err := s.GetDevice(ctx, "@alice:hs", "DEV1")
		if err != nil {
			t.Fatal(err)
		}
		if d.DisplayName != "phone" || d.LastSeenTS != 2000 || d.CreatedTS != 1000 {
			t.Errorf("device = %+v", d)
		}
	})
}

func TestTouchAccessToken_RecordsLastSeen(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		sess := session("@alice:hs", "DEV1", "tok1")
		mustCreateUser(t, s, "@alice:hs", &sess)
		at := tokenValid(t, s, "tok1")
		err := s.TouchAccessToken(ctx, TokenUse{TokenID: at.ID, UserID: at.UserID, DeviceID: at.DeviceID,
			FirstUse: true, NowTS: 5000, IP: "198.51.100.7", UserAgent: "Element"})
		if err != nil {
			t.Fatal(err)
		}
		at = tokenValid(t, s, "tok1")
		if !at.Used || at.LastUsedTS != 5000 {
			t.Errorf("token = %+v", at)
		}
		d, _ := s.GetDevice(ctx, "@alice:hs", "DEV1")
		if d.LastSeenTS != 5000 || d.LastSeenIP != "198.51.100.7" || d.LastSeenUserAgent != "Element" {
			t.Errorf("device = %+v", d)
		}
	})
}

// Spec: client-server-api "Refreshing access tokens" — the old refresh token
// stays valid until the new access or refresh token is used.
func TestRefreshSession_Rotation(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		sess := session("@alice:hs", "DEV1", "a0")
		sess.RefreshTokenHash = hash("r0")
		sess.AccessExpiresTS = 1000 + 60_000
		ids := mustCreateUser(t, s, "@alice:hs", &sess)
		if ids.RefreshTokenID == 0 {
			t.Fatal("no refresh token id")
		}
		if at := tokenValid(t, s, "a0"); at.RefreshTokenID != ids.RefreshTokenID || at.ExpiresTS != 61_000 {
			t.Errorf("a0 = %+v", at)
		}

		refresh := func(old, access, refresh string, now int64) (*RefreshResult, error) {
			return s.RefreshSession(ctx, RefreshRequest{OldHash: hash(old), NowTS: now,
				AccessTokenHash: hash(access), RefreshTokenHash: hash(refresh),
				AccessLifetime: time.Minute, RefreshLifetime: time.Hour})
		}

		res, err := refresh("r0", "a1", "r1", 2000)
		if err != nil {
			t.Fatal(err)
		}
		if res.UserID != "@alice:hs" || res.DeviceID != "DEV1" || res.AccessExpiresTS != 62_000 {
			t.Errorf("refresh result = %+v", res)
		}
		// The client lost the response and retries with r0: allowed, and
		// the pair it never received is dropped.
		if _, err := refresh("r0", "a2", "r2", 3000); err != nil {
			t.Fatalf("retried refresh: %v", err)
		}
		tokenGone(t, s, "a1")
		if _, err := refresh("r1", "x", "y", 3000); !errors.Is(err, ErrTokenUnknown) {
			t.Errorf("abandoned r1: %v, want ErrTokenUnknown", err)
		}
		tokenValid(t, s, "a0") // the old access token lives until the new one is used

		// First use of a2 revokes r0 and a0.
		a2 := tokenValid(t, s, "a2")
		if err := s.TouchAccessToken(ctx, TokenUse{TokenID: a2.ID, UserID: a2.UserID, DeviceID: a2.DeviceID,
			RefreshTokenID: a2.RefreshTokenID, FirstUse: true, NowTS: 3500}); err != nil {
			t.Fatal(err)
		}
		tokenGone(t, s, "a0")
		if _, err := refresh("r0", "x", "y", 4000); !errors.Is(err, ErrTokenUnknown) {
			t.Errorf("r0 after its successor was used: %v, want ErrTokenUnknown", err)
		}

		// Using r2 revokes r0's successor chain up to it: a2 stays until a3
		// is used, r2 itself cannot be used twice once r3 is used.
		if _, err := refresh("r2", "a3", "r3", 5000); err != nil {
			t.Fatal(err)
		}
		if _, err := refresh("r3", "a4", "r4", 6000); err != nil {
			t.Fatal(err)
		}
		if _, err := refresh("r2", "x", "y", 7000); !errors.Is(err, ErrTokenUnknown) {
			t.Errorf("r2 after r3 was used: %v, want ErrTokenUnknown", err)
		}
		tokenGone(t, s, "a2")
		tokenValid(t, s, "a4")
	})
}

func TestRefreshSession_Expiry(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		sess := session("@alice:hs", "DEV1", "a0")
		sess.RefreshTokenHash = hash("r0")
		sess.RefreshExpiresTS = 10_000
		sess.SessionExpiresTS = 20_000
		mustCreateUser(t, s, "@alice:hs", &sess)

		req := RefreshRequest{OldHash: hash("r0"), NowTS: 10_000, AccessTokenHash: hash("a1"), RefreshTokenHash: hash("r1"),
			AccessLifetime: time.Hour, RefreshLifetime: time.Hour}
		if _, err := s.RefreshSession(ctx, req); !errors.Is(err, ErrTokenExpired) {
			t.Fatalf("expired refresh token: %v, want ErrTokenExpired", err)
		}
		req.NowTS = 9_000
		res, err := s.RefreshSession(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		// Lifetimes are capped by the session's expiry.
		if res.AccessExpiresTS != 20_000 {
			t.Errorf("access expiry = %d, want the session cap 20000", res.AccessExpiresTS)
		}
		req = RefreshRequest{OldHash: hash("r1"), NowTS: 20_000, AccessTokenHash: hash("a2"), RefreshTokenHash: hash("r2")}
		if _, err := s.RefreshSession(ctx, req); !errors.Is(err, ErrTokenExpired) {
			t.Fatalf("past session expiry: %v, want ErrTokenExpired", err)
		}
		if _, err := s.RefreshSession(ctx, RefreshRequest{OldHash: hash("never"), NowTS: 1}); !errors.Is(err, ErrTokenUnknown) {
			t.Fatalf("unknown token: %v", err)
		}
	})
}

func TestDevices(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		sess := session("@alice:hs", "B", "tokB")
		sess.RefreshTokenHash = hash("refB")
		mustCreateUser(t, s, "@alice:hs", &sess)
		for _, d := range []string{"A", "C", "D"} {
			if _, err := s.CreateSession(ctx, session("@alice:hs", d, "tok"+d)); err != nil {
				t.Fatal(err)
			}
		}
		mustCreateUser(t, s, "@bob:hs", nil)
		if _, err := s.CreateSession(ctx, session("@bob:hs", "A", "bobA")); err != nil {
			t.Fatal(err)
		}

		ds, err := s.ListDevices(ctx, "@alice:hs")
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, d := range ds {
			ids = append(ids, d.DeviceID)
		}
		if !slices.Equal(ids, []string{"A", "B", "C", "D"}) {
			t.Errorf("ListDevices = %v", ids)
		}
		if ds, _ := s.ListDevices(ctx, "@nobody:hs"); ds == nil || len(ds) != 0 {
			t.Errorf("ListDevices of unknown user = %#v, want empty non-nil", ds)
		}

		if err := s.SetDeviceDisplayName(ctx, "@alice:hs", "A", "laptop"); err != nil {
			t.Fatal(err)
		}
		if d, _ := s.GetDevice(ctx, "@alice:hs", "A"); d.DisplayName != "laptop" {
			t.Errorf("renamed device = %+v", d)
		}
		if err := s.SetDeviceDisplayName(ctx, "@alice:hs", "Z", "x"); !errors.Is(err, ErrNotFound) {
			t.Errorf("rename unknown device: %v", err)
		}
		if _, err := s.GetDevice(ctx, "@alice:hs", "Z"); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetDevice unknown: %v", err)
		}

		deleted, err := s.DeleteDevices(ctx, "@alice:hs", []string{"B", "Z"})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(deleted, []string{"B"}) {
			t.Errorf("deleted = %v", deleted)
		}
		tokenGone(t, s, "tokB")
		if _, err := s.RefreshSession(ctx, RefreshRequest{OldHash: hash("refB"), NowTS: 2000,
			AccessTokenHash: hash("x"), RefreshTokenHash: hash("y")}); !errors.Is(err, ErrTokenUnknown) {
			t.Errorf("refresh token of a deleted device: %v", err)
		}
		tokenValid(t, s, "bobA") // another user's device A is untouched

		deleted, err = s.DeleteOtherDevices(ctx, "@alice:hs", "C")
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(deleted)
		if !slices.Equal(deleted, []string{"A", "D"}) {
			t.Errorf("DeleteOtherDevices = %v", deleted)
		}
		tokenValid(t, s, "tokC")
		tokenGone(t, s, "tokA")
		if deleted, _ := s.DeleteOtherDevices(ctx, "@alice:hs", ""); !slices.Equal(deleted, []string{"C"}) {
			t.Errorf("DeleteOtherDevices(all) = %v", deleted)
		}
		tokenGone(t, s, "tokC")
	})
}

func TestDeleteDevices_ManyIDs(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s := newStore(t, db)
		mustCreateUser(t, s, "@alice:hs", nil)
		ids := make([]string, 1200)
		for i := range ids {
			ids[i] = string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
		}
		deleted, err := s.DeleteDevices(context.Background(), "@alice:hs", ids)
		if err != nil || len(deleted) != 0 {
			t.Fatalf("deleted %v, err %v", deleted, err)
		}
	})
}

func TestAccountData(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		if pos, err := s.MaxAccountDataPos(ctx); err != nil || pos != 0 {
			t.Fatalf("MaxAccountDataPos on empty = %d, %v", pos, err)
		}
		put := func(user, room, typ, content string, pos int64) {
			t.Helper()
			if err := s.PutAccountData(ctx, user, room, typ, json.RawMessage(content), pos); err != nil {
				t.Fatal(err)
			}
		}
		put("@a:hs", "", "m.direct", `{"v":1}`, 1)
		put("@a:hs", "!r:hs", "m.tag", `{"tags":{}}`, 2)
		put("@b:hs", "", "m.direct", `{"v":9}`, 3)
		put("@a:hs", "", "m.direct", `{"v":2}`, 4) // overwrite moves it to 4

		got, err := s.GetAccountData(ctx, "@a:hs", "", "m.direct")
		if err != nil || string(got) != `{"v":2}` {
			t.Errorf("GetAccountData = %s, %v", got, err)
		}
		if _, err := s.GetAccountData(ctx, "@a:hs", "!r:hs", "m.direct"); !errors.Is(err, ErrNotFound) {
			t.Errorf("room vs global must differ: %v", err)
		}

		since, err := s.AccountDataSince(ctx, "@a:hs", 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(since) != 2 || since[0].Type != "m.tag" || since[0].RoomID != "!r:hs" || since[1].Pos != 4 {
			t.Errorf("AccountDataSince(0,10) = %+v", since)
		}
		if since, _ := s.AccountDataSince(ctx, "@a:hs", 2, 3); len(since) != 0 {
			t.Errorf("(2,3] = %+v, want nothing", since)
		}
		if since, _ := s.AccountDataSince(ctx, "@a:hs", 1, 2); len(since) != 1 || since[0].Pos != 2 {
			t.Errorf("(1,2] = %+v", since)
		}
		put("@a:hs", "!r:hs", "m.fully_read", `{"event_id":"$e"}`, 5)
		put("@a:hs", "!other:hs", "m.tag", `{"tags":{}}`, 6)
		if room, err := s.RoomAccountData(ctx, "@a:hs", "!r:hs", 10); err != nil || len(room) != 2 ||
			room[0].Type != "m.fully_read" || room[1].Type != "m.tag" || room[1].RoomID != "!r:hs" {
			t.Errorf("RoomAccountData = %+v, %v; want the room's two entries by type", room, err)
		}
		if room, _ := s.RoomAccountData(ctx, "@a:hs", "!r:hs", 1); len(room) != 1 {
			t.Errorf("RoomAccountData with limit 1 = %+v", room)
		}
		if pos, _ := s.MaxAccountDataPos(ctx); pos != 6 {
			t.Errorf("MaxAccountDataPos = %d", pos)
		}
	})
}

func TestFiltersAndThreepids(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		id, err := s.CreateFilter(ctx, "@a:hs", json.RawMessage(`{"room":{"timeline":{"limit":10}}}`))
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.GetFilter(ctx, "@a:hs", id)
		if err != nil || string(got) != `{"room":{"timeline":{"limit":10}}}` {
			t.Errorf("GetFilter = %s, %v", got, err)
		}
		for _, bad := range []struct{ user, id string }{{"@b:hs", id}, {"@a:hs", "999"}, {"@a:hs", "x"}, {"@a:hs", "0" + id}, {"@a:hs", "-1"}} {
			if _, err := s.GetFilter(ctx, bad.user, bad.id); !errors.Is(err, ErrNotFound) {
				t.Errorf("GetFilter(%s, %q) = %v, want ErrNotFound", bad.user, bad.id, err)
			}
		}
		tp, err := s.ListThreepids(ctx, "@a:hs")
		if err != nil || tp == nil || len(tp) != 0 {
			t.Errorf("ListThreepids = %#v, %v", tp, err)
		}
	})
}

// An address is bound to at most one user (M_THREEPID_IN_USE otherwise).
func TestThreepids_AddLookUpDelete(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		mustCreateUser(t, s, "@a:hs", nil)
		mustCreateUser(t, s, "@b:hs", nil)
		tp := Threepid{Medium: "email", Address: "a@example.com", ValidatedAt: 1000, AddedAt: 1001}
		if err := s.AddThreepid(ctx, "@a:hs", tp); err != nil {
			t.Fatal(err)
		}
		if err := s.AddThreepid(ctx, "@a:hs", tp); err != nil {
			t.Fatalf("adding one's own address again: %v", err)
		}
		if err := s.AddThreepid(ctx, "@b:hs", tp); !errors.Is(err, ErrThreepidInUse) {
			t.Fatalf("adding another user's address: %v", err)
		}
		if u, err := s.UserByThreepid(ctx, "email", "a@example.com"); err != nil || u != "@a:hs" {
			t.Fatalf("UserByThreepid = %q, %v", u, err)
		}
		if got, err := s.ListThreepids(ctx, "@a:hs"); err != nil || len(got) != 1 || got[0] != tp {
			t.Fatalf("ListThreepids = %+v, %v", got, err)
		}
		if ok, err := s.DeleteThreepid(ctx, "@b:hs", "email", "a@example.com"); err != nil || ok {
			t.Fatalf("another user deleted the address: %v, %v", ok, err)
		}
		if ok, err := s.DeleteThreepid(ctx, "@a:hs", "email", "a@example.com"); err != nil || !ok {
			t.Fatalf("DeleteThreepid = %v, %v", ok, err)
		}
		if u, err := s.UserByThreepid(ctx, "email", "a@example.com"); err != nil || u != "" {
			t.Fatalf("UserByThreepid after delete = %q, %v", u, err)
		}
	})
}

// The suspended flag is stored with the account and read with every
// access token, so a suspension applies to the user's next request on any
// process sharing the database.
func TestSetSuspended_ReadWithTheAccountAndItsTokens(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		sess := session("@alice:hs", "DEV", "tok")
		mustCreateUser(t, s, "@alice:hs", &sess)
		if tokenValid(t, s, "tok").Suspended {
			t.Fatal("a new account is suspended")
		}
		for _, want := range []bool{true, false} {
			if err := s.SetSuspended(ctx, "@alice:hs", want); err != nil {
				t.Fatal(err)
			}
			u, err := s.GetUser(ctx, "@alice:hs")
			if err != nil {
				t.Fatal(err)
			}
			if u.Suspended != want || tokenValid(t, s, "tok").Suspended != want {
				t.Errorf("after SetSuspended(%v): user %v, token %v", want, u.Suspended, tokenValid(t, s, "tok").Suspended)
			}
		}
		if err := s.SetSuspended(ctx, "@nobody:hs", true); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown user: %v, want ErrNotFound", err)
		}
	})
}
