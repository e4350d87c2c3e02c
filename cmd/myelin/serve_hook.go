package main

import (
	"context"
	"log/slog"

	"github.com/myelin-chat/myelin/internal/config"
)

// runServer starts the homeserver and blocks until ctx is cancelled (on
// SIGINT or SIGTERM) or the server fails. It is nil until the server wiring
// is built: a serve*.go file in this package assigns it, e.g.
//
//	func init() { runServer = serve }
//
// which keeps the CLI buildable and testable on its own.
var runServer func(ctx context.Context, cfg *config.Config, logger *slog.Logger) error
