package sender

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Stats is a snapshot of the sender's counters (since New) and gauges.
// Totals only: a per-destination label would grow with every server ever
// contacted.
type Stats struct {
	TransactionsSent     int64 // answered 200
	TransactionFailures  int64 // attempts that failed and will be retried
	TransactionsRejected int64 // refused for good (ErrRejected) and dropped
	PDUsSent             int64 // PDUs in transactions answered 200
	EDUsSent             int64
	PDUErrors            int64 // PDUs the receiver reported an error for
	CatchUps             int64 // backlogs collapsed after an outage
	PDUsDropped          int64 // queue items removed by those collapses
	EDUsDropped          int64 // in-memory EDUs dropped (bound or catch-up)

	PDUsQueued             int64 // (PDU, destination) items waiting
	DestinationsBackingOff int64
	Workers                int64 // destinations being worked on now
}

// Stats returns the current counters.
func (s *Sender) Stats() Stats {
	m := s.m
	return Stats{
		TransactionsSent:       m.txnsSent.Load(),
		TransactionFailures:    m.txnFailures.Load(),
		TransactionsRejected:   m.txnsRejected.Load(),
		PDUsSent:               m.pdusSent.Load(),
		EDUsSent:               m.edusSent.Load(),
		PDUErrors:              m.pduErrors.Load(),
		CatchUps:               m.catchUps.Load(),
		PDUsDropped:            m.pdusDropped.Load(),
		EDUsDropped:            m.edusDropped.Load(),
		PDUsQueued:             m.pdusQueued.Load(),
		DestinationsBackingOff: m.backingOff.Load(),
		Workers:                m.workers.Load(),
	}
}

type metrics struct {
	s *Sender

	txnsSent, txnFailures, txnsRejected atomic.Int64
	pdusSent, edusSent, pduErrors       atomic.Int64
	catchUps, pdusDropped, edusDropped  atomic.Int64
	pdusQueued, backingOff, workers     atomic.Int64
}

func newMetrics(s *Sender) *metrics { return &metrics{s: s} }

// setBackingOff keeps the backing-off gauge in step with q; called with
// Sender.mu held.
func (m *metrics) setBackingOff(q *destQueue, on bool) {
	if q.countedBack == on {
		return
	}
	q.countedBack = on
	if on {
		m.backingOff.Add(1)
	} else {
		m.backingOff.Add(-1)
	}
}

type metricDesc struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(Stats) int64
}

func desc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName("myelin", "federation_sender", name), help, nil, nil)
}

var metricDescs = []metricDesc{
	{desc("transactions_sent_total", "Transactions answered with 200."), prometheus.CounterValue, func(s Stats) int64 { return s.TransactionsSent }},
	{desc("transaction_failures_total", "Transaction attempts that failed and will be retried."), prometheus.CounterValue, func(s Stats) int64 { return s.TransactionFailures }},
	{desc("transactions_rejected_total", "Transactions refused for good and dropped."), prometheus.CounterValue, func(s Stats) int64 { return s.TransactionsRejected }},
	{desc("pdus_sent_total", "PDUs in delivered transactions."), prometheus.CounterValue, func(s Stats) int64 { return s.PDUsSent }},
	{desc("edus_sent_total", "EDUs in delivered transactions."), prometheus.CounterValue, func(s Stats) int64 { return s.EDUsSent }},
	{desc("pdu_errors_total", "PDUs a receiver reported an error for."), prometheus.CounterValue, func(s Stats) int64 { return s.PDUErrors }},
	{desc("catchups_total", "Backlogs collapsed to the latest PDU per room after an outage."), prometheus.CounterValue, func(s Stats) int64 { return s.CatchUps }},
	{desc("pdus_dropped_total", "Queued PDU deliveries dropped by catch-up."), prometheus.CounterValue, func(s Stats) int64 { return s.PDUsDropped }},
	{desc("edus_dropped_total", "In-memory EDUs dropped by the queue bound or catch-up."), prometheus.CounterValue, func(s Stats) int64 { return s.EDUsDropped }},
	{desc("pdus_queued", "PDU deliveries waiting, over all destinations."), prometheus.GaugeValue, func(s Stats) int64 { return s.PDUsQueued }},
	{desc("destinations_backing_off", "Destinations waiting out a backoff."), prometheus.GaugeValue, func(s Stats) int64 { return s.DestinationsBackingOff }},
	{desc("workers", "Destinations with a transaction being built, sent or retried."), prometheus.GaugeValue, func(s Stats) int64 { return s.Workers }},
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range metricDescs {
		ch <- d.desc
	}
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	st := m.s.Stats()
	for _, d := range metricDescs {
		ch <- prometheus.MustNewConstMetric(d.desc, d.kind, float64(d.value(st)))
	}
}
