package scenario

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/myelin-chat/myelin/internal/bench/client"
	"github.com/myelin-chat/myelin/internal/bench/procmem"
	"github.com/myelin-chat/myelin/internal/bench/stats"
)

// InitialSyncParams size the initial-sync scenario.
type InitialSyncParams struct {
	// Rooms is how many rooms the measured user is in.
	Rooms int `json:"rooms"`
	// EventsPerRoom is how many messages each room holds on top of the
	// events that created it.
	EventsPerRoom int `json:"events_per_room"`
	// Repeats is how many times each sync is measured (default 3).
	Repeats int `json:"repeats"`
	// Concurrent, if above 1, adds a last phase: that many initial syncs
	// of the same user at once, as several devices (or a client that
	// retries) starting together.
	Concurrent int `json:"concurrent,omitempty"`
	// Settle, if above 0 and the server's memory is sampled, ends the
	// scenario with that long without requests, to see the server give
	// back the memory the syncs took.
	Settle time.Duration `json:"settle_ns,omitempty"`
}

// InitialSyncResult is the initial-sync scenario's outcome. Times run from
// sending the request to reading the last byte of the answer.
type InitialSyncResult struct {
	Rooms         int `json:"rooms"`
	EventsPerRoom int `json:"events_per_room"`
	Repeats       int `json:"repeats"`
	// InitialMS: GET /sync without since and without a filter, as a
	// client's first start.
	InitialMS       stats.Summary `json:"initial_ms"`
	InitialMedianMS float64       `json:"initial_median_ms"`
	InitialMinMS    float64       `json:"initial_min_ms"`
	InitialBytes    int           `json:"initial_bytes"`
	// RoomsInInitial is how many joined rooms the last initial sync held
	// (should equal Rooms).
	RoomsInInitial int `json:"rooms_in_initial"`
	// IncrementalMS: GET /sync with since and timeout=0 after one new
	// message in one of the rooms.
	IncrementalMS       stats.Summary `json:"incremental_ms"`
	IncrementalMedianMS float64       `json:"incremental_median_ms"`
	IncrementalMinMS    float64       `json:"incremental_min_ms"`
	IncrementalBytes    int           `json:"incremental_bytes"`
	// ConcurrentMS: each of the Concurrent simultaneous initial syncs;
	// ConcurrentAllMS: from their start to the last one's last byte.
	ConcurrentMS    *stats.Summary `json:"concurrent_ms,omitempty"`
	ConcurrentAllMS float64        `json:"concurrent_all_ms,omitempty"`
	// Memory by phase, when the server's process is known (Env.PID).
	Memory *InitialSyncMemory `json:"memory,omitempty"`
	// MissingNew counts incremental syncs that lacked the new message.
	MissingNew int     `json:"missing_new"`
	SetupS     float64 `json:"setup_s"`
}

// InitialSyncMemory is the server's resident memory (VmRSS, bytes) in the
// phases of the initial-sync scenario: setup (creating and filling the
// rooms) costs memory of its own, so the syncs' peak is read apart.
type InitialSyncMemory struct {
	// AfterSetupBytes: when the rooms are ready, before the first sync.
	AfterSetupBytes int64 `json:"after_setup_bytes"`
	// SyncsMaxBytes: the highest sample while the syncs ran (the
	// measured ones and the concurrent ones).
	SyncsMaxBytes int64 `json:"syncs_max_bytes"`
	// ConcurrentMaxBytes: the highest sample during the concurrent syncs.
	ConcurrentMaxBytes int64 `json:"concurrent_max_bytes,omitempty"`
	// SettledBytes: at the end of Settle without requests; SettleS is how
	// long that was.
	SettledBytes int64   `json:"settled_bytes,omitempty"`
	SettleS      float64 `json:"settle_s,omitempty"`
	Error        string  `json:"error,omitempty"`
}

