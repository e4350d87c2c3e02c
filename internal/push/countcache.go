package push

import (
	"slices"
	"strings"

	"github.com/myelin-chat/myelin/internal/syncapi"
)

// A user's unread counts change only when something moves one of three
// streams: notifications are written for them (the notifier's cursor
// advances after they commit), they send a read receipt (the receipt
// stream advances after it is stored), or their membership changes (the
// room stream; a join is where counting starts). Pruning deletes only
// rows that no count includes. So counts read while all three stood at
// some positions hold for every later read at those same positions:
// a sync woken by typing or presence, which moves none of them, is
// answered from the counts its previous response carried, without a
// query.

// countsTag is where the three streams stand; ok is false when the
// notifier cannot see the receipt stream (no caching then).
type countsTag struct{ room, cursor, receipts int64 }

func (n *Notifier) countsTag() (countsTag, bool) {
	if n.cfg.ReceiptsAt == nil {
		return countsTag{}, false
	}
	// The receipt position first: each read below is then at least as
	// recent as the tag says.
	r := n.cfg.ReceiptsAt()
	return countsTag{room: n.cfg.Rooms.Stream().Current(), cursor: n.cursor.Load(), receipts: r}, true
}

// countsKey identifies one question: which rooms, counted per thread or
// not.
func countsKey(roomIDs []string, threads bool) string {
	ids := slices.Clone(roomIDs)
	slices.Sort(ids)
	k := strings.Join(ids, "\x00")
	if threads {
		k = "t\x00" + k
	}
	return k
}

// maxCountsCached bounds the users whose last counts are kept.
const maxCountsCached = 10000

// countsQuestion tags a user's cached counts: the rooms asked about, and
// where the streams stood.
type countsQuestion struct {
	key string
	tag countsTag
}

// countCache keeps each recently syncing user's last answer.
type countCache = syncapi.TaggedCache[countsQuestion, map[string]syncapi.RoomUnread]
