package searchstore

import (
	"context"
	"database/sql"
	"log/slog"
	"time"

	"github.com/myelin-chat/myelin/internal/storage/roomstore"
)

// EventSource reads stored timeline events in stream order (roomstore's
// StreamEvents: no outliers, rejected or soft-failed events).
type EventSource interface {
	StreamEvents(ctx context.Context, from, to int64, limit int) ([]*roomstore.StoredEvent, error)
}

// BackfillProgress hears of the backfill's progress and may pause it
// between batches (a bgupdates.Update); nil: neither.
type BackfillProgress interface {
	Wait(ctx context.Context) error
	Processed(n int)
}

// backfillBatch is how many events one backfill transaction indexes: small
// enough that the writers it delays (SQLite has one) wait milliseconds.
const backfillBatch = 500

// Backfill indexes, once, the events stored before the index existed:
// those up to position upTo (the stream's position when the indexer was
// registered; everything after was indexed as it was written). It works in
// batches, each in its own transaction with its progress, so a restart
// resumes where it stopped, and returns when done or when ctx ends.
// Redacted events are skipped. Indexing an event the writer indexed
// meanwhile is a no-op.
func (s *Store) Backfill(ctx context.Context, src EventSource, upTo int64, log *slog.Logger, progress BackfillProgress) error {
	var done bool
	var next int64
	if err := s.db.Read.QueryRowContext(ctx, `SELECT done, next_pos FROM search_backfill`).Scan(&done, &next); err != nil {
		return err
	}
	if done {
		return nil
	}
	started, lastLog := time.Now(), time.Now()
	total := 0
	log.Info("search index: indexing events stored before it existed", "from_pos", next, "up_to_pos", upTo)
	for {
		if progress != nil {
			if err := progress.Wait(ctx); err != nil {
				return err
			}
		}
		evs, err := src.StreamEvents(ctx, next, upTo, backfillBatch)
		if err != nil {
			return err
		}
		last := next
		if len(evs) > 0 {
			last = evs[len(evs)-1].StreamPos
		}
		err = s.db.WithTx(ctx, func(tx *sql.Tx) error {
			for _, se := range evs {
				if se.RedactedBy != "" {
					continue
				}
				if err := s.IndexEvent(ctx, tx, se.Event, se.StreamPos); err != nil {
					return err
				}
			}
			_, err := tx.ExecContext(ctx, `UPDATE search_backfill SET next_pos = $1, done = $2`, last, len(evs) == 0)
			return err
		})
		if err != nil {
			return err
		}
		total += len(evs)
		if progress != nil {
			progress.Processed(len(evs))
		}
		if len(evs) == 0 {
			log.Info("search index: older events indexed", "events", total, "took", time.Since(started).Round(time.Millisecond))
			return nil
		}
		next = last
		if time.Since(lastLog) > 10*time.Second {
			log.Info("search index: indexing older events", "events", total, "at_pos", next, "up_to_pos", upTo)
			lastLog = time.Now()
		}
	}
}
