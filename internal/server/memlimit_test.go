package server

import (
	"io"
	"log/slog"
	"runtime/debug"
	"testing"
)

// myelin.memory_limit becomes the Go runtime's soft memory limit, unless
// GOMEMLIMIT in the environment already chose one.
func TestMemoryLimitGoesToTheRuntimeUnlessGOMEMLIMITIsSet(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	t.Setenv("GOMEMLIMIT", "")
	applyMemoryLimit(0, log)
	if got := debug.SetMemoryLimit(-1); got != prev {
		t.Errorf("memory_limit 0 changed the limit to %d", got)
	}
	applyMemoryLimit(3<<30, log)
	if got := debug.SetMemoryLimit(-1); got != 3<<30 {
		t.Errorf("limit = %d, want %d", got, int64(3<<30))
	}

	debug.SetMemoryLimit(prev)
	t.Setenv("GOMEMLIMIT", "4GiB")
	applyMemoryLimit(3<<30, log)
	if got := debug.SetMemoryLimit(-1); got != prev {
		t.Errorf("with GOMEMLIMIT set, the limit became %d", got)
	}
}
