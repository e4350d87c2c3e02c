package scenario

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/myelin-chat/myelin/internal/bench/client"
	"github.com/myelin-chat/myelin/internal/bench/stats"
)

// FanoutParams size the fan-out scenario.
type FanoutParams struct {
	// Users is how many receivers long-poll /sync in the room (the
	// sender comes on top).
	Users int `json:"users"`
	// Messages is how many messages the sender sends, one at a time.
	Messages int `json:"messages"`
	// DeliveryBound is how long one message may take to reach everybody
	// before it counts as undelivered and the next one is sent (default
	// 30 s).
	DeliveryBound time.Duration `json:"-"`
	// PollTimeout is the long-poll timeout sent with each /sync (default
	// 30 s, as clients commonly use).
	PollTimeout time.Duration `json:"-"`
	// Gap is a pause between a message's last delivery and the next send,
	// once every receiver has asked for more (default 50 ms), so that the
	// receivers' new long-polls have reached the server.
	Gap time.Duration `json:"-"`
	// Typing fans out typing notices instead of messages: the sender
	// starts and stops typing in turn (issue 11's typing fan-out), and a
	// delivery is a receiver's /sync whose m.typing shows the change.
	Typing bool `json:"typing,omitempty"`
}

// FanoutResult is the fan-out scenario's outcome.
type FanoutResult struct {
	Users    int  `json:"users"`
	Messages int  `json:"messages"`
	Typing   bool `json:"typing,omitempty"`
	// Delivered counts messages every receiver got within the bound.
	Delivered   int    `json:"delivered"`
	Undelivered int    `json:"undelivered"`
	SendErrors  int    `json:"send_errors"`
	SyncErrors  int    `json:"sync_errors"`
	FirstError  string `json:"first_error,omitempty"`
	// LastDeliveryMS is, per delivered message, the time from reading the
	// send's 200 to the last receiver's /sync answer holding the event.
	// The server may wake the long-polls before it answers the send, so a
	// small value can be near zero (or, in principle, negative).
	LastDeliveryMS stats.Summary `json:"last_delivery_ms"`
	// LastDeliveryFromSendMS is the same measured from the send request's
	// start: it includes the commit.
	LastDeliveryFromSendMS stats.Summary `json:"last_delivery_from_send_ms"`
	// FirstDeliveryMS is from the send's 200 to the first receiver's
	// answer.
	FirstDeliveryMS stats.Summary `json:"first_delivery_ms"`
	SendLatencyMS   stats.Summary `json:"send_latency_ms"`
	// InitialSyncMS are the receivers' initial syncs (done before the
	// measurement, up to the setup concurrency at a time).
	InitialSyncMS stats.Summary `json:"initial_sync_ms"`
	// SyncAnswersPerDelivery is how many /sync answers receivers got
	// during the measurement per (message × receiver): 1.0 means each
	// long-poll returned exactly once per message.
	SyncAnswersPerDelivery float64 `json:"sync_answers_per_delivery"`
	SetupS                 float64 `json:"setup_s"`
	MeasureS               float64 `json:"measure_s"`
}

// fanoutFilter is sent inline with every receiver /sync. Lazy-loading
// members is what mainstream clients (Element) do in large rooms; without
// it each initial sync would carry every member event of the room.
const fanoutFilter = `{"room":{"timeline":{"limit":20},"state":{"lazy_load_members":true}}}`

// deliveries tracks which receivers have seen which event.
type deliveries struct {
	users  int
	mu     sync.Mutex
	events map[string]*delivery
	notify chan struct{} // signalled (non-blocking) on every new delivery
}

type delivery struct {
	seen        []bool
	count       int
	first, last time.Time
}

func (d *deliveries) add(user int, eventID string, at time.Time) {
	d.mu.Lock()
	e := d.events[eventID]
	if e == nil {
		e = &delivery{seen: make([]bool, d.users)}
		d.events[eventID] = e
	}
	if !e.seen[user] {
		e.seen[user] = true
		e.count++
		if e.count == 1 || at.Before(e.first) {
			e.first = at
		}
		if at.After(e.last) {
			e.last = at
		}
	}
	d.mu.Unlock()
	select {
	case d.notify <- struct{}{}:
	default:
	}
}

func (d *deliveries) get(eventID string) (count int, first, last time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e := d.events[eventID]; e != nil {
		return e.count, e.first, e.last
	}
	return 0, time.Time{}, time.Time{}
}

