package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func logProcess(t *testing.T, text string) *Process {
	t.Helper()
	p := &Process{LogPath: filepath.Join(t.TempDir(), "server.log")}
	if err := os.WriteFile(p.LogPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLogTail_LastLines(t *testing.T) {
	p := logProcess(t, "a\nb\nc\nd\n")
	if got := p.LogTail(2); got != "c\nd" {
		t.Errorf("LogTail(2) = %q, want %q", got, "c\nd")
	}
	if got := p.LogTail(10); got != "a\nb\nc\nd" {
		t.Errorf("LogTail(10) = %q", got)
	}
	missing := &Process{LogPath: filepath.Join(t.TempDir(), "none.log")}
	if got := missing.LogTail(5); !strings.HasPrefix(got, "(no server log: ") {
		t.Errorf("LogTail of a missing log = %q", got)
	}
}

func TestLogLinesContaining_AnySubstringLast40(t *testing.T) {
	var b strings.Builder
	for i := range 50 {
		fmt.Fprintf(&b, "line %02d destination=hs2 will retry\n", i)
		fmt.Fprintf(&b, "unrelated %02d\n", i)
	}
	p := logProcess(t, b.String())
	got := strings.Split(p.LogLinesContaining("", "will retry"), "\n")
	if len(got) != 40 || got[0] != "line 10 destination=hs2 will retry" || got[39] != "line 49 destination=hs2 will retry" {
		t.Errorf("got %d lines, %q … %q; want the last 40 matching lines", len(got), got[0], got[len(got)-1])
	}
	if got := p.LogLinesContaining(""); got != "" {
		t.Errorf("an empty substring matched %q", got)
	}
	if got := p.LogLinesContaining("unrelated 03", "line 04"); got != "unrelated 03\nline 04 destination=hs2 will retry" {
		t.Errorf("two substrings: %q", got)
	}
}

func TestLogMatch_FirstMatchingWholeLine(t *testing.T) {
	p := logProcess(t, "start\nlevel=ERROR state snapshot 7 missing in room\nlevel=ERROR state snapshot 9 missing\nlast snapshot 3 missing")
	re := regexp.MustCompile(`snapshot \d+ missing`)
	if got, want := p.LogMatch(re), "level=ERROR state snapshot 7 missing in room"; got != want {
		t.Errorf("LogMatch = %q, want %q", got, want)
	}
	if got := p.LogMatch(regexp.MustCompile(`^last.*`)); got != "" {
		t.Errorf("^ without (?m) matched %q", got)
	}
	if got, want := p.LogMatch(regexp.MustCompile(`snapshot 3`)), "last snapshot 3 missing"; got != want {
		t.Errorf("a match on the unterminated last line = %q, want %q", got, want)
	}
	if got := p.LogMatch(regexp.MustCompile(`absent`)); got != "" {
		t.Errorf("no match gave %q", got)
	}
}
