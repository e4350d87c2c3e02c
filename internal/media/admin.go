package media

import (
	"context"
	"errors"

	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/mediastore"
)

// The operator's side of the repository (Synapse's admin media API and
// media_retention). Quarantined media is kept but served to no one.

// Quarantine quarantines one media ID, local or cached remote, on behalf
// of admin; an empty admin lifts it. 404 for an unknown ID.
func (s *Service) Quarantine(ctx context.Context, origin, mediaID, admin string) error {
	if err := checkMXC(origin, mediaID); err != nil {
		return err
	}
	return storeErr(s.cfg.Store.SetQuarantine(ctx, origin, mediaID, admin))
}

// QuarantineUser quarantines every media ID userID uploaded and returns
// how many were newly quarantined.
func (s *Service) QuarantineUser(ctx context.Context, userID, admin string) (int64, error) {
	n, err := s.cfg.Store.QuarantineUser(ctx, userID, admin)
	if err != nil {
		return 0, storeErr(err)
	}
	return n, nil
}

// UserMedia returns a page of userID's uploads (newest first) and their
// number.
func (s *Service) UserMedia(ctx context.Context, userID string, from, limit int) ([]*mediastore.Media, int64, error) {
	list, total, err := s.cfg.Store.UserMedia(ctx, userID, from, limit)
	if err != nil {
		return nil, 0, storeErr(err)
	}
	return list, total, nil
}

// Delete removes one media ID, and its content when no other ID names it.
// 404 for an unknown ID.
func (s *Service) Delete(ctx context.Context, origin, mediaID string) error {
	if err := checkMXC(origin, mediaID); err != nil {
		return err
	}
	sha, err := s.cfg.Store.Delete(ctx, origin, mediaID)
	if err != nil {
		return storeErr(err)
	}
	// The row is gone first: a crash here leaves an unnamed blob (for the
	// orphan sweep), never a row naming a missing one.
	if err := s.cfg.Keeper.Release(ctx, sha); err != nil {
		return err
	}
	return s.forgetThumbnails(ctx, origin, mediaID)
}

// forgetThumbnails deletes a deleted item's stored thumbnails and the
// blobs that only they used.
func (s *Service) forgetThumbnails(ctx context.Context, origin, mediaID string) error {
	tf, ok := s.cfg.Thumbnailer.(ThumbnailForgetter)
	if !ok {
		return nil
	}
	keys, err := tf.ForgetThumbnails(ctx, origin, mediaID)
	if err != nil {
		return err
	}
	for _, key := range keys {
		// A thumbnail's bytes may equal some upload's; that one stays.
		if err := s.cfg.Keeper.Release(ctx, key); err != nil {
			return err
		}
	}
	return nil
}

// DeleteMatching deletes the stored media f selects, in batches, except
// what keep (when not nil) says to keep, and reports each deletion to
// progress (when not nil). It returns the IDs deleted.
func (s *Service) DeleteMatching(ctx context.Context, f mediastore.Filter, keep func(context.Context, *mediastore.Media) (bool, error),
	progress func(deleted int)) ([]string, error) {
	f.Local = s.cfg.ServerName
	f.Limit = 500
	var deleted []string
	for {
		batch, err := s.cfg.Store.List(ctx, f)
		if err != nil {
			return deleted, storeErr(err)
		}
		if len(batch) == 0 {
			return deleted, nil
		}
		for _, m := range batch {
			if keep != nil {
				k, err := keep(ctx, m)
				if err != nil {
					return deleted, err
				}
				if k {
					continue
				}
			}
			err := s.Delete(ctx, m.Origin, m.MediaID)
			if err != nil && !errors.Is(err, merr.ErrNotFound) {
				return deleted, err
			}
			deleted = append(deleted, m.MediaID)
			if progress != nil {
				progress(len(deleted))
			}
		}
		f.After = batch[len(batch)-1]
	}
}
