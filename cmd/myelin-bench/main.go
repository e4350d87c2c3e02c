// Command myelin-bench drives a running homeserver over the Client-Server
// API, as real clients would, and measures it: message latency, fan-out to
// long-polling /sync clients, throughput, initial sync, join storms and
// registration, with the server's memory when its PID is known.
//
//	myelin-bench --url http://127.0.0.1:8008 --scenario all --pid 1234 --json out.json
//
// It needs a server with open registration (m.login.dummy) or its
// registration shared secret (--shared-secret, or --config homeserver.yaml).
// Users get a random name prefix, so runs repeat against the same server.
// Results go to stdout as a table and, with --json, to a file; progress
// goes to stderr. scripts/bench.sh starts a throwaway server and runs this.
//
// "myelin-bench plot --in results.json --out DIR" draws PNG charts from
// such JSON files (see plot.go).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/myelin-chat/myelin/internal/bench/client"
	"github.com/myelin-chat/myelin/internal/bench/procmem"
	"github.com/myelin-chat/myelin/internal/bench/scenario"
)

// scenarioNames in the order "all" runs them.
var scenarioNames = []string{"send", "fanout", "typing", "throughput", "initialsync", "joinstorm", "register"}

// sizes are the scenario sizes; presets fill them, flags override.
type sizes struct {
	sendMessages   []int
	fanoutUsers    []int
	fanoutMessages int
	thrSenders     int
	thrRooms       []int
	thrDuration    time.Duration
	isRooms        []int
	isEvents       int
	isRepeats      int
	isConcurrent   int
	joinUsers      []int
	regAccounts    []int
	regConcurrency int
}

var presets = map[string]sizes{
	"small": {sendMessages: []int{100}, fanoutUsers: []int{10}, fanoutMessages: 10, thrSenders: 4, thrRooms: []int{4}, thrDuration: 5 * time.Second,
		isRooms: []int{10}, isEvents: 10, isRepeats: 3, joinUsers: []int{20}, regAccounts: []int{20}, regConcurrency: 2},
	"medium": {sendMessages: []int{1000}, fanoutUsers: []int{10, 100}, fanoutMessages: 20, thrSenders: 10, thrRooms: []int{10}, thrDuration: 10 * time.Second,
		isRooms: []int{10, 100}, isEvents: 20, isRepeats: 3, joinUsers: []int{100}, regAccounts: []int{50}, regConcurrency: 2},
	"large": {sendMessages: []int{5000}, fanoutUsers: []int{10, 100, 1000}, fanoutMessages: 20, thrSenders: 100, thrRooms: []int{100}, thrDuration: 30 * time.Second,
		isRooms: []int{10, 100, 1000}, isEvents: 20, isRepeats: 3, isConcurrent: 4, joinUsers: []int{100, 1000}, regAccounts: []int{200}, regConcurrency: 4},
}

