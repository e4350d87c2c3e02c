package server

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
	"github.com/myelin-chat/myelin/internal/syncapi"
)

// registerCoreMetrics adds the metrics of the database, the room engine's
// writes, its caches and /sync to the server's registry. Request metrics
// come from the routers (httpapi), the federation sender's and inbound
// transactions' from their packages; docs/deployment.md lists them all.
func (s *Server) registerCoreMetrics(store *roomstore.Store, engine *rooms.Engine, syncer *syncapi.Syncer) {
	reg := s.Metrics
	// Connection pools: on PostgreSQL Write and Read are one pool.
	reg.MustRegister(collectors.NewDBStatsCollector(s.DB.Write, "write"))
	if s.DB.Read != s.DB.Write {
		reg.MustRegister(collectors.NewDBStatsCollector(s.DB.Read, "read"))
	}

	commits := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "myelin", Subsystem: "rooms", Name: "commits_total",
		Help: "Group commits of room writes, by result (ok or error)."}, []string{"result"})
	writes := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "myelin", Subsystem: "rooms", Name: "commit_writes_total",
		Help: "Room writes (one per room batch) carried by group commits."})
	commitTime := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "myelin", Subsystem: "rooms", Name: "commit_duration_seconds",
		Help:    "Time from BEGIN to COMMIT of a group commit.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)})
	persisted := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "myelin", Subsystem: "rooms", Name: "events_persisted_total",
		Help: "Events committed to rooms, by origin (local or remote)."}, []string{"origin"})
	reg.MustRegister(commits, writes, commitTime, persisted)
	store.ObserveCommits(func(n int, took time.Duration, err error) {
		result := "ok"
		if err != nil {
			result = "error"
		}
		commits.WithLabelValues(result).Inc()
		writes.Add(float64(n))
		commitTime.Observe(took.Seconds())
	})
	local, remote := persisted.WithLabelValues("local"), persisted.WithLabelValues("remote")
	self := ":" + s.Config.ServerName
	engine.OnCommit(func(batch []rooms.Committed) {
		for _, c := range batch {
			if strings.HasSuffix(c.Event.Sender(), self) {
				local.Inc()
			} else {
				remote.Inc()
			}
		}
	})

	cache := func(name, help string, kind prometheus.ValueType, v func(roomstore.EventCacheStats) float64) {
		d := prometheus.NewDesc(prometheus.BuildFQName("myelin", "event_cache", name), help, nil, nil)
		reg.MustRegister(funcCollector{d, kind, func() float64 { return v(store.EventCacheStats()) }})
	}
	cache("entries", "Parsed events held in the event cache.", prometheus.GaugeValue, func(c roomstore.EventCacheStats) float64 { return float64(c.Entries) })
	cache("bytes", "Estimated memory of the cached events.", prometheus.GaugeValue, func(c roomstore.EventCacheStats) float64 { return float64(c.Bytes) })
	cache("hits_total", "Event look-ups answered from the cache.", prometheus.CounterValue, func(c roomstore.EventCacheStats) float64 { return float64(c.Hits) })
	cache("misses_total", "Event look-ups that went to the database.", prometheus.CounterValue, func(c roomstore.EventCacheStats) float64 { return float64(c.Misses) })

	syncBuild := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "myelin", Subsystem: "sync", Name: "build_duration_seconds",
		Help:    "Time to build a /sync response, without long-poll waiting, by kind (initial or incremental).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 14)}, []string{"kind"})
	reg.MustRegister(syncBuild)
	initial, incremental := syncBuild.WithLabelValues("initial"), syncBuild.WithLabelValues("incremental")
	syncer.ObserveBuilds(func(isInitial bool, took time.Duration) {
		if isInitial {
			initial.Observe(took.Seconds())
		} else {
			incremental.Observe(took.Seconds())
		}
	})
}

// funcCollector is one metric read from a function at scrape time.
type funcCollector struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func() float64
}

func (c funcCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c funcCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.desc, c.kind, c.value())
}
