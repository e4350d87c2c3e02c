package rooms

import (
	"context"
	"crypto/rand"
	"encoding/base64"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
)

// persist writes the accepted events in one transaction: each gets the next
// stream position, the snapshot of the state before it, and, for state
// events, a new snapshot and a current-state row. Positions are released to
// readers only after commit. The transaction may be shared with other
// rooms' batches (WriteGrouped), so that busy rooms share one fsync; this
// batch still commits or fails as a whole.
func (a *actor) persist(ctx context.Context, accepted []pending, newRoom *event.Event, before savedState) ([]Committed, error) {
	positions := make([]int64, len(accepted))
	for i := range accepted {
		positions[i] = a.e.stream.Reserve()
	}
	defer func() {
		for _, p := range positions {
			a.e.stream.Finish(p)
		}
	}()

	// Derived rows (push notifications) are prepared before the
	// transaction, so their reads do not hold the writer.
	work := a.prepareCommit(ctx, accepted, positions, before)

	full := make(roomstore.StateMap, len(before.state)+len(accepted))
	for t, ev := range before.state {
		full[t] = ev.EventID()
	}
	snapshot := before.snapshot
	remote := a.hasRemoteMember()
	var out []Committed
	var inserted []*event.Event
	err := a.e.store.WriteGrouped(ctx, func(w *roomstore.Writer) error {
		out, inserted = out[:0], inserted[:0]
		snap := snapshot
		if newRoom != nil {
			if err := w.CreateRoom(a.roomID, string(newRoom.Version().ID), newRoom.OriginServerTS()); err != nil {
				return err
			}
		}
		cur := make(roomstore.StateMap, len(full))
		for k, v := range full {
			cur[k] = v
		}
		for i, p := range accepted {
			ne := p.ne
			ne.StreamPos = positions[i]
			ne.StateBefore = snap
			// Bound for other servers: the commit hook's destinations are
			// the members' servers and a member event's subject's.
			ne.Outbox = remote || (p.ev.Type() == event.TypeMember && p.ev.StateKey() != nil && domainOf(*p.ev.StateKey()) != a.e.serverName)
			if t, ok := p.ev.Tuple(); ok {
				cur[t] = p.ev.EventID()
				id, err := w.NewSnapshot(a.roomID, snap, roomstore.StateMap{t: p.ev.EventID()}, func() roomstore.StateMap { return cur })
				if err != nil {
					return err
				}
				ne.StateAfter = id
				snap = id
				if err := w.SetCurrentState(p.ev, positions[i]); err != nil {
					return err
				}
			}
			if ok, err := w.InsertEvent(ne); err != nil {
				return err
			} else if ok {
				inserted = append(inserted, ne.Event)
				// Only for an event stored now: one that lost its
				// transaction ID to a stored copy has no row to derive from.
				if work != nil && work[i] != nil {
					if err := w.Do(work[i]); err != nil {
						return err
					}
				}
			}
			if p.ev.Type() == event.TypeRedaction && p.ev.Redacts() != "" {
				if err := w.MarkRedacted(p.ev.Redacts(), p.ev.EventID()); err != nil {
					return err
				}
			}
			out = append(out, Committed{Event: p.ev, StreamPos: positions[i]})
		}
		if err := w.SetCurrentSnapshot(a.roomID, snap); err != nil {
			return err
		}
		last := accepted[len(accepted)-1].ev
		snapshot = snap
		return w.SetForwardExtremities(a.roomID, []string{last.EventID()})
	})
	if err != nil {
		return nil, err
	}
	if work != nil {
		a.e.preCommit.Committed(positions)
	}
	// Readers (a /sync, say) then share the events this room's state
	// holds rather than parse copies of them.
	a.e.store.Remember(inserted...)
	a.st.snapshot = snapshot
	members := a.joinedMembers()
	for i := range out {
		wake := members
		if out[i].Event.Type() == event.TypeMember && out[i].Event.StateKey() != nil {
			wake = append(append([]string(nil), members...), *out[i].Event.StateKey())
		}
		out[i].Wake = wake
	}
	return out, nil
}

// hasRemoteMember reports whether a user of another server is joined.
func (a *actor) hasRemoteMember() bool {
	for u := range a.st.joined {
		if domainOf(u) != a.e.serverName {
			return true
		}
	}
	return false
}

// joinedMembers lists local and remote users whose membership is join.
func (a *actor) joinedMembers() []string {
	out := make([]string, 0, len(a.st.joined))
	for u := range a.st.joined {
		out = append(out, u)
	}
	return out
}

// newLegacyEventID makes a sender-assigned event ID for room v1/v2.
func newLegacyEventID(server string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "$" + base64.RawURLEncoding.EncodeToString(b[:]) + ":" + server
}

func encodeB64(b []byte) string { return base64.RawStdEncoding.EncodeToString(b) }

// randomString returns n URL-safe random characters.
func randomString(n int) string {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b)
}
