// Package procmem samples a process's memory from /proc/PID/status (Linux):
// VmRSS, the resident set now, and VmHWM, the peak resident set since the
// process started. The load tool samples the server before, during and
// after each scenario.
package procmem

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Status is the memory part of /proc/PID/status, in bytes.
type Status struct {
	RSS int64 // VmRSS
	HWM int64 // VmHWM
}

// ParseStatus reads VmRSS and VmHWM from the text of /proc/PID/status.
// Both must be present (kernel threads and zombies have neither).
func ParseStatus(r io.Reader) (Status, error) {
	var st Status
	var haveRSS, haveHWM bool
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		n, err := parseKB(val)
		if err != nil {
			return Status{}, fmt.Errorf("procmem: %s: %w", key, err)
		}
		if key == "VmRSS" {
			st.RSS, haveRSS = n, true
		} else {
			st.HWM, haveHWM = n, true
		}
	}
	if err := sc.Err(); err != nil {
		return Status{}, err
	}
	if !haveRSS || !haveHWM {
		return Status{}, errors.New("procmem: VmRSS or VmHWM missing from status")
	}
	return st, nil
}

// parseKB reads "   12345 kB" (the kernel always writes kB, meaning KiB).
func parseKB(s string) (int64, error) {
	f := strings.Fields(s)
	if len(f) != 2 || f[1] != "kB" {
		return 0, fmt.Errorf("unexpected value %q", strings.TrimSpace(s))
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("unexpected value %q", strings.TrimSpace(s))
	}
	return n * 1024, nil
}

// Read reads the status of process pid.
func Read(pid int) (Status, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return Status{}, err
	}
	defer f.Close()
	return ParseStatus(f)
}

// Sample is the memory of a process around one piece of work, in bytes.
type Sample struct {
	RSSBefore int64 `json:"rss_before_bytes"`
	// RSSMax is the largest VmRSS seen while the work ran (sampled every
	// interval, so short spikes can be missed; HWMAfter catches them but
	// covers the whole life of the process).
	RSSMax   int64 `json:"rss_max_bytes"`
	RSSAfter int64 `json:"rss_after_bytes"`
	HWMAfter int64 `json:"hwm_after_bytes"`
	Samples  int   `json:"samples"`
	// Error is the first read error (e.g. the process exited), if any.
	Error string `json:"error,omitempty"`
}

// Sampler samples one process at a fixed interval until stopped.
type Sampler struct {
	pid    int
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	s      Sample
}

// Start reads the "before" figure and starts sampling every interval.
func Start(pid int, interval time.Duration) *Sampler {
	ctx, cancel := context.WithCancel(context.Background())
	sp := &Sampler{pid: pid, cancel: cancel, done: make(chan struct{})}
	if st, err := Read(pid); err != nil {
		sp.s.Error = err.Error()
	} else {
		sp.s.RSSBefore, sp.s.RSSMax, sp.s.Samples = st.RSS, st.RSS, 1
	}
	go sp.loop(ctx, interval)
	return sp
}

func (sp *Sampler) loop(ctx context.Context, interval time.Duration) {
	defer close(sp.done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			sp.record(false)
		}
	}
}

func (sp *Sampler) record(final bool) {
	st, err := Read(sp.pid)
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if err != nil {
		if sp.s.Error == "" {
			sp.s.Error = err.Error()
		}
		return
	}
	sp.s.Samples++
	sp.s.RSSMax = max(sp.s.RSSMax, st.RSS)
	if final {
		sp.s.RSSAfter, sp.s.HWMAfter = st.RSS, st.HWM
	}
}

// Stop ends sampling, reads the "after" figures and returns the sample.
func (sp *Sampler) Stop() Sample {
	sp.cancel()
	<-sp.done
	sp.record(true)
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.s
}
