package streams

import (
	"sync/atomic"
	"testing"
	"time"
)

// Every runs its function until stopped, and not after stop returns.
func TestEvery_RunsUntilStopped(t *testing.T) {
	var n atomic.Int64
	ran := make(chan struct{}, 1)
	stop := Every(time.Millisecond, func() {
		n.Add(1)
		select {
		case ran <- struct{}{}:
		default:
		}
	})
	<-ran
	stop()
	stop() // a second stop is harmless
	after := n.Load()
	time.Sleep(10 * time.Millisecond)
	if n.Load() != after {
		t.Errorf("ran %d more times after stop", n.Load()-after)
	}
}
