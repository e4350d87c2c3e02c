package server

import (
	"log/slog"
	"os"
	"runtime/debug"
)

// applyMemoryLimit gives myelin.memory_limit to the Go runtime as its soft
// memory limit, unless GOMEMLIMIT in the environment already set one (the
// runtime read it at start; the operator's explicit setting wins). It runs
// before the stores are built: the parsed-event cache sizes its budget
// from the limit (roomstore.New).
func applyMemoryLimit(limit int64, log *slog.Logger) {
	if limit <= 0 {
		return
	}
	if env := os.Getenv("GOMEMLIMIT"); env != "" {
		log.Info("memory limit set by GOMEMLIMIT; myelin.memory_limit not applied", "GOMEMLIMIT", env, "memory_limit", limit)
		return
	}
	debug.SetMemoryLimit(limit)
	log.Info("memory limit", "bytes", limit)
}
