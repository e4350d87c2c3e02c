package rooms

import (
	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
)

// txnCacheSize bounds how many committed transactions a room remembers. A
// client retries a send within seconds of the original, so the latest
// ones are those worth remembering; an older retry finds its event
// through the database's unique key instead (processLocal).
const txnCacheSize = 128

// txnCache remembers a room's recently committed client transactions, in
// commit order. Most rooms commit a few, so a slice searched from its end
// costs a fraction of a map (a map of one entry took ~1 KB per room, which
// for 5 000 rooms touched once was 4 MB of the heap).
type txnCache []txnEntry

type txnEntry struct {
	key roomstore.TxnKey
	ev  *event.Event
}

// get returns the event committed for key, or nil.
func (c txnCache) get(key roomstore.TxnKey) *event.Event {
	for i := len(c) - 1; i >= 0; i-- {
		if c[i].key == key {
			return c[i].ev
		}
	}
	return nil
}

// put remembers ev as key's event, forgetting the oldest half once full.
func (c *txnCache) put(key roomstore.TxnKey, ev *event.Event) {
	if len(*c) >= txnCacheSize {
		n := copy(*c, (*c)[txnCacheSize/2:])
		clear((*c)[n:])
		*c = (*c)[:n]
	}
	*c = append(*c, txnEntry{key, ev})
}
