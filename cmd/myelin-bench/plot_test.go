package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/bench/procmem"
	"github.com/myelin-chat/myelin/internal/bench/scenario"
	"github.com/myelin-chat/myelin/internal/bench/stats"
)

// fakeReport writes a results file as the tool writes it, with fan-out and
// initial-sync runs at three sizes (and a failed run, which is left out).
func fakeReport(t *testing.T, dir, label string, scale float64) string {
	t.Helper()
	rep := &report{Tool: "myelin-bench", Label: label, Started: time.Unix(0, 0).UTC()}
	for i, n := range []int{10, 100, 1000} {
		mem := &procmem.Sample{RSSMax: int64(float64(40+i*50)*scale) << 20, Samples: 3}
		rep.Runs = append(rep.Runs,
			runResult{Scenario: "fanout", Size: "U", Memory: mem, Result: &scenario.FanoutResult{Users: n,
				LastDeliveryMS: stats.Summary{Count: 20, P50: scale * float64(n) / 3, P99: scale * float64(n) / 2}}},
			runResult{Scenario: "initialsync", Size: "R", Memory: mem, Result: &scenario.InitialSyncResult{Rooms: n,
				InitialMedianMS: scale * float64(n) * 0.4, IncrementalMedianMS: scale * (0.5 + float64(i))}})
	}
	rep.Runs = append(rep.Runs, runResult{Scenario: "fanout", Size: "U=5000", Error: "timed out"})
	path := filepath.Join(dir, label+".json")
	if err := writeJSON(path, rep); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPlot_WritesEveryChartFromTheToolsJSON(t *testing.T) {
	dir := t.TempDir()
	a, b := fakeReport(t, dir, "sqlite", 1), fakeReport(t, dir, "postgres", 1.5)
	out := filepath.Join(dir, "charts")
	var log bytes.Buffer
	if filepath.Dir(a) != dir || filepath.Dir(b) != dir {
		t.Fatal("fakeReport wrote elsewhere")
	}
	if err := runPlot([]string{"--in", filepath.Join(dir, "*.json"), "--out", out}, &log); err != nil {
		t.Fatal(err)
	}
	for _, name := range plotFiles {
		f, err := os.Open(filepath.Join(out, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil || cfg.Width < 100 || cfg.Height < 100 {
			t.Errorf("%s: not a PNG chart: %v %+v", name, err, cfg)
		}
		if !strings.Contains(log.String(), name) {
			t.Errorf("the command did not report writing %s: %q", name, log.String())
		}
	}
}

func TestPlot_FailedRunsAreLeftOut(t *testing.T) {
	s, err := readSeries(fakeReport(t, t.TempDir(), "sqlite", 1))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.fanout) != 3 || s.fanout[2].x != 1000 || !s.fanout[0].haveMemory {
		t.Errorf("fan-out points %+v: want the three successful sizes in order, with memory", s.fanout)
	}
}

func TestPlot_RejectsInputsWithoutCharts(t *testing.T) {
	dir := t.TempDir()
	only := filepath.Join(dir, "send.json")
	if err := writeJSON(only, &report{Label: "x", Runs: []runResult{{Scenario: "send", Result: &scenario.SendResult{}}}}); err != nil {
		t.Fatal(err)
	}
	notJSON := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notJSON, []byte("p50 3 ms"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"no input":           {"--out", dir},
		"no plottable run":   {"--in", only, "--out", dir},
		"not a JSON report":  {"--in", notJSON, "--out", dir},
		"missing input file": {"--in", filepath.Join(dir, "absent.json"), "--out", dir},
		"pattern of no file": {"--in", filepath.Join(dir, "*.absent"), "--out", dir},
	} {
		if err := runPlot(args, &bytes.Buffer{}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestPlot_InputsWithOneLabelMakeOneSeries(t *testing.T) {
	dir := t.TempDir()
	fan := fakeReport(t, dir, "sqlite", 1)
	later := filepath.Join(dir, "later.json")
	rep := &report{Label: "sqlite", Runs: []runResult{{Scenario: "fanout", Result: &scenario.FanoutResult{Users: 100,
		LastDeliveryMS: stats.Summary{Count: 1, P50: 7, P99: 9}}}}}
	if err := writeJSON(later, rep); err != nil {
		t.Fatal(err)
	}
	var all []series
	for _, p := range []string{fan, later} {
		s, err := readSeries(p)
		if err != nil {
			t.Fatal(err)
		}
		all = mergeSeries(all, s)
	}
	if len(all) != 1 || len(all[0].fanout) != 3 || len(all[0].initialSync) != 3 || all[0].fanout[1].a != 7 {
		t.Errorf("merged %+v: want one series, the later file's U=100 point replacing the earlier", all)
	}
}
