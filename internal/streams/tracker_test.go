package streams

import (
	"math/rand"
	"sync"
	"testing"
)

func TestCurrentWaitsForEarlierPositions(t *testing.T) {
	tr := NewTracker(10)
	a, b := tr.Reserve(), tr.Reserve()
	if a != 11 || b != 12 {
		t.Fatalf("positions %d %d, want 11 12", a, b)
	}
	tr.Finish(b)
	if got := tr.Current(); got != 10 {
		t.Errorf("12 finished before 11: readers must stay at 10, got %d", got)
	}
	tr.Finish(a)
	if got := tr.Current(); got != 12 {
		t.Errorf("both finished: current = %d, want 12", got)
	}
}

func TestOnAdvanceReportsNewCurrent(t *testing.T) {
	tr := NewTracker(0)
	var seen []int64
	tr.OnAdvance(func(c int64) { seen = append(seen, c) })
	p := tr.Reserve()
	tr.Finish(p)
	if len(seen) != 1 || seen[0] != 1 {
		t.Errorf("advance callbacks = %v", seen)
	}
}

// Every follower of a stream is told, not only the last to register.
func TestOnAdvanceTellsEveryFollower(t *testing.T) {
	tr := NewTracker(0)
	var a, b int64
	tr.OnAdvance(func(c int64) { a = c })
	tr.OnAdvance(func(c int64) { b = c })
	tr.Finish(tr.Reserve())
	if a != 1 || b != 1 {
		t.Errorf("followers saw %d and %d, want 1 and 1", a, b)
	}
}

func TestConcurrentReserveFinishEndsAtLast(t *testing.T) {
	tr := NewTracker(0)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			r := rand.New(rand.NewSource(seed))
			var held []int64
			for i := 0; i < 500; i++ {
				held = append(held, tr.Reserve())
				if r.Intn(3) == 0 {
					for _, p := range held {
						tr.Finish(p)
					}
					held = held[:0]
				}
			}
			for _, p := range held {
				tr.Finish(p)
			}
		}(int64(g))
	}
	wg.Wait()
	if got := tr.Current(); got != 4000 {
		t.Errorf("current = %d, want 4000", got)
	}
}
