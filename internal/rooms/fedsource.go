package rooms

import (
	"context"
	"errors"
	"fmt"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/stateres"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
)

// eventSource serves events to state resolution and auth checks: first the
// events of the batch being ingested (not yet stored), then the store.
type eventSource struct {
	ctx      context.Context
	store    *roomstore.Store
	batch    map[string]*event.Event
	rejected map[string]bool
	cache    map[string]*roomstore.StoredEvent
}

func newEventSource(ctx context.Context, store *roomstore.Store) *eventSource {
	return &eventSource{ctx: ctx, store: store, batch: map[string]*event.Event{}, rejected: map[string]bool{},
		cache: map[string]*roomstore.StoredEvent{}}
}

func (s *eventSource) add(ev *event.Event, rejected bool) {
	s.batch[ev.EventID()] = ev
	if rejected {
		s.rejected[ev.EventID()] = true
	}
}

// stored returns the stored form of an event, or nil if we don't have it.
func (s *eventSource) stored(id string) (*roomstore.StoredEvent, error) {
	if se, ok := s.cache[id]; ok {
		return se, nil
	}
	se, err := s.store.Event(s.ctx, id)
	if errors.Is(err, merr.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s.cache[id] = se
	return se, nil
}

// Event implements stateres.EventSource.
func (s *eventSource) Event(id string) (*event.Event, error) {
	if ev, ok := s.batch[id]; ok {
		return ev, nil
	}
	se, err := s.stored(id)
	if err != nil {
		return nil, err
	}
	if se == nil {
		return nil, fmt.Errorf("%w: %s", stateres.ErrEventNotFound, id)
	}
	return se.Event, nil
}

// Rejected implements stateres.EventSource.
func (s *eventSource) Rejected(id string) bool {
	if s.rejected[id] {
		return true
	}
	if _, ok := s.batch[id]; ok {
		return false
	}
	se, err := s.stored(id)
	return err == nil && se != nil && se.Rejected
}

// known reports whether an event is in the batch or the store.
func (s *eventSource) known(id string) (bool, error) {
	if _, ok := s.batch[id]; ok {
		return true, nil
	}
	se, err := s.stored(id)
	return se != nil, err
}
