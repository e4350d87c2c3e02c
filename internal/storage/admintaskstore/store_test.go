package admintaskstore

import (
	"context"
	"errors"
	"testing"

	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// A task's status is kept by ID and by room; a restart marks the tasks it
// cut short as failed and leaves finished ones alone.
func TestTasks_StatusByIDAndRoomAndRestart(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s, err := New(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range []string{"a", "b"} {
			if err := s.Create(ctx, Task{ID: id, Kind: "delete_room", RoomID: "!r:hs", Status: "shutting_down", CreatedTS: int64(i)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Update(ctx, "a", "complete", "", []byte(`{"kicked_users":["@u:hs"]}`), 5); err != nil {
			t.Fatal(err)
		}
		if err := s.Interrupt(ctx, []string{"shutting_down", "purging"}, 9); err != nil {
			t.Fatal(err)
		}
		a, err := s.Task(ctx, "a")
		if err != nil || a.Status != "complete" || string(a.Result) != `{"kicked_users":["@u:hs"]}` || a.UpdatedTS != 5 {
			t.Fatalf("a: %+v, %v", a, err)
		}
		ts, err := s.ForRoom(ctx, "!r:hs", "delete_room")
		if err != nil || len(ts) != 2 || ts[1].ID != "b" || ts[1].Status != "failed" || ts[1].Error == "" {
			t.Fatalf("room's tasks: %+v, %v", ts, err)
		}
		if _, err := s.Task(ctx, "zzz"); !errors.Is(err, merr.ErrNotFound) {
			t.Fatalf("unknown task: %v", err)
		}
	})
}
