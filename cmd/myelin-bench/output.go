package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/myelin-chat/myelin/internal/bench/client"
	"github.com/myelin-chat/myelin/internal/bench/procmem"
	"github.com/myelin-chat/myelin/internal/bench/scenario"
	"github.com/myelin-chat/myelin/internal/bench/stats"
)

// report is the JSON document of one invocation.
type report struct {
	Tool        string          `json:"tool"`
	Label       string          `json:"label,omitempty"`
	URL         string          `json:"url"`
	Started     time.Time       `json:"started"`
	FinishedS   float64         `json:"finished_after_s"`
	Prefix      string          `json:"user_prefix"`
	Preset      string          `json:"preset"`
	RegisterVia string          `json:"register_via"`
	Host        hostInfo        `json:"host"`
	Server      serverInfo      `json:"server"`
	Requests    client.Counters `json:"requests"`
	Runs        []runResult     `json:"runs"`
}

// hostInfo is the machine the tool ran on (usually the server's too).
type hostInfo struct {
	Hostname string `json:"hostname"`
	CPUs     int    `json:"cpus"`
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	Go       string `json:"go"`
}

type serverInfo struct {
	Versions   []string `json:"versions"`
	PID        int      `json:"pid,omitempty"`
	BcryptCost string   `json:"bcrypt_cost"`
}

// runResult is one scenario at one size. Latencies are in milliseconds.
type runResult struct {
	Scenario string          `json:"scenario"`
	Size     string          `json:"size"`
	Params   any             `json:"params"`
	Result   any             `json:"result,omitempty"`
	Memory   *procmem.Sample `json:"memory,omitempty"`
	ElapsedS float64         `json:"elapsed_s"`
	Error    string          `json:"error,omitempty"`
}

func writeJSON(path string, rep *report) error {
	raw, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(raw, '\n'), 0o644)
}

// pcts formats p50/p90/p99/max of a summary.
func pcts(s stats.Summary) string {
	if s.Count == 0 {
		return "-"
	}
	return fmt.Sprintf("%s/%s/%s/%s", num(s.P50), num(s.P90), num(s.P99), num(s.Max))
}

// p5099 formats p50/p99 of a summary.
func p5099(s stats.Summary) string {
	if s.Count == 0 {
		return "-"
	}
	return fmt.Sprintf("%s/%s", num(s.P50), num(s.P99))
}

// num prints a millisecond figure with sensible precision.
func num(v float64) string {
	switch {
	case v >= 100 || v <= -100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10 || v <= -10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func mib(b int64) string { return fmt.Sprintf("%.0f", float64(b)/(1<<20)) }

// summary is a one-line description of a run's result.
func summary(r runResult) string {
	if r.Error != "" {
		return "FAILED: " + r.Error
	}
	var s string
	errs := 0
	switch v := r.Result.(type) {
	case *scenario.SendResult:
		s = fmt.Sprintf("latency p50/p90/p99/max %s ms; %.0f msg/s", pcts(v.LatencyMS), v.PerSecond)
		errs = v.Errors
	case *scenario.FanoutResult:
		what := "send"
		if v.Typing {
			what = "typing PUT"
		}
		s = fmt.Sprintf(what+" 200 → last delivery p50/p99 %s ms (from send start %s; first delivery %s); delivered %d/%d; %.2f answers/delivery",
			p5099(v.LastDeliveryMS), p5099(v.LastDeliveryFromSendMS), p5099(v.FirstDeliveryMS), v.Delivered, v.Messages, v.SyncAnswersPerDelivery)
		errs = v.SendErrors + v.SyncErrors + v.Undelivered
	case *scenario.ThroughputResult:
		s = fmt.Sprintf("%.0f events/s (%d in %.1f s); latency p50/p90/p99/max %s ms", v.EventsPerSecond, v.Events, v.DurationS, pcts(v.LatencyMS))
		errs = v.Errors
	case *scenario.InitialSyncResult:
		s = fmt.Sprintf("initial median %s min %s ms (%s KiB, %d rooms); incremental median %s min %s ms",
			num(v.InitialMedianMS), num(v.InitialMinMS), kib(v.InitialBytes), v.RoomsInInitial, num(v.IncrementalMedianMS), num(v.IncrementalMinMS))
		if v.ConcurrentMS != nil {
			s += fmt.Sprintf("; %d concurrent initial: median %s max %s ms", v.ConcurrentMS.Count, num(v.ConcurrentMS.P50), num(v.ConcurrentMS.Max))
		}
		if m := v.Memory; m != nil && m.Error == "" {
			s += fmt.Sprintf("; RSS MiB after setup %s, max during syncs %s", mib(m.AfterSetupBytes), mib(m.SyncsMaxBytes))
			if m.ConcurrentMaxBytes > 0 {
				s += fmt.Sprintf(" (concurrent %s)", mib(m.ConcurrentMaxBytes))
			}
			if m.SettleS > 0 {
				s += fmt.Sprintf(", %s after %s s idle", mib(m.SettledBytes), num(m.SettleS))
			}
		}
		errs = v.MissingNew
	case *scenario.JoinStormResult:
		s = fmt.Sprintf("all joined %s ms, all listed %s ms; join p50/p90/p99/max %s ms; %d/%d joined",
			num(v.AllJoinedMS), num(v.AllListedMS), pcts(v.JoinLatencyMS), v.Joined, v.Users)
		errs = v.Errors
	case *scenario.RegisterResult:
		s = fmt.Sprintf("%.1f accounts/s (%s); register p50/p99 %s ms, login p50/p99 %s ms", v.AccountsPerSecond, v.Method, p5099(v.RegisterMS), p5099(v.LoginMS))
		errs = v.Errors
	}
	if errs > 0 {
		s += fmt.Sprintf("; %d ERRORS", errs)
	}
	return s
}

func kib(n int) string { return fmt.Sprintf("%.0f", float64(n)/1024) }

// writeTable prints the readable summary.
func writeTable(w io.Writer, rep *report) {
	fmt.Fprintf(w, "\nmyelin-bench %s  %s  label=%q  cpus=%d  bcrypt=%s  registration=%s\n",
		rep.Started.Format(time.RFC3339), rep.URL, rep.Label, rep.Host.CPUs, rep.Server.BcryptCost, rep.RegisterVia)
	fmt.Fprintln(w, "latencies in ms (p50/p90/p99/max unless marked); memory: server RSS MiB before → max during → after (peak since start)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tsize\tresult\tRSS MiB\ttime s")
	for _, r := range rep.Runs {
		mem := "-"
		if m := r.Memory; m != nil {
			mem = fmt.Sprintf("%s → %s → %s (%s)", mib(m.RSSBefore), mib(m.RSSMax), mib(m.RSSAfter), mib(m.HWMAfter))
			if m.Error != "" {
				mem += " !" + m.Error
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1f\n", r.Scenario, r.Size, strings.ReplaceAll(summary(r), "\t", " "), mem, r.ElapsedS)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d requests, %d answered 429 and retried\n", rep.Requests.Requests, rep.Requests.RateLimited)
}
