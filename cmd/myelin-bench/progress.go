package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/myelin-chat/myelin/internal/bench/scenario"
)

// progress shows how far the current scenario is on stderr: one line
// rewritten in place on a terminal, otherwise plain lines when a phase
// starts, every few seconds while it runs, and when it ends (so logs stay
// readable).
type progress struct {
	w   io.Writer
	tty bool

	mu        sync.Mutex
	title     string
	phase     string
	lastDraw  time.Time
	lineShown bool
}

func newProgress(f *os.File) *progress {
	fi, err := f.Stat()
	tty := err == nil && fi.Mode()&os.ModeCharDevice != 0
	return &progress{w: f, tty: tty}
}

// start begins a scenario run.
func (p *progress) start(title string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.title, p.phase = title, ""
	if !p.tty {
		fmt.Fprintf(p.w, "[%s] starting\n", title)
	}
}

// step is the scenario.Env Progress callback.
func (p *progress) step(s scenario.Step) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	newPhase := s.Phase != p.phase
	p.phase = s.Phase
	if p.tty {
		// Redraw at most 10 times a second, but always for a new phase
		// and for the end of one.
		if !newPhase && s.Done != s.Total && now.Sub(p.lastDraw) < 100*time.Millisecond {
			return
		}
		p.lastDraw = now
		fmt.Fprintf(p.w, "\r\033[K%s", p.line(s))
		p.lineShown = true
		return
	}
	if newPhase || s.Done == s.Total || now.Sub(p.lastDraw) >= plainEvery {
		p.lastDraw = now
		fmt.Fprintln(p.w, p.line(s))
	}
}

// plainEvery spaces progress lines when stderr is not a terminal.
const plainEvery = 5 * time.Second

func (p *progress) line(s scenario.Step) string {
	const width = 24
	filled := 0
	if s.Total > 0 {
		filled = min(width, width*s.Done/s.Total)
	}
	bar := strings.Repeat("#", filled) + strings.Repeat(".", width-filled)
	out := fmt.Sprintf("[%s] %-18s [%s] %d/%d", p.title, s.Phase, bar, s.Done, s.Total)
	if s.Note != "" {
		out += "  " + s.Note
	}
	return out
}

// finish ends a scenario run with a one-line summary.
func (p *progress) finish(summary string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.lineShown {
		fmt.Fprint(p.w, "\r\033[K")
		p.lineShown = false
	}
	fmt.Fprintf(p.w, "[%s] %s\n", p.title, summary)
}

// note prints a message line (clearing the progress line first).
func (p *progress) note(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.lineShown {
		fmt.Fprint(p.w, "\r\033[K")
		p.lineShown = false
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}
