package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/myelin-chat/myelin/internal/config"
	"github.com/myelin-chat/myelin/internal/server"
)

// runMedia is `myelin media <subcommand>`: the operator's media tools.
func runMedia(e *env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(e.stderr, "Usage: myelin media purge-remote --before DATE -c homeserver.yaml\n\n"+
			"Subcommands:\n  purge-remote   delete cached copies of other servers' media last used before DATE")
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] != "purge-remote" {
		fmt.Fprintf(e.stderr, "myelin media: unknown subcommand %q\n", args[0])
		return 2
	}
	return runPurgeRemote(e, args[1:])
}

func runPurgeRemote(e *env, args []string) int {
	f := newFlagSet("media purge-remote", "--before DATE -c homeserver.yaml",
		"Delete the cached copies of other servers' media last accessed before DATE\n"+
			"(2024-01-31, or an RFC 3339 time), as Synapse's purge_media_cache admin API\n"+
			"does. They are fetched again if anyone asks for them. The server may keep running.", e.stderr)
	var paths stringList
	var beforeS string
	f.Var(&paths, "config", "homeserver.yaml (repeatable; later files win)")
	f.Var(&paths, "c", "same as --config")
	f.StringVar(&beforeS, "before", "", "the date: media last accessed before it is purged")
	pos, code, done := parseFlags(f, args)
	if done {
		return code
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(e.stderr, "myelin media purge-remote: "+format+"\n", a...)
		return 1
	}
	if len(pos) > 0 {
		return fail("unexpected argument %q", pos[0])
	}
	if len(paths) == 0 || beforeS == "" {
		f.Usage()
		return 2
	}
	before, err := parseDate(beforeS)
	if err != nil {
		return fail("%v", err)
	}
	cfg, _, err := config.Load(paths...)
	if err != nil {
		return fail("%v", err)
	}
	bar := &progressBar{w: e.stderr}
	n, err := server.PurgeRemoteMedia(context.Background(), cfg, before, bar.start, bar.update)
	bar.finish()
	if err != nil {
		return fail("after %d: %v", n, err)
	}
	fmt.Fprintf(e.stdout, "Purged %d cached remote media last accessed before %s.\n", n, before.Format(time.RFC3339))
	return 0
}

// parseDate reads YYYY-MM-DD (midnight UTC) or an RFC 3339 time.
func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--before %q is not a date like 2024-01-31 or 2024-01-31T12:00:00Z", s)
}

// progressBar draws "[#####.....] n/total" on one line of w.
type progressBar struct {
	w     io.Writer
	total int64
	last  time.Time
}

const barWidth = 30

func (p *progressBar) start(total int64) {
	p.total = total
	p.draw(0)
}

func (p *progressBar) update(done int) {
	// Redraw at most ten times a second, and always at the end.
	if now := time.Now(); now.Sub(p.last) >= 100*time.Millisecond || int64(done) >= p.total {
		p.last = now
		p.draw(done)
	}
}

func (p *progressBar) draw(done int) {
	filled := barWidth
	if p.total > 0 {
		filled = int(min(int64(done), p.total) * barWidth / p.total)
	}
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d", strings.Repeat("#", filled), strings.Repeat(".", barWidth-filled), done, p.total)
}

func (p *progressBar) finish() { fmt.Fprintln(p.w) }
