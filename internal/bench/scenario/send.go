package scenario

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/myelin-chat/myelin/internal/bench/stats"
)

// SendParams size the send scenario.
type SendParams struct {
	// Messages is how many messages one user sends, one after another,
	// into one room.
	Messages int `json:"messages"`
}

// SendResult is the send scenario's outcome. Latency is from sending the
// PUT to reading its 200 (the server answers after the commit).
type SendResult struct {
	Messages   int           `json:"messages"`
	Sent       int           `json:"sent"`
	Errors     int           `json:"errors"`
	FirstError string        `json:"first_error,omitempty"`
	LatencyMS  stats.Summary `json:"latency_ms"`
	PerSecond  float64       `json:"per_second"`
	ElapsedS   float64       `json:"elapsed_s"`
}

// maxErrors is how many failed requests a measured phase of n requests
// tolerates before it stops: a server that fails more often than that is
// not worth timing.
func maxErrors(n int) int { return max(10, n/10) }

// Send: one user, one room, N sequential messages.
func Send(ctx context.Context, env *Env, p SendParams) (*SendResult, error) {
	if p.Messages < 1 {
		return nil, fmt.Errorf("send: messages must be at least 1")
	}
	users, err := env.registerUsers(ctx, env.names("send"), 1)
	if err != nil {
		return nil, err
	}
	u := users[0]
	room, err := createRoom(ctx, u, "private_chat", "bench send")
	if err != nil {
		return nil, err
	}

	res := &SendResult{Messages: p.Messages}
	lat := make([]time.Duration, 0, p.Messages)
	var errs errorLog
	start := time.Now()
	for i := range p.Messages {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		s, err := u.SendText(ctx, room, "message "+strconv.Itoa(i))
		if err != nil {
			errs.add(err)
			if n, _ := errs.count(); n > maxErrors(p.Messages) {
				return nil, fmt.Errorf("send: %w (%d): first: %s", errAborted, n, err)
			}
			continue
		}
		lat = append(lat, s.Reply.Sub(s.Start))
		env.progress("send messages", i+1, p.Messages, "")
	}
	elapsed := time.Since(start)
	res.Sent = len(lat)
	res.Errors, res.FirstError = errs.count()
	res.LatencyMS = stats.Summarize(stats.Millis(lat))
	res.ElapsedS = seconds(elapsed)
	res.PerSecond = float64(res.Sent) / elapsed.Seconds()
	return res, nil
}
