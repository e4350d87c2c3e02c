package main

import (
	"context"
	"log/slog"

	"github.com/myelin-chat/myelin/internal/config"
	"github.com/myelin-chat/myelin/internal/server"
)

func init() { runServer = serve }

// serve builds the homeserver from cfg and runs it until ctx ends.
func serve(ctx context.Context, cfg *config.Config, logger *slog.Logger) error {
	server.Version = currentVersion()
	s, err := server.New(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Run(ctx)
}
