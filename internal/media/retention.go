package media

import (
	"context"
	"time"

	"github.com/myelin-chat/myelin/internal/storage/mediastore"
)

// RetentionInterval is how often media_retention runs.
const RetentionInterval = time.Hour

// KeepInUse is the keep function for deletions that must spare media in
// use as a user's or a room's avatar (Synapse's keep_profiles): it asks
// Config.InUse. Without InUse nothing is spared.
func (s *Service) KeepInUse(ctx context.Context, m *mediastore.Media) (bool, error) {
	if s.cfg.InUse == nil {
		return false, nil
	}
	return s.cfg.InUse(ctx, MXC(m.Origin, m.MediaID))
}

// ApplyRetention deletes what media_retention says has lived too long:
// local media not accessed for local (sparing avatars in use), cached
// remote media not accessed for remote (fetched again on demand). A zero
// lifetime keeps that kind forever. It returns how many were deleted.
func (s *Service) ApplyRetention(ctx context.Context, local, remote time.Duration) (int, error) {
	now := s.cfg.Now()
	var n int
	if local > 0 {
		del, err := s.DeleteMatching(ctx, mediastore.Filter{AccessedBefore: now.Add(-local).UnixMilli()}, s.KeepInUse, nil)
		n += len(del)
		if err != nil {
			return n, err
		}
	}
	if remote > 0 {
		del, err := s.DeleteMatching(ctx, mediastore.Filter{Remote: true, AccessedBefore: now.Add(-remote).UnixMilli()}, nil, nil)
		n += len(del)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// RunRetention applies media_retention every RetentionInterval until ctx
// ends (nothing when both lifetimes are zero).
func (s *Service) RunRetention(ctx context.Context, local, remote time.Duration) {
	if local <= 0 && remote <= 0 {
		return
	}
	t := time.NewTicker(RetentionInterval)
	defer t.Stop()
	for {
		n, err := s.ApplyRetention(ctx, local, remote)
		if err != nil && ctx.Err() == nil {
			s.cfg.Log.Error("media retention failed", "err", err, "deleted", n)
		} else if n > 0 {
			s.cfg.Log.Info("media retention deleted media", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