// Fanout: Users receivers joined to one room, each long-polling /sync; one
// sender sends Messages messages, each after the previous one reached
// everybody (or its bound passed).
func Fanout(ctx context.Context, env *Env, p FanoutParams) (*FanoutResult, error) {
	if p.Users < 1 || p.Messages < 1 {
		return nil, fmt.Errorf("fanout: users and messages must be at least 1")
	}
	if p.DeliveryBound <= 0 {
		p.DeliveryBound = 30 * time.Second
	}
	if p.PollTimeout <= 0 {
		p.PollTimeout = 30 * time.Second
	}
	if p.Gap <= 0 {
		p.Gap = 50 * time.Millisecond
	}
	setupStart := time.Now()
	stem := env.names("fan" + strconv.Itoa(p.Users) + "x")
	users, err := env.registerUsers(ctx, stem, p.Users+1)
	if err != nil {
		return nil, err
	}
	sender, receivers := users[0], users[1:]
	room, err := createRoom(ctx, sender, "public_chat", "bench fanout")
	if err != nil {
		return nil, err
	}
	if err := env.joinAll(ctx, receivers, room); err != nil {
		return nil, err
	}

	// Initial syncs, after every join, so their tokens are past all the
	// membership events and the long-polls see only the messages.
	since := make([]string, len(receivers))
	initial := make([]time.Duration, len(receivers))
	var done atomic.Int64
	err = forEach(ctx, len(receivers), env.setupConcurrency(), func(ctx context.Context, i int) error {
		t0 := time.Now()
		r, err := receivers[i].Sync(ctx, client.SyncParams{Filter: fanoutFilter})
		if err != nil {
			return fmt.Errorf("initial sync of receiver %d: %w", i, err)
		}
		if _, ok := r.Rooms.Join[room]; !ok {
			return fmt.Errorf("initial sync of receiver %d lacks the room", i)
		}
		initial[i], since[i] = r.Received.Sub(t0), r.NextBatch
		env.progress("initial syncs", int(done.Add(1)), len(receivers), "")
		return nil
	})
	if err != nil {
		return nil, err
	}

	res := &FanoutResult{Users: p.Users, Messages: p.Messages, Typing: p.Typing, InitialSyncMS: stats.Summarize(stats.Millis(initial))}
	res.SetupS = seconds(time.Since(setupStart))

	// The long-polls.
	track := &deliveries{users: len(receivers), events: map[string]*delivery{}, notify: make(chan struct{}, 1)}
	var see seer = timelineSeer{}
	if p.Typing {
		see = &typingSeer{sender: sender.UserID}
	}
	pollCtx, stopPolls := context.WithCancel(ctx)
	var (
		polling  atomic.Int64 // receivers with a /sync in flight
		answers  atomic.Int64
		syncErrs errorLog
		wg       sync.WaitGroup
	)
	for i, c := range receivers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			receive(pollCtx, c, i, room, since[i], p.PollTimeout, see, track, &polling, &answers, &syncErrs)
		}()
	}
	defer func() { stopPolls(); wg.Wait() }()

	var lastRel, lastAbs, firstRel, sendLat []time.Duration
	var sendErrs errorLog
	measureStart := time.Now()
	answersBefore := answers.Load()
	for m := range p.Messages {
		if err := waitPolling(ctx, &polling, int64(len(receivers)), p.DeliveryBound); err != nil {
			return nil, err
		}
		if err := sleep(ctx, p.Gap); err != nil {
			return nil, err
		}
		var s client.Sent
		if p.Typing {
			// Starts on even rounds, stops on odd ones; the round is
			// named before the request, which may wake receivers before
			// its answer comes.
			key := see.(*typingSeer).round(m)
			s, err = sender.Typing(ctx, room, m%2 == 0, p.PollTimeout*2)
			s.EventID = key
		} else {
			s, err = sender.SendText(ctx, room, "fanout "+strconv.Itoa(m))
		}
		if err != nil {
			sendErrs.add(err)
			if n, _ := sendErrs.count(); n > maxErrors(p.Messages) {
				return nil, fmt.Errorf("fanout: %w sending: %v", errAborted, err)
			}
			continue
		}
		sendLat = append(sendLat, s.Reply.Sub(s.Start))
		n, first, last := waitDelivered(ctx, track, s.EventID, len(receivers), s.Reply.Add(p.DeliveryBound))
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if n < len(receivers) {
			res.Undelivered++
		} else {
			res.Delivered++
			lastRel = append(lastRel, last.Sub(s.Reply))
			lastAbs = append(lastAbs, last.Sub(s.Start))
			firstRel = append(firstRel, first.Sub(s.Reply))
		}
		env.progress("fan out messages", m+1, p.Messages, fmt.Sprintf("%d users", p.Users))
	}
	res.MeasureS = seconds(time.Since(measureStart))
	res.SyncAnswersPerDelivery = float64(answers.Load()-answersBefore) / float64(max(1, p.Messages*len(receivers)))
	stopPolls()
	wg.Wait()

	res.LastDeliveryMS = stats.Summarize(stats.Millis(lastRel))
	res.LastDeliveryFromSendMS = stats.Summarize(stats.Millis(lastAbs))
	res.FirstDeliveryMS = stats.Summarize(stats.Millis(firstRel))
	res.SendLatencyMS = stats.Summarize(stats.Millis(sendLat))
	var first1, first2 string
	res.SendErrors, first1 = sendErrs.count()
	res.SyncErrors, first2 = syncErrs.count()
	res.FirstError = first1
	if res.FirstError == "" {
		res.FirstError = first2
	}
	return res, nil
}

