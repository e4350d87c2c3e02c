package relationstore

import (
	"context"
	"database/sql"

	"github.com/myelin-chat/myelin/internal/event"
)

// BackfillRange is what remains of indexing the events stored before the
// index existed: stream positions in (Next, UpTo].
type BackfillRange struct {
	Planned bool
	Next    int64
	UpTo    int64
}

// Done reports whether nothing remains.
func (r BackfillRange) Done() bool { return r.Planned && r.Next >= r.UpTo }

// Backfill returns the backfill's range.
func (s *Store) Backfill(ctx context.Context) (BackfillRange, error) {
	var r BackfillRange
	err := s.db.Read.QueryRowContext(ctx, `SELECT planned, next_pos, upto_pos FROM relations_backfill`).
		Scan(&r.Planned, &r.Next, &r.UpTo)
	return r, err
}

// PlanBackfill sets the range the backfill covers, once: on the first
// start with this domain, (lowest stored position - 1, highest stored
// position]; every later event is indexed as it is written.
func (s *Store) PlanBackfill(ctx context.Context, next, upTo int64) error {
	_, err := s.db.Write.ExecContext(ctx, `UPDATE relations_backfill SET planned = TRUE, next_pos = $1, upto_pos = $2
		WHERE NOT planned`, next, upTo)
	return err
}

// Positioned is an event with its stream position.
type Positioned struct {
	Event     *event.Event
	StreamPos int64
}

// IndexBatch indexes evs (events read from the room store's stream) and
// moves the backfill on to next, in one transaction. Indexing an event
// already indexed is harmless.
func (s *Store) IndexBatch(ctx context.Context, evs []Positioned, next int64) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		for _, p := range evs {
			if err := s.index(ctx, tx, p.Event, p.StreamPos); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE relations_backfill SET next_pos = $1`, next)
		return err
	})
}

// Forget removes the relations of events found redacted after a backfill
// batch read them (a redaction committed between the read and the
// batch's write would otherwise leave their rows behind).
func (s *Store) Forget(ctx context.Context, eventIDs []string) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		for _, id := range eventIDs {
			if err := s.UnindexEvent(ctx, tx, id); err != nil {
				return err
			}
		}
		return nil
	})
}
