package roomstore

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// recordingIndexer writes what it is told into a table of its own, inside
// the writer's transaction, so the tests see what committed.
type recordingIndexer struct{ fail bool }

func (recordingIndexer) setUp(t *testing.T, db *sqldb.DB) {
	t.Helper()
	if _, err := db.Write.ExecContext(context.Background(), `CREATE TABLE test_index (event_id TEXT PRIMARY KEY, stream_pos BIGINT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
}

func (ix recordingIndexer) IndexEvent(ctx context.Context, tx *sql.Tx, e *event.Event, pos int64) error {
	if ix.fail {
		return errors.New("index full")
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO test_index (event_id, stream_pos) VALUES ($1, $2)`, e.EventID(), pos)
	return err
}

func (ix recordingIndexer) UnindexEvent(ctx context.Context, tx *sql.Tx, eventID string) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM test_index WHERE event_id = $1`, eventID)
	return err
}

func (ix recordingIndexer) PurgeRoomIndex(ctx context.Context, tx *sql.Tx, _ string) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM test_index`) // the tests' one room
	return err
}

func (ix recordingIndexer) PurgeEventsIndex(ctx context.Context, tx *sql.Tx, _ string, eventIDs []string) error {
	for _, id := range eventIDs {
		if err := ix.UnindexEvent(ctx, tx, id); err != nil {
			return err
		}
	}
	return nil
}

func indexed(t *testing.T, db *sqldb.DB) []string {
	t.Helper()
	rows, err := db.Read.QueryContext(context.Background(), `SELECT event_id FROM test_index ORDER BY stream_pos`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func message(t *testing.T, depth int64) *event.Event {
	return buildEvent(t, &event.Builder{Type: event.TypeMessage, RoomID: "!r:hs1", Sender: "@a:hs1", Depth: depth,
		OriginServerTS: 1000 + depth, Content: []byte(`{"msgtype":"m.text","body":"hello"}`)})
}

// Indexers see the events that take a place in the room's history, in the
// transaction that stores them: timeline events and promoted outliers, not
// outliers, rejected or soft-failed events; a redaction removes the
// redacted event from the index.
func TestIndexer_SeesTimelineEventsAndRedactionsInTheWritersTransaction(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		ix := recordingIndexer{}
		ix.setUp(t, db)
		s.AddIndexer(ix)
		timeline, outlier, rejected, softFailed, later := message(t, 1), message(t, 2), message(t, 3), message(t, 4), message(t, 5)
		if err := s.Write(ctx, func(w *Writer) error {
			if err := w.CreateRoom("!r:hs1", "10", 1); err != nil {
				return err
			}
			for _, ne := range []NewEvent{
				{Event: timeline, StreamPos: 1},
				{Event: outlier, Outlier: true},
				{Event: rejected, StreamPos: 2, Rejected: true},
				{Event: softFailed, StreamPos: 3, SoftFailed: true},
				{Event: later, Outlier: true},
			} {
				if _, err := w.InsertEvent(ne); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if got := indexed(t, db); !slices.Equal(got, []string{timeline.EventID()}) {
			t.Fatalf("indexed %v, want only the timeline event", got)
		}
		// An outlier promoted into the timeline is indexed then; one that
		// was redacted while an outlier is not.
		if err := s.Write(ctx, func(w *Writer) error {
			if err := w.MarkRedacted(later.EventID(), "$redaction"); err != nil {
				return err
			}
			if err := w.PromoteOutlier(NewEvent{Event: outlier, StreamPos: -1}); err != nil {
				return err
			}
			return w.PromoteOutlier(NewEvent{Event: later, StreamPos: -2})
		}); err != nil {
			t.Fatal(err)
		}
		if got := indexed(t, db); !slices.Equal(got, []string{outlier.EventID(), timeline.EventID()}) {
			t.Fatalf("indexed %v after promotion, want the promoted outlier and the timeline event", got)
		}
		if err := s.Write(ctx, func(w *Writer) error { return w.MarkRedacted(timeline.EventID(), "$redaction2") }); err != nil {
			t.Fatal(err)
		}
		if got := indexed(t, db); !slices.Equal(got, []string{outlier.EventID()}) {
			t.Fatalf("indexed %v after redaction, want the redacted event gone", got)
		}
	})
}

// An indexer's failure fails the write: the event is not stored without
// its index entry.
func TestIndexer_FailureRollsBackTheEvent(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		ix := recordingIndexer{fail: true}
		ix.setUp(t, db)
		s.AddIndexer(ix)
		ev := message(t, 1)
		err := s.Write(ctx, func(w *Writer) error {
			if err := w.CreateRoom("!r:hs1", "10", 1); err != nil {
				return err
			}
			_, err := w.InsertEvent(NewEvent{Event: ev, StreamPos: 1})
			return err
		})
		if err == nil {
			t.Fatal("write succeeded though the indexer failed")
		}
		if _, err := s.EventOnly(ctx, ev.EventID()); err == nil {
			t.Fatal("the event was stored without its index entry")
		}
	})
}
