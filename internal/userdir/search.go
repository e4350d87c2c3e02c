package userdir

import (
	"context"

	"github.com/myelin-chat/myelin/internal/storage/userdirstore"
)

// DefaultLimit and MaxLimit bound a search's results: the spec's default,
// and Synapse's cap.
const (
	DefaultLimit = 10
	MaxLimit     = 50
)

// maxWaitBehind is how far (in stream positions) the directory may be
// behind the room stream for a search to bring it up to date first, so
// that a user found right after joining a room is found; further behind
// (a backlog after a restart) the search answers from what is there.
const maxWaitBehind = 1000

// Search returns up to limit users matching term that searcher may find
// (client-server-api "POST /user_directory/search"): users sharing a room
// with them and users in public rooms, or everyone with search_all_users.
// limited reports that there were more.
func (d *Directory) Search(ctx context.Context, searcher, term string, limit int) ([]userdirstore.Entry, bool, error) {
	limit = max(0, min(limit, MaxLimit))
	if d.cfg.Rooms.Stream().Current()-d.Cursor() <= maxWaitBehind {
		if err := d.catchUp(ctx); err != nil {
			return nil, false, err
		}
	}
	return d.cfg.Store.Search(ctx, userdirstore.Query{Searcher: searcher, Term: term, Limit: limit,
		All: d.cfg.SearchAllUsers, PreferLocal: d.cfg.PreferLocalUsers})
}
