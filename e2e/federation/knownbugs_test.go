package fede2e

import (
	"os"
	"regexp"
	"testing"
)

// knownBug is a server bug these tests found and still run into. When a
// wait for an outcome runs out and a server's log has a line matching
// symptom, the test is skipped, naming the bug, instead of failed, so the
// package passes until the bug is fixed; a test that reaches its outcome
// despite the symptom passes as usual. MYELIN_FEDE2E_STRICT=1 turns these
// skips back into failures.
//
// Remove an entry when its bug is fixed.
type knownBug struct {
	symptom *regexp.Regexp
	what    string
}

// knownBugs is empty: the "state snapshot N missing" ingest bug these tests
// found is fixed (snapshots written earlier in a write transaction are now
// read inside it).
var knownBugs = []knownBug{}

// skipOnKnownBug skips t when a server of c logged a known bug's symptom
// (unless MYELIN_FEDE2E_STRICT=1, when it only logs it once). progress
// says what the test was waiting for.
func (c *cluster) skipOnKnownBug(t testing.TB, progress string) {
	t.Helper()
	for _, bug := range knownBugs {
		for _, s := range c.servers {
			line := s.proc.LogMatch(bug.symptom)
			if line == "" {
				continue
			}
			msg := "KNOWN SERVER BUG: " + bug.what + ".\nEvidence, " + s.label + " (" + s.name + ") log:\n  " + line
			if progress != "" {
				msg += "\nThe test was waiting for: " + progress
			}
			if os.Getenv("MYELIN_FEDE2E_STRICT") == "1" {
				c.noteOnce(t, msg)
				continue
			}
			t.Skip(msg)
		}
	}
}

// noteOnce logs msg the first time it is seen in this cluster.
func (c *cluster) noteOnce(t testing.TB, msg string) {
	t.Helper()
	c.notedMu.Lock()
	defer c.notedMu.Unlock()
	if c.noted == nil {
		c.noted = map[string]bool{}
	}
	if !c.noted[msg] {
		c.noted[msg] = true
		t.Log(msg)
	}
}
