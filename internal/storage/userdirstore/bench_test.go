package userdirstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
	"github.com/myelin-chat/myelin/internal/storage/userdirstore"
)

var (
	benchFirst = []string{"Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy",
		"Mallory", "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter", "Zoë"}
	benchLast = []string{"Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson",
		"Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "Jackson", "Clarke",
		"Müller", "Schmidt", "Dubois", "Rossi", "García", "Nakamura", "Kowalski", "Novák", "Jensen", "Silva"}
)

// benchDirectory fills a directory with users: local users @user<n> with
// names from the lists above (every name pair shared by ~170 users), a
// tenth of them remote; everyone in one of 1 000 rooms of 100, a fifth of
// the rooms public.
func benchDirectory(b *testing.B, db *sqldb.DB, users int) *userdirstore.Store {
	ctx := context.Background()
	s, err := userdirstore.New(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	const perBatch = 1000
	for start := 0; start < users; start += perBatch {
		batch := userdirstore.Batch{Rooms: map[string]bool{}}
		for i := start; i < min(users, start+perBatch); i++ {
			server := "localhost"
			if i%10 == 9 {
				server = "remote.example"
			}
			uid := fmt.Sprintf("@user%d:%s", i, server)
			room := fmt.Sprintf("!room%d:localhost", i/100)
			batch.Rooms[room] = (i/100)%5 == 0
			batch.Members = append(batch.Members, userdirstore.Member{RoomID: room, UserID: uid, Joined: true, Local: server == "localhost"})
			batch.Users = append(batch.Users, userdirstore.Entry{UserID: uid, Local: server == "localhost",
				DisplayName: benchFirst[i%len(benchFirst)] + " " + benchLast[(i/len(benchFirst))%len(benchLast)]})
		}
		if err := s.Apply(ctx, batch, int64(start)); err != nil {
			b.Fatal(err)
		}
	}
	// As autovacuum (PostgreSQL) and a long-running server would have
	// the planner's statistics.
	if _, err := db.Write.ExecContext(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkSearch is one POST /user_directory/search (limit 10) over a
// directory of 100 000 users, as a user in one private room, with and
// without search_all_users, for terms that start many display names (a
// one-letter prefix, a first name, first and last name), that match only
// a later word of ~3 300 names (a last name: every match is ranked) and
// one user ID.
func BenchmarkSearch(b *testing.B) {
	storagetest.ForEachBackendB(b, func(b *testing.B, db *sqldb.DB) {
		s := benchDirectory(b, db, 100_000)
		ctx := context.Background()
		for _, all := range []bool{false, true} {
			for _, term := range []string{"a", "grace", "grace wri", "wright", "user12345"} {
				b.Run(fmt.Sprintf("all=%v/term=%s", all, term), func(b *testing.B) {
					q := userdirstore.Query{Searcher: "@user101:localhost", Term: term, Limit: 10, All: all}
					for range b.N {
						if _, _, err := s.Search(ctx, q); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	})
}
