package e2eestore

import (
	"context"
	"fmt"
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
