package syncapi

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
)

// initialFlights lets identical initial syncs share one computation. A
// client that times out and retries, or several tabs of one session
// starting together, would otherwise each build the whole response: for a
// user in 5 000 rooms four at once took the process to 600 MB.
type initialFlights struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	done    chan struct{}
	waiters int // requests sharing this flight (guarded by mu)
	body    *Body
	err     error
}

// SyncJSON answers req with its response body, encoded as the filter asks
// (see Encode). Initial syncs (no since token) in flight at once for the
// same user, device, full_state and filter are identical, so they share
// one build and one encoded body; the device is part of the key because a
// response carries the device's own transaction IDs and to-device
// messages.
func (s *Syncer) SyncJSON(ctx context.Context, req Request) (*Body, error) {
	if req.Since != "" {
		return s.syncJSON(ctx, req)
	}
	key, err := flightKey(req)
	if err != nil {
		return nil, err
	}
	fl := &s.initial
	fl.mu.Lock()
	f, ok := fl.m[key]
	if !ok {
		f = &flight{done: make(chan struct{})}
		if fl.m == nil {
			fl.m = map[string]*flight{}
		}
		fl.m[key] = f
		// The build outlives a caller that goes away: others may wait
		// for it, and it is bounded work.
		go func() {
			defer func() {
				fl.mu.Lock()
				delete(fl.m, key)
				fl.mu.Unlock()
				close(f.done)
			}()
			f.body, f.err = s.syncJSONSafe(context.WithoutCancel(ctx), req)
		}()
	}
	f.waiters++
	fl.mu.Unlock()
	select {
	case <-f.done:
		return f.body, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// syncJSONSafe is syncJSON on its own goroutine: a panic becomes an error
// for every caller waiting, as the HTTP server's recovery would have made
// it for one.
func (s *Syncer) syncJSONSafe(ctx context.Context, req Request) (body *Body, err error) {
	defer func() {
		if r := recover(); r != nil {
			body, err = nil, fmt.Errorf("syncapi: initial sync panicked: %v", r)
		}
	}()
	return s.syncJSON(ctx, req)
}

func (s *Syncer) syncJSON(ctx context.Context, req Request) (*Body, error) {
	if req.Since == "" {
		s.release.enter()
		defer s.release.exit()
	}
	body, err := s.buildJSON(ctx, req)
	if err == nil {
		s.release.built(body.Len())
	}
	return body, err
}

func (s *Syncer) buildJSON(ctx context.Context, req Request) (*Body, error) {
	resp, err := s.Sync(ctx, req)
	if err != nil {
		return nil, err
	}
	if req.Filter.Shapes() {
		raw, err := s.Encode(ctx, resp, req.Filter)
		if err != nil {
			return nil, err
		}
		body := &Body{}
		_, _ = body.Write(raw)
		return body, nil
	}
	return encodeResponse(resp)
}

// flightKey identifies an initial sync's response: who asks and how.
func flightKey(req Request) (string, error) {
	f, err := json.Marshal(req.Filter)
	if err != nil {
		return "", err
	}
	return strconv.Quote(req.UserID) + strconv.Quote(req.DeviceID) + strconv.FormatBool(req.FullState) +
		strconv.FormatBool(req.UseStateAfter) + string(f), nil
}
