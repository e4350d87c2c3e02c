// Package stats summarises samples (latencies, durations) for the load
// tool: count, min, max, mean and percentiles, without histograms, so every
// figure is one of the measured samples (or their mean).
//
// Percentiles use the nearest-rank method: for N samples sorted ascending,
// the p-th percentile (0 < p <= 100) is the sample at rank ceil(p/100 * N)
// (1-based); p = 0 is the smallest sample. The result is always an observed
// value, never an interpolation, so "p99 = 12 ms" means some request really
// took 12 ms, and p100 is the maximum. With few samples the high
// percentiles collapse onto the maximum (N = 10: p90 is the 9th sample, p99
// the 10th), which is why results also carry the count.
package stats

import (
	"errors"
	"math"
	"slices"
	"time"
)

// ErrEmpty is returned for a percentile of no samples.
var ErrEmpty = errors.New("stats: no samples")

// ErrBadPercentile is returned for a percentile outside [0, 100] or NaN.
var ErrBadPercentile = errors.New("stats: percentile must be within [0, 100]")

// Percentile returns the p-th percentile of samples by nearest rank. The
// samples need not be sorted and are not modified.
func Percentile(samples []float64, p float64) (float64, error) {
	if len(samples) == 0 {
		return 0, ErrEmpty
	}
	if math.IsNaN(p) || p < 0 || p > 100 {
		return 0, ErrBadPercentile
	}
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	return nearestRank(sorted, p), nil
}

// nearestRank reads the p-th percentile from ascending samples (len > 0,
// p within [0, 100]).
func nearestRank(sorted []float64, p float64) float64 {
	n := len(sorted)
	// The small tolerance keeps floating-point error from pushing an exact
	// rank up by one: 7/100*100 is 7.000000000000001 in float64.
	rank := int(math.Ceil(p/100*float64(n) - 1e-9))
	if rank < 1 {
		rank = 1
	}
	if rank > n {
		rank = n
	}
	return sorted[rank-1]
}

// Summary describes a set of samples. All values are in the samples' unit
// (the load tool uses milliseconds). A Summary of no samples is all zeros
// with Count 0.
type Summary struct {
	Count int     `json:"count"`
	Min   float64 `json:"min"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// Summarize computes a Summary. The samples need not be sorted and are not
// modified. NaN samples are ignored, since they cannot be ranked.
func Summarize(samples []float64) Summary {
	sorted := make([]float64, 0, len(samples))
	for _, v := range samples {
		if !math.IsNaN(v) {
			sorted = append(sorted, v)
		}
	}
	if len(sorted) == 0 {
		return Summary{}
	}
	slices.Sort(sorted)
	var sum float64
	for _, v := range sorted {
		sum += v
	}
	return Summary{
		Count: len(sorted),
		Min:   sorted[0],
		Mean:  sum / float64(len(sorted)),
		P50:   nearestRank(sorted, 50),
		P90:   nearestRank(sorted, 90),
		P99:   nearestRank(sorted, 99),
		Max:   sorted[len(sorted)-1],
	}
}

// Millis converts durations to milliseconds (fractional), the unit of the
// tool's reports.
func Millis(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = float64(d) / float64(time.Millisecond)
	}
	return out
}
