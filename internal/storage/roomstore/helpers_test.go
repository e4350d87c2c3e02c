package roomstore

import (
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/signing"
)

// buildEvent builds b as a room version 10 event of server hs1, signed with
// a fixed test key.
func buildEvent(t *testing.T, b *event.Builder) *event.Event {
	t.Helper()
	key, err := signing.NewSigningKey("k", make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := b.Build(roomversion.MustGet("10"), "hs1", key)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}
