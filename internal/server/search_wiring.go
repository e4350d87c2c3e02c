package server

import (
	"context"

	"github.com/myelin-chat/myelin/internal/clientapi"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/search"

	"github.com/myelin-chat/myelin/internal/storage/roomstore"
	"github.com/myelin-chat/myelin/internal/storage/searchstore"
	"github.com/myelin-chat/myelin/internal/syncapi"
)

// buildSearchIndex migrates the full-text index and registers it with the
// room store, so every event stored from now on is indexed in its own
// commit. Events stored before the index existed are indexed once in the
// background (startSearchBackfill).
func (s *Server) buildSearchIndex(ctx context.Context, roomStore *roomstore.Store) error {
	idx, err := searchstore.New(ctx, s.DB)
	if err != nil {
		return err
	}
	roomStore.AddIndexer(idx)
	s.searchIndex = idx
	return nil
}

// startSearchBackfill indexes, in the background, the events stored before
// the index existed: those up to the stream position at start, since every
// later one is indexed as it is written. It stops with the server and
// resumes on the next start.
func (s *Server) startSearchBackfill() {
	upTo := s.Rooms.Stream().Current()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	log := s.Log.With("component", "search")
	go func() {
		defer close(done)
		u := s.bgUpdates.Begin("search_index_backfill")
		defer u.End()
		if err := s.searchIndex.Backfill(ctx, s.Rooms.Store(), upTo, log, u); err != nil && ctx.Err() == nil {
			log.Error("search index: indexing older events failed; the next start resumes", "error", err)
		}
	}()
	s.closeFns = append(s.closeFns, func() { stop(); <-done })
}

// registerSearchAPI serves POST /search over the index.
func (s *Server) registerSearchAPI(router *httpapi.Router, resolver httpapi.TokenResolver, ud userData, bundler syncapi.Bundler) {
	svc := search.New(search.Config{Engine: s.Rooms, Index: s.searchIndex, Ignored: ignoredUsers{ud},
		Bundler: bundler, Now: s.Now, Log: s.Log.With("component", "search")})
	(&clientapi.SearchAPI{Auth: resolver, Search: svc}).Register(router)
}
