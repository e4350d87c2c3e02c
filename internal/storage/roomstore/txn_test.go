package roomstore

import (
	"context"
	"errors"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// A transaction is recorded for one event only: inserting a second event
// under the same key fails the write with a *TxnTakenError naming the
// first, and the second event is not stored.
func TestTxn_SecondEventForOneTransactionIsRefused(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		key := TxnKey{UserID: "@a:hs1", DeviceID: "PHONE", TxnID: "t1", RoomID: "!r:hs1", Endpoint: "send", Target: event.TypeMessage}
		build := func(body string, depth int64) *event.Event {
			return buildEvent(t, &event.Builder{Type: event.TypeMessage, RoomID: "!r:hs1", Sender: "@a:hs1", Depth: depth,
				OriginServerTS: 1000 + depth, Content: []byte(`{"msgtype":"m.text","body":"` + body + `"}`)})
		}
		first, second := build("first", 1), build("second", 2)
		if err := s.Write(ctx, func(w *Writer) error {
			if err := w.CreateRoom("!r:hs1", "10", 1); err != nil {
				return err
			}
			_, err := w.InsertEvent(NewEvent{Event: first, StreamPos: 1, Txn: &key})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		err := s.Write(ctx, func(w *Writer) error {
			_, err := w.InsertEvent(NewEvent{Event: second, StreamPos: 2, Txn: &key})
			return err
		})
		var taken *TxnTakenError
		if !errors.As(err, &taken) || taken.EventID != first.EventID() || taken.Key != key {
			t.Fatalf("a second event for one transaction: err = %v, want a TxnTakenError naming %s", err, first.EventID())
		}
		if _, err := s.Event(ctx, second.EventID()); err == nil {
			t.Errorf("the second event was stored")
		}
		if id, err := s.EventForTxn(ctx, key); err != nil || id != first.EventID() {
			t.Errorf("EventForTxn = %q, %v; want %s", id, err, first.EventID())
		}
		other := key
		other.RoomID = "!other:hs1"
		if id, err := s.EventForTxn(ctx, other); err != nil || id != "" {
			t.Errorf("EventForTxn in another room = %q, %v; want none", id, err)
		}
	})
}

// Migration 4 carries the transactions of txn_ids over to their scoped
// keys: sends by the room and type of their event, redactions by the event
// they redacted, and drops the "redact:" prefix from events.txn_id.
func TestTxn_MigrationScopesStoredTransactions(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		if err := sqldb.Migrate(ctx, db, "rooms", migrations[:3]); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{
			`INSERT INTO events (event_id, room_id, depth, type, sender, origin_server_ts, pdu, txn_device, txn_id, redacted_by)
				VALUES ('$msg', '!r:hs1', 1, 'm.room.message', '@a:hs1', 1, '{}', 'PHONE', 't1', '$red')`,
			`INSERT INTO events (event_id, room_id, depth, type, sender, origin_server_ts, pdu, txn_device, txn_id)
				VALUES ('$red', '!r:hs1', 2, 'm.room.redaction', '@a:hs1', 2, '{}', 'PHONE', 'redact:t2')`,
			`INSERT INTO txn_ids (user_id, device_id, txn_id, event_id) VALUES ('@a:hs1', 'PHONE', 't1', '$msg')`,
			`INSERT INTO txn_ids (user_id, device_id, txn_id, event_id) VALUES ('@a:hs1', 'PHONE', 'redact:t2', '$red')`,
		} {
			if _, err := db.Write.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		s := newStore(t, db)
		for _, c := range []struct {
			key  TxnKey
			want string
		}{
			{TxnKey{UserID: "@a:hs1", DeviceID: "PHONE", TxnID: "t1", RoomID: "!r:hs1", Endpoint: "send", Target: "m.room.message"}, "$msg"},
			{TxnKey{UserID: "@a:hs1", DeviceID: "PHONE", TxnID: "t2", RoomID: "!r:hs1", Endpoint: "redact", Target: "$msg"}, "$red"},
			{TxnKey{UserID: "@a:hs1", DeviceID: "PHONE", TxnID: "redact:t2", RoomID: "!r:hs1", Endpoint: "send", Target: "m.room.redaction"}, ""},
		} {
			if id, err := s.EventForTxn(ctx, c.key); err != nil || id != c.want {
				t.Errorf("EventForTxn(%+v) = %q, %v; want %q", c.key, id, err, c.want)
			}
		}
		var txnID string
		if err := db.Read.QueryRowContext(ctx, `SELECT txn_id FROM events WHERE event_id = '$red'`).Scan(&txnID); err != nil || txnID != "t2" {
			t.Errorf("the redaction's transaction ID is %q (%v), want t2", txnID, err)
		}
	})
}
