//go:build !unix

package server

import "log/slog"

// raiseFileLimit has nothing to raise on systems without rlimits.
func raiseFileLimit(*slog.Logger) {}
