package admin

import (
	"context"

	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/fedqueue"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
)

// Federation is what the federation admin API needs: the destinations'
// recorded state, and the sender, whose backoff a reset cuts short.
type Federation struct {
	Queue  *fedqueue.Store
	Sender interface{ MarkAlive(destination string) }
}

// errNoFederation answers the federation admin API on a server built
// without federation.
var errNoFederation = merr.NotFound("Federation is not enabled on this server")

// Destinations pages through the servers this one has sent to.
func (s *Service) Destinations(ctx context.Context, q fedqueue.DestinationQuery) ([]fedqueue.Destination, int, error) {
	if s.Federation == nil {
		return nil, 0, errNoFederation
	}
	return s.Federation.Queue.ListDestinations(ctx, q)
}

// Destination returns one destination; 404 if it was never contacted.
func (s *Service) Destination(ctx context.Context, name string) (*fedqueue.Destination, error) {
	if s.Federation == nil {
		return nil, errNoFederation
	}
	known, err := s.Federation.Queue.Known(ctx, name)
	if err != nil {
		return nil, err
	}
	if !known {
		return nil, merr.NotFound("Unknown destination")
	}
	d, err := s.Federation.Queue.Destination(ctx, name)
	return &d, err
}

// ResetConnection clears a failing destination's backoff, so the next
// event for it is sent at once (Synapse's reset_connection).
func (s *Service) ResetConnection(ctx context.Context, name string) error {
	d, err := s.Destination(ctx, name)
	if err != nil {
		return err
	}
	if d.Retry == (fedqueue.Retry{}) {
		return merr.BadJSON("The retry timing does not need to be reset for this destination.")
	}
	if err := s.Federation.Queue.SetRetry(ctx, name, fedqueue.Retry{}); err != nil {
		return err
	}
	s.Federation.Sender.MarkAlive(name)
	return nil
}

// DestinationRooms lists the rooms shared with a destination.
func (s *Service) DestinationRooms(ctx context.Context, name string) ([]roomstore.RoomWithServer, error) {
	d, err := s.Destination(ctx, name)
	if err != nil {
		return nil, err
	}
	return s.Rooms.Store().RoomsWithServer(ctx, name, d.LastSentStreamPos)
}
