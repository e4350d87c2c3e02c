package rooms

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// One member's bad request must not fail the others' sends: requests
// queued together are committed together, and an event type or state key
// that the database cannot store (PostgreSQL refuses U+0000 and invalid
// UTF-8 in text) would fail the whole batch. Such a request is refused
// with a client error before it is queued; the good requests beside it
// are stored, including content strings with U+0000, which canonical JSON
// escapes (appendices, "Canonical JSON").
func TestBatch_BadRequestsFailAloneBesideGoodSenders(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		e := newEngine(t, db)
		ctx := context.Background()
		roomID := roomWithBob(t, e)
		nul, badUTF8 := "k\x00k", "k\xffk"
		bad := []*event.Builder{
			{Type: "m.x\x00y", Sender: "@alice:hs1", Content: Content(map[string]any{})},
			{Type: "m.x\xffy", Sender: "@alice:hs1", Content: Content(map[string]any{})},
			{Type: "m.t", StateKey: &nul, Sender: "@alice:hs1", Content: Content(map[string]any{})},
			{Type: "m.t", StateKey: &badUTF8, Sender: "@alice:hs1", Content: Content(map[string]any{})},
			{Type: "m.x", Sender: "@alice:hs1", Content: []byte("{\"body\":\"\xff\"}")},
		}
		var good []*event.Builder
		for i := range 24 {
			good = append(good, msg("@bob:hs1", fmt.Sprintf("good %d", i)))
		}
		good = append(good, msg("@bob:hs1", "a NUL \x00 in content is fine"))

		// Hold the room's actor so that everything below is queued (or
		// refused) before it drains one batch.
		a, release := holdActor(t, e, roomID)
		all := append(append([]*event.Builder{}, bad...), good...)
		errs := make([]error, len(all))
		var wg sync.WaitGroup
		var nReturned atomic.Int64
		for i, b := range all {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = e.Send(ctx, roomID, b, nil)
				nReturned.Add(1)
			}()
		}
		deadline := time.Now().Add(30 * time.Second)
		for len(a.reqs)+int(nReturned.Load()) < len(all) {
			if time.Now().After(deadline) {
				t.Fatalf("only %d requests queued or answered of %d", len(a.reqs)+int(nReturned.Load()), len(all))
			}
			time.Sleep(time.Millisecond)
		}
		release()
		wg.Wait()

		for i, b := range bad {
			var me *merr.Error
			if !errors.As(errs[i], &me) || !errors.Is(me, merr.ErrBadRequest) {
				t.Errorf("bad request %d (type %q) answered %v, want a client error", i, b.Type, errs[i])
			}
		}
		for i := range good {
			if err := errs[len(bad)+i]; err != nil {
				t.Errorf("good request %d beside the bad ones failed: %v", i, err)
			}
		}
	})
}

// If a batch's commit still fails (the database refused something no check
// caught), its requests are committed again one by one, so that only the
// culprit gets the error. The culprit here skips the checks of submit, as
// a request the checks missed would; PostgreSQL refuses its row, SQLite
// stores it.
func TestBatch_FailedCommitIsRetriedRequestByRequest(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		e := newEngine(t, db)
		roomID := roomWithBob(t, e)
		_, release := holdActor(t, e, roomID)
		var good []chan result
		for i := range 10 {
			b := msg("@bob:hs1", fmt.Sprintf("good %d", i))
			b.RoomID = roomID
			good = append(good, queueRaw(e, roomID, &request{builders: []*event.Builder{b}}))
			if i == 4 {
				culprit := &event.Builder{Type: "m.x\x00y", RoomID: roomID, Sender: "@alice:hs1", Content: Content(map[string]any{})}
				good = append(good, nil)
				culpritRes := queueRaw(e, roomID, &request{builders: []*event.Builder{culprit}})
				defer func() {
					res := <-culpritRes
					if db.Dialect() == sqldb.Postgres && res.err == nil {
						t.Errorf("PostgreSQL stored an event type with U+0000")
					}
				}()
			}
		}
		release()
		for i, ch := range good {
			if ch == nil {
				continue
			}
			if res := <-ch; res.err != nil {
				t.Errorf("good request %d failed beside the culprit: %v", i, res.err)
			}
		}
	})
}
