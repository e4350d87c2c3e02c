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

// JoinStormParams size the join-storm scenario.
type JoinStormParams struct {
	// Users is how many users join one public room at once.
	Users int `json:"users"`
	// Bound is how long to wait for the member list to show everybody
	// after the joins (default 60 s).
	Bound time.Duration `json:"-"`
}

// JoinStormResult is the join-storm scenario's outcome. Times run from
// releasing all the joins at once.
type JoinStormResult struct {
	Users      int    `json:"users"`
	Joined     int    `json:"joined"`
	Errors     int    `json:"errors"`
	FirstError string `json:"first_error,omitempty"`
	// JoinLatencyMS: each join request to its 200.
	JoinLatencyMS stats.Summary `json:"join_latency_ms"`
	// AllJoinedMS: until the last join's 200.
	AllJoinedMS float64 `json:"all_joined_ms"`
	// AllListedMS: until GET /joined_members (asked by the room's creator)
	// first listed every joiner; -1 if it never did within the bound.
	AllListedMS float64 `json:"all_listed_ms"`
	// Listed is how many joiners the last member list held.
	Listed         int     `json:"listed"`
	JoinsPerSecond float64 `json:"joins_per_second"`
	SetupS         float64 `json:"setup_s"`
}

// JoinStorm: Users users join one public room in parallel; time until all
// have joined and the member list shows them all.
func JoinStorm(ctx context.Context, env *Env, p JoinStormParams) (*JoinStormResult, error) {
	if p.Users < 1 {
		return nil, fmt.Errorf("joinstorm: users must be at least 1")
	}
	if p.Bound <= 0 {
		p.Bound = 60 * time.Second
	}
	setupStart := time.Now()
	users, err := env.registerUsers(ctx, env.names("js"+strconv.Itoa(p.Users)+"x"), p.Users+1)
	if err != nil {
		return nil, err
	}
	owner, joiners := users[0], users[1:]
	room, err := createRoom(ctx, owner, "public_chat", "bench join storm")
	if err != nil {
		return nil, err
	}
	res := &JoinStormResult{Users: p.Users, AllListedMS: -1, SetupS: seconds(time.Since(setupStart))}

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		lat     []time.Duration
		last    time.Time
		errs    errorLog
		joined  atomic.Int64
		release = make(chan struct{})
	)
	for _, u := range joiners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-release:
			case <-ctx.Done():
				return
			}
			t0 := time.Now()
			if _, err := u.Join(ctx, room); err != nil {
				errs.add(err)
				return
			}
			t1 := time.Now()
			env.progress("join", int(joined.Add(1)), p.Users, "")
			mu.Lock()
			lat = append(lat, t1.Sub(t0))
			if t1.After(last) {
				last = t1
			}
			mu.Unlock()
		}()
	}
	start := time.Now()
	close(release)
	wg.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	res.Joined = len(lat)
	res.Errors, res.FirstError = errs.count()
	res.JoinLatencyMS = stats.Summarize(stats.Millis(lat))
	if res.Joined > 0 {
		res.AllJoinedMS = ms(last.Sub(start))
		res.JoinsPerSecond = float64(res.Joined) / last.Sub(start).Seconds()
	}

	// Poll the member list until it shows every joiner (the owner is the
	// extra member), or the bound passes.
	deadline := time.Now().Add(p.Bound)
	for time.Now().Before(deadline) {
		members, err := owner.JoinedMembers(ctx, room)
		if err != nil {
			return nil, err
		}
		res.Listed = len(members) - 1
		if res.Listed >= res.Joined {
			if res.Joined == p.Users {
				res.AllListedMS = ms(time.Since(start))
			}
			break
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return nil, err
		}
	}
	return res, nil
}
