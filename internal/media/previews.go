package media

import (
	"context"
	"database/sql"
	"io"
	"time"

	"github.com/myelin-chat/myelin/internal/media/blob"
	"github.com/myelin-chat/myelin/internal/storage/mediastore"
)

// StorePreviewImage stores the image of rawURL's preview as local media of
// the URL preview cache (mediastore.Media.URLCache): no user's, so it is
// neither counted in the asking user's usage nor listed as their media,
// and it goes when ExpirePreviewImages says so. It returns the media ID.
func (s *Service) StorePreviewImage(ctx context.Context, rawURL, contentType, name string, body io.Reader) (string, error) {
	id, err := newMediaID()
	if err != nil {
		return "", err
	}
	err = s.keep(ctx, body, func(tx *sql.Tx, info blob.Info) error {
		now := s.nowMS()
		return s.cfg.Store.Insert(ctx, tx, &mediastore.Media{Origin: s.cfg.ServerName, MediaID: id,
			ContentType: CleanContentType(contentType), UploadName: CleanUploadName(name),
			Size: info.Size, SHA256: info.Key, CreatedTS: now, UploadedTS: now, LastAccessTS: now,
			Authenticated: s.cfg.Authenticated, URLCache: rawURL})
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// ExpirePreviewImages deletes the URL preview cache's images stored before
// before and
// returns how many (urlpreview decides when: Synapse's rule).
func (s *Service) ExpirePreviewImages(ctx context.Context, before time.Time) (int, error) {
	del, err := s.DeleteMatching(ctx, mediastore.Filter{URLCache: true, CreatedBefore: before.UnixMilli()}, nil, nil)
	return len(del), err
}
