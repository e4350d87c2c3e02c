package media

import (
	"context"
	"time"
)

const (
	// OrphanGrace is how old content must be before the orphan sweep may
	// delete it. Keeper already orders a new row against a deletion of
	// its content; the grace keeps the sweep away from anything stored
	// recently by any path, an upload whose transaction is being retried
	// say.
	OrphanGrace = time.Hour
	// OrphanSweepInterval is how often a pass of the sweep starts.
	OrphanSweepInterval = 24 * time.Hour
	// orphanBatch is how many keys the sweep reads at once; its cursor is
	// saved after each batch.
	orphanBatch = 500
	// orphanSweep names the sweep's cursor in the media store.
	orphanSweep = "orphaned_blobs"
)

// SweepOrphans deletes content no row names (no media, thumbnail or
// preview) that was stored more than grace ago: what a crash between a
// row's deletion and its content's, a failed upload's committed content,
// or a replaced thumbnail leaves behind. It continues the pass where the
// last call stopped (the cursor is in the database, so a restart resumes
// it), reads at most maxKeys keys (0: no bound) in batches, and returns
// how many blobs it deleted and whether the pass reached the end (the next
// call then starts a new one).
func (s *Service) SweepOrphans(ctx context.Context, grace time.Duration, maxKeys int) (deleted int, done bool, err error) {
	cursor, err := s.cfg.Store.SweepCursor(ctx, orphanSweep)
	if err != nil {
		return 0, false, storeErr(err)
	}
	cutoff := s.cfg.Now().Add(-grace)
	read := 0
	for maxKeys <= 0 || read < maxKeys {
		limit := orphanBatch
		if maxKeys > 0 {
			limit = min(limit, maxKeys-read)
		}
		batch, err := s.cfg.Blobs.List(ctx, cursor, limit)
		if err != nil {
			return deleted, false, err
		}
		if len(batch) == 0 {
			return deleted, true, storeErr(s.cfg.Store.SetSweepCursor(ctx, orphanSweep, ""))
		}
		read += len(batch)
		for _, info := range batch {
			if !info.Created.Before(cutoff) {
				continue
			}
			gone, err := s.cfg.Keeper.releaseOrphan(ctx, info.Key)
			if err != nil {
				return deleted, false, err
			}
			if gone {
				deleted++
			}
		}
		cursor = batch[len(batch)-1].Key
		if err := s.cfg.Store.SetSweepCursor(ctx, orphanSweep, cursor); err != nil {
			return deleted, false, storeErr(err)
		}
	}
	return deleted, false, nil
}

// RunOrphanSweep runs a pass of SweepOrphans every OrphanSweepInterval
// until ctx ends, the first one at start (resuming a pass a restart cut
// short).
func (s *Service) RunOrphanSweep(ctx context.Context) {
	t := time.NewTicker(OrphanSweepInterval)
	defer t.Stop()
	for {
		n, _, err := s.SweepOrphans(ctx, OrphanGrace, 0)
		if err != nil && ctx.Err() == nil {
			s.cfg.Log.Error("sweeping orphaned media content failed", "err", err, "deleted", n)
		} else if n > 0 {
			s.cfg.Log.Info("orphaned media content deleted", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
