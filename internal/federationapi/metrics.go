package federationapi

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts what other servers send in transactions. Totals only: a
// per-origin label would grow with every server that ever contacts us.
type Metrics struct {
	txns, pdus, pduErrors, edus prometheus.Counter
}

// NewMetrics registers the inbound transaction counters with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	c := func(name, help string) prometheus.Counter {
		ctr := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "myelin", Subsystem: "federation_inbound", Name: name, Help: help})
		reg.MustRegister(ctr)
		return ctr
	}
	return &Metrics{
		txns:      c("transactions_total", "Transactions received from other servers (replays answered from the cache excluded)."),
		pdus:      c("pdus_total", "PDUs received in transactions."),
		pduErrors: c("pdu_errors_total", "Received PDUs that were dropped or answered with an error."),
		edus:      c("edus_total", "EDUs received in transactions."),
	}
}

func (m *Metrics) transaction(pdus, edus, pduErrors int) {
	if m == nil {
		return
	}
	m.txns.Inc()
	m.pdus.Add(float64(pdus))
	m.edus.Add(float64(edus))
	m.pduErrors.Add(float64(pduErrors))
}
