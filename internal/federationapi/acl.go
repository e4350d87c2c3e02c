package federationapi

import (
	"context"
	"net/http"
	"sync"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/serveracl"
)

// maxACLCache bounds the parsed ACLs kept. A room's ACL changes rarely,
// so this only needs to cover the rooms with ACLs that are busy at once.
const maxACLCache = 4096

// aclCache holds parsed m.room.server_acl contents by event ID. An event's
// content never changes, so an entry never goes stale: a new ACL is a new
// event ID, and the room's current state names it. The zero value is
// ready to use.
type aclCache struct {
	mu   sync.Mutex
	acls map[string]*serveracl.ACL
}

func (c *aclCache) get(ev *event.Event) *serveracl.ACL {
	id := ev.EventID()
	c.mu.Lock()
	acl, ok := c.acls[id]
	c.mu.Unlock()
	if ok {
		return acl
	}
	acl = serveracl.Parse(ev.Content())
	c.mu.Lock()
	if c.acls == nil || len(c.acls) >= maxACLCache {
		// Dropping everything is crude but cheap, and rebuilding costs one
		// parse per room in use.
		c.acls = make(map[string]*serveracl.ACL)
	}
	c.acls[id] = acl
	c.mu.Unlock()
	return acl
}

// roomACL returns the room's current server ACL: nil (allow all) when the
// room has none or is not one we know.
func (a *API) roomACL(ctx context.Context, roomID string) (*serveracl.ACL, error) {
	se, err := a.Engine.Store().CurrentStateEvent(ctx, roomID, event.TypeServerACL, "")
	if err != nil || se == nil {
		return nil, err
	}
	return a.acls.get(se.Event), nil
}

// checkACL returns a 403 M_FORBIDDEN error when the room's server ACL
// denies origin (server-server-api "Server Access Control Lists (ACLs)").
func (a *API) checkACL(ctx context.Context, roomID, origin string) error {
	acl, err := a.roomACL(ctx, roomID)
	if err != nil {
		return err
	}
	if !acl.Allows(origin) {
		return merr.Forbidden("server " + origin + " is denied by the room's server ACL")
	}
	return nil
}

// withACL guards an endpoint with a {roomId} in its path: the spec lists
// make_join, make_leave, make_knock, send_join, send_leave, send_knock,
// invite, state, state_ids, backfill, event_auth and get_missing_events as
// prefixes that MUST be protected. It runs after authentication, so the
// origin is the verified X-Matrix one. A room we do not know has no ACL
// here; the handler answers for it as it would anyway.
func (a *API) withACL(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := a.checkACL(r.Context(), r.PathValue("roomId"), a.Origin(r)); err != nil {
			writeErr(w, err)
			return
		}
		next(w, r)
	}
}
