package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/myelin-chat/myelin/internal/config"
)

// Run serves every configured listener until ctx ends, then shuts down
// gracefully: listeners stop accepting, in-flight requests finish (within a
// bound), and the room engine drains its queues before the database closes.
func (s *Server) Run(ctx context.Context) error {
	if s.Config.PIDFile != "" {
		if err := os.WriteFile(s.Config.PIDFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return fmt.Errorf("pid_file: %w", err)
		}
		defer os.Remove(s.Config.PIDFile)
	}
	s.Log.Info("starting myelin", "version", Version, "server_name", s.Config.ServerName, "database", describeDatabase(s.Config.Database))
	raiseFileLimit(s.Log)
	limiter := newAddrLimiter(s.Config.Myelin.MaxConnectionsPerAddress, s.Metrics)
	var servers []*http.Server
	errc := make(chan error, 16)
	for i, l := range s.Config.Listeners {
		if l.Type == "metrics" && !s.Config.EnableMetrics {
			// As Synapse: a metrics listener needs enable_metrics (the
			// config loader warned about it).
			s.Log.Warn("not starting the metrics listener: enable_metrics is false", "listener", i)
			continue
		}
		h, err := s.listenerHandler(l)
		if err != nil {
			return fmt.Errorf("listeners[%d]: %w", i, err)
		}
		h = bodyDeadline(h, s.Config.Myelin.RequestBodyTimeout)
		lns, err := bind(l)
		if err != nil {
			closeAll(servers)
			return fmt.Errorf("listeners[%d]: %w", i, err)
		}
		for _, ln := range lns {
			if !l.XForwarded {
				// Behind a reverse proxy every connection comes from the
				// proxy; it is the one to cap its clients.
				ln = limiter.wrap(ln)
			}
			srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 5 * time.Minute}
			if l.TLS {
				cert, err := tls.LoadX509KeyPair(s.Config.TLSCertificatePath, s.Config.TLSPrivateKeyPath)
				if err != nil {
					closeAll(servers)
					return fmt.Errorf("listeners[%d]: tls: %w", i, err)
				}
				srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
				ln = tls.NewListener(ln, srv.TLSConfig)
			}
			servers = append(servers, srv)
			s.Log.Info("listening", "addr", ln.Addr().String(), "type", l.Type, "tls", l.TLS)
			go func(ln net.Listener) {
				if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					errc <- err
				}
			}(ln)
		}
	}
	// The sender outlives the serving context: at shutdown Stop lets it
	// record the in-flight transaction's outcome instead of losing it.
	if err := s.outbox.start(ctx, s.Rooms, s.Sender); err != nil {
		closeAll(servers)
		return fmt.Errorf("federation outbox: %w", err)
	}
	if err := s.Sender.Start(context.Background()); err != nil {
		closeAll(servers)
		return fmt.Errorf("federation sender: %w", err)
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	s.Log.Info("shutting down")
	// Long-polling /sync requests answer at once with what they have, so
	// they don't hold the shutdown for their whole timeout; every other
	// in-flight request runs to completion.
	s.Syncer.Stop()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, srv := range servers {
		_ = srv.Shutdown(shutdownCtx)
	}
	s.Rooms.Close()
	s.outbox.close()
	s.Sender.Stop()
	return runErr
}

func closeAll(servers []*http.Server) {
	for _, s := range servers {
		_ = s.Close()
	}
}

func (s *Server) listenerHandler(l config.Listener) (http.Handler, error) {
	switch l.Type {
	case "metrics":
		metrics := promhttp.HandlerFor(s.Metrics, promhttp.HandlerOpts{})
		if os.Getenv("MYELIN_PPROF") != "1" {
			return metrics, nil
		}
		// Go's profiles next to the metrics, for whoever measures the server
		// (docs/performance.md). Opt-in: a CPU profile costs CPU, and the
		// metrics listener is meant for the operator's network only.
		mux := http.NewServeMux()
		mux.Handle("/", metrics)
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		return mux, nil
	case "http", "":
		client := l.Serves("client")
		fed := l.Serves("federation") || l.Serves("keys")
		switch {
		case client && fed:
			return splitHandler(s.Client, s.Federation), nil
		case fed:
			return s.Federation, nil
		default:
			return s.Client, nil
		}
	}
	return nil, fmt.Errorf("unsupported listener type %q", l.Type)
}

// bind opens the listener's sockets. As Synapse does, a failure to bind
// 0.0.0.0 after :: succeeded is ignored: on Linux a dual-stack :: socket
// already accepts IPv4.
func bind(l config.Listener) ([]net.Listener, error) {
	addrs := l.BindAddresses
	if len(addrs) == 0 {
		addrs = []string{"::", "0.0.0.0"}
	}
	var out []net.Listener
	for _, a := range addrs {
		ln, err := net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(l.Port)))
		if err != nil {
			if len(out) > 0 && errors.Is(err, syscall.EADDRINUSE) {
				continue
			}
			for _, o := range out {
				_ = o.Close()
			}
			return nil, err
		}
		out = append(out, ln)
	}
	return out, nil
}

// describeDatabase names the database for the start-up log, without its
// password: the SQLite file, or PostgreSQL's user@host:port/dbname (a DSN
// is not shown, since it may hold the password).
func describeDatabase(d config.Database) string {
	a := d.Args
	if d.Name == config.SQLite {
		return "sqlite3 " + a.Database
	}
	if a.DSN != "" {
		return "psycopg2 (dsn)"
	}
	host := a.Host
	if host == "" {
		host = "localhost"
	}
	if a.Port != 0 {
		host += ":" + strconv.Itoa(a.Port)
	}
	return "psycopg2 " + a.User + "@" + host + "/" + a.Database
}
