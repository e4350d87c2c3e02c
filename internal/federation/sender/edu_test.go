package sender_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/myelin-chat/myelin/internal/federation/sender"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

func (r *rig) sendEDU(edu sender.EDU, dests ...string) {
	r.t.Helper()
	if err := r.s.SendEDU(context.Background(), edu, dests); err != nil {
		r.t.Fatal(err)
	}
}

func typing(n int) sender.EDU {
	return sender.EDU{Type: "m.typing", Content: json.RawMessage(fmt.Sprintf(`{"room_id":"!r%d:x","user_id":"@u:x","typing":true}`, n))}
}

func toDevice(n int) sender.EDU {
	return sender.EDU{Type: sender.TypeDirectToDevice, Content: json.RawMessage(fmt.Sprintf(`{"message_id":"m%d","sender":"@u:x","type":"m.x","messages":{}}`, n))}
}

// eduSummary lists a call's EDUs as "type content".
func (c *call) eduSummary() []string {
	var out []string
	for _, e := range c.txn.EDUs {
		out = append(out, e.Type+" "+string(e.Content))
	}
	return out
}

func summary(edus ...sender.EDU) []string {
	var out []string
	for _, e := range edus {
		out = append(out, e.Type+" "+string(e.Content))
	}
	return out
}

// At most 100 EDUs and 50 PDUs per transaction (server-server-api
// "Transactions"); durable EDUs go first, each kind in queue order.
func TestEDUs_AtMost100PerTransaction(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		r := newRig(t, db)
		pdus := events(t, "!a:"+ourName, 60)
		var durable, ephemeral []sender.EDU
		for i := range 30 {
			durable = append(durable, toDevice(i))
		}
		for i := range 90 {
			ephemeral = append(ephemeral, typing(i))
		}
		for _, ev := range pdus {
			r.send(ev, "r.example")
		}
		for _, e := range ephemeral {
			r.sendEDU(e, "r.example")
		}
		for _, e := range durable {
			r.sendEDU(e, "r.example")
		}
		r.start()
		c := r.next()
		if len(c.txn.PDUs) != 50 {
			t.Errorf("first transaction has %d PDUs, want 50", len(c.txn.PDUs))
		}
		wantEDUs := summary(append(slices.Clone(durable), ephemeral[:70]...)...)
		if got := c.eduSummary(); !slices.Equal(got, wantEDUs) {
			t.Errorf("first transaction has %d EDUs, want %d: the 30 to-device then 70 typing", len(got), len(wantEDUs))
		}
		c.ok(t)
		c = r.next()
		if len(c.txn.PDUs) != 10 || !slices.Equal(c.eduSummary(), summary(ephemeral[70:]...)) {
			t.Errorf("second transaction has %d PDUs and EDUs %v", len(c.txn.PDUs), c.eduSummary())
		}
		c.ok(t)
	})
}

// EDUs alone also go 100 at a time.
func TestEDUs_250EphemeralGoInThreeTransactions(t *testing.T) {
	r := newRig(t, storagetest.NewSQLite(t))
	var all []sender.EDU
	for i := range 250 {
		all = append(all, typing(i))
		r.sendEDU(all[i], "r.example")
	}
	r.start()
	for _, want := range [][]sender.EDU{all[:100], all[100:200], all[200:]} {
		c := r.next()
		if got := c.eduSummary(); !slices.Equal(got, summary(want...)) {
			t.Fatalf("transaction has %d EDUs, want %d in order", len(got), len(want))
		}
		if c.txn.PDUs == nil {
			t.Errorf("pdus is required even when empty: %s", c.body)
		}
		c.ok(t)
	}
}

// To-device EDUs are persisted; typing and the like are not.
func TestEDUs_DurableSurviveRestartEphemeralDoNot(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		r1 := newRig(t, db)
		r1.sendEDU(typing(1), "r.example")
		r1.sendEDU(toDevice(1), "r.example")
		r1.sendEDU(sender.EDU{Type: "m.device_list_update", Content: json.RawMessage(`{"stream_id":1}`), Durable: true}, "r.example")
		r1.s.Stop()

		r2 := newRig(t, db)
		r2.start()
		c := r2.next()
		want := []string{`m.direct_to_device {"message_id":"m1","sender":"@u:x","type":"m.x","messages":{}}`, `m.device_list_update {"stream_id":1}`}
		if got := c.eduSummary(); !slices.Equal(got, want) {
			t.Errorf("after restart sent %v, want %v", got, want)
		}
		c.ok(t)
	})
}

// A keyed EDU replaces the queued one with the same type and key.
func TestEDUs_KeyReplacesQueuedEDU(t *testing.T) {
	r := newRig(t, storagetest.NewSQLite(t))
	stop := sender.EDU{Type: "m.typing", Key: "!r:x @u:x", Content: json.RawMessage(`{"room_id":"!r:x","user_id":"@u:x","typing":false}`)}
	start := stop
	start.Content = json.RawMessage(`{"room_id":"!r:x","user_id":"@u:x","typing":true}`)
	r.sendEDU(start, "r.example")
	r.sendEDU(typing(9), "r.example")
	r.sendEDU(stop, "r.example")
	r.start()
	c := r.next()
	if got, want := c.eduSummary(), summary(stop, typing(9)); !slices.Equal(got, want) {
		t.Errorf("sent %v, want %v", got, want)
	}
}

// In-memory EDUs per destination are bounded; the oldest go first.
func TestEDUs_EphemeralQueueIsBounded(t *testing.T) {
	r := newRig(t, storagetest.NewSQLite(t), func(c *sender.Config) { c.MaxEphemeralEDUs = 3 })
	for i := range 5 {
		r.sendEDU(typing(i), "r.example")
	}
	r.start()
	if got, want := r.next().eduSummary(), summary(typing(2), typing(3), typing(4)); !slices.Equal(got, want) {
		t.Errorf("sent %v, want the newest three %v", got, want)
	}
	if st := r.s.Stats(); st.EDUsDropped != 2 {
		t.Errorf("EDUsDropped = %d, want 2", st.EDUsDropped)
	}
}

func TestSendEDU_RejectsMalformed(t *testing.T) {
	r := newRig(t, storagetest.NewSQLite(t))
	for _, edu := range []sender.EDU{
		{Type: "", Content: json.RawMessage(`{}`)},
		{Type: "m.typing", Content: json.RawMessage(`[1]`)},
		{Type: "m.typing", Content: json.RawMessage(`{"a":`)},
		{Type: "m.typing"},
	} {
		if err := r.s.SendEDU(context.Background(), edu, []string{"r.example"}); err == nil {
			t.Errorf("SendEDU(%q, %q) succeeded", edu.Type, edu.Content)
		}
	}
	// Only ourselves: nothing to do, no error.
	if err := r.s.SendEDU(context.Background(), toDevice(1), []string{ourName}); err != nil {
		t.Error(err)
	}
	if p, _ := r.store.Pending(context.Background()); len(p) != 0 {
		t.Errorf("queued for %v", p)
	}
}
