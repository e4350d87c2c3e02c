package e2eestore

import (
	"context"
	"fmt"
	"sort"
	"testing"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// What a user's devices are announced with to a server that newly shares
// a room with them: each device's latest chained change, in order, each
// linked to the user's change before it.
func TestLatestDeviceChanges_OnePerDeviceInOrder(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		changes := []DeviceListChange{
			{Pos: 1, UserID: "@a:hs", DeviceID: "A", Chained: true},
			{Pos: 2, UserID: "@a:hs", DeviceID: "B", Chained: true},
			{Pos: 3, UserID: "@a:hs"}, // cross-signing: not a device's
			{Pos: 4, UserID: "@b:hs", DeviceID: "X", Chained: true},
			{Pos: 5, UserID: "@a:hs", DeviceID: "A", Chained: true},
		}
		if err := s.AddDeviceListChanges(ctx, changes); err != nil {
			t.Fatal(err)
		}
		got, err := s.LatestDeviceChanges(ctx, "@a:hs")
		if err != nil {
			t.Fatal(err)
		}
		if s := fmt.Sprint(got); s != "[{2 @a:hs B true 1} {5 @a:hs A true 2}]" {
			t.Fatalf("latest changes %s", s)
		}
	})
}

// Only cached lists that are not stale count as cached.
func TestCachedRemoteUsers_LeavesOutStaleAndUncached(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		for _, u := range []string{"@fresh:r", "@stale:r"} {
			if err := s.ReplaceRemoteDeviceList(ctx, u, 3, []RemoteDevice{{DeviceID: "D"}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.MarkRemoteStale(ctx, "@stale:r"); err != nil {
			t.Fatal(err)
		}
		got, err := s.CachedRemoteUsers(ctx, []string{"@fresh:r", "@stale:r", "@none:r"})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != "[@fresh:r]" {
			t.Fatalf("cached %v", got)
		}
	})
}

// Retention as Synapse keeps device_lists_stream: one row per (user,
// device). A token from before a replaced row still finds the user
// changed, and a token after the last change does not.
func TestDeviceListChanges_OneRowPerDeviceAndOldTokensStillSeeChanges(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		for _, c := range []DeviceListChange{
			{Pos: 5, UserID: "@u:hs", DeviceID: "D", Chained: true},
			{Pos: 6, UserID: "@v:hs", DeviceID: "X", Chained: true},
			{Pos: 7, UserID: "@u:hs"},
			{Pos: 20, UserID: "@u:hs", DeviceID: "D", Chained: true},
			{Pos: 50, UserID: "@u:hs", DeviceID: "D", Chained: true},
		} {
			if err := s.AddDeviceListChanges(ctx, []DeviceListChange{c}); err != nil {
				t.Fatal(err)
			}
		}
		var rows int
		if err := db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM e2ee_device_list_changes WHERE user_id = '@u:hs'`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows != 2 { // (u, D) at 50 and (u, '') at 7
			t.Fatalf("%d rows kept for @u:hs, want 2", rows)
		}
		for _, tc := range []struct {
			from, to int64
			want     string
		}{
			{0, 6, "[@u:hs @v:hs]"}, // the change at 5 was replaced, not lost
			{4, 5, "[@u:hs]"},
			{7, 20, "[@u:hs]"},
			{50, 60, "[]"},
			{49, 60, "[@u:hs]"},
		} {
			got, more, err := s.UsersWithDeviceListChanges(ctx, tc.from, tc.to, 10)
			if err != nil {
				t.Fatal(err)
			}
			sort.Strings(got)
			if fmt.Sprint(got) != tc.want || more {
				t.Errorf("changes in (%d, %d]: %v, want %s", tc.from, tc.to, got, tc.want)
			}
		}
		if top, err := s.MaxDeviceListPos(ctx); err != nil || top != 50 {
			t.Fatalf("high-water mark %d, %v", top, err)
		}
		// The chain to other servers still links to the user's previous
		// chained change.
		c := []DeviceListChange{{Pos: 60, UserID: "@u:hs", DeviceID: "E", Chained: true}}
		if err := s.AddDeviceListChanges(ctx, c); err != nil || c[0].PrevPos != 50 {
			t.Fatalf("prev_pos %d, %v", c[0].PrevPos, err)
		}
	})
}

// Rows stay bounded by the devices a user has: another server's user's
// changes share one row, and FoldDeviceListChanges folds a local user's
// deleted devices into their device ” row, keeping the chain's head;
// tokens of any age are answered as before.
func TestDeviceListChanges_BoundedByTheDevicesAUserHas(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		count := func(user string) int {
			t.Helper()
			var n int
			if err := db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM e2ee_device_list_changes WHERE user_id = $1`, user).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		pos := int64(0)
		add := func(c DeviceListChange) {
			t.Helper()
			pos++
			c.Pos = pos
			if err := s.AddDeviceListChanges(ctx, []DeviceListChange{c}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 10 {
			add(DeviceListChange{UserID: "@remote:elsewhere", DeviceID: fmt.Sprint("R", i)})
		}
		if n := count("@remote:elsewhere"); n != 1 {
			t.Errorf("another server's user after 10 device IDs: %d rows, want 1", n)
		}

		add(DeviceListChange{UserID: "@u:hs", DeviceID: "KEEP", Chained: true}) // 11
		for i := range 10 {
			add(DeviceListChange{UserID: "@u:hs", DeviceID: fmt.Sprint("GONE", i), Chained: true}) // 12..21
		}
		if n, err := s.FoldDeviceListChanges(ctx, "@u:hs", []string{"KEEP"}); err != nil || n != 9 {
			t.Fatalf("folded %d, %v; want the 9 deleted devices' rows but the chain's head", n, err)
		}
		if n := count("@u:hs"); n != 3 {
			t.Errorf("after folding: %d rows, want KEEP, the head and the folded row", n)
		}
		if n, err := s.FoldDeviceListChanges(ctx, "@u:hs", []string{"KEEP"}); err != nil || n != 0 {
			t.Errorf("folding again: %d, %v", n, err)
		}
		for _, tc := range []struct {
			from, to int64
			want     string
		}{
			{0, 25, "[@remote:elsewhere @u:hs]"},
			{11, 12, "[@u:hs]"}, // a folded change
			{20, 21, "[@u:hs]"}, // the head
			{21, 30, "[]"},
		} {
			got, _, err := s.UsersWithDeviceListChanges(ctx, tc.from, tc.to, 10)
			if err != nil {
				t.Fatal(err)
			}
			sort.Strings(got)
			if fmt.Sprint(got) != tc.want {
				t.Errorf("changes in (%d, %d]: %v, want %s", tc.from, tc.to, got, tc.want)
			}
		}
		c := []DeviceListChange{{Pos: 30, UserID: "@u:hs", DeviceID: "NEW", Chained: true}}
		if err := s.AddDeviceListChanges(ctx, c); err != nil || c[0].PrevPos != 21 {
			t.Fatalf("prev_pos after folding %d, %v; want the head, 21", c[0].PrevPos, err)
		}
		if top, err := s.MaxDeviceListPos(ctx); err != nil || top != 30 {
			t.Fatalf("high-water mark %d, %v", top, err)
		}
	})
}