// receive is one receiver's long-poll loop; it ends when ctx ends or after
// too many failed polls in a row.
func receive(ctx context.Context, c *client.Client, idx int, room, since string, timeout time.Duration,
	see seer, track *deliveries, polling, answers *atomic.Int64, errs *errorLog) {
	failures := 0
	for ctx.Err() == nil && failures < 20 {
		polling.Add(1)
		r, err := c.Sync(ctx, client.SyncParams{Since: since, Timeout: timeout, Filter: fanoutFilter})
		polling.Add(-1)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			errs.add(err)
			failures++
			_ = sleep(ctx, 100*time.Millisecond)
			continue
		}
		failures = 0
		answers.Add(1)
		since = r.NextBatch
		for _, key := range see.seen(r.Rooms.Join[room]) {
			track.add(idx, key, r.Received)
		}
	}
}

// A seer names the deliveries a receiver's /sync answer holds.
type seer interface {
	seen(jr client.SyncRoom) []string
}

// timelineSeer delivers messages: the timeline's event IDs.
type timelineSeer struct{}

func (timelineSeer) seen(jr client.SyncRoom) []string {
	keys := make([]string, 0, len(jr.Timeline.Events))
	for _, ev := range jr.Timeline.Events {
		keys = append(keys, ev.EventID)
	}
	return keys
}

// typingSeer delivers typing changes: round m (the sender typing on even
// rounds, not on odd ones) is seen in an m.typing that shows it. Rounds
// run one at a time, so the current one is the only one to look for.
type typingSeer struct {
	sender  string
	current atomic.Int64
}

// round starts round m and returns its delivery key.
func (t *typingSeer) round(m int) string {
	t.current.Store(int64(m))
	return "typing " + strconv.Itoa(m)
}

func (t *typingSeer) seen(jr client.SyncRoom) []string {
	m := int(t.current.Load())
	for _, ev := range jr.Ephemeral.Events {
		if ev.Type == "m.typing" && slices.Contains(ev.Content.UserIDs, t.sender) == (m%2 == 0) {
			return []string{"typing " + strconv.Itoa(m)}
		}
	}
	return nil
}

// waitPolling waits until want receivers have a /sync in flight.
func waitPolling(ctx context.Context, polling *atomic.Int64, want int64, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	for polling.Load() < want {
		if time.Now().After(deadline) {
			return fmt.Errorf("fanout: only %d of %d receivers polling after %v", polling.Load(), want, bound)
		}
		if err := sleep(ctx, time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// waitDelivered waits until want receivers have seen eventID, or deadline.
func waitDelivered(ctx context.Context, track *deliveries, eventID string, want int, deadline time.Time) (int, time.Time, time.Time) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		n, first, last := track.get(eventID)
		if n >= want {
			return n, first, last
		}
		select {
		case <-track.notify:
		case <-timer.C:
			return track.get(eventID)
		case <-ctx.Done():
			return n, first, last
		}
	}
}
