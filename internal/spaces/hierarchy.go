package spaces

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/spacestore"
)

// Bounds of GET /hierarchy ("Servers should apply a default value, and
// impose a maximum value").
const (
	DefaultLimit    = 50
	MaxLimit        = 100
	DefaultMaxDepth = 50
	MaxMaxDepth     = 50
	// maxSteps bounds the rooms one request looks at (skipped ones
	// included) and maxRemoteFetches the servers it asks; a page cut
	// short by either still carries a next_batch.
	maxSteps         = 500
	maxRemoteFetches = 20
)

// Query is GET /hierarchy's parameters, validated by the client API.
type Query struct {
	SuggestedOnly bool
	MaxDepth      int
	Limit         int
	From          string
}

// Page is GET /hierarchy's answer.
type Page struct {
	Rooms     []HierarchyRoom `json:"rooms"`
	NextBatch string          `json:"next_batch,omitempty"`
}

// queued is a room still to visit: depth-first, so the queue is a stack
// whose last entry is next. It is stored with a pagination session.
type queued struct {
	RoomID string   `json:"room_id"`
	Via    []string `json:"via,omitempty"`
	Depth  int      `json:"depth"`
	// Remote is the room as its parent's server described it, if it did.
	Remote *Summary `json:"remote,omitempty"`
}

// session is where a paginated walk stopped.
type session struct {
	user, root    string
	suggestedOnly bool
	maxDepth      int
	queue         []queued
	processed     map[string]bool
}

// Hierarchy walks the space tree below roomID depth first for a local
// user (client-server-api GET /hierarchy): rooms the user may see or join,
// each with its children in the spec's order, children this server is not
// in described by the servers in their via lists. The root must be a room
// this server is in that the user may see (403 M_FORBIDDEN otherwise).
func (s *Service) Hierarchy(ctx context.Context, user, roomID string, q Query) (*Page, error) {
	var sess *session
	if q.From != "" {
		prev, err := s.session(ctx, q.From)
		if err != nil {
			return nil, err
		}
		if prev == nil {
			return nil, merr.InvalidParam("unknown or expired from token")
		}
		if prev.user != user || prev.root != roomID || prev.suggestedOnly != q.SuggestedOnly || prev.maxDepth != q.MaxDepth {
			return nil, merr.InvalidParam("suggested_only and max_depth cannot change on paginated requests")
		}
		sess = prev
	} else {
		root, err := s.localRoom(ctx, roomID)
		if err != nil {
			return nil, err
		}
		if root == nil {
			return nil, merr.Forbidden("this server is not in the room, so it cannot show its hierarchy")
		}
		ok, _, err := s.accessible(ctx, root, viewer{user: user})
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, merr.Forbidden("you cannot see this room")
		}
		sess = &session{user: user, root: roomID, suggestedOnly: q.SuggestedOnly, maxDepth: q.MaxDepth,
			queue: []queued{{RoomID: roomID}}, processed: map[string]bool{}}
	}

	page := &Page{Rooms: []HierarchyRoom{}}
	steps, fetches := 0, 0
	for len(sess.queue) > 0 && len(page.Rooms) < q.Limit && steps < maxSteps && fetches <= maxRemoteFetches {
		steps++
		e := sess.queue[len(sess.queue)-1]
		sess.queue = sess.queue[:len(sess.queue)-1]
		if sess.processed[e.RoomID] {
			continue
		}
		sess.processed[e.RoomID] = true
		room, childInfo, inaccessible, fetched, err := s.visit(ctx, e, sess)
		fetches += fetched
		if err != nil {
			return nil, err
		}
		if room == nil {
			continue
		}
		page.Rooms = append(page.Rooms, *room)
		if e.Depth >= sess.maxDepth {
			continue
		}
		// Pushed in reverse so that the first child is visited next.
		for i := len(room.ChildrenState) - 1; i >= 0; i-- {
			c := room.ChildrenState[i]
			if inaccessible[c.StateKey] || sess.processed[c.StateKey] {
				continue
			}
			sess.queue = append(sess.queue, queued{RoomID: c.StateKey, Via: viaOf(c), Depth: e.Depth + 1, Remote: childInfo[c.StateKey]})
		}
	}
	if len(sess.queue) > 0 {
		token, err := s.saveSession(ctx, sess)
		if err != nil {
			return nil, err
		}
		page.NextBatch = token
	}
	return page, nil
}

