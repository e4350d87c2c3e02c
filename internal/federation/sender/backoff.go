package sender

import "time"

// nextBackoff is the backoff interval after one more failure: min after
// the first, then doubling, never above max. The spec leaves retry timing
// to the implementation; this follows the brief's 2 s doubling to 1 h, in
// the spirit of Synapse's exponential destination retry.
func nextBackoff(prev, min, max time.Duration) time.Duration {
	if prev <= 0 {
		return min
	}
	next := prev * 2
	if next > max || next < prev { // next < prev: overflow
		return max
	}
	return next
}

// jitter spreads an interval over [0.8, 1.2) of itself (r in [0, 1); 0.5
// leaves it unchanged), capped at max, so that destinations that failed
// together do not all retry in the same instant.
func jitter(d time.Duration, r float64, max time.Duration) time.Duration {
	j := time.Duration(float64(d) * (0.8 + 0.4*r))
	if j > max {
		return max
	}
	if j <= 0 {
		return d
	}
	return j
}
