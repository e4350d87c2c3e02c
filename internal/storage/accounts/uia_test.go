package accounts

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// UIA sessions expire, the table keeps at most the bound it is given
// (dropping those that expire first), a body binds once, stages are
// recorded once each in order, and a registration token's pending uses
// are the unexpired sessions that hold it, taken under the token's lock.
func TestUIASessions_ExpiryBoundBindingAndTokenUses(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		create := func(id string, created, expires int64, max int) {
			t.Helper()
			if err := s.CreateUIASession(ctx, UIASession{ID: id, Operation: "POST /register", CreatedTS: created, ExpiresTS: expires}, max); err != nil {
				t.Fatal(err)
			}
		}
		create("a", 0, 100, 10)
		create("b", 10, 110, 10)
		if _, err := s.GetUIASession(ctx, "a", 100); !errors.Is(err, ErrNotFound) {
			t.Errorf("a session at its expiry: %v", err)
		}
		create("c", 20, 120, 2) // the bound of 2 drops a, which expires first
		if _, err := s.GetUIASession(ctx, "a", 50); !errors.Is(err, ErrNotFound) {
			t.Errorf("the session past the bound is still there: %v", err)
		}
		if _, err := s.GetUIASession(ctx, "b", 50); err != nil {
			t.Errorf("a session within the bound: %v", err)
		}

		if ok, err := s.BindUIABody(ctx, "b", []byte("one")); !ok || err != nil {
			t.Fatalf("first bind: %v %v", ok, err)
		}
		if ok, _ := s.BindUIABody(ctx, "b", []byte("two")); ok {
			t.Error("a bound session accepted another body")
		}
		if _, err := s.CompleteUIAStage(ctx, "b", "x"); err != nil {
			t.Fatal(err)
		}
		done, err := s.CompleteUIAStage(ctx, "b", "x")
		if err == nil {
			done, err = s.CompleteUIAStage(ctx, "b", "y")
		}
		if err != nil || !slices.Equal(done, []string{"x", "y"}) {
			t.Errorf("stages = %v, %v", done, err)
		}

		one := int64(1)
		if err := s.CreateRegistrationToken(ctx, RegistrationToken{Token: "once", UsesAllowed: &one}); err != nil {
			t.Fatal(err)
		}
		valid := func(t *RegistrationToken, pending int64) bool { return pending+t.Completed < *t.UsesAllowed }
		if held, err := s.HoldRegistrationToken(ctx, "b", "once", 50, valid); held != "once" || err != nil {
			t.Fatalf("holding a free token: %q %v", held, err)
		}
		if held, err := s.HoldRegistrationToken(ctx, "c", "once", 50, valid); held != "" || err != nil {
			t.Errorf("holding the token's only use twice: %q %v", held, err)
		}
		if pending, _ := s.PendingRegistrationTokenUses(ctx, 50); pending["once"] != 1 {
			t.Errorf("pending = %v", pending)
		}
		if pending, _ := s.PendingRegistrationTokenUses(ctx, 110); pending["once"] != 0 {
			t.Errorf("pending after the holder expired = %v", pending)
		}
		if err := s.FinishUIASession(ctx, "b"); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetUIASession(ctx, "b", 50)
		if err != nil || !got.Spent || got.RegistrationToken != "" {
			t.Errorf("finished session = %+v, %v", got, err)
		}
		if held, err := s.HoldRegistrationToken(ctx, "c", "once", 50, valid); held != "once" || err != nil {
			t.Errorf("the use a finished session released: %q %v", held, err)
		}
	})
}
