package remote

import (
	"context"
	"net/url"
	"strconv"

	"github.com/myelin-chat/myelin/internal/rooms"
)

// maxRemoteDirectory bounds how many rooms of another server's directory
// page are passed on to a client.
const maxRemoteDirectory = 500

// PublicRooms asks server for a page of its public room directory
// (server-server-api "Public Room Directory"): GET when there is no search
// term, POST with filter.generic_search_term otherwise.
func (r *Remote) PublicRooms(ctx context.Context, server string, q rooms.DirectoryQuery) (*rooms.DirectoryPage, error) {
	const path = "/_matrix/federation/v1/publicRooms"
	var page rooms.DirectoryPage
	var err error
	if q.Term == "" {
		v := url.Values{}
		if q.Limit > 0 {
			v.Set("limit", strconv.Itoa(q.Limit))
		}
		if q.Since != "" {
			v.Set("since", q.Since)
		}
		p := path
		if len(v) > 0 {
			p += "?" + v.Encode()
		}
		err = r.Client.Get(ctx, server, p, &page)
	} else {
		body := map[string]any{"filter": map[string]any{"generic_search_term": q.Term}}
		if q.Limit > 0 {
			body["limit"] = q.Limit
		}
		if q.Since != "" {
			body["since"] = q.Since
		}
		err = r.Client.Post(ctx, server, path, body, &page)
	}
	if err != nil {
		return nil, err
	}
	if len(page.Chunk) > maxRemoteDirectory {
		page.Chunk = page.Chunk[:maxRemoteDirectory]
	}
	if page.Chunk == nil {
		page.Chunk = []rooms.PublicRoom{}
	}
	return &page, nil
}
