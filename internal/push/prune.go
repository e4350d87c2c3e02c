package push

import (
	"context"
	"time"

	"github.com/myelin-chat/myelin/internal/storage/pushstore"
)

// Read notifications are deleted once they are a month old, in the
// background, a bounded batch per transaction.
//
// Synapse deletes a user's push actions once a read receipt covers them,
// but keeps a month of read highlights so that GET /notifications can
// still list recent ones (event_push_actions _remove_old_push_actions_before_txn;
// later versions drop read non-highlights at once and summarise the rest
// after a day). Myelin counts unread notifications from the rows
// themselves, so it keeps every unread one, and keeps every read one for
// that month, highlight or not: counts never change (only rows at or
// before the user's read position go, which no count includes), and
// GET /notifications lists what was read in the last month, as it showed
// highlights in Synapse.
const (
	pruneAge   = 30 * 24 * time.Hour
	pruneBatch = 200
	// pruneEvery is how often a pass runs; pruneRest is the pause between
	// the batches of one pass, which leaves the writer to the rooms.
	pruneEvery = time.Hour
	pruneRest  = 100 * time.Millisecond
)

// PruneRead deletes the notifications older than a month (by their
// event's origin_server_ts, from now) that the user has read: at or
// before their latest read receipt covering the event's thread
// (m.read or m.read.private, threaded or not), or before their join to
// the room. It walks every old row once, a batch per transaction, and
// returns how many it deleted.
func (n *Notifier) PruneRead(ctx context.Context, now time.Time) (int, error) {
	return n.pruneRead(ctx, now, nil)
}

// pruneRead is PruneRead with a pause between batches (rest, when not nil,
// returns false to stop).
func (n *Notifier) pruneRead(ctx context.Context, now time.Time, rest func() bool) (int, error) {
	before := now.Add(-pruneAge).UnixMilli()
	var afterTS int64 = -1 << 62
	var after pushstore.Key
	deleted := 0
	for {
		batch, err := n.cfg.Store.OlderThan(ctx, before, afterTS, after, pruneBatch)
		if err != nil || len(batch) == 0 {
			return deleted, err
		}
		last := batch[len(batch)-1]
		afterTS, after = last.TS, pushstore.Key{UserID: last.UserID, StreamPos: last.StreamPos}
		read, err := n.readOf(ctx, batch)
		if err != nil {
			return deleted, err
		}
		if len(read) > 0 {
			if err := n.cfg.Store.Delete(ctx, read); err != nil {
				return deleted, err
			}
			deleted += len(read)
		}
		if len(batch) < pruneBatch || (rest != nil && !rest()) {
			return deleted, nil
		}
	}
}

// readOf returns the notifications of batch that their user has read, by
// the rule that counts them (UnreadCounts).
func (n *Notifier) readOf(ctx context.Context, batch []pushstore.Notification) ([]pushstore.Key, error) {
	rooms := map[string][]string{}
	seen := map[[2]string]bool{}
	for _, nt := range batch {
		if k := [2]string{nt.UserID, nt.RoomID}; !seen[k] {
			seen[k] = true
			rooms[nt.UserID] = append(rooms[nt.UserID], nt.RoomID)
		}
	}
	type upTo struct {
		unthreaded map[string]int64
		threaded   map[string]map[string]int64
	}
	users := make(map[string]upTo, len(rooms))
	for u, rs := range rooms {
		un, th, err := n.readUpTo(ctx, u, rs)
		if err != nil {
			return nil, err
		}
		users[u] = upTo{un, th}
	}
	var read []pushstore.Key
	for _, nt := range batch {
		r := users[nt.UserID]
		if nt.StreamPos <= r.unthreaded[nt.RoomID] || nt.StreamPos <= r.threaded[nt.RoomID][nt.ThreadID] {
			read = append(read, pushstore.Key{UserID: nt.UserID, StreamPos: nt.StreamPos})
		}
	}
	return read, nil
}

// prune runs a pass every pruneEvery until Close.
func (n *Notifier) prune() {
	defer close(n.pruned)
	t := time.NewTimer(time.Minute) // not in the rush of a start
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		rest := func() bool {
			select {
			case <-n.stop:
				return false
			case <-time.After(pruneRest):
				return true
			}
		}
		deleted, err := n.pruneRead(context.Background(), n.cfg.Now(), rest)
		if err != nil {
			n.cfg.Log.Warn("push: pruning read notifications failed", "err", err)
		} else if deleted > 0 {
			n.cfg.Log.Info("push: pruned read notifications older than a month", "deleted", deleted)
		}
		t.Reset(pruneEvery)
	}
}
