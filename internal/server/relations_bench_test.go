package server_test

import (
	"fmt"
	"net/url"
	"sync"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// threadBenchReplies is the size of the thread the benchmarks read.
const threadBenchReplies = 10000

// BenchmarkRelations reads a thread of 10 000 replies (from 10 users)
// through the HTTP API: pages of /relations (newest, a page deep in the
// thread, forward from the start, with recurse), /threads (whose bundled
// aggregation counts the whole thread), and /event of the root. The
// thread is written through the API once per backend, before timing.
func BenchmarkRelations(b *testing.B) {
	storagetest.ForEachBackendB(b, func(b *testing.B, db *sqldb.DB) {
		s := servertest.Start(b, db, servertest.Options{ExtraYAML: servertest.NoRateLimitsYAML})
		alice := s.Register("alice")
		room := alice.CreateRoom(map[string]any{"preset": "public_chat"})
		root := alice.SendText(room, "a long thread")
		var users []*servertest.Client
		for i := 0; i < 10; i++ {
			u := s.Register(fmt.Sprintf("user%d", i))
			u.MustDo("POST", "/_matrix/client/v3/join/"+url.PathEscape(room), map[string]any{}, nil)
			users = append(users, u)
		}
		var wg sync.WaitGroup
		for i, u := range users {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < threadBenchReplies/len(users); j++ {
					threadReply(u, room, root, fmt.Sprintf("reply %d from %d", j, i))
				}
			}()
		}
		wg.Wait()
		if db.Dialect() == sqldb.Postgres {
			// What autovacuum would have done by now on a live server: the
			// planner's statistics of the tables just filled.
			if _, err := db.Write.Exec("ANALYZE"); err != nil {
				b.Fatal(err)
			}
		}

		var deep relationsPage
		for i := 0; i < 100; i++ { // 100 pages of 50 in: the middle of the thread
			from := ""
			if deep.NextBatch != "" {
				from = "&from=" + url.QueryEscape(deep.NextBatch)
			}
			deep = relationsPage{}
			alice.MustDo("GET", relationsPath(room, root, "/m.thread?limit=50"+from), nil, &deep)
		}
		get := func(b *testing.B, path string, want int) {
			b.ReportAllocs()
			for b.Loop() {
				var p relationsPage
				alice.MustDo("GET", path, nil, &p)
				if len(p.Chunk) != want {
					b.Fatalf("%s: %d events, want %d", path, len(p.Chunk), want)
				}
			}
		}
		b.Run("relations/newest-50", func(b *testing.B) { get(b, relationsPath(room, root, "?limit=50"), 50) })
		b.Run("relations/m.thread-50-deep", func(b *testing.B) {
			get(b, relationsPath(room, root, "/m.thread?limit=50&from="+url.QueryEscape(deep.NextBatch)), 50)
		})
		b.Run("relations/oldest-50-dir-f", func(b *testing.B) { get(b, relationsPath(room, root, "?limit=50&dir=f"), 50) })
		b.Run("relations/recurse-50", func(b *testing.B) { get(b, relationsPath(room, root, "?limit=50&recurse=true"), 50) })
		b.Run("threads", func(b *testing.B) { get(b, threadsPath(room, ""), 1) })
		b.Run("event/root", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, count, _ := getRelEvent(b, alice, room, root).threadSummary(); count != threadBenchReplies {
					b.Fatalf("count %d", count)
				}
			}
		})
	})
}
