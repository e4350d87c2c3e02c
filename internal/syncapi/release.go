package syncapi

import (
	"runtime/debug"
	"sync"
	"time"
)

// Defaults of releaser: a response this large comes from a sync that
// allocated tens of megabytes (an initial sync of 5 000 rooms writes
// 14 MB and allocates ~250 MB), and a few seconds without another one
// mark the end of the burst.
const (
	largeResponseBytes = 4 << 20
	releaseQuiet       = 5 * time.Second
)

// releaser gives the memory of large syncs back to the system once they
// are over. Go's collector lets the heap grow to twice what was live at
// its last collection, and its scavenger returns to the system only what
// lies beyond that goal; after a burst of large syncs (four initial syncs
// of 5 000 rooms at once took ~100 MiB above the server's steady state)
// the goal stays where the burst left it until the next collection, which
// an idle server runs only every two minutes, and the pages go back
// gradually after it. So, once no large response has been built for
// releaseQuiet, one forced collection and scavenge (debug.FreeOSMemory)
// returns them at once. A burst re-arms the timer, so it runs once after
// the last large response; ordinary syncs never arm it, so steady-state
// throughput pays nothing for it.
type releaser struct {
	mu    sync.Mutex
	timer *time.Timer
	// threshold and quiet are largeResponseBytes and releaseQuiet when
	// zero (tests make them small).
	threshold int
	quiet     time.Duration
}

// built notes a response of n bytes.
func (r *releaser) built(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	threshold, quiet := r.threshold, r.quiet
	if threshold == 0 {
		threshold = largeResponseBytes
	}
	if quiet == 0 {
		quiet = releaseQuiet
	}
	if n < threshold {
		return
	}
	if r.timer == nil {
		r.timer = time.AfterFunc(quiet, debug.FreeOSMemory)
		return
	}
	r.timer.Reset(quiet)
}
