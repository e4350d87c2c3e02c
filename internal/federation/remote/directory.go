package remote

import (
	"context"
	"net/url"
	"strconv"

	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
)

// maxRemoteDirectory bounds how many rooms of another server's directory
// page are passed on to a client.
const maxRemoteDirectory = 500

// PublicRooms asks server for a page of its public room directory
// (server-server-api "Public Room Directory"): GET for the main list
// unfiltered, POST with the filter and the network otherwise.
func (r *Remote) PublicRooms(ctx context.Context, server string, q rooms.DirectoryQuery) (*rooms.DirectoryPage, error) {
	const path = "/_matrix/federation/v1/publicRooms"
	var page rooms.DirectoryPage
	var err error
	if q.Term == "" && len(q.RoomTypes) == 0 && q.List == (roomstore.DirectoryList{}) {
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
		filter := map[string]any{}
		if q.Term != "" {
			filter["generic_search_term"] = q.Term
		}
		if len(q.RoomTypes) > 0 {
			filter["room_types"] = q.RoomTypes
		}
		body := map[string]any{"filter": filter}
		if q.Limit > 0 {
			body["limit"] = q.Limit
		}
		if q.Since != "" {
			body["since"] = q.Since
		}
		if q.List.All {
			body["include_all_networks"] = true
		} else if q.List.AppserviceID != "" {
			body["third_party_instance_id"] = rooms.InstanceID(q.List.AppserviceID, q.List.NetworkID)
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
