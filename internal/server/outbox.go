package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/federation/sender"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
)

// outboxFlushEvery is how often entries for events the sender has queued
// are cleared: one small delete instead of a write per send. A crash
// before a flush only makes the next start queue those events again, and
// receiving servers ignore events they already have.
const outboxFlushEvery = 2 * time.Second

// outbox closes the gap between a room commit and the federation sender's
// queue. The room engine records each local event bound for other servers
// in the transaction that commits it (roomstore migration 3); the commit
// hook queues it with the sender and reports it here; entries are cleared
// in batches. At start, entries left by a crash are queued again.
type outbox struct {
	store *roomstore.Store
	log   *slog.Logger

	mu   sync.Mutex
	done []int64

	stop     chan struct{}
	finished chan struct{}
}

func newOutbox(store *roomstore.Store, log *slog.Logger) *outbox {
	return &outbox{store: store, log: log}
}

// queued records that the events at these positions are in the sender's
// queue.
func (o *outbox) queued(positions []int64) {
	o.mu.Lock()
	o.done = append(o.done, positions...)
	o.mu.Unlock()
}

func (o *outbox) flush(ctx context.Context) {
	o.mu.Lock()
	done := o.done
	o.done = nil
	o.mu.Unlock()
	if len(done) == 0 {
		return
	}
	if err := o.store.ClearOutbox(ctx, done); err != nil {
		o.log.Warn("clearing the federation outbox failed; the events will be queued again at the next start", "err", err)
	}
}

// start queues what a previous run committed but never handed to the
// sender, then clears handed-over entries periodically until close.
func (o *outbox) start(ctx context.Context, eng *rooms.Engine, snd *sender.Sender) error {
	if err := o.replay(ctx, eng, snd); err != nil {
		return err
	}
	o.stop, o.finished = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(o.finished)
		t := time.NewTicker(outboxFlushEvery)
		defer t.Stop()
		for {
			select {
			case <-o.stop:
				return
			case <-t.C:
				o.flush(context.Background())
			}
		}
	}()
	return nil
}

// close stops the periodic flush and flushes once more; call it after the
// room engine has stopped committing.
func (o *outbox) close() {
	if o.stop != nil {
		close(o.stop)
		<-o.finished
		o.stop = nil
	}
	o.flush(context.Background())
}

func (o *outbox) replay(ctx context.Context, eng *rooms.Engine, snd *sender.Sender) error {
	total := 0
	for {
		entries, err := o.store.Outbox(ctx, 500)
		if err != nil || len(entries) == 0 {
			if total > 0 {
				o.log.Info("queued events a previous run committed but had not handed to the federation sender", "events", total)
			}
			return err
		}
		ids := make([]string, len(entries))
		positions := make([]int64, len(entries))
		for i, e := range entries {
			ids[i], positions[i] = e.EventID, e.StreamPos
		}
		evs, err := o.store.Events(ctx, ids)
		if err != nil {
			return err
		}
		servers := map[string][]string{}
		var pdus []sender.PDU
		for _, e := range entries {
			se, ok := evs[e.EventID]
			if !ok {
				continue
			}
			roomID := se.RoomID()
			if _, ok := servers[roomID]; !ok {
				if servers[roomID], err = eng.ServersInRoom(ctx, roomID); err != nil {
					return err
				}
			}
			dests := append([]string(nil), servers[roomID]...)
			if se.Type() == event.TypeMember && se.StateKey() != nil {
				dests = append(dests, domainOf(*se.StateKey()))
			}
			// SendPDUs leaves out our own name.
			pdus = append(pdus, sender.PDU{Event: se.Event, StreamPos: se.StreamPos, Destinations: dests})
		}
		if len(pdus) > 0 {
			if err := snd.SendPDUs(ctx, pdus); err != nil {
				return err
			}
		}
		if err := o.store.ClearOutbox(ctx, positions); err != nil {
			return err
		}
		total += len(pdus)
	}
}
