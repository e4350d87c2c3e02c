package scenario

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/myelin-chat/myelin/internal/bench/stats"
)

// ThroughputParams size the throughput scenario.
type ThroughputParams struct {
	// Senders is how many users send at once, each one message after
	// another.
	Senders int `json:"senders"`
	// Rooms is how many rooms the messages spread over.
	Rooms int `json:"rooms"`
	// Duration is how long the senders keep sending.
	Duration time.Duration `json:"-"`
}

// ThroughputResult is the throughput scenario's outcome.
type ThroughputResult struct {
	Senders   int     `json:"senders"`
	Rooms     int     `json:"rooms"`
	DurationS float64 `json:"duration_s"`
	// Events is how many sends were acknowledged; sends under way when
	// the time is up finish and count.
	Events     int    `json:"events"`
	Errors     int    `json:"errors"`
	FirstError string `json:"first_error,omitempty"`
	// EventsPerSecond is Events over the time from the first send to the
	// last acknowledgement.
	EventsPerSecond float64       `json:"events_per_second"`
	LatencyMS       stats.Summary `json:"latency_ms"`
	SetupS          float64       `json:"setup_s"`
}

// Throughput: Senders concurrent senders across Rooms rooms for Duration.
// With at least as many rooms as senders, sender i owns the rooms
// r ≡ i (mod Senders) and cycles through them, so rooms are never shared;
// with fewer rooms, sender i sends into room i mod Rooms, so each room has
// several senders contending for its writer.
func Throughput(ctx context.Context, env *Env, p ThroughputParams) (*ThroughputResult, error) {
	if p.Senders < 1 || p.Rooms < 1 || p.Duration <= 0 {
		return nil, fmt.Errorf("throughput: senders, rooms and duration must be positive")
	}
	setupStart := time.Now()
	stem := env.names("thr")
	users, err := env.registerUsers(ctx, stem, p.Senders)
	if err != nil {
		return nil, err
	}
	// Each room is created by its first sender; the others join.
	owned := make([][]int, p.Senders)
	for r := range p.Rooms {
		owned[r%p.Senders] = append(owned[r%p.Senders], r)
	}
	rooms := make([]string, p.Rooms)
	var made atomic.Int64
	err = forEach(ctx, p.Rooms, env.setupConcurrency(), func(ctx context.Context, r int) error {
		id, err := createRoom(ctx, users[r%p.Senders], "public_chat", "bench throughput "+strconv.Itoa(r))
		if err != nil {
			return fmt.Errorf("creating room %d: %w", r, err)
		}
		rooms[r] = id
		env.progress("create rooms", int(made.Add(1)), p.Rooms, "")
		return nil
	})
	if err != nil {
		return nil, err
	}
	targets := make([][]string, p.Senders)
	for i := range p.Senders {
		if p.Rooms >= p.Senders {
			for _, r := range owned[i] {
				targets[i] = append(targets[i], rooms[r])
			}
			continue
		}
		targets[i] = []string{rooms[i%p.Rooms]}
	}
	if p.Rooms < p.Senders {
		var joined atomic.Int64
		err = forEach(ctx, p.Senders, env.setupConcurrency(), func(ctx context.Context, i int) error {
			if i < p.Rooms { // the creator
				return nil
			}
			if _, err := users[i].Join(ctx, targets[i][0]); err != nil {
				return fmt.Errorf("sender %d joining: %w", i, err)
			}
			env.progress("join rooms", int(joined.Add(1)), p.Senders-p.Rooms, "")
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	res := &ThroughputResult{Senders: p.Senders, Rooms: p.Rooms, SetupS: seconds(time.Since(setupStart))}

	var (
		mu       sync.Mutex
		lat      []time.Duration
		lastDone time.Time
		errs     errorLog
		sent     atomic.Int64
		wg       sync.WaitGroup
	)
	runCtx, abort := context.WithCancel(ctx)
	defer abort()
	start := time.Now()
	end := start.Add(p.Duration)
	for i := range p.Senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			var myLast time.Time
			for k := 0; time.Now().Before(end) && runCtx.Err() == nil; k++ {
				s, err := users[i].SendText(runCtx, targets[i][k%len(targets[i])], "throughput "+strconv.Itoa(k))
				if err != nil {
					if runCtx.Err() != nil {
						break
					}
					errs.add(err)
					if n, _ := errs.count(); n > maxErrors(int(sent.Load())) {
						abort()
					}
					continue
				}
				sent.Add(1)
				mine = append(mine, s.Reply.Sub(s.Start))
				myLast = s.Reply
			}
			mu.Lock()
			lat = append(lat, mine...)
			if myLast.After(lastDone) {
				lastDone = myLast
			}
			mu.Unlock()
		}()
	}
	// Progress while the senders run.
	stopTicker := make(chan struct{})
	go func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopTicker:
				return
			case <-tick.C:
				el := time.Since(start)
				env.progress("send (seconds)", int(el.Seconds()), int(p.Duration.Seconds()),
					fmt.Sprintf("%d events, %.0f/s", sent.Load(), float64(sent.Load())/el.Seconds()))
			}
		}
	}()
	wg.Wait()
	close(stopTicker)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	res.Errors, res.FirstError = errs.count()
	if runCtx.Err() != nil {
		return nil, fmt.Errorf("throughput: %w (%d): first: %s", errAborted, res.Errors, res.FirstError)
	}
	res.Events = len(lat)
	elapsed := lastDone.Sub(start)
	if res.Events == 0 {
		elapsed = time.Since(start)
	}
	res.DurationS = seconds(elapsed)
	res.EventsPerSecond = float64(res.Events) / elapsed.Seconds()
	res.LatencyMS = stats.Summarize(stats.Millis(lat))
	return res, nil
}
