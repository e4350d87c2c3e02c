package syncapi

import (
	"runtime/debug"
	"runtime/metrics"
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
	// builds counts initial syncs being built; while there are any, the
	// collector runs at burstGCPercent, and prevPercent is what to go
	// back to.
	builds      int
	prevPercent int
	// threshold and quiet are largeResponseBytes and releaseQuiet when
	// zero (tests make them small).
	threshold int
	quiet     time.Duration
}

// burstGCPercent is the collector's GOGC while initial syncs are built.
// An initial sync of a user in thousands of rooms keeps ~30 MB alive while
// it is built (the sections of every room, then the encoded body) on top
// of the server's steady state, and at the default of 100 the collector
// lets the heap grow to twice all of that: for 5 000 rooms the process
// peaked ~100 MiB above its steady state. At 50 the heap may grow by half
// what is live instead, for the second or so that the build lasts, at the
// cost of collecting about twice as often meanwhile. Initial syncs are
// rare (a new login, a cleared cache), so the rest of the time the
// collector runs as configured.
const burstGCPercent = 50

// enter notes that an initial sync is being built; exit, that it is done.
// The first enter lowers the collector's percentage to burstGCPercent
// (unless GOGC already sets it lower, or off) and the last exit restores
// it.
func (r *releaser) enter() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.builds++
	if r.builds == 1 {
		r.prevPercent = gcPercent()
		if r.prevPercent > burstGCPercent {
			debug.SetGCPercent(burstGCPercent)
		}
	}
}

func (r *releaser) exit() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.builds--
	if r.builds == 0 && r.prevPercent > burstGCPercent {
		debug.SetGCPercent(r.prevPercent)
	}
}

// gcPercent is the collector's current GOGC (-1 when off).
func gcPercent() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 100 // the default, should the metric ever go
	}
	// Off reads as the largest uint64, which converts to -1.
	return int(s[0].Value.Uint64())
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
