package syncapi

import (
	"context"

	"github.com/myelin-chat/myelin/internal/clientevent"
)

// Bundler adds bundled aggregations (unsigned.m.relations) to a page of
// client events, as userID is served them (client-server-api
// "Aggregations of child events"); internal/relations implements it.
// Every path that serves events to clients calls it once per page.
type Bundler interface {
	Bundle(ctx context.Context, userID string, evs []*clientevent.Event) error
}

// SetBundler sets what adds bundled aggregations to timelines. Set while
// the server is wired; without it events go without.
func (s *Syncer) SetBundler(b Bundler) { s.bundler = b }