// visit describes one room of the walk for the session's user; nil when
// the user may not see it or no server could describe it.
func (s *Service) visit(ctx context.Context, e queued, sess *session) (room *HierarchyRoom, childInfo map[string]*Summary, inaccessible map[string]bool, fetches int, err error) {
	who := viewer{user: sess.user}
	l, err := s.localRoom(ctx, e.RoomID)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	if l != nil {
		ok, _, err := s.accessible(ctx, l, who)
		if err != nil || !ok {
			return nil, nil, nil, 0, err
		}
		room, err := s.summarize(ctx, l, true, sess.suggestedOnly)
		return room, nil, nil, 0, err
	}
	if e.Remote != nil && e.Remote.RoomType != RoomTypeSpace {
		// Not a space: its parent's server said all there is to say.
		room = &HierarchyRoom{Summary: *e.Remote, ChildrenState: []ChildEvent{}}
	} else {
		fh, asked := s.fetchRemote(ctx, e.RoomID, e.Via, sess.suggestedOnly)
		if asked {
			fetches = 1
		}
		if fh == nil {
			return nil, nil, nil, fetches, nil
		}
		room = &fh.Room
		childInfo = map[string]*Summary{}
		for i := range fh.Children {
			childInfo[fh.Children[i].RoomID] = &fh.Children[i]
		}
		inaccessible = map[string]bool{}
		for _, id := range fh.InaccessibleChildren {
			inaccessible[id] = true
		}
	}
	ok, _, err := s.remoteAccessible(ctx, &room.Summary, who)
	if err != nil || !ok {
		return nil, nil, nil, fetches, err
	}
	return room, childInfo, inaccessible, fetches, nil
}

// FederationHierarchy answers GET /_matrix/federation/v1/hierarchy for
// origin: the room and those of its children this server is in, split by
// whether origin may see them (server-server-api "Spaces"). A room this
// server is not in, or that origin may not see, is 404 M_NOT_FOUND.
func (s *Service) FederationHierarchy(ctx context.Context, origin, roomID string, suggestedOnly bool) (*FedHierarchy, error) {
	who := viewer{origin: origin}
	l, err := s.localRoom(ctx, roomID)
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, merr.NotFound("unknown room")
	}
	if ok, _, err := s.accessible(ctx, l, who); err != nil {
		return nil, err
	} else if !ok {
		return nil, merr.NotFound("room not accessible to your server")
	}
	room, err := s.summarize(ctx, l, true, suggestedOnly)
	if err != nil {
		return nil, err
	}
	out := &FedHierarchy{Room: *room, Children: []Summary{}, InaccessibleChildren: []string{}}
	for _, c := range room.ChildrenState {
		cl, err := s.localRoom(ctx, c.StateKey)
		if err != nil {
			return nil, err
		}
		if cl == nil {
			continue // not ours to describe
		}
		ok, _, err := s.accessible(ctx, cl, who)
		if err != nil {
			return nil, err
		}
		if !ok {
			out.InaccessibleChildren = append(out.InaccessibleChildren, c.StateKey)
			continue
		}
		child, err := s.summarize(ctx, cl, false, suggestedOnly)
		if err != nil {
			return nil, err
		}
		out.Children = append(out.Children, child.Summary)
	}
	return out, nil
}

// Pagination sessions are stored (spacestore), so that a next_batch
// token works on any process sharing the database, for sessionTTL (as
// Synapse's, which stores them too), at most maxSessionsPerUser per user
// (the oldest go first).
const (
	sessionTTL         = 5 * time.Minute
	maxSessionsPerUser = 50
)

// sessionState is the stored part of a session that the request does not
// repeat.
type sessionState struct {
	Queue     []queued `json:"queue"`
	Processed []string `json:"processed"`
}

func (s *Service) session(ctx context.Context, token string) (*session, error) {
	stored, err := s.sessions.Session(ctx, token, s.now().UnixMilli())
	if err != nil || stored == nil {
		return nil, err
	}
	var st sessionState
	if err := json.Unmarshal(stored.State, &st); err != nil {
		return nil, fmt.Errorf("spaces: stored hierarchy session %s: %w", token, err)
	}
	sess := &session{user: stored.UserID, root: stored.RootID, suggestedOnly: stored.SuggestedOnly, maxDepth: stored.MaxDepth,
		queue: st.Queue, processed: make(map[string]bool, len(st.Processed))}
	for _, id := range st.Processed {
		sess.processed[id] = true
	}
	return sess, nil
}

func (s *Service) saveSession(ctx context.Context, sess *session) (string, error) {
	st := sessionState{Queue: sess.queue, Processed: make([]string, 0, len(sess.processed))}
	for id := range sess.processed {
		st.Processed = append(st.Processed, id)
	}
	sort.Strings(st.Processed)
	state, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	token := rand.Text()
	now := s.now()
	err = s.sessions.SaveSession(ctx, spacestore.Session{Token: token, UserID: sess.user, RootID: sess.root,
		SuggestedOnly: sess.suggestedOnly, MaxDepth: sess.maxDepth, State: state, ExpiresTS: now.Add(sessionTTL).UnixMilli()},
		now.UnixMilli(), maxSessionsPerUser)
	return token, err
}
