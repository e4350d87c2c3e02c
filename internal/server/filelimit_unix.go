//go:build unix

package server

import (
	"log/slog"
	"syscall"
)

// raiseFileLimit raises the soft limit on open files to the hard limit,
// where the system allows it: every connection and database file takes a
// descriptor, and a soft limit of 1024 (a common default) is reached by a
// modest number of clients. Go's runtime does the same since Go 1.19
// (syscall's init), so this mostly confirms it; doing it here keeps the
// server's behaviour independent of that detail and puts the limit in
// the log, where an operator looks when connections are refused.
func raiseFileLimit(log *slog.Logger) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("cannot read the open file limit", "err", err)
		return
	}
	if lim.Cur < lim.Max {
		want := lim
		want.Cur = want.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			log.Warn("cannot raise the open file limit", "soft", lim.Cur, "hard", lim.Max, "err", err)
		} else {
			lim = want
		}
	}
	log.Info("open file limit", "limit", lim.Cur)
}
