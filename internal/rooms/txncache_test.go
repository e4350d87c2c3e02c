package rooms

import (
	"fmt"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
)

func TestTxnCache_RemembersTheLatestTransactions(t *testing.T) {
	key := func(i int) roomstore.TxnKey {
		return roomstore.TxnKey{UserID: "@a:hs", DeviceID: "D", TxnID: fmt.Sprint(i), RoomID: "!r:hs", Endpoint: "send", Target: "m.room.message"}
	}
	evs := make([]*event.Event, 3*txnCacheSize)
	var c txnCache
	for i := range evs {
		evs[i] = new(event.Event)
		c.put(key(i), evs[i])
		if c.get(key(i)) != evs[i] {
			t.Fatalf("transaction %d not found right after it was put", i)
		}
	}
	if len(c) > txnCacheSize {
		t.Fatalf("cache holds %d transactions, want at most %d", len(c), txnCacheSize)
	}
	for i := len(evs) - txnCacheSize/2; i < len(evs); i++ {
		if c.get(key(i)) != evs[i] {
			t.Errorf("recent transaction %d forgotten", i)
		}
	}
	if c.get(key(0)) != nil {
		t.Error("the oldest transaction is still remembered past the bound")
	}
	other := key(len(evs) - 1)
	other.Endpoint = "redact"
	if c.get(other) != nil {
		t.Error("a transaction matched a key that differs only in its endpoint")
	}
}
