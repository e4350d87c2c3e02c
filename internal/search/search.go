// Package search answers POST /search (client-server-api "Server Side
// Search", modules/search.md) for the room_events category: it finds
// candidates in the full-text index (storage/searchstore), keeps those the
// user may see (the rooms they are or were in, up to when they left; the
// history visibility at each event; not redacted; not from users they
// ignore), and adds what the request asks for: context, profiles, state,
// groups and the next page's token.
package search

import (
	"context"
	"log/slog"
	"time"

	"github.com/myelin-chat/myelin/internal/clientevent"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/storage/searchstore"
	"github.com/myelin-chat/myelin/internal/syncapi"
)

// IgnoredUsers reads a user's m.ignored_user_list (client-server-api
// "Ignoring Users": their events are hidden from searches too).
type IgnoredUsers interface {
	IgnoredUsers(ctx context.Context, userID string) (map[string]bool, error)
}

// Config is what a Service needs.
type Config struct {
	Engine  *rooms.Engine
	Index   *searchstore.Store
	Ignored IgnoredUsers
	// Bundler adds bundled aggregations (unsigned.m.relations) to the
	// results and their context (client-server-api "Aggregations of child
	// events" lists search among the places events are served); nil: none.
	Bundler syncapi.Bundler
	Now     func() time.Time
	Log     *slog.Logger
}

// Service answers searches. It is safe for concurrent use.
type Service struct{ cfg Config }

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Service{cfg: cfg}
}

// Bounds of a request (search.yaml leaves them to the server).
const (
	// DefaultLimit is the page size without a filter limit (Synapse's).
	DefaultLimit = 10
	// MaxLimit caps the filter's limit: each result may carry context.
	MaxLimit = 100
	// DefaultContext is before_limit's and after_limit's default
	// (search.yaml); MaxContext caps them.
	DefaultContext = 5
	MaxContext     = 50
	// maxCount caps the response's count, an estimate the spec allows:
	// counting every match of a common word would cost more than the
	// search itself.
	maxCount = 500
	// maxScanned bounds the candidates one page reads from the index
	// while history visibility hides them; past it the page ends early
	// with a next_batch.
	maxScanned = 1000
)

// Orderings (search.yaml order_by).
const (
	OrderRank   = "rank"
	OrderRecent = "recent"
)

// Group keys (search.yaml groupings.group_by[].key).
const (
	GroupRoom   = "room_id"
	GroupSender = "sender"
)

// Criteria is the room_events category of a request.
type Criteria struct {
	SearchTerm string
	// Keys are searchstore's keys; empty means all.
	Keys         []string
	Filter       syncapi.RoomEventFilter
	OrderBy      string
	EventContext *EventContext
	IncludeState bool
	// GroupBy lists the group keys asked for, each once.
	GroupBy []string
}

// EventContext asks for events around each result (search.yaml
// event_context).
type EventContext struct {
	BeforeLimit, AfterLimit int
	IncludeProfile          bool
}

// Request is one search by a user.
type Request struct {
	UserID, DeviceID string
	Criteria         Criteria
	// NextBatch is the next_batch query parameter, "" for a first page.
	NextBatch string
}

// RoomEvents is the response's room_events category.
type RoomEvents struct {
	Count      int                             `json:"count"`
	Highlights []string                        `json:"highlights"`
	Results    []Result                        `json:"results"`
	State      map[string][]*clientevent.Event `json:"state,omitempty"`
	Groups     map[string]map[string]*Group    `json:"groups,omitempty"`
	NextBatch  string                          `json:"next_batch,omitempty"`
}

// Result is one matching event.
type Result struct {
	Rank    float64            `json:"rank"`
	Result  *clientevent.Event `json:"result"`
	Context *Context           `json:"context,omitempty"`
}

// Context is the events around a result.
type Context struct {
	Start        string               `json:"start"`
	End          string               `json:"end"`
	ProfileInfo  map[string]Profile   `json:"profile_info,omitempty"`
	EventsBefore []*clientevent.Event `json:"events_before"`
	EventsAfter  []*clientevent.Event `json:"events_after"`
}

// Profile is a sender's display name and avatar as of the context.
type Profile struct {
	DisplayName string `json:"displayname,omitempty"`
	AvatarURL   string `json:"avatar_url,omitempty"`
}

// Group is the results of one group value (a room, a sender).
type Group struct {
	NextBatch string `json:"next_batch,omitempty"`
	// Order sorts the groups: 1 for the group of the first result, and so
	// on, so that groups sorted by it follow the results' order.
	Order   int      `json:"order"`
	Results []string `json:"results"`
}

// validate checks the criteria's values and fills in defaults.
func (c *Criteria) validate() error {
	switch c.OrderBy {
	case "":
		c.OrderBy = OrderRank // search.yaml: "By default, this is rank"
	case OrderRank, OrderRecent:
	default:
		return merr.InvalidParam("order_by must be rank or recent")
	}
	for _, k := range c.Keys {
		if _, ok := searchstore.KeyType[k]; !ok {
			return merr.InvalidParam("keys may only hold content.body, content.name and content.topic")
		}
	}
	if err := c.Filter.Validate(); err != nil {
		return err
	}
	if l := c.Filter.Limit; l != nil && *l < 0 {
		return merr.InvalidParam("filter.limit must not be negative")
	}
	if ec := c.EventContext; ec != nil {
		if ec.BeforeLimit < 0 || ec.AfterLimit < 0 {
			return merr.InvalidParam("event_context limits must not be negative")
		}
		ec.BeforeLimit, ec.AfterLimit = min(ec.BeforeLimit, MaxContext), min(ec.AfterLimit, MaxContext)
	}
	seen := map[string]bool{}
	groups := c.GroupBy[:0]
	for _, g := range c.GroupBy {
		if g != GroupRoom && g != GroupSender {
			return merr.InvalidParam("groupings may only group by room_id or sender")
		}
		if !seen[g] {
			seen[g] = true
			groups = append(groups, g)
		}
	}
	c.GroupBy = groups
	return nil
}

// limit is the page size the filter asks for, bounded.
func (c *Criteria) limit() int {
	if c.Filter.Limit == nil || *c.Filter.Limit == 0 {
		return DefaultLimit
	}
	return min(*c.Filter.Limit, MaxLimit)
}
