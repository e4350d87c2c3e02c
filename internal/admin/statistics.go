package admin

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/myelin-chat/myelin/internal/storage/mediastore"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
)

// MediaUsageSource sums local users' uploads (internal/storage/mediastore).
type MediaUsageSource interface {
	UsageByUploader(ctx context.Context, local string, fromTS, untilTS int64) ([]mediastore.UploaderUsage, error)
}

// Orders of the users' media statistics (Synapse's order_by values).
const (
	OrderUserID      = "user_id"
	OrderDisplayName = "displayname"
	OrderMediaLength = "media_length"
	OrderMediaCount  = "media_count"
)

// MediaUsageQuery selects a page of the users' media statistics.
type MediaUsageQuery struct {
	From, Limit int
	OrderBy     string
	Desc        bool
	// FromTS and UntilTS bound the media's creation time in milliseconds;
	// UntilTS 0 means no upper bound.
	FromTS, UntilTS int64
	// Search keeps users whose ID or display name contains it.
	Search string
}

// MediaUsage is one local user's uploads.
type MediaUsage struct {
	UserID      string
	DisplayName string
	Count       int64
	Length      int64
}

// MediaUsage pages through local users' uploaded media, summed per user
// (Synapse's statistics/users/media), and returns how many users match
// in all. The sums come from the media domain and the display names from
// the accounts domain; they are joined and ordered here, over one row per
// uploading user. Search is case-insensitive (Synapse's LIKE is so on
// SQLite and not on PostgreSQL).
func (s *Service) MediaUsage(ctx context.Context, q MediaUsageQuery) ([]MediaUsage, int, error) {
	until := q.UntilTS
	if until == 0 {
		until = 1<<63 - 1
	}
	sums, err := s.Media.UsageByUploader(ctx, string(s.Users.ServerName()), q.FromTS, until)
	if err != nil {
		return nil, 0, err
	}
	ids := make([]string, len(sums))
	for i, u := range sums {
		ids[i] = u.UserID
	}
	names, err := s.Users.Store().DisplayNames(ctx, ids)
	if err != nil {
		return nil, 0, err
	}
	search := strings.ToLower(q.Search)
	all := make([]MediaUsage, 0, len(sums))
	for _, u := range sums {
		m := MediaUsage{UserID: u.UserID, DisplayName: names[u.UserID], Count: u.Count, Length: u.Length}
		if search != "" && !strings.Contains(strings.ToLower(m.UserID), search) &&
			!strings.Contains(strings.ToLower(m.DisplayName), search) {
			continue
		}
		all = append(all, m)
	}
	slices.SortStableFunc(all, func(a, b MediaUsage) int {
		var c int
		switch q.OrderBy {
		case OrderDisplayName:
			c = cmp.Compare(a.DisplayName, b.DisplayName)
		case OrderMediaLength:
			c = cmp.Compare(a.Length, b.Length)
		case OrderMediaCount:
			c = cmp.Compare(a.Count, b.Count)
		}
		if c == 0 {
			c = cmp.Compare(a.UserID, b.UserID)
		}
		if q.Desc {
			c = -c
		}
		return c
	})
	total := len(all)
	from := min(q.From, total)
	return all[from:min(total, from+q.Limit)], total, nil
}

// largestRoomsShown is how many rooms Synapse's database statistics list.
const largestRoomsShown = 10

// LargestRooms estimates which rooms take the most database space
// (Synapse's statistics/database/rooms). Synapse reads PostgreSQL's table
// statistics and answers on PostgreSQL only; Myelin sums the size of each
// room's stored event JSON, on both databases.
func (s *Service) LargestRooms(ctx context.Context) ([]roomstore.RoomSize, error) {
	return s.Rooms.Store().LargestRooms(ctx, largestRoomsShown)
}
