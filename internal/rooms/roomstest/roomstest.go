// Package roomstest builds a real room engine on a test database, for the
// tests of the services above the rooms layer (typing, receipts,
// presence), and a settable clock for their timeouts.
package roomstest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/signing"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/streams"
)

// NewEngine returns an engine for serverName on db, closed when the test
// ends.
func NewEngine(t testing.TB, db *sqldb.DB, serverName string) *rooms.Engine {
	t.Helper()
	st, err := roomstore.New(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := signing.NewSigningKey("test", make([]byte, 32))
	e := rooms.New(rooms.Config{Store: st, ServerName: serverName, Key: key, Stream: streams.NewTracker(0), Notifier: streams.NewNotifier()})
	t.Cleanup(e.Close)
	return e
}

// PublicRoom creates a public room whose creator is creator and which the
// others join (remote users too: the engine builds their joins as if
// their server had sent them).
func PublicRoom(t testing.TB, e *rooms.Engine, creator string, others ...string) string {
	t.Helper()
	ctx := context.Background()
	roomID, err := e.CreateRoom(ctx, rooms.CreateRoomRequest{Creator: creator, Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range others {
		b := &event.Builder{Type: event.TypeMember, StateKey: &u, Sender: u, Content: rooms.Content(map[string]any{"membership": "join"})}
		if _, err := e.Send(ctx, roomID, b, nil); err != nil {
			t.Fatal(err)
		}
	}
	return roomID
}

// Say sends a text message.
func Say(t testing.TB, e *rooms.Engine, roomID, sender, body string) *event.Event {
	t.Helper()
	ev, err := e.Send(context.Background(), roomID, &event.Builder{Type: event.TypeMessage, Sender: sender,
		Content: rooms.Content(map[string]any{"msgtype": "m.text", "body": body})}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// Clock is a clock that moves only when told.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts a clock at a fixed time.
func NewClock() *Clock { return &Clock{t: time.Unix(1_700_000_000, 0)} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock forward.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