// The migration to one row per (user, device) keeps each pair's latest
// row, standing for the earliest position it replaced.
func TestDeviceListChanges_MigrationKeepsLatestRowPerDevice(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		if err := sqldb.Migrate(ctx, db, Domain, migrations[:2]); err != nil {
			t.Fatal(err)
		}
		for _, r := range []struct {
			pos    int64
			user   string
			device string
		}{{1, "@u:hs", "D"}, {2, "@u:hs", "D"}, {3, "@v:hs", "X"}, {4, "@u:hs", "D"}} {
			if _, err := db.Write.ExecContext(ctx, `INSERT INTO e2ee_device_list_changes (pos, user_id, device_id, prev_pos) VALUES ($1, $2, $3, 0)`,
				r.pos, r.user, r.device); err != nil {
				t.Fatal(err)
			}
		}
		s := newStore(t, db)
		rows, err := db.Read.QueryContext(ctx, `SELECT pos, first_pos FROM e2ee_device_list_changes ORDER BY pos`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var pos, first int64
			if err := rows.Scan(&pos, &first); err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprint(pos, "/", first))
		}
		if fmt.Sprint(got) != "[3/3 4/1]" {
			t.Fatalf("rows (pos/first_pos) %v", got)
		}
		if users, _, err := s.UsersWithDeviceListChanges(ctx, 1, 2, 10); err != nil || fmt.Sprint(users) != "[@u:hs]" {
			t.Fatalf("changes in (1, 2]: %v, %v", users, err)
		}
	})
}