// InitialSync: a user in Rooms rooms of EventsPerRoom messages each (a
// second user created the rooms and sends half of the messages); time the
// first /sync and an incremental one.
func InitialSync(ctx context.Context, env *Env, p InitialSyncParams) (*InitialSyncResult, error) {
	if p.Rooms < 1 || p.EventsPerRoom < 0 {
		return nil, fmt.Errorf("initialsync: rooms must be at least 1 and events not negative")
	}
	if p.Repeats < 1 {
		p.Repeats = 3
	}
	setupStart := time.Now()
	users, err := env.registerUsers(ctx, env.names("is"+strconv.Itoa(p.Rooms)+"x"), 2)
	if err != nil {
		return nil, err
	}
	reader, other := users[0], users[1]
	rooms := make([]string, p.Rooms)
	var done atomic.Int64
	// One worker per room at a time: creating, joining and filling a room
	// is sequential, rooms proceed in parallel.
	err = forEach(ctx, p.Rooms, env.setupConcurrency(), func(ctx context.Context, r int) error {
		id, err := createRoom(ctx, other, "public_chat", "bench sync "+strconv.Itoa(r))
		if err != nil {
			return fmt.Errorf("creating room %d: %w", r, err)
		}
		if _, err := reader.Join(ctx, id); err != nil {
			return fmt.Errorf("joining room %d: %w", r, err)
		}
		for e := range p.EventsPerRoom {
			from := reader
			if e%2 == 1 {
				from = other
			}
			if _, err := from.SendText(ctx, id, "history "+strconv.Itoa(e)); err != nil {
				return fmt.Errorf("filling room %d: %w", r, err)
			}
		}
		rooms[r] = id
		env.progress("fill rooms", int(done.Add(1)), p.Rooms, strconv.Itoa(p.EventsPerRoom)+" events each")
		return nil
	})
	if err != nil {
		return nil, err
	}
	res := &InitialSyncResult{Rooms: p.Rooms, EventsPerRoom: p.EventsPerRoom, Repeats: p.Repeats, SetupS: seconds(time.Since(setupStart))}
	var syncs *procmem.Sampler
	if env.PID > 0 {
		res.Memory = &InitialSyncMemory{}
		if st, err := procmem.Read(env.PID); err == nil {
			res.Memory.AfterSetupBytes = st.RSS
		}
		syncs = procmem.Start(env.PID, 100*time.Millisecond)
	}

	var initial, incremental []time.Duration
	for k := range p.Repeats {
		env.progress("measure syncs", k, p.Repeats, "")
		t0 := time.Now()
		first, err := reader.Sync(ctx, client.SyncParams{})
		if err != nil {
			return nil, fmt.Errorf("initial sync: %w", err)
		}
		initial = append(initial, first.Received.Sub(t0))
		res.InitialBytes, res.RoomsInInitial = first.Bytes, len(first.Rooms.Join)

		room := rooms[k%len(rooms)]
		sent, err := other.SendText(ctx, room, "news "+strconv.Itoa(k))
		if err != nil {
			return nil, err
		}
		t1 := time.Now()
		next, err := reader.Sync(ctx, client.SyncParams{Since: first.NextBatch})
		if err != nil {
			return nil, fmt.Errorf("incremental sync: %w", err)
		}
		incremental = append(incremental, next.Received.Sub(t1))
		res.IncrementalBytes = next.Bytes
		if !slices.ContainsFunc(next.Rooms.Join[room].Timeline.Events, func(e client.SyncEvent) bool { return e.EventID == sent.EventID }) {
			res.MissingNew++
		}
	}
	env.progress("measure syncs", p.Repeats, p.Repeats, "")
	if p.Concurrent > 1 {
		env.progress("concurrent initial syncs", 0, p.Concurrent, "")
		var concurrent *procmem.Sampler
		if env.PID > 0 {
			concurrent = procmem.Start(env.PID, 100*time.Millisecond)
		}
		times := make([]time.Duration, p.Concurrent)
		t0 := time.Now()
		err := forEach(ctx, p.Concurrent, p.Concurrent, func(ctx context.Context, i int) error {
			r, err := reader.Sync(ctx, client.SyncParams{})
			if err != nil {
				return fmt.Errorf("concurrent initial sync: %w", err)
			}
			if len(r.Rooms.Join) != p.Rooms {
				return fmt.Errorf("concurrent initial sync held %d rooms, want %d", len(r.Rooms.Join), p.Rooms)
			}
			times[i] = r.Received.Sub(t0)
			return nil
		})
		if err != nil {
			return nil, err
		}
		res.ConcurrentAllMS = ms(time.Since(t0))
		if concurrent != nil {
			res.Memory.ConcurrentMaxBytes = concurrent.Stop().RSSMax
		}
		sum := stats.Summarize(stats.Millis(times))
		res.ConcurrentMS = &sum
		env.progress("concurrent initial syncs", p.Concurrent, p.Concurrent, "")
	}
	if syncs != nil {
		m := syncs.Stop()
		res.Memory.SyncsMaxBytes, res.Memory.Error = m.RSSMax, m.Error
		if p.Settle > 0 {
			env.progress("settle", 0, 1, p.Settle.String()+" without requests")
			select {
			case <-time.After(p.Settle):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if st, err := procmem.Read(env.PID); err == nil {
				res.Memory.SettledBytes, res.Memory.SettleS = st.RSS, p.Settle.Seconds()
			}
			env.progress("settle", 1, 1, "")
		}
	}
	res.InitialMS = stats.Summarize(stats.Millis(initial))
	res.InitialMedianMS, res.InitialMinMS = res.InitialMS.P50, res.InitialMS.Min
	res.IncrementalMS = stats.Summarize(stats.Millis(incremental))
	res.IncrementalMedianMS, res.IncrementalMinMS = res.IncrementalMS.P50, res.IncrementalMS.Min
	return res, nil
}
