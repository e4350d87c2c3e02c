package media

import (
	"context"
	"database/sql"
	"errors"
	"io"

	"github.com/myelin-chat/myelin/internal/media/blob"
	"github.com/myelin-chat/myelin/internal/storage/mediastore"
)

// Upload stores body as new media of userID and returns its media ID
// (POST /_matrix/media/v3/upload). body is streamed into the blob store
// and refused with 413 M_TOO_LARGE once it passes max_upload_size; when
// Upload returns, the content and its row are durable.
func (s *Service) Upload(ctx context.Context, userID, contentType, uploadName string, body io.Reader) (string, error) {
	id, err := newMediaID()
	if err != nil {
		return "", err
	}
	err = s.keep(ctx, body, func(tx *sql.Tx, info blob.Info) error {
		now := s.nowMS()
		return s.cfg.Store.Insert(ctx, tx, &mediastore.Media{Origin: s.cfg.ServerName, MediaID: id, UserID: userID,
			ContentType: CleanContentType(contentType), UploadName: CleanUploadName(uploadName),
			Size: info.Size, SHA256: info.Key, CreatedTS: now, UploadedTS: now, LastAccessTS: now,
			Authenticated: s.cfg.Authenticated})
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// keep stores an upload's content and, in the same transaction, its row
// (see Keeper).
func (s *Service) keep(ctx context.Context, body io.Reader, record func(tx *sql.Tx, info blob.Info) error) error {
	_, err := s.cfg.Keeper.Keep(ctx, body, s.cfg.MaxUploadSize, record)
	if errors.Is(err, blob.ErrTooLarge) {
		return s.tooLarge()
	}
	return storeErr(err)
}

// Create makes a media ID for userID whose content comes later through
// UploadTo (POST /_matrix/media/v1/create), and returns it with the time
// (ms) it expires unused. A user holding MaxPending unexpired IDs is
// refused with 429 M_LIMIT_EXCEEDED, as the spec asks.
func (s *Service) Create(ctx context.Context, userID string) (mediaID string, expiresAt int64, err error) {
	if id, err := newMediaID(); err != nil {
		return "", 0, err
	} else {
		mediaID = id
	}
	now := s.nowMS()
	expiresAt = now + s.cfg.UnusedExpiry.Milliseconds()
	m := &mediastore.Media{Origin: s.cfg.ServerName, MediaID: mediaID, UserID: userID,
		ContentType: "application/octet-stream", CreatedTS: now, ExpiresTS: expiresAt, LastAccessTS: now,
		Authenticated: s.cfg.Authenticated}
	if err := s.cfg.Store.CreatePending(ctx, m, s.cfg.MaxPending); err != nil {
		return "", 0, storeErr(err)
	}
	// Lapsed IDs are removed as new ones are made, so the table holds at
	// most the live ones plus those of users who stopped creating.
	if _, err := s.cfg.Store.DeleteExpiredPending(ctx, now); err != nil {
		s.cfg.Log.Warn("removing expired media IDs failed", "err", err)
	}
	return mediaID, expiresAt, nil
}

// UploadTo gives content to an ID from Create (PUT
// /_matrix/media/v3/upload/{serverName}/{mediaId}): 404 for an ID that is
// not ours, unknown or expired, 403 for another user's, 409
// M_CANNOT_OVERWRITE_MEDIA once it has content, 413 past max_upload_size.
// Downloads waiting for the ID are woken.
func (s *Service) UploadTo(ctx context.Context, userID, origin, mediaID, contentType, uploadName string, body io.Reader) error {
	if err := checkMXC(origin, mediaID); err != nil {
		return err
	}
	if origin != s.cfg.ServerName {
		return storeErr(mediastore.ErrNotFound)
	}
	// Check before reading the body, so that a refused upload costs no
	// disk; Complete checks again atomically.
	cur, err := s.cfg.Store.Get(ctx, origin, mediaID)
	if err != nil {
		return storeErr(err)
	}
	switch {
	case !cur.Pending():
		return storeErr(mediastore.ErrAlreadyStored)
	case cur.ExpiresTS <= s.nowMS():
		return storeErr(mediastore.ErrNotFound)
	case cur.UserID != userID:
		return storeErr(mediastore.ErrNotOwner)
	}
	err = s.keep(ctx, body, func(tx *sql.Tx, info blob.Info) error {
		return s.cfg.Store.Complete(ctx, tx, &mediastore.Media{Origin: origin, MediaID: mediaID, UserID: userID,
			ContentType: CleanContentType(contentType), UploadName: CleanUploadName(uploadName),
			Size: info.Size, SHA256: info.Key, UploadedTS: s.nowMS()})
	})
	if err != nil {
		// Content committed for a refused Complete is named by no row:
		// the orphan sweep reclaims it.
		return err
	}
	s.wake(mediaID)
	return nil
}

// wait returns a channel closed when mediaID's upload completes (or the
// returned cancel function runs).
func (s *Service) wait(mediaID string) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.waiters[mediaID] = append(s.waiters[mediaID], ch)
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		list := s.waiters[mediaID]
		for i, c := range list {
			if c == ch {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(s.waiters, mediaID)
		} else {
			s.waiters[mediaID] = list
		}
	}
}

func (s *Service) wake(mediaID string) {
	s.mu.Lock()
	list := s.waiters[mediaID]
	delete(s.waiters, mediaID)
	s.mu.Unlock()
	for _, ch := range list {
		close(ch)
	}
}
