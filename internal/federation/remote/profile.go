package remote

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/myelin-chat/myelin/internal/federation/fedclient"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/merr"
)

// maxProfileFields bounds the fields kept from another server's profile
// answer (the spec bounds a profile to 64 KiB, which the client's body
// limit already enforces).
const maxProfileFields = 100

// QueryProfile asks a user's server for their profile (server-server-api
// GET /query/profile); field "" asks for all of it. A 404 from the server
// is 404 M_NOT_FOUND; a server that cannot be asked is 502, as Synapse
// answers ("Failed to fetch profile").
func (r *Remote) QueryProfile(ctx context.Context, userID, field string) (map[string]json.RawMessage, error) {
	srv, err := ids.UserServer(userID)
	if err != nil {
		return nil, merr.InvalidParam("invalid user ID")
	}
	q := url.Values{"user_id": {userID}}
	if field != "" {
		q.Set("field", field)
	}
	var resp map[string]json.RawMessage
	if err := r.Client.Get(ctx, string(srv), "/_matrix/federation/v1/query/profile?"+q.Encode(), &resp); err != nil {
		var fe *fedclient.Error
		if errors.As(err, &fe) && fe.Status == http.StatusNotFound {
			return nil, merr.NotFound("Profile not found")
		}
		return nil, merr.New(merr.ErrBadGateway, merr.CodeUnknown, "Failed to fetch the profile from "+string(srv))
	}
	if len(resp) > maxProfileFields {
		return nil, merr.New(merr.ErrBadGateway, merr.CodeUnknown, string(srv)+" answered a profile of too many fields")
	}
	return resp, nil
}
