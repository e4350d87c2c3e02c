package syncapi

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// gatedAccountData is an account data source that holds every build at
// its account data read until released, so that a test knows a build is
// under way, and counts the builds.
type gatedAccountData struct {
	mu      sync.Mutex
	builds  int
	entered chan struct{}
	release chan struct{}
}

func (g *gatedAccountData) AccountDataSince(ctx context.Context, userID string, from, to int64) ([]AccountDataItem, error) {
	g.mu.Lock()
	g.builds++
	first := g.builds == 1
	g.mu.Unlock()
	if first {
		close(g.entered)
		<-g.release
	}
	return nil, nil
}

func (s *Syncer) flightWaiters(req Request) int {
	key, _ := flightKey(req)
	s.initial.mu.Lock()
	defer s.initial.mu.Unlock()
	if f, ok := s.initial.m[key]; ok {
		return f.waiters
	}
	return 0
}

// Identical initial syncs in flight at once (a retry, several tabs of one
// session) share one build and one body, which is the answer a sync alone
// gets; another device gets its own.
func TestConcurrentIdenticalInitialSyncsShareOneBuild(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		w := newSyncWorld(t, db)
		at := time.UnixMilli(1_900_000_000_000)
		w.s.now = func() time.Time { return at } // ages in the body are fixed
		for range 3 {
			w.say(w.room("@alice:hs1"), "@alice:hs1", "hello")
		}
		g := &gatedAccountData{entered: make(chan struct{}), release: make(chan struct{})}
		w.s.accountData = g
		req := Request{UserID: "@alice:hs1", DeviceID: "PHONE"}
		const n = 4
		bodies := make([]*Body, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := func(i int) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				bodies[i], errs[i] = w.s.SyncJSON(w.ctx, req)
			}()
		}
		start(0)
		<-g.entered
		for i := 1; i < n; i++ {
			start(i)
		}
		for w.s.flightWaiters(req) < n {
			time.Sleep(time.Millisecond) // until every request has joined
		}
		close(g.release)
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if !bytes.Equal(bodies[i].Bytes(), bodies[0].Bytes()) {
				t.Errorf("request %d got another body", i)
			}
		}
		if g.builds != 1 {
			t.Errorf("%d builds for %d identical initial syncs, want 1", g.builds, n)
		}
		if w.s.flightWaiters(req) != 0 {
			t.Error("the finished flight is still listed")
		}
		// Later, and from another device, the sync is built again.
		if _, err := w.s.SyncJSON(w.ctx, Request{UserID: "@alice:hs1", DeviceID: "LAPTOP"}); err != nil {
			t.Fatal(err)
		}
		if g.builds != 2 {
			t.Errorf("%d builds, want 2", g.builds)
		}
		// The shared answer is the one a sync alone gets.
		alone, err := w.s.Sync(w.ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if len(alone.Rooms.Join) != 3 {
			t.Errorf("%d joined rooms, want 3", len(alone.Rooms.Join))
		}
		if want := encodingJSON(t, alone); !bytes.Equal(bodies[0].Bytes(), want) {
			t.Errorf("shared body\n%.400s\nsync alone\n%.400s", bodies[0].Bytes(), want)
		}
	})
}
