package rooms

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/eventauth"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
)

// maxBatch bounds how many queued requests one transaction commits together.
const maxBatch = 64

// Request asks a room's actor to build and persist events from builders, in
// order, all or nothing.
type request struct {
	ctx      context.Context
	builders []*event.Builder
	txn      *roomstore.TxnKey
	// copies are retransmissions of txn queued in the same batch: they
	// are answered with this request's answer (see coalesce).
	copies []*request
	// newRoom is set for the batch that creates the room (its first builder
	// is already a built create event).
	newRoom *event.Event
	// check, if set, runs against the state before each builder is built, to
	// apply client-side rules beyond the auth rules (e.g. redaction rights).
	check func(st *roomState, b *event.Builder) error
	// remote, if set, carries events received over federation; such a
	// request is processed alone (see processRemote).
	remote *remoteBatch
	// backfill, if set, carries history fetched from another server.
	backfill *backfillBatch
	// join, if set, persists a room joined through another server.
	join *remoteJoin
	// template, if set, runs in the actor against the loaded state and
	// persists nothing (make_join and friends).
	template func(a *actor) error
	reply    chan result
}

type result struct {
	events []*event.Event
	err    error
}

// answer replies to r and to the copies of its transaction.
func (r *request) answer(res result) {
	r.reply <- res
	for _, c := range r.copies {
		c.reply <- res
	}
}

// coalesce folds the retransmissions of a client transaction that were
// queued in one batch into its first copy, which alone is built and
// stored; the others get its answer, success or error. This is what
// Synapse's HttpTransactionCache does for requests in flight, and what
// the spec asks: a retransmission gets "the same HTTP response code and
// content as the original request" (client-server-api, "Transaction
// identifiers").
func coalesce(batch []*request) []*request {
	var first map[roomstore.TxnKey]*request
	out := make([]*request, 0, len(batch))
	for _, r := range batch {
		if r.txn != nil {
			if f, ok := first[*r.txn]; ok {
				f.copies = append(f.copies, r)
				continue
			}
			if first == nil {
				first = map[roomstore.TxnKey]*request{}
			}
			first[*r.txn] = r
		}
		out = append(out, r)
	}
	return out
}

// roomState is the actor's in-memory view of its room.
type roomState struct {
	version     *roomversion.Version
	state       eventauth.StateMap
	snapshot    int64
	extremities []*event.Event
	// joined is the set of users whose current membership is join, kept
	// in step with state so that waking members costs no JSON parsing.
	joined map[string]bool
}

func (st *roomState) set(t event.StateTuple, ev *event.Event) {
	st.state[t] = ev
	if t.Type == event.TypeMember {
		if ev.Membership() == event.Join {
			st.joined[t.StateKey] = true
		} else {
			delete(st.joined, t.StateKey)
		}
	}
}

type actor struct {
	e      *Engine
	roomID string
	reqs   chan *request
	st     *roomState // nil until loaded
	// Guarded by the engine's mu (see Engine.park): holds counts requests
	// that have acquired the actor and not yet released it; done is
	// non-nil while the actor's goroutine runs, and closed when it ends;
	// parks counts the times it stopped, and evict is the timer that
	// removes it from memory once parked for the idle timeout.
	holds int
	done  chan struct{}
	parks uint64
	evict *time.Timer
	// txns remembers recently committed client transactions so a retry
	// queued behind the original gets the original's event without a
	// query. It is a cache: the database's unique key on transactions is
	// what guarantees one event per transaction (see processLocal).
	txns txnCache
}

func newActor(e *Engine, roomID string) *actor {
	return &actor{e: e, roomID: roomID, reqs: make(chan *request, maxBatch)}
}

// parkRetry is how long a goroutine that could not park waits for the
// request that held it before trying again: that request may give up
// before it is queued (its context ended).
const parkRetry = time.Second

