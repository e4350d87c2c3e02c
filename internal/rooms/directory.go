package rooms

import (
	"context"
	"encoding/json"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
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
	// RoomTypes, if not empty, keeps rooms of these types, a nil entry
	// standing for rooms without a type: filter.room_types (spec v1.4,
	// MSC3827). An empty list filters nothing, as in Synapse.
	RoomTypes []*string
	// List is the list of the directory to read: the main one unless the
	// request named a third-party network or asked for all of them.
	List roomstore.DirectoryList
	// Shown, if set, keeps only the rooms it accepts, before the page is
	// cut (the federation API: the rooms whose server ACL allows the
	// asking server).
	Shown func(ctx context.Context, roomID string) (bool, error)
}

// DirectoryRequest is the body of POST /publicRooms, the same in both
// APIs (the client's also names a server).
type DirectoryRequest struct {
	Limit  int    `json:"limit"`
	Since  string `json:"since"`
	Filter struct {
		GenericSearchTerm string    `json:"generic_search_term"`
		RoomTypes         []*string `json:"room_types"`
	} `json:"filter"`
	IncludeAllNetworks   bool    `json:"include_all_networks"`
	ThirdPartyInstanceID *string `json:"third_party_instance_id"`
}

// maxRoomTypes bounds filter.room_types.
const maxRoomTypes = 50

// Query checks the request and says what it asks for.
func (d *DirectoryRequest) Query() (DirectoryQuery, error) {
	if d.Limit < 0 {
		return DirectoryQuery{}, merr.InvalidParam("limit must be non-negative")
	}
	if len(d.Filter.RoomTypes) > maxRoomTypes {
		return DirectoryQuery{}, merr.InvalidParam("too many filter.room_types")
	}
	list, err := DirectoryListOf(d.IncludeAllNetworks, d.ThirdPartyInstanceID)
	if err != nil {
		return DirectoryQuery{}, err
	}
	return DirectoryQuery{Limit: d.Limit, Since: d.Since, Term: d.Filter.GenericSearchTerm,
		RoomTypes: d.Filter.RoomTypes, List: list}, nil
}

// DirectoryQueryOf reads the query string of GET /publicRooms: limit,
// since, and (server-server-api; Synapse's client API too)
// include_all_networks and third_party_instance_id.
func DirectoryQueryOf(v url.Values) (DirectoryQuery, error) {
	var d DirectoryRequest
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			return DirectoryQuery{}, merr.InvalidParam("limit must be a non-negative integer")
		}
		d.Limit = n
	}
	d.Since = v.Get("since")
	switch v.Get("include_all_networks") {
	case "", "false":
	case "true":
		d.IncludeAllNetworks = true
	default:
		return DirectoryQuery{}, merr.InvalidParam("include_all_networks must be true or false")
	}
	if v.Has("third_party_instance_id") {
		id := v.Get("third_party_instance_id")
		d.ThirdPartyInstanceID = &id
	}
	return d.Query()
}

// InstanceID is the third_party_instance_id of an application service's
// network: Synapse's "{appservice id}|{network id}", which
// GET /thirdparty/protocols hands out and /publicRooms takes back.
func InstanceID(appserviceID, networkID string) string { return appserviceID + "|" + networkID }

// DirectoryListOf is the list a /publicRooms request reads
// (client-server-api "Listing rooms", server-server-api "Public Room
// Directory"): every list with include_all_networks, which cannot be
// combined with a third_party_instance_id; the named network's list; and
// otherwise the main list alone, without the rooms published only in
// appservices' lists.
func DirectoryListOf(includeAllNetworks bool, instanceID *string) (roomstore.DirectoryList, error) {
	switch {
	case includeAllNetworks && instanceID != nil:
		return roomstore.DirectoryList{}, merr.InvalidParam("include_all_networks cannot be combined with third_party_instance_id")
	case includeAllNetworks:
		return roomstore.DirectoryList{All: true}, nil
	case instanceID == nil:
		return roomstore.DirectoryList{}, nil
	}
	as, network, ok := strings.Cut(*instanceID, "|")
	if !ok || as == "" {
		return roomstore.DirectoryList{}, merr.InvalidParam("third_party_instance_id is not an instance_id of GET /thirdparty/protocols")
	}
	return roomstore.DirectoryList{AppserviceID: as, NetworkID: network}, nil
}

// hasRoomType reports whether a room of type typ ("" for none) passes a
// room_types filter.
func hasRoomType(types []*string, typ string) bool {
	if len(types) == 0 {
		return true
	}
	for _, t := range types {
		if (t == nil && typ == "") || (t != nil && *t == typ && typ != "") {
			return true
		}
	}
	return false
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
	ids, err := e.store.PublicRooms(ctx, q.List)
	if err != nil {
		return nil, err
	}
	term := strings.ToLower(q.Term)
	var all []PublicRoom
	for _, id := range ids {
		if q.Shown != nil {
			ok, err := q.Shown(ctx, id)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
		}
		pr, err := e.DescribeRoom(ctx, id)
		if err != nil {
			return nil, err
		}
		if term != "" && !strings.Contains(strings.ToLower(pr.Name+" "+pr.Topic+" "+pr.CanonicalAlias+" "+pr.RoomID), term) {
			continue
		}
		if !hasRoomType(q.RoomTypes, pr.RoomType) {
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