type options struct {
	url, sharedSecret, registerVia string
	configs                        multiFlag
	scenarios                      string
	preset                         string
	isSettle                       time.Duration
	pid                            int
	pidFile                        string
	jsonPath, label                string
	wait, scenarioTimeout          time.Duration
	sampleEvery                    time.Duration
	setupConcurrency, maxConns     int
	sz                             sizes
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

type intList []int

func (l *intList) String() string {
	s := make([]string, len(*l))
	for i, v := range *l {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

func (l *intList) Set(v string) error {
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	*l = out
	return nil
}

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("myelin-bench", flag.ContinueOnError)
	o := &options{}
	fs.StringVar(&o.url, "url", "http://127.0.0.1:8008", "the homeserver's client API base URL")
	fs.StringVar(&o.sharedSecret, "shared-secret", "", "registration_shared_secret, to create users through /_synapse/admin/v1/register")
	fs.Var(&o.configs, "config", "homeserver.yaml to read registration_shared_secret and bcrypt_rounds from (repeatable; later files win)")
	fs.StringVar(&o.registerVia, "register-via", "auto", "how to create users: dummy (open registration), shared-secret, or auto (the secret when known)")
	fs.StringVar(&o.scenarios, "scenario", "all", "scenarios to run, comma-separated: "+strings.Join(scenarioNames, ", ")+", or all")
	fs.StringVar(&o.preset, "preset", "medium", "default sizes: small, medium or large (flags below override)")
	fs.IntVar(&o.pid, "pid", 0, "the server's process ID, to sample its memory from /proc/PID/status")
	fs.StringVar(&o.pidFile, "pid-file", "", "file holding the server's process ID (instead of --pid)")
	fs.StringVar(&o.jsonPath, "json", "", "write the results as JSON to this file")
	fs.StringVar(&o.label, "label", "", "a label for this run in the results (e.g. sqlite)")
	fs.DurationVar(&o.wait, "wait", 0, "wait this long for the server to answer /versions before starting")
	fs.DurationVar(&o.scenarioTimeout, "scenario-timeout", 30*time.Minute, "bound on each scenario run, setup included")
	fs.DurationVar(&o.sampleEvery, "sample-interval", 100*time.Millisecond, "memory sampling interval")
	fs.IntVar(&o.setupConcurrency, "setup-concurrency", 16, "concurrent requests while creating users and rooms")
	fs.IntVar(&o.maxConns, "max-conns", 0, "connections to the server at most (default: enough for the largest scenario)")

	var (
		fanM, thrC, isE, isK, isC     int
		regC                          int
		thrT                          time.Duration
		sendN, fanU, thrR, isR, joinU intList
		regN                          intList
	)
	fs.Var(&sendN, "send-messages", "send: messages sent one after another, comma-separated sizes (each size in a new room)")
	fs.Var(&fanU, "fanout-users", "fanout: receivers, comma-separated sizes (e.g. 10,100,1000)")
	fs.IntVar(&fanM, "fanout-messages", 0, "fanout: messages per size (typing: typing changes; both scenarios take the fanout sizes)")
	fs.IntVar(&thrC, "throughput-senders", 0, "throughput: concurrent senders")
	fs.Var(&thrR, "throughput-rooms", "throughput: rooms, comma-separated sizes")
	fs.DurationVar(&thrT, "throughput-duration", 0, "throughput: how long to send")
	fs.Var(&isR, "initialsync-rooms", "initialsync: rooms of the user, comma-separated sizes")
	fs.IntVar(&isE, "initialsync-events", 0, "initialsync: messages per room")
	fs.IntVar(&isK, "initialsync-repeats", 0, "initialsync: measurements per size")
	fs.IntVar(&isC, "initialsync-concurrent", 0, "initialsync: then this many initial syncs of the user at once (1: none)")
	fs.DurationVar(&o.isSettle, "initialsync-settle", 0, "initialsync: then this long without requests, and the server's memory after it (needs --pid)")
	fs.Var(&joinU, "joinstorm-users", "joinstorm: users joining at once, comma-separated sizes")
	fs.Var(&regN, "register-accounts", "register: accounts to create, comma-separated sizes")
	fs.IntVar(&regC, "register-concurrency", 0, "register: accounts in progress at once")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: myelin-bench --url URL [--shared-secret S | --config homeserver.yaml] [--scenario all] [--pid PID] [--json out.json]")
		fmt.Fprintln(fs.Output(), "       myelin-bench plot --in results.json [--in more.json] --out DIR   (charts; plot --help)")
		fmt.Fprintln(fs.Output(), "\nDrives a running homeserver over the Client-Server API and measures it.\n\nOptions:")
		fs.PrintDefaults()
		fmt.Fprintln(fs.Output(), "\nPresets (send N; fanout U×M; throughput C/R/T; initialsync R×E; joinstorm U; register N c):")
		for _, name := range []string{"small", "medium", "large"} {
			p := presets[name]
			fmt.Fprintf(fs.Output(), "  %-7s send %v; fanout %v×%d; throughput %d/%v/%v; initialsync %v×%d; joinstorm %v; register %v c%d\n",
				name, p.sendMessages, p.fanoutUsers, p.fanoutMessages, p.thrSenders, p.thrRooms, p.thrDuration,
				p.isRooms, p.isEvents, p.joinUsers, p.regAccounts, p.regConcurrency)
		}
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	sz, ok := presets[o.preset]
	if !ok {
		return nil, fmt.Errorf("--preset must be small, medium or large")
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	pick := func(name string, v int, dst *int) error {
		if set[name] {
			if v < 1 {
				return fmt.Errorf("--%s must be at least 1", name)
			}
			*dst = v
		}
		return nil
	}
	for _, p := range []struct {
		name string
		v    int
		dst  *int
	}{
		{"fanout-messages", fanM, &sz.fanoutMessages},
		{"throughput-senders", thrC, &sz.thrSenders},
		{"initialsync-repeats", isK, &sz.isRepeats},
		{"initialsync-concurrent", isC, &sz.isConcurrent},
		{"register-concurrency", regC, &sz.regConcurrency},
	} {
		if err := pick(p.name, p.v, p.dst); err != nil {
			return nil, err
		}
	}
	if set["initialsync-events"] {
		if isE < 0 {
			return nil, fmt.Errorf("--initialsync-events must not be negative")
		}
		sz.isEvents = isE
	}
	if set["throughput-duration"] {
		if thrT <= 0 {
			return nil, fmt.Errorf("--throughput-duration must be positive")
		}
		sz.thrDuration = thrT
	}
	for name, l := range map[string]struct {
		v   intList
		dst *[]int
	}{
		"send-messages": {sendN, &sz.sendMessages}, "fanout-users": {fanU, &sz.fanoutUsers},
		"throughput-rooms": {thrR, &sz.thrRooms}, "register-accounts": {regN, &sz.regAccounts},
	} {
		if set[name] {
			*l.dst = l.v
		}
	}
	if set["initialsync-rooms"] {
		sz.isRooms = isR
	}
	if set["joinstorm-users"] {
		sz.joinUsers = joinU
	}
	o.sz = sz
	switch o.registerVia {
	case "auto", "dummy", "shared-secret":
	default:
		return nil, fmt.Errorf("--register-via must be auto, dummy or shared-secret")
	}
	if o.setupConcurrency < 1 {
		return nil, fmt.Errorf("--setup-concurrency must be at least 1")
	}
	if o.sampleEvery <= 0 {
		return nil, fmt.Errorf("--sample-interval must be positive")
	}
	return o, nil
}

// selected returns the scenarios to run, in the canonical order.
func (o *options) selected() ([]string, error) {
	want := map[string]bool{}
	for _, s := range strings.Split(o.scenarios, ",") {
		s = strings.TrimSpace(s)
		if s == "all" {
			return scenarioNames, nil
		}
		known := false
		for _, n := range scenarioNames {
			known = known || n == s
		}
		if !known {
			return nil, fmt.Errorf("unknown scenario %q (known: %s, all)", s, strings.Join(scenarioNames, ", "))
		}
		want[s] = true
	}
	var out []string
	for _, n := range scenarioNames {
		if want[n] {
			out = append(out, n)
		}
	}
	return out, nil
}

// connsNeeded is how many connections the largest selected scenario holds
// at once: every fan-out receiver and joinstorm joiner has one in flight.
func (o *options) connsNeeded(names []string) int {
	n := max(o.setupConcurrency, 16)
	for _, s := range names {
		switch s {
		case "fanout", "typing":
			for _, u := range o.sz.fanoutUsers {
				n = max(n, u+1)
			}
		case "joinstorm":
			for _, u := range o.sz.joinUsers {
				n = max(n, u+1)
			}
		case "throughput":
			n = max(n, o.sz.thrSenders)
		case "register":
			n = max(n, o.sz.regConcurrency)
		}
	}
	return n + 16
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "plot" {
		err := runPlot(os.Args[2:], os.Stdout)
		switch {
		case errors.Is(err, flag.ErrHelp):
			os.Exit(0)
		case err != nil:
			fmt.Fprintln(os.Stderr, "myelin-bench:", err)
			os.Exit(2)
		}
		return
	}
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "myelin-bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "myelin-bench:", err)
	}
	os.Exit(code)
}

func run(ctx context.Context, o *options) (int, error) {
	names, err := o.selected()
	if err != nil {
		return 2, err
	}
	cfg, err := readServerConfigs(o.configs)
	if err != nil {
		return 2, err
	}
	secret := o.sharedSecret
	if secret == "" {
		secret = cfg.SharedSecret
	}
	switch o.registerVia {
	case "dummy":
		secret = ""
	case "shared-secret":
		if secret == "" {
			return 2, fmt.Errorf("--register-via shared-secret needs --shared-secret or a --config with registration_shared_secret")
		}
	}
	pid := o.pid
	if o.pidFile != "" {
		raw, err := os.ReadFile(o.pidFile)
		if err != nil {
			return 2, err
		}
		if pid, err = strconv.Atoi(strings.TrimSpace(string(raw))); err != nil || pid < 1 {
			return 2, fmt.Errorf("%s does not hold a process ID", o.pidFile)
		}
	}
	if pid > 0 {
		if _, err := procmem.Read(pid); err != nil {
			return 2, fmt.Errorf("cannot read the memory of process %d: %w", pid, err)
		}
	}

	maxConns := o.maxConns
	if maxConns <= 0 {
		maxConns = o.connsNeeded(names)
	}
	pr := newProgress(os.Stderr)
	// Each connection is a descriptor; leave room for the rest.
	if lim, err := raiseNoFile(uint64(maxConns) + 256); err != nil || lim < uint64(maxConns)+64 {
		pr.note("warning: open-file limit %d (%v) may be too low for %d connections", lim, err, maxConns)
	}
	conn := client.NewConn(o.url, maxConns)
	defer conn.Close()
	if o.wait > 0 {
		if err := conn.WaitUp(ctx, o.wait); err != nil {
			return 1, err
		}
	}
	versions, err := conn.Versions(ctx)
	if err != nil {
		return 1, fmt.Errorf("server at %s does not answer: %w", o.url, err)
	}
	env := &scenario.Env{
		Conn: conn, Registrar: client.Registrar{Conn: conn, SharedSecret: secret},
		Prefix: scenario.NewPrefix(), Progress: pr.step, SetupConcurrency: o.setupConcurrency, PID: pid,
	}
	host, _ := os.Hostname()
	rep := &report{
		Tool: "myelin-bench", Label: o.label, URL: o.url, Started: time.Now().UTC(), Prefix: env.Prefix,
		Host:   hostInfo{Hostname: host, CPUs: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH, Go: runtime.Version()},
		Server: serverInfo{Versions: versions, PID: pid, BcryptCost: bcryptLabel(len(o.configs) > 0, cfg.BcryptRounds)},
		Preset: o.preset, RegisterVia: env.Registrar.Method(),
	}
	pr.note("myelin-bench: %s, users %s-*, registration by %s, bcrypt cost %s, memory of pid %s",
		o.url, env.Prefix, rep.RegisterVia, rep.Server.BcryptCost, pidLabel(pid))

	failed := false
	for _, name := range names {
		for _, job := range o.jobs(name) {
			if ctx.Err() != nil {
				break
			}
			r := runOne(ctx, o, env, pr, pid, job)
			if r.Error != "" {
				failed = true
			}
			rep.Runs = append(rep.Runs, r)
		}
	}
	rep.Requests = conn.Counters()
	rep.FinishedS = time.Since(rep.Started).Seconds()

	writeTable(os.Stdout, rep)
	if o.jsonPath != "" {
		if err := writeJSON(o.jsonPath, rep); err != nil {
			return 1, err
		}
	}
	if ctx.Err() != nil {
		return 130, errors.New("interrupted")
	}
	if failed {
		return 1, errors.New("some scenarios failed (see the table)")
	}
	return 0, nil
}

func pidLabel(pid int) string {
	if pid == 0 {
		return "not sampled (no --pid)"
	}
	return strconv.Itoa(pid)
}

// job is one scenario at one size.
type job struct {
	scenario, size string
	params         any
	run            func(ctx context.Context, env *scenario.Env) (any, error)
}

func (o *options) jobs(name string) []job {
	sz := o.sz
	switch name {
	case "send":
		var out []job
		for _, n := range sz.sendMessages {
			p := scenario.SendParams{Messages: n}
			out = append(out, job{name, fmt.Sprintf("N=%d", p.Messages), p, func(ctx context.Context, e *scenario.Env) (any, error) { return scenario.Send(ctx, e, p) }})
		}
		return out
	case "fanout":
		var out []job
		for _, u := range sz.fanoutUsers {
			p := scenario.FanoutParams{Users: u, Messages: sz.fanoutMessages}
			out = append(out, job{name, fmt.Sprintf("U=%d M=%d", u, p.Messages), p, func(ctx context.Context, e *scenario.Env) (any, error) { return scenario.Fanout(ctx, e, p) }})
		}
		return out
	case "typing":
		// The fan-out's sizes, with typing notices for messages.
		var out []job
		for _, u := range sz.fanoutUsers {
			p := scenario.FanoutParams{Users: u, Messages: sz.fanoutMessages, Typing: true}
			out = append(out, job{name, fmt.Sprintf("U=%d M=%d", u, p.Messages), p, func(ctx context.Context, e *scenario.Env) (any, error) { return scenario.Fanout(ctx, e, p) }})
		}
		return out
	case "throughput":
		var out []job
		for _, r := range sz.thrRooms {
			p := scenario.ThroughputParams{Senders: sz.thrSenders, Rooms: r, Duration: sz.thrDuration}
			out = append(out, job{name, fmt.Sprintf("C=%d R=%d T=%v", p.Senders, p.Rooms, p.Duration), p, func(ctx context.Context, e *scenario.Env) (any, error) { return scenario.Throughput(ctx, e, p) }})
		}
		return out
	case "initialsync":
		var out []job
		for _, r := range sz.isRooms {
			p := scenario.InitialSyncParams{Rooms: r, EventsPerRoom: sz.isEvents, Repeats: sz.isRepeats, Concurrent: sz.isConcurrent, Settle: o.isSettle}
			out = append(out, job{name, fmt.Sprintf("R=%d E=%d", r, p.EventsPerRoom), p, func(ctx context.Context, e *scenario.Env) (any, error) { return scenario.InitialSync(ctx, e, p) }})
		}
		return out
	case "joinstorm":
		var out []job
		for _, u := range sz.joinUsers {
			p := scenario.JoinStormParams{Users: u}
			out = append(out, job{name, fmt.Sprintf("U=%d", u), p, func(ctx context.Context, e *scenario.Env) (any, error) { return scenario.JoinStorm(ctx, e, p) }})
		}
		return out
	case "register":
		var out []job
		for _, n := range sz.regAccounts {
			p := scenario.RegisterParams{Accounts: n, Concurrency: sz.regConcurrency}
			out = append(out, job{name, fmt.Sprintf("N=%d c=%d", p.Accounts, p.Concurrency), p, func(ctx context.Context, e *scenario.Env) (any, error) { return scenario.Register(ctx, e, p) }})
		}
		return out
	}
	return nil
}

// runOne runs a job with its time bound and memory sampling.
func runOne(ctx context.Context, o *options, env *scenario.Env, pr *progress, pid int, j job) runResult {
	title := j.scenario + " " + j.size
	pr.start(title)
	ctx, cancel := context.WithTimeout(ctx, o.scenarioTimeout)
	defer cancel()
	var sampler *procmem.Sampler
	if pid > 0 {
		sampler = procmem.Start(pid, o.sampleEvery)
	}
	t0 := time.Now()
	res, err := j.run(ctx, env)
	r := runResult{Scenario: j.scenario, Size: j.size, Params: j.params, ElapsedS: time.Since(t0).Seconds()}
	if sampler != nil {
		m := sampler.Stop()
		r.Memory = &m
	}
	if err != nil {
		r.Error = err.Error()
		pr.finish("FAILED: " + r.Error)
		return r
	}
	r.Result = res
	pr.finish(summary(r))
	return r
}
