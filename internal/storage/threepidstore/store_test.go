package threepidstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
	"github.com/myelin-chat/myelin/internal/storage/threepidstore"
)

func newStore(t *testing.T, db *sqldb.DB) *threepidstore.Store {
	t.Helper()
	s, err := threepidstore.New(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func session(id string) threepidstore.Session {
	return threepidstore.Session{ID: id, Purpose: "add_threepid", Medium: "email", Address: "alice@example.com",
		ClientSecret: "secret", LastSendAttempt: 1, TokenHash: "hash1", TokenExpiresTS: 2000}
}

func TestStore_SaveFindAndNewAttempt(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx, s := context.Background(), newStore(t, db)
		if got, err := s.Find(ctx, "add_threepid", "email", "alice@example.com", "secret"); err != nil || got != nil {
			t.Fatalf("Find before Save = %v, %v", got, err)
		}
		if _, err := s.Save(ctx, session("sid1"), 1000); err != nil {
			t.Fatal(err)
		}
		got, err := s.Find(ctx, "add_threepid", "email", "alice@example.com", "secret")
		if err != nil || got == nil || got.ID != "sid1" || got.LastSendAttempt != 1 || got.ValidatedTS != 0 {
			t.Fatalf("Find = %+v, %v", got, err)
		}
		// Another purpose or client secret is another session.
		for _, k := range [][2]string{{"password_reset", "secret"}, {"add_threepid", "other"}} {
			if got, err := s.Find(ctx, k[0], "email", "alice@example.com", k[1]); err != nil || got != nil {
				t.Fatalf("Find(%v) = %+v, %v", k, got, err)
			}
		}
		next := session("sid1")
		next.LastSendAttempt, next.TokenHash = 2, "hash2"
		if _, err := s.Save(ctx, next, 1000); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Validate(ctx, "sid1", "secret", "hash1", 1500); !errors.Is(err, threepidstore.ErrBadToken) {
			t.Fatalf("the replaced token validated: %v", err)
		}
		if _, err := s.Validate(ctx, "sid1", "secret", "hash2", 1500); err != nil {
			t.Fatal(err)
		}
	})
}

// Of two requests creating the same session, the first one's is kept.
func TestStore_SaveKeepsTheFirstOfTwoSessionsForOneKey(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx, s := context.Background(), newStore(t, db)
		if _, err := s.Save(ctx, session("first"), 1000); err != nil {
			t.Fatal(err)
		}
		got, err := s.Save(ctx, session("second"), 1000)
		if err != nil || got.ID != "first" {
			t.Fatalf("Save = %+v, %v", got, err)
		}
	})
}

func TestStore_TokensAreSingleUseAndExpire(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx, s := context.Background(), newStore(t, db)
		if _, err := s.Save(ctx, session("sid1"), 1000); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Validate(ctx, "sid1", "secret", "wrong", 1500); !errors.Is(err, threepidstore.ErrBadToken) {
			t.Fatalf("wrong token: %v", err)
		}
		if _, err := s.Validate(ctx, "sid1", "other", "hash1", 1500); !errors.Is(err, threepidstore.ErrNoSession) {
			t.Fatalf("wrong client secret: %v", err)
		}
		if _, err := s.Validate(ctx, "nope", "secret", "hash1", 1500); !errors.Is(err, threepidstore.ErrNoSession) {
			t.Fatalf("unknown session: %v", err)
		}
		if _, err := s.Validate(ctx, "sid1", "secret", "hash1", 2000); !errors.Is(err, threepidstore.ErrExpired) {
			t.Fatalf("expired token: %v", err)
		}
		if _, err := s.Consume(ctx, "sid1", "secret", "add_threepid", 0); !errors.Is(err, threepidstore.ErrNotValidated) {
			t.Fatalf("Consume before validation: %v", err)
		}
		if _, err := s.Validate(ctx, "sid1", "secret", "hash1", 1999); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Validate(ctx, "sid1", "secret", "hash1", 1999); !errors.Is(err, threepidstore.ErrBadToken) {
			t.Fatalf("reused token: %v", err)
		}
	})
}

func TestStore_ConsumeOnceForItsPurposeOnly(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx, s := context.Background(), newStore(t, db)
		if _, err := s.Save(ctx, session("sid1"), 1000); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Validate(ctx, "sid1", "secret", "hash1", 1500); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Consume(ctx, "sid1", "secret", "password_reset", 0); !errors.Is(err, threepidstore.ErrNoSession) {
			t.Fatalf("Consume for another purpose: %v", err)
		}
		if _, err := s.Consume(ctx, "sid1", "secret", "add_threepid", 1501); !errors.Is(err, threepidstore.ErrNotValidated) {
			t.Fatalf("Consume of a session validated too long ago: %v", err)
		}
		got, err := s.Consume(ctx, "sid1", "secret", "add_threepid", 1500)
		if err != nil || got.Address != "alice@example.com" || got.ValidatedTS != 1500 {
			t.Fatalf("Consume = %+v, %v", got, err)
		}
		if _, err := s.Consume(ctx, "sid1", "secret", "add_threepid", 0); !errors.Is(err, threepidstore.ErrNoSession) {
			t.Fatalf("second Consume: %v", err)
		}
	})
}

func TestStore_OldSessionsAreDeleted(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx, s := context.Background(), newStore(t, db)
		if _, err := s.Save(ctx, session("old"), 1000); err != nil {
			t.Fatal(err)
		}
		other := session("new")
		other.Address = "bob@example.com"
		if _, err := s.Save(ctx, other, 2000+24*60*60*1000+1); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Find(ctx, "add_threepid", "email", "alice@example.com", "secret"); err != nil || got != nil {
			t.Fatalf("a session a day past its token's expiry is still there: %+v, %v", got, err)
		}
	})
}