// run serves the queue until it is empty and nothing holds the actor, then
// parks (see Engine.park).
func (a *actor) run(done chan struct{}) {
	defer close(done)
	for {
		var first *request
		select {
		case r, ok := <-a.reqs:
			if !ok {
				return
			}
			first = r
		default:
		}
		for first == nil {
			if a.e.park(a) {
				return
			}
			retry := time.NewTimer(parkRetry)
			select {
			case r, ok := <-a.reqs:
				retry.Stop()
				if !ok {
					return
				}
				first = r
			case <-retry.C:
			}
		}
		batch := []*request{first}
	drain:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-a.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		a.process(batch)
	}
}

// submit queues a request and waits for its result. A builder that the
// database could not store is refused here, before it can share a batch
// with other requests.
func (a *actor) submit(ctx context.Context, r *request) ([]*event.Event, error) {
	for _, b := range r.builders {
		if err := checkBuilder(b); err != nil {
			return nil, err
		}
	}
	r.ctx = ctx
	r.reply = make(chan result, 1)
	select {
	case a.reqs <- r:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// Once queued, the request will be answered; waiting past ctx would be
	// polite but the result (durable or not) is what the client must learn.
	res := <-r.reply
	return res.events, res.err
}

func (a *actor) load(ctx context.Context) error {
	if a.st != nil {
		return nil
	}
	room, err := a.e.store.Room(ctx, a.roomID)
	if err != nil {
		return err
	}
	ids, err := a.e.store.CurrentState(ctx, a.roomID)
	if err != nil {
		return err
	}
	extIDs, err := a.e.store.ForwardExtremities(ctx, a.roomID)
	if err != nil {
		return err
	}
	want := make([]string, 0, len(ids)+len(extIDs))
	for _, id := range ids {
		want = append(want, id)
	}
	want = append(want, extIDs...)
	evs, err := a.e.store.Events(ctx, want)
	if err != nil {
		return err
	}
	st := &roomState{version: room.Version, state: eventauth.StateMap{}, snapshot: room.CurrentSnapshot, joined: map[string]bool{}}
	for t, id := range ids {
		se, ok := evs[id]
		if !ok {
			return fmt.Errorf("room %s: current state event %s missing", a.roomID, id)
		}
		st.set(t, se.Event)
	}
	for _, id := range extIDs {
		if se, ok := evs[id]; ok {
			st.extremities = append(st.extremities, se.Event)
		}
	}
	a.st = st
	return nil
}

// pending is one event accepted in memory, waiting for commit.
type pending struct {
	req *request
	ne  roomstore.NewEvent
	ev  *event.Event
	// stateDelta is non-nil for accepted state events.
	isState bool
}

func (a *actor) process(batch []*request) {
	ctx := context.Background()
	// Received events go through their own path, one request at a time;
	// local requests queued with them are processed after.
	var local []*request
	for _, r := range batch {
		if r.remote == nil && r.join == nil && r.template == nil && r.backfill == nil {
			local = append(local, r)
			continue
		}
		if len(local) > 0 {
			a.processLocal(ctx, local)
			local = nil
		}
		if r.join != nil {
			err := a.processJoin(ctx, r.join)
			if err != nil {
				a.st = nil
			}
			r.reply <- result{err: err}
			continue
		}
		if err := a.load(ctx); err != nil {
			r.reply <- result{err: err}
			continue
		}
		if r.template != nil {
			r.reply <- result{err: r.template(a)}
			continue
		}
		var err error
		if r.backfill != nil {
			err = a.processBackfill(ctx, r.backfill)
		} else {
			err = a.processRemote(ctx, r.remote)
		}
		if err != nil {
			a.e.log.Error("ingesting received events failed", "room_id", a.roomID, "err", err)
			a.st = nil // reload from the database on next use
		}
		r.reply <- result{err: err}
	}
	if len(local) > 0 {
		a.processLocal(ctx, local)
	}
}

// processLocal builds, authorises and commits local requests in one
// transaction, answering each after the commit.
//
// A failed commit must not fail the requests that were fine: if the
// database refuses a batch of several requests, each is committed again on
// its own, so that only the culprit gets the error. And two events must
// never claim one client transaction: if the commit finds the transaction
// already stored (a retransmission that missed both the check in Send and
// the actor's memory), the batch is built again with that request
// answered by the stored event.
func (a *actor) processLocal(ctx context.Context, batch []*request) {
	batch = coalesce(batch)
	newRoom := batch[0].newRoom
	if newRoom != nil {
		a.st = &roomState{version: newRoom.Version(), state: eventauth.StateMap{}, joined: map[string]bool{}}
	} else if err := a.load(ctx); err != nil {
		for _, r := range batch {
			r.answer(result{err: err})
		}
		return
	}
	before := a.snapshotState()
	todo := batch
	for attempt := 0; ; attempt++ {
		accepted, accReqs := a.applyAll(todo)
		if len(accepted) == 0 {
			if newRoom != nil {
				a.st = nil // the room was never created
			}
			return
		}
		committed, err := a.persist(ctx, accepted, newRoom, before)
		if err == nil {
			a.answerCommitted(accepted, accReqs)
			a.e.committed(committed)
			return
		}
		a.restore(before)
		var taken *roomstore.TxnTakenError
		if errors.As(err, &taken) && attempt < len(batch) && a.learnTxn(ctx, taken) {
			todo = accReqs
			continue
		}
		if len(accReqs) > 1 {
			a.e.log.Warn("committing a batch failed; committing its requests one by one", "room_id", a.roomID,
				"requests", len(accReqs), "err", err)
			for _, r := range accReqs {
				a.processLocal(ctx, []*request{r})
			}
			return
		}
		a.e.log.Error("persisting room events failed", "room_id", a.roomID, "err", err)
		if newRoom != nil {
			a.st = nil
		}
		for _, r := range accReqs {
			r.answer(result{err: err})
		}
		return
	}
}

// applyAll applies each request against the in-memory state, answering
// those that fail their checks or replay a stored transaction, and returns
// the events accepted and the requests they belong to.
func (a *actor) applyAll(reqs []*request) (accepted []pending, accReqs []*request) {
	for _, r := range reqs {
		n := len(accepted)
		evs, err := a.apply(r, &accepted)
		switch {
		case err != nil:
			r.answer(result{err: err})
		case len(accepted) == n:
			r.answer(result{events: evs}) // a replayed transaction
		default:
			accReqs = append(accReqs, r)
		}
	}
	return accepted, accReqs
}

// answerCommitted answers the requests of a committed batch and remembers
// their transactions.
func (a *actor) answerCommitted(accepted []pending, accReqs []*request) {
	byReq := map[*request][]*event.Event{}
	for _, p := range accepted {
		byReq[p.req] = append(byReq[p.req], p.ev)
	}
	for _, r := range accReqs {
		evs := byReq[r]
		if r.txn != nil {
			a.txns.put(*r.txn, evs[len(evs)-1])
		}
		r.answer(result{events: evs})
	}
}

// learnTxn remembers the event already stored for a transaction, so that
// its request replays it. It reports false if the event cannot be read.
func (a *actor) learnTxn(ctx context.Context, taken *roomstore.TxnTakenError) bool {
	se, err := a.e.store.Event(ctx, taken.EventID)
	if err != nil {
		a.e.log.Error("reading the event of a stored transaction", "room_id", a.roomID, "event_id", taken.EventID, "err", err)
		return false
	}
	a.txns.put(taken.Key, se.Event)
	return true
}

// savedState is a copy of the in-memory state to roll back to when a
// request fails its checks or a commit fails.
type savedState struct {
	state       eventauth.StateMap
	joined      map[string]bool
	snapshot    int64
	extremities []*event.Event
}

func (a *actor) snapshotState() savedState {
	m := make(eventauth.StateMap, len(a.st.state))
	for k, v := range a.st.state {
		m[k] = v
	}
	j := make(map[string]bool, len(a.st.joined))
	for k := range a.st.joined {
		j[k] = true
	}
	return savedState{state: m, joined: j, snapshot: a.st.snapshot, extremities: append([]*event.Event(nil), a.st.extremities...)}
}

func (a *actor) restore(s savedState) {
	if a.st == nil {
		return
	}
	a.st.state, a.st.joined, a.st.snapshot, a.st.extremities = s.state, s.joined, s.snapshot, s.extremities
}

// apply builds and authorises a request's events against the in-memory
// state, appending them to accepted. On error the in-memory state is rolled
// back to before this request.
func (a *actor) apply(r *request, accepted *[]pending) ([]*event.Event, error) {
	saved := a.snapshotState()
	start := len(*accepted)
	fail := func(err error) ([]*event.Event, error) {
		a.restore(saved)
		*accepted = (*accepted)[:start]
		return nil, err
	}
	var out []*event.Event
	if r.txn != nil {
		if ev := a.txns.get(*r.txn); ev != nil {
			return []*event.Event{ev}, nil
		}
	}
	if r.newRoom != nil {
		ev := r.newRoom
		if err := eventauth.Check(ev, a.st.state); err != nil {
			return fail(merr.Forbidden(err.Error()))
		}
		a.accept(r, ev, accepted)
		out = append(out, ev)
	}
	for i, b := range r.builders {
		if r.check != nil {
			if err := r.check(a.st, b); err != nil {
				return fail(err)
			}
		}
		ev, err := a.build(b)
		if err != nil {
			return fail(err)
		}
		if err := eventauth.Check(ev, a.st.state); err != nil {
			return fail(merr.Forbidden(err.Error()))
		}
		if ev, err = a.policySign(r.ctx, ev); err != nil {
			return fail(err)
		}
		if r.txn != nil && i == len(r.builders)-1 {
			// the client's transaction ID names the last (usually only) event
			a.accept(r, ev, accepted)
			(*accepted)[len(*accepted)-1].ne.Txn = r.txn
		} else {
			a.accept(r, ev, accepted)
		}
		out = append(out, ev)
	}
	return out, nil
}

func (a *actor) accept(r *request, ev *event.Event, accepted *[]pending) {
	p := pending{req: r, ev: ev, ne: roomstore.NewEvent{Event: ev}}
	if t, ok := ev.Tuple(); ok {
		a.st.set(t, ev)
		p.isState = true
	}
	a.st.extremities = []*event.Event{ev}
	*accepted = append(*accepted, p)
}

// build fills prev events, auth events and depth from the in-memory state
// and signs the event.
func (a *actor) build(b *event.Builder) (*event.Event, error) {
	v := a.st.version
	if b.RoomID == "" {
		b.RoomID = a.roomID
	}
	b.PrevEvents = b.PrevEvents[:0]
	var depth int64
	exts := a.st.extremities
	sort.Slice(exts, func(i, j int) bool { return exts[i].Depth() > exts[j].Depth() })
	for i, p := range exts {
		if i == event.MaxPrevEvents {
			break
		}
		b.PrevEvents = append(b.PrevEvents, p.EventID())
		if p.Depth() > depth {
			depth = p.Depth()
		}
	}
	b.Depth = depth + 1
	if b.OriginServerTS == 0 {
		b.OriginServerTS = a.e.nowMS()
	}
	auth, err := eventauth.SelectAuthEvents(v, b, a.st.state)
	if err != nil {
		return nil, merr.BadJSON(err.Error())
	}
	b.AuthEvents = auth
	if !v.EventIDsAreHashes() {
		b.EventID = newLegacyEventID(a.e.serverName)
		b.RefHashes = map[string]string{}
		for _, id := range append(append([]string{}, b.PrevEvents...), b.AuthEvents...) {
			if ev := a.findEvent(id); ev != nil {
				h := ev.ReferenceHash()
				b.RefHashes[id] = encodeB64(h[:])
			}
		}
	}
	if v.LegacyPDUFields {
		b.Origin = a.e.serverName
	}
	ev, err := b.Build(v, a.e.serverName, a.e.key)
	if err != nil {
		if errors.Is(err, event.ErrTooLarge) {
			return nil, merr.TooLarge("event too large")
		}
		return nil, merr.BadJSON(err.Error())
	}
	return ev, nil
}

// findEvent looks for an event among the in-memory state and extremities.
func (a *actor) findEvent(id string) *event.Event {
	for _, e := range a.st.state {
		if e.EventID() == id {
			return e
		}
	}
	for _, e := range a.st.extremities {
		if e.EventID() == id {
			return e
		}
	}
	return nil
}
