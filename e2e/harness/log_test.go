package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
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

func TestLogLinesAbout_MatchesThePathWithoutItsQuery(t *testing.T) {
	p := logProcess(t, "GET /_matrix/client/v3/sync?since=<redacted> 200\nGET /other 404\n")
	x := &Exchange{Method: "GET", Path: "/_matrix/client/v3/sync?since=s1&timeout=0"}
	if got, want := p.LogLinesAbout(x), "GET /_matrix/client/v3/sync?since=<redacted> 200"; got != want {
		t.Errorf("LogLinesAbout = %q, want %q", got, want)
	}
}

// fatalRecorder is a testing.TB whose Fatalf records the message and ends
// the goroutine, as the real one does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}
func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// requireOK runs RequireOK in its own goroutine, so that a failure ends
// only that goroutine, and returns the failure message ("" for none).
func requireOK(p *Process, x *Exchange, who string, out any) string {
	r := &fatalRecorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.RequireOK(r, x, who, out)
	}()
	<-done
	return r.msg
}

func TestRequireOK_DecodesA200AndQuotesTheLogOtherwise(t *testing.T) {
	p := logProcess(t, "PUT /_matrix/client/v3/rooms/!r/send 403 forbidden\n")
	p.Label = "hs1"

	var out struct {
		EventID string `json:"event_id"`
	}
	ok := &Exchange{Method: "PUT", Path: "/_matrix/client/v3/rooms/!r/send", Status: 200, RespBody: []byte(`{"event_id":"$e"}`)}
	if msg := requireOK(p, ok, "", &out); msg != "" || out.EventID != "$e" {
		t.Errorf("a 200: failure %q, decoded %+v", msg, out)
	}

	refused := &Exchange{Server: "hs1", Method: "PUT", Path: "/_matrix/client/v3/rooms/!r/send", Status: 403, RespBody: []byte(`{"errcode":"M_FORBIDDEN"}`)}
	msg := requireOK(p, refused, "@alice:hs1", nil)
	for _, want := range []string{"unexpected answer for @alice:hs1:", "-> 403", "hs1 log lines for this path:\nPUT /_matrix/client/v3/rooms/!r/send 403 forbidden"} {
		if !strings.Contains(msg, want) {
			t.Errorf("failure message lacks %q:\n%s", want, msg)
		}
	}

	bad := &Exchange{Method: "GET", Path: "/x", Status: 200, RespBody: []byte(`[`)}
	if msg := requireOK(p, bad, "", &out); !strings.Contains(msg, "the 200 body does not decode") {
		t.Errorf("an undecodable 200: %q", msg)
	}
}
