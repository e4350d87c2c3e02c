package e2eestore

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

func newStore(t *testing.T, db *sqldb.DB) *Store {
	t.Helper()
	s, err := New(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func msg(pos int64, user, device string) ToDeviceMessage {
	return ToDeviceMessage{Pos: pos, UserID: user, DeviceID: device, Sender: "@s:hs", Type: "m.test",
		Content: json.RawMessage(fmt.Sprintf(`{"pos":%d}`, pos))}
}

func positions(msgs []ToDeviceMessage) string {
	var out []int64
	for _, m := range msgs {
		out = append(out, m.Pos)
	}
	return fmt.Sprint(out)
}

// The per-device bound: a message for a full queue is not stored for that
// device; what was queued stays, in order, and other devices are not
// affected.
func TestEnqueueToDevice_FullQueueDropsOnlyNewMessagesForThatDevice(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		for pos := int64(1); pos <= 3; pos++ {
			if _, dropped, err := s.EnqueueToDevice(ctx, nil, []ToDeviceMessage{msg(pos, "@b:hs", "D")}, 3, 0); err != nil || len(dropped) != 0 {
				t.Fatalf("enqueue %d: %v %v", pos, dropped, err)
			}
		}
		_, dropped, err := s.EnqueueToDevice(ctx, nil, []ToDeviceMessage{msg(4, "@b:hs", "D"), msg(5, "@b:hs", "E")}, 3, 0)
		if err != nil || positions(dropped) != "[4]" {
			t.Fatalf("dropped %v, %v", positions(dropped), err)
		}
		got, err := s.ToDeviceMessages(ctx, "@b:hs", "D", 0, 100, 100)
		if err != nil || positions(got) != "[1 2 3]" {
			t.Fatalf("queue of the full device: %v %v", positions(got), err)
		}
		if got, _ := s.ToDeviceMessages(ctx, "@b:hs", "E", 0, 100, 100); positions(got) != "[5]" {
			t.Fatalf("other device: %v", positions(got))
		}
		// Once the client acknowledges, there is room again.
		if n, err := s.DeleteToDeviceUpTo(ctx, "@b:hs", "D", 2); err != nil || n != 2 {
			t.Fatalf("delete: %d %v", n, err)
		}
		if _, dropped, _ := s.EnqueueToDevice(ctx, nil, []ToDeviceMessage{msg(6, "@b:hs", "D")}, 3, 0); len(dropped) != 0 {
			t.Fatalf("after acknowledgement: dropped %v", positions(dropped))
		}
	})
}

// Delivered messages are deleted, but the stream's top position survives:
// a restart must not hand out a position a client's token already covers.
func TestMaxToDevicePos_OutlivesDeliveredMessages(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		if top, err := s.MaxToDevicePos(ctx); err != nil || top != 0 {
			t.Fatalf("empty: %d %v", top, err)
		}
		if _, _, err := s.EnqueueToDevice(ctx, nil, []ToDeviceMessage{msg(7, "@b:hs", "D"), msg(9, "@b:hs", "E")}, 10, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeleteToDeviceUpTo(ctx, "@b:hs", "E", 9); err != nil {
			t.Fatal(err)
		}
		if top, err := s.MaxToDevicePos(ctx); err != nil || top != 9 {
			t.Fatalf("after delivery: %d %v", top, err)
		}
	})
}

// A transaction ID is stored with its messages; the retry stores nothing.
func TestEnqueueToDevice_RepeatedTransactionStoresNothing(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		txn := &Txn{UserID: "@a:hs", DeviceID: "A", TxnID: "1"}
		if dup, _, err := s.EnqueueToDevice(ctx, txn, []ToDeviceMessage{msg(1, "@b:hs", "D")}, 10, 5); dup || err != nil {
			t.Fatalf("first: %v %v", dup, err)
		}
		if dup, _, err := s.EnqueueToDevice(ctx, txn, []ToDeviceMessage{msg(2, "@b:hs", "D")}, 10, 6); !dup || err != nil {
			t.Fatalf("retry: %v %v", dup, err)
		}
		if got, _ := s.ToDeviceMessages(ctx, "@b:hs", "D", 0, 100, 100); positions(got) != "[1]" {
			t.Fatalf("queue: %v", positions(got))
		}
		// Forgotten transaction IDs may be used again.
		if err := s.PruneToDeviceTxns(ctx, 6); err != nil {
			t.Fatal(err)
		}
		if dup, _, _ := s.EnqueueToDevice(ctx, txn, []ToDeviceMessage{msg(3, "@b:hs", "D")}, 10, 7); dup {
			t.Fatal("a pruned transaction ID still counted")
		}
	})
}
