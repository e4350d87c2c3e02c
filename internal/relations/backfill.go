package relations

import (
	"context"
	"log/slog"
	"time"

	"github.com/myelin-chat/myelin/internal/storage/relationstore"
)

// backfillBatch is how many stored events one backfill step reads and
// indexes in one transaction.
const backfillBatch = 500

// Start indexes, in the background, the events stored before the
// relations index existed (the index follows every later write itself).
// The range is planned on the first start and each batch records its
// progress, so a restart resumes where the last one stopped. Call it
// after the indexer is registered with the room store and before the
// server serves: every event written after planning is indexed by the
// writer, so none is missed between the two.
func (s *Service) Start(ctx context.Context) error {
	r, err := s.cfg.Store.Backfill(ctx)
	if err != nil {
		return err
	}
	if !r.Planned {
		lo, err := s.cfg.Events.MinStreamPos(ctx)
		if err != nil {
			return err
		}
		hi, err := s.cfg.Events.MaxStreamPos(ctx)
		if err != nil {
			return err
		}
		if err := s.cfg.Store.PlanBackfill(ctx, lo-1, hi); err != nil {
			return err
		}
		if r, err = s.cfg.Store.Backfill(ctx); err != nil {
			return err
		}
	}
	unsummarized, err := s.cfg.Store.Unsummarized(ctx, 1)
	if err != nil {
		return err
	}
	if r.Done() && len(unsummarized) == 0 {
		return nil
	}
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go s.backfill(r, len(unsummarized) > 0)
	return nil
}

// Close stops the backfill, if one is running, and waits for it.
func (s *Service) Close() {
	if s.stop == nil {
		return
	}
	close(s.stop)
	<-s.done
	s.stop = nil
}

func (s *Service) backfill(r relationstore.BackfillRange, summarize bool) {
	defer close(s.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	log := s.cfg.Log.With("component", "relations")
	if summarize {
		s.summarize(ctx, log)
	}
	if !r.Done() {
		s.indexBackfill(ctx, log, r)
	}
}

// summaryBatch is how many threads one step of the summary backfill
// counts in one transaction.
const summaryBatch = 50

// summarize counts the threads indexed before their summaries were kept
// as replies come (relations migration 3), a batch at a time; until a
// thread is counted, its summary is read from its replies' index entries.
func (s *Service) summarize(ctx context.Context, log *slog.Logger) {
	log.Info("counting the threads indexed before thread summaries were kept")
	start, done := time.Now(), 0
	u := s.cfg.Updates.Begin("thread_summaries_backfill")
	defer u.End()
	for {
		if u.Wait(ctx) != nil {
			return
		}
		batch, err := s.cfg.Store.Unsummarized(ctx, summaryBatch)
		if err == nil && len(batch) > 0 {
			err = s.cfg.Store.Summarize(ctx, batch)
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			log.Error("thread summary backfill failed; retrying in a minute", "err", err)
			select {
			case <-time.After(time.Minute):
				continue
			case <-ctx.Done():
				return
			}
		}
		if len(batch) == 0 {
			log.Info("thread summary backfill done", "threads", done, "took", time.Since(start).Round(time.Millisecond))
			return
		}
		done += len(batch)
		u.Processed(len(batch))
	}
}

func (s *Service) indexBackfill(ctx context.Context, log *slog.Logger, r relationstore.BackfillRange) {
	log.Info("indexing the relations of events stored before the index", "from", r.Next, "to", r.UpTo)
	start, indexed, lastLog := time.Now(), 0, time.Now()
	u := s.cfg.Updates.Begin("relations_index_backfill")
	defer u.End()
	for r.Next < r.UpTo {
		if u.Wait(ctx) != nil {
			return
		}
		n, next, err := s.backfillStep(ctx, r.Next, r.UpTo)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			log.Error("relations backfill failed; retrying in a minute", "at", r.Next, "err", err)
			select {
			case <-time.After(time.Minute):
				continue
			case <-ctx.Done():
				return
			}
		}
		indexed += n
		u.Processed(n)
		r.Next = next
		if time.Since(lastLog) > 10*time.Second {
			log.Info("relations backfill progress", "at", r.Next, "to", r.UpTo, "events", indexed)
			lastLog = time.Now()
		}
	}
	log.Info("relations backfill done", "events", indexed, "took", time.Since(start).Round(time.Millisecond))
}

// backfillStep indexes the next batch of (from, upTo] and returns how
// many events it read and where the next batch starts.
func (s *Service) backfillStep(ctx context.Context, from, upTo int64) (int, int64, error) {
	evs, err := s.cfg.Events.StreamEvents(ctx, from, upTo, backfillBatch)
	if err != nil {
		return 0, from, err
	}
	next := upTo
	if len(evs) == backfillBatch {
		next = evs[len(evs)-1].StreamPos
	}
	batch := make([]relationstore.Positioned, 0, len(evs))
	var ids []string
	for _, se := range evs {
		// Outliers have no position and are not in the stream; a redacted
		// event's relation went with its content.
		if se.RedactedBy == "" {
			batch = append(batch, relationstore.Positioned{Event: se.Event, StreamPos: se.StreamPos})
			ids = append(ids, se.EventID())
		}
	}
	if err := s.cfg.Store.IndexBatch(ctx, batch, next); err != nil {
		return 0, from, err
	}
	// A redaction committed after the read above unindexed nothing the
	// batch had not written yet: read the batch's redactions again.
	again, err := s.cfg.Events.Events(ctx, ids)
	if err != nil {
		return 0, from, err
	}
	var gone []string
	for _, se := range again {
		if se.RedactedBy != "" {
			gone = append(gone, se.EventID())
		}
	}
	if len(gone) > 0 {
		if err := s.cfg.Store.Forget(ctx, gone); err != nil {
			return 0, from, err
		}
	}
	return len(evs), next, nil
}
