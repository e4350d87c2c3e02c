package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/myelin-chat/myelin/internal/bench/procmem"
	"github.com/myelin-chat/myelin/internal/bench/scenario"
)

// The plot subcommand draws PNG charts from the tool's JSON results:
//
//	myelin-bench plot --in sqlite.json --in postgres.json --out docs/perf/
//
// Each input is one run of the tool (scripts/bench.sh writes results.json);
// its --label (e.g. sqlite, postgres) names its lines, and inputs with the
// same label make one set of lines. It draws latency and
// server memory against size for the fan-out and initial-sync scenarios,
// one line per input and figure, and writes:
//
//	fanout-latency.png      send 200 -> last receiver's /sync, p50 and p99
//	fanout-memory.png       server RSS, highest sample during the run
//	initialsync-latency.png initial sync and incremental sync, medians
//	initialsync-memory.png  server RSS, highest sample during the run
//
// A scenario absent from every input draws nothing; failed runs are left out.

// plotFiles are the charts runPlot can write, in order.
var plotFiles = []string{"fanout-latency.png", "fanout-memory.png", "initialsync-latency.png", "initialsync-memory.png"}

// runPlot is "myelin-bench plot ARGS"; it reports each file written to w.
func runPlot(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("myelin-bench plot", flag.ContinueOnError)
	var ins multiFlag
	fs.Var(&ins, "in", "a JSON results file of myelin-bench --json, or a glob pattern of such files (repeatable)")
	out := fs.String("out", ".", "directory for the PNG files")
	width := fs.Float64("width-cm", 16, "chart width in cm")
	height := fs.Float64("height-cm", 10, "chart height in cm")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: myelin-bench plot --in results.json [--in more.json] --out DIR")
		fmt.Fprintln(fs.Output(), "\nDraws "+strings.Join(plotFiles, ", ")+" from the tool's JSON results.\n\nOptions:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if len(ins) == 0 {
		return errors.New("plot: give at least one --in results.json")
	}
	if *width <= 0 || *height <= 0 {
		return errors.New("plot: --width-cm and --height-cm must be positive")
	}
	paths, err := expandInputs(ins)
	if err != nil {
		return err
	}
	var all []series
	for _, p := range paths {
		s, err := readSeries(p)
		if err != nil {
			return err
		}
		all = mergeSeries(all, s)
	}
	charts := buildCharts(all)
	if len(charts) == 0 {
		return errors.New("plot: no successful fanout or initialsync runs in the inputs")
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	for _, c := range charts {
		path := filepath.Join(*out, c.file)
		if err := c.plot.Save(vg.Length(*width)*vg.Centimeter, vg.Length(*height)*vg.Centimeter, path); err != nil {
			return fmt.Errorf("plot: %s: %w", path, err)
		}
		fmt.Fprintln(w, "wrote", path)
	}
	return nil
}

// expandInputs expands glob patterns among the --in values (a pattern that
// matches nothing is an error, as a missing file is), keeping their order.
func expandInputs(ins []string) ([]string, error) {
	var out []string
	for _, in := range ins {
		if !strings.ContainsAny(in, "*?[") {
			out = append(out, in)
			continue
		}
		m, err := filepath.Glob(in)
		if err != nil {
			return nil, fmt.Errorf("plot: --in %q: %w", in, err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("plot: --in %q matches no file", in)
		}
		out = append(out, m...)
	}
	return out, nil
}

// sizePoint is one scenario size of one input.
type sizePoint struct {
	x          float64 // users (fan-out) or rooms (initial sync)
	a, b       float64 // fan-out: last delivery p50, p99; initial sync: initial, incremental medians (ms)
	rssMaxMiB  float64 // 0 when memory was not sampled
	haveMemory bool
}

// series is what one input contributes to the charts.
type series struct {
	label               string
	fanout, initialSync []sizePoint
}

// readSeries reads a results file. Runs of a size seen before replace the
// earlier ones (a re-run of a noisy size in the same file).
func readSeries(path string) (series, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return series{}, err
	}
	var rep struct {
		Label string `json:"label"`
		Runs  []struct {
			Scenario string          `json:"scenario"`
			Result   json.RawMessage `json:"result"`
			Memory   *procmem.Sample `json:"memory"`
			Error    string          `json:"error"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		return series{}, fmt.Errorf("plot: %s is not a myelin-bench JSON report: %w", path, err)
	}
	s := series{label: rep.Label}
	if s.label == "" {
		s.label = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	for i, r := range rep.Runs {
		if r.Error != "" || len(r.Result) == 0 {
			continue
		}
		var pt sizePoint
		if m := r.Memory; m != nil && m.Error == "" && m.RSSMax > 0 {
			pt.rssMaxMiB, pt.haveMemory = float64(m.RSSMax)/(1<<20), true
		}
		switch r.Scenario {
		case "fanout":
			var v scenario.FanoutResult
			if err := json.Unmarshal(r.Result, &v); err != nil {
				return series{}, fmt.Errorf("plot: %s: run %d: %w", path, i, err)
			}
			pt.x, pt.a, pt.b = float64(v.Users), v.LastDeliveryMS.P50, v.LastDeliveryMS.P99
			s.fanout = setPoint(s.fanout, pt)
		case "initialsync":
			var v scenario.InitialSyncResult
			if err := json.Unmarshal(r.Result, &v); err != nil {
				return series{}, fmt.Errorf("plot: %s: run %d: %w", path, i, err)
			}
			pt.x, pt.a, pt.b = float64(v.Rooms), v.InitialMedianMS, v.IncrementalMedianMS
			s.initialSync = setPoint(s.initialSync, pt)
		}
	}
	return s, nil
}

// mergeSeries adds s to all, merged into the series of the same label if
// there is one (e.g. the fan-out and the initial sync measured in separate
// runs, each on a fresh server, so that memory figures are each its own);
// points of s win.
func mergeSeries(all []series, s series) []series {
	for i := range all {
		if all[i].label == s.label {
			for _, p := range s.fanout {
				all[i].fanout = setPoint(all[i].fanout, p)
			}
			for _, p := range s.initialSync {
				all[i].initialSync = setPoint(all[i].initialSync, p)
			}
			return all
		}
	}
	return append(all, s)
}

// setPoint adds pt, replacing a point of the same size, keeping x order.
func setPoint(pts []sizePoint, pt sizePoint) []sizePoint {
	pts = slices.DeleteFunc(pts, func(p sizePoint) bool { return p.x == pt.x })
	i, _ := slices.BinarySearchFunc(pts, pt.x, func(p sizePoint, x float64) int {
		switch {
		case p.x < x:
			return -1
		case p.x > x:
			return 1
		}
		return 0
	})
	return slices.Insert(pts, i, pt)
}

type chart struct {
	file string
	plot *plot.Plot
}

// line is one line of a chart: a style per input (colour, glyph) and per
// measure (solid or dashed).
type line struct {
	name   string
	xys    plotter.XYs
	input  int
	dashed bool
}

func buildCharts(all []series) []chart {
	var fanLat, fanMem, isLat, isMem []line
	for i, s := range all {
		fanLat = append(fanLat,
			line{s.label + " p99", pick(s.fanout, func(p sizePoint) (float64, bool) { return p.b, true }), i, false},
			line{s.label + " p50", pick(s.fanout, func(p sizePoint) (float64, bool) { return p.a, true }), i, true})
		fanMem = append(fanMem, line{s.label, pick(s.fanout, memory), i, false})
		isLat = append(isLat,
			line{s.label + " initial", pick(s.initialSync, func(p sizePoint) (float64, bool) { return p.a, true }), i, false},
			line{s.label + " incremental", pick(s.initialSync, func(p sizePoint) (float64, bool) { return p.b, true }), i, true})
		isMem = append(isMem, line{s.label, pick(s.initialSync, memory), i, false})
	}
	var out []chart
	add := func(file, title, x, y string, logY bool, lines []line) {
		if p := newChart(title, x, y, logY, lines); p != nil {
			out = append(out, chart{file, p})
		}
	}
	add(plotFiles[0], "Fan-out: send 200 → last of U syncing users", "receiving users U", "ms", true, fanLat)
	add(plotFiles[1], "Fan-out: server memory", "receiving users U", "RSS, MiB (max during the run)", false, fanMem)
	add(plotFiles[2], "Sync of a user in R rooms (20 messages each)", "rooms R", "ms (median)", true, isLat)
	add(plotFiles[3], "Initial sync: server memory", "rooms R", "RSS, MiB (max during the run)", false, isMem)
	return out
}

func memory(p sizePoint) (float64, bool) { return p.rssMaxMiB, p.haveMemory }

func pick(pts []sizePoint, y func(sizePoint) (float64, bool)) plotter.XYs {
	var out plotter.XYs
	for _, p := range pts {
		if v, ok := y(p); ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
			out = append(out, plotter.XY{X: p.x, Y: v})
		}
	}
	return out
}

// newChart draws the lines that have points, or returns nil if none has.
// Sizes grow tenfold (10, 100, 1 000), so x is logarithmic when it can be,
// and so is y for latencies, which span milliseconds to seconds.
func newChart(title, xLabel, yLabel string, logY bool, lines []line) *plot.Plot {
	var xs, ys []float64
	for _, l := range lines {
		for _, p := range l.xys {
			xs, ys = append(xs, p.X), append(ys, p.Y)
		}
	}
	if len(xs) == 0 {
		return nil
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true
	if logScalable(xs) {
		p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	}
	if logY && logScalable(ys) {
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	} else {
		p.Y.Min = 0 // memory: let the eye compare from zero
	}
	for _, l := range lines {
		if len(l.xys) == 0 {
			continue
		}
		ln, pts, err := plotter.NewLinePoints(l.xys)
		if err != nil {
			continue // NaN/Inf were filtered; nothing else fails
		}
		ln.Color, pts.Color = plotutil.Color(l.input), plotutil.Color(l.input)
		ln.Width = vg.Points(1.5)
		pts.Shape = plotutil.Shape(l.input)
		pts.Radius = vg.Points(3)
		if l.dashed {
			ln.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			pts.Shape = draw.CircleGlyph{}
		}
		p.Add(ln, pts)
		p.Legend.Add(l.name, ln, pts)
	}
	if _, isLog := p.Y.Scale.(plot.LogScale); !isLog {
		p.Y.Max = slices.Max(ys) * 1.35 // room for the legend above the lines
	}
	return p
}

// logScalable: a log axis needs positive values that are not all equal.
func logScalable(vs []float64) bool {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		if v <= 0 {
			return false
		}
		lo, hi = min(lo, v), max(hi, v)
	}
	return hi > lo
}
