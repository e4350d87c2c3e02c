package roomstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/myelin-chat/myelin/internal/event"
)

// Indexer keeps an index derived from room events (relations, full-text
// search) in step with the events table. It is called inside the
// transaction that stores an event or marks it redacted, so the index
// commits or rolls back with the event: nothing acknowledged is missing
// from it, and nothing it holds was not stored.
//
// An index lives in its own store and migration domain; roomstore only
// promises the calls below. Indexers run on the writer's hot path, so an
// implementation does a bounded amount of work per event (a few row
// writes) and must be repeatable: a transaction that fails is run again as
// a whole.
type Indexer interface {
	// IndexEvent is called when e takes its place in the room's history:
	// stored as a timeline event (not an outlier), or promoted from an
	// outlier, and neither rejected nor soft-failed. streamPos is its
	// stream position (negative for backfilled history).
	IndexEvent(ctx context.Context, tx *sql.Tx, e *event.Event, streamPos int64) error
	// UnindexEvent is called when eventID is redacted: the index forgets
	// what the redaction removes from the event's content.
	UnindexEvent(ctx context.Context, tx *sql.Tx, eventID string) error
	// PurgeRoomIndex is called in the transaction of PurgeRoom: the index
	// forgets the room, so that no row of it outlives the room's events.
	PurgeRoomIndex(ctx context.Context, tx *sql.Tx, roomID string) error
	// PurgeEventsIndex is called in the transaction of PurgeHistory with
	// the events it removed.
	PurgeEventsIndex(ctx context.Context, tx *sql.Tx, roomID string, eventIDs []string) error
}

// AddIndexer registers ix for every later write. Indexers are registered
// while the server is wired, before the first write; the list is not
// guarded for writes running concurrently with registration.
func (s *Store) AddIndexer(ix Indexer) {
	s.indexers = append(s.indexers, ix)
}

// indexes reports whether ne is an event indexers see.
func indexes(ne NewEvent) bool {
	return !ne.Outlier && !ne.Rejected && !ne.SoftFailed
}

func (w *Writer) index(ne NewEvent) error {
	if !indexes(ne) {
		return nil
	}
	for _, ix := range w.s.indexers {
		if err := ix.IndexEvent(w.ctx, w.tx, ne.Event, ne.StreamPos); err != nil {
			return err
		}
	}
	return nil
}

func (w *Writer) unindex(eventID string) error {
	for _, ix := range w.s.indexers {
		if err := ix.UnindexEvent(w.ctx, w.tx, eventID); err != nil {
			return err
		}
	}
	return nil
}

// SenderIn returns the sender of a stored event, or "" when it is not
// stored, read through tx: for indexers, which run inside the writer's
// transaction and must not wait for a second connection.
func (s *Store) SenderIn(ctx context.Context, tx *sql.Tx, eventID string) (string, error) {
	if ev := s.events.get(eventID); ev != nil {
		return ev.Sender(), nil
	}
	var sender string
	err := tx.QueryRowContext(ctx, `SELECT sender FROM events WHERE event_id = $1`, eventID).Scan(&sender)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return sender, err
}

// TxWork is work another domain does inside the writer's transaction, for
// one event (the push notifier's notifications): it commits or rolls back
// with the event, and must be repeatable like the rest of the
// transaction.
type TxWork func(ctx context.Context, tx *sql.Tx) error

// Do runs work inside the writer's transaction.
func (w *Writer) Do(work TxWork) error { return work(w.ctx, w.tx) }
