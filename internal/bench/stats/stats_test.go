package stats

import (
	"errors"
	"math"
	"testing"
	"time"
)

// Nearest-rank percentiles: rank = ceil(p/100 * N), 1-based; p = 0 is the
// minimum. The vectors are the classic textbook ones (e.g. the samples 15,
// 20, 35, 40, 50: p30 = 20, p40 = 20, p50 = 35, p100 = 50).
func TestPercentile_NearestRankVectors(t *testing.T) {
	five := []float64{15, 20, 35, 40, 50}
	ten := []float64{3, 6, 7, 8, 8, 10, 13, 15, 16, 20}
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(i + 1)
	}
	tests := []struct {
		name    string
		samples []float64
		p       float64
		want    float64
	}{
		{"five p5 is the first", five, 5, 15},
		{"five p30", five, 30, 20},
		{"five p40 exact rank 2", five, 40, 20},
		{"five p50", five, 50, 35},
		{"five p100 is the max", five, 100, 50},
		{"ten p25", ten, 25, 7},
		{"ten p50 is the lower middle", ten, 50, 8},
		{"ten p75", ten, 75, 15},
		{"ten p90", ten, 90, 16},
		{"ten p99 collapses onto the max", ten, 99, 20},
		{"hundred p7 despite float error", hundred, 7, 7},
		{"hundred p99", hundred, 99, 99},
		{"hundred p99.5 rounds up", hundred, 99.5, 100},
		{"p0 is the min", five, 0, 15},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Percentile(tc.samples, tc.p)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Percentile(%v, %v) = %v, want %v", tc.samples, tc.p, got, tc.want)
			}
		})
	}
}

func TestPercentile_UnsortedInputIsNotModified(t *testing.T) {
	in := []float64{50, 15, 40, 20, 35}
	got, err := Percentile(in, 50)
	if err != nil || got != 35 {
		t.Fatalf("got %v, %v; want 35", got, err)
	}
	if in[0] != 50 || in[1] != 15 || in[4] != 35 {
		t.Errorf("input was reordered: %v", in)
	}
}

func TestPercentile_Errors(t *testing.T) {
	if _, err := Percentile(nil, 50); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty: err = %v, want ErrEmpty", err)
	}
	for _, p := range []float64{-1, 100.0001, math.NaN(), math.Inf(1)} {
		if _, err := Percentile([]float64{1}, p); !errors.Is(err, ErrBadPercentile) {
			t.Errorf("p=%v: err = %v, want ErrBadPercentile", p, err)
		}
	}
}

func TestPercentile_OneSampleIsEveryPercentile(t *testing.T) {
	for _, p := range []float64{0, 1, 50, 99, 100} {
		if got, _ := Percentile([]float64{42}, p); got != 42 {
			t.Errorf("p%v = %v, want 42", p, got)
		}
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name    string
		samples []float64
		want    Summary
	}{
		{"empty is all zeros", nil, Summary{}},
		{"only NaN is empty", []float64{math.NaN()}, Summary{}},
		{"one sample", []float64{7}, Summary{Count: 1, Min: 7, Mean: 7, P50: 7, P90: 7, P99: 7, Max: 7}},
		{"unsorted ten", []float64{20, 3, 16, 6, 15, 7, 13, 8, 10, 8},
			Summary{Count: 10, Min: 3, Mean: 10.6, P50: 8, P90: 16, P99: 20, Max: 20}},
		{"NaN ignored", []float64{2, math.NaN(), 1},
			Summary{Count: 2, Min: 1, Mean: 1.5, P50: 1, P90: 2, P99: 2, Max: 2}},
		{"negative values rank too", []float64{-1, 1},
			Summary{Count: 2, Min: -1, Mean: 0, P50: -1, P90: 1, P99: 1, Max: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Summarize(tc.samples)
			if math.Abs(got.Mean-tc.want.Mean) > 1e-9 {
				t.Errorf("mean = %v, want %v", got.Mean, tc.want.Mean)
			}
			got.Mean = tc.want.Mean
			if got != tc.want {
				t.Errorf("Summarize(%v) = %+v, want %+v", tc.samples, got, tc.want)
			}
		})
	}
}

func TestMillis(t *testing.T) {
	got := Millis([]time.Duration{1500 * time.Microsecond, 2 * time.Second, 0})
	want := []float64{1.5, 2000, 0}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Millis[%d] = %v, want %v", i, got[i], want[i])
		}
	}
}
