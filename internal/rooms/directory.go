package rooms

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/visibility"
)

// PublicRoom is one entry of the public room directory (client-server-api
// "Listing rooms"; the same chunk shape serves GET /publicRooms over
// federation).
type PublicRoom struct {
	RoomID           string `json:"room_id"`
	Name             string `json:"name,omitempty"`
	Topic            string `json:"topic,omitempty"`
	AvatarURL        string `json:"avatar_url,omitempty"`
	CanonicalAlias   string `json:"canonical_alias,omitempty"`
	NumJoinedMembers int    `json:"num_joined_members"`
	WorldReadable    bool   `json:"world_readable"`
	GuestCanJoin     bool   `json:"guest_can_join"`
	JoinRule         string `json:"join_rule,omitempty"`
	RoomType         string `json:"room_type,omitempty"`
}

// DirectoryQuery selects a page of the directory.
type DirectoryQuery struct {
	// Limit is the page size; 0 means everything.
	Limit int
	// Since is a next_batch or prev_batch token from an earlier page.
	Since string
	// Term, if set, keeps rooms whose name, topic, canonical alias or ID
	// contains it (case-insensitive): filter.generic_search_term.
	Term string
}

// DirectoryPage is one page of the directory, in the response shape both
// APIs use.
type DirectoryPage struct {
	Chunk     []PublicRoom `json:"chunk"`
	NextBatch string       `json:"next_batch,omitempty"`
	PrevBatch string       `json:"prev_batch,omitempty"`
	Total     int          `json:"total_room_count_estimate"`
}

// PublicRooms lists the rooms published in our directory, most joined
// members first, with offset tokens ("p<offset>": the spec leaves the
// token format to the server).
func (e *Engine) PublicRooms(ctx context.Context, q DirectoryQuery) (*DirectoryPage, error) {
	if q.Limit < 0 {
		return nil, merr.InvalidParam("limit must be non-negative")
	}
	offset := 0
	if q.Since != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(q.Since, "p"))
		if err != nil || n < 0 || !strings.HasPrefix(q.Since, "p") {
			return nil, merr.InvalidParam("invalid since token")
		}
		offset = n
	}
	ids, err := e.store.PublicRooms(ctx)
	if err != nil {
		return nil, err
	}
	term := strings.ToLower(q.Term)
	var all []PublicRoom
	for _, id := range ids {
		pr, err := e.DescribeRoom(ctx, id)
		if err != nil {
			return nil, err
		}
		if term != "" && !strings.Contains(strings.ToLower(pr.Name+" "+pr.Topic+" "+pr.CanonicalAlias+" "+pr.RoomID), term) {
			continue
		}
		all = append(all, pr)
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].NumJoinedMembers != all[j].NumJoinedMembers {
			return all[i].NumJoinedMembers > all[j].NumJoinedMembers
		}
		return all[i].RoomID < all[j].RoomID
	})
	total := len(all)
	offset = min(offset, total)
	end := total
	if q.Limit > 0 && offset+q.Limit < total {
		end = offset + q.Limit
	}
	page := &DirectoryPage{Chunk: all[offset:end], Total: total}
	if page.Chunk == nil {
		page.Chunk = []PublicRoom{}
	}
	if end < total {
		page.NextBatch = "p" + strconv.Itoa(end)
	}
	if offset > 0 {
		prev := offset - q.Limit
		if q.Limit == 0 || prev < 0 {
			prev = 0
		}
		page.PrevBatch = "p" + strconv.Itoa(prev)
	}
	return page, nil
}

// DescribeRoom summarises a room's current state for the directory.
func (e *Engine) DescribeRoom(ctx context.Context, roomID string) (PublicRoom, error) {
	view, err := e.CurrentView(ctx, roomID)
	if err != nil {
		return PublicRoom{}, err
	}
	return e.DescribeView(ctx, roomID, view)
}

// DescribeView is DescribeRoom for a current state already loaded.
func (e *Engine) DescribeView(ctx context.Context, roomID string, view *StateView) (PublicRoom, error) {
	pr := PublicRoom{RoomID: roomID}
	str := func(typ, field string) string {
		ev := view.Get(typ, "")
		if ev == nil {
			return ""
		}
		var c map[string]json.RawMessage
		_ = json.Unmarshal(ev.Content(), &c)
		var s string
		_ = json.Unmarshal(c[field], &s)
		return s
	}
	pr.Name = str(event.TypeName, "name")
	pr.Topic = str(event.TypeTopic, "topic")
	pr.AvatarURL = str(event.TypeAvatar, "url")
	pr.CanonicalAlias = str(event.TypeCanonicalAlias, "alias")
	pr.JoinRule = str(event.TypeJoinRules, "join_rule")
	pr.RoomType = str(event.TypeCreate, "type")
	pr.GuestCanJoin = str(event.TypeGuestAccess, "guest_access") == "can_join"
	pr.WorldReadable = visibility.HistoryVisibility(view) == visibility.WorldReadable
	members, err := e.store.Members(ctx, roomID, event.Join)
	if err != nil {
		return PublicRoom{}, err
	}
	pr.NumJoinedMembers = len(members)
	return pr, view.Err()
}

// JoinRule is the room's effective join rule: "invite" without a join
// rules event, and for a rule the room's version does not know (the auth
// rules then let no one join without an invite).
func JoinRule(view *StateView) string {
	ev := view.Get(event.TypeJoinRules, "")
	if ev == nil {
		return "invite"
	}
	var c struct {
		JoinRule string `json:"join_rule"`
	}
	_ = json.Unmarshal(ev.Content(), &c)
	if !ev.Version().AllowsJoinRule(c.JoinRule) {
		return "invite"
	}
	return c.JoinRule
}
