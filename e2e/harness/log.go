package harness

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
)

// maxQuotedLines caps LogLinesContaining, so a failure message quotes the
// server's latest word on a request rather than its whole history.
const maxQuotedLines = 40

// LogTail returns the last n lines of the server log.
func (p *Process) LogTail(n int) string {
	data, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(no server log: %v)", err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 4<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// LogLinesContaining returns the last 40 lines of the server log that
// contain any of subs (empty ones match nothing), to quote the server's
// side of a failed request; "" when there are none.
func (p *Process) LogLinesContaining(subs ...string) string {
	data, err := os.ReadFile(p.LogPath)
	if err != nil {
		return ""
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		for _, sub := range subs {
			if sub != "" && strings.Contains(line, sub) {
				out = append(out, line)
				break
			}
		}
	}
	if len(out) > maxQuotedLines {
		out = out[len(out)-maxQuotedLines:]
	}
	return strings.Join(out, "\n")
}

// LogMatch returns the first line of the server log matching re, or "".
func (p *Process) LogMatch(re *regexp.Regexp) string {
	data, err := os.ReadFile(p.LogPath)
	if err != nil {
		return ""
	}
	loc := re.FindIndex(data)
	if loc == nil {
		return ""
	}
	start := bytes.LastIndexByte(data[:loc[0]], '\n') + 1
	end := len(data)
	if i := bytes.IndexByte(data[loc[1]:], '\n'); i >= 0 {
		end = loc[1] + i
	}
	return string(data[start:end])
}

// ReportLog shows the server log in t's output: all of it when
// MYELIN_TEST_LOG is set, its last tailLines lines when t has failed, and
// nothing otherwise. what names the server ("server", "hs1 (127.0.0.2:…)").
func (p *Process) ReportLog(t testing.TB, what string, tailLines int) {
	t.Helper()
	if os.Getenv("MYELIN_TEST_LOG") != "" {
		data, _ := os.ReadFile(p.LogPath)
		t.Logf("%s log %s:\n%s", what, p.LogPath, data)
	} else if t.Failed() {
		t.Logf("last %d lines of the %s log %s:\n%s", tailLines, what, p.LogPath, p.LogTail(tailLines))
	}
}

// LogLinesAbout returns the server log lines that mention x's path, as
// LogLinesContaining does. The query string is left out: the server log
// may redact it.
func (p *Process) LogLinesAbout(x *Exchange) string {
	path, _, _ := strings.Cut(x.Path, "?")
	return p.LogLinesContaining(path)
}

// RequireOK fails t unless x is a 200 answer, quoting the server's log
// lines about the request, and decodes the body into out (unless nil).
// who, when not "", says whose request it was.
func (p *Process) RequireOK(t testing.TB, x *Exchange, who string, out any) {
	t.Helper()
	if x.Status != http.StatusOK {
		name := p.Label
		if name == "" {
			name = "server"
		}
		if who != "" {
			who = " for " + who
		}
		t.Fatalf("unexpected answer%s:\n%s\n%s log lines for this path:\n%s", who, x, name, p.LogLinesAbout(x))
	}
	if out != nil {
		if err := json.Unmarshal(x.RespBody, out); err != nil {
			t.Fatalf("%s: the 200 body does not decode: %v", x, err)
		}
	}
}
