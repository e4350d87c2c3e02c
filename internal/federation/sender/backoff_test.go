package sender

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/storage/fedqueue"
)

func TestNextBackoff_DoublesFromMinAndCaps(t *testing.T) {
	const min, max = 2 * time.Second, time.Hour
	tests := []struct {
		name       string
		prev, want time.Duration
	}{
		{"first failure waits the minimum", 0, min},
		{"then doubles", min, 4 * time.Second},
		{"doubles again", 4 * time.Second, 8 * time.Second},
		{"caps at the maximum", 45 * time.Minute, max},
		{"stays at the maximum", max, max},
		{"survives overflow", time.Duration(1 << 62), max},
	}
	for _, tt := range tests {
		if got := nextBackoff(tt.prev, min, max); got != tt.want {
			t.Errorf("%s: nextBackoff(%v) = %v, want %v", tt.name, tt.prev, got, tt.want)
		}
	}
}

func TestJitter_SpreadsWithinBoundsAndCaps(t *testing.T) {
	tests := []struct {
		name string
		d    time.Duration
		r    float64
		want time.Duration
	}{
		{"0.5 leaves it unchanged", 10 * time.Second, 0.5, 10 * time.Second},
		{"0 is 80%", 10 * time.Second, 0, 8 * time.Second},
		{"near 1 is near 120%", 10 * time.Second, 0.999999, 11999996 * time.Microsecond},
		{"never above the cap", time.Hour, 0.99, time.Hour},
	}
	for _, tt := range tests {
		got := jitter(tt.d, tt.r, time.Hour)
		if diff := got - tt.want; diff < -time.Microsecond || diff > time.Microsecond {
			t.Errorf("%s: jitter(%v, %v) = %v, want %v", tt.name, tt.d, tt.r, got, tt.want)
		}
	}
}

// The transaction body is the spec's shape: origin, origin_server_ts, pdus
// (required, possibly empty), edus only when there are some.
func TestBuildTransaction_Shape(t *testing.T) {
	pdus := []fedqueue.QueuedPDU{
		{ID: 1, EventID: "$a", StreamPos: 5, JSON: []byte(`{"n":1}`)},
		{ID: 2, EventID: "$b", StreamPos: 9, JSON: []byte(`{"n":2}`)},
		{ID: 3, EventID: "$a", StreamPos: 5, JSON: []byte(`{"n":1}`)}, // queued twice
	}
	durable := []fedqueue.QueuedEDU{{ID: 7, Type: "m.direct_to_device", Content: []byte(`{"d":1}`)}}
	eph := []EDU{{Type: "m.typing", Content: []byte(`{"t":1}`)}}
	tx := buildTransaction("5.1", "our.example", 1234, pdus, durable, eph)
	want := `{"origin":"our.example","origin_server_ts":1234,"pdus":[{"n":1},{"n":2}],` +
		`"edus":[{"content":{"d":1},"edu_type":"m.direct_to_device"},{"content":{"t":1},"edu_type":"m.typing"}]}`
	if string(tx.body) != want {
		t.Errorf("body\n%s\nwant\n%s", tx.body, want)
	}
	if !json.Valid(tx.body) {
		t.Error("body is not valid JSON")
	}
	if len(tx.pduIDs) != 3 || tx.nPDUs != 2 || tx.streamPos != 9 || len(tx.eduIDs) != 1 || tx.nEDUs != 2 {
		t.Errorf("transaction bookkeeping %+v", tx)
	}
	empty := buildTransaction("5.2", "our.example", 1, nil, nil, eph)
	if want := `{"origin":"our.example","origin_server_ts":1,"pdus":[],"edus":[{"content":{"t":1},"edu_type":"m.typing"}]}`; string(empty.body) != want {
		t.Errorf("EDU-only body %s", empty.body)
	}
}
