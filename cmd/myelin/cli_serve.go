package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/myelin-chat/myelin/internal/config"
)

func runServe(e *env, args []string) int {
	f := newFlagSet("serve", "-c homeserver.yaml [-c conf.d/ ...]",
		"Run the homeserver. Several -c options may be given; each names a file or a\n"+
			"directory of *.yaml files, merged in order (a later top-level key replaces an\n"+
			"earlier one). SIGINT or SIGTERM stops the server gracefully.", e.stderr)
	var paths stringList
	f.Var(&paths, "config-path", "configuration file or directory (repeatable)")
	f.Var(&paths, "c", "same as --config-path")
	pos, code, done := parseFlags(f, args)
	if done {
		return code
	}
	if len(pos) > 0 {
		fmt.Fprintf(e.stderr, "myelin serve: unexpected argument %q\n", pos[0])
		return 2
	}
	if len(paths) == 0 {
		fmt.Fprintln(e.stderr, "myelin serve: no configuration given; pass -c homeserver.yaml (create one with \"myelin generate-config\")")
		return 2
	}
	cfg, warns, err := config.Load(paths...)
	for _, w := range warns {
		fmt.Fprintf(e.stderr, "warning: %s\n", w)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "myelin serve: configuration is invalid:\n%v\n", err)
		return 1
	}
	logger := newLogger(cfg.Myelin, e.stderr)
	if runServer == nil {
		fmt.Fprintln(e.stderr, "myelin serve: server not built yet")
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runServer(ctx, cfg, logger); err != nil {
		logger.Error("server stopped", "error", err)
		return 1
	}
	return 0
}

// newLogger builds the process logger from the myelin: block. Config
// validation guarantees the format and level are known values.
func newLogger(m config.Myelin, w io.Writer) *slog.Logger {
	var level slog.Level
	switch m.LogLevel {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if m.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
