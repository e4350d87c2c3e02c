package streams

import (
	"sync"
	"time"
)

// Every runs fn every tick on a goroutine of its own until stop is called;
// stop waits for a run in progress and may be called more than once. For
// the timeouts of in-memory streams (typing, presence).
func Every(tick time.Duration, fn func()) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				fn()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(quit) })
		<-done
	}
}
