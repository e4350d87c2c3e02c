package rooms

import (
	"context"

	"github.com/myelin-chat/myelin/internal/event"
)

// This file is the room engine's face to federation. The federation layer
// does the network work (fetching, signature checks) and hands the engine
// events that are well-formed and verified; the engine decides what they
// mean for the room (auth checks, state, soft-failure) and persists them
// through the room's single writer.

// RemoteFetcher fetches what the engine needs from other servers while
// ingesting events. Implementations return events already parsed for the
// room's version, with signatures verified and content hashes checked
// (redacted on mismatch), as for any received PDU.
type RemoteFetcher interface {
	// FetchEvent gets one event by ID (GET /event/{eventId}).
	FetchEvent(ctx context.Context, roomID, eventID string) (*event.Event, error)
	// MissingEvents gets events between our latest events (earliest) and
	// theirs (latest): POST /get_missing_events, at most limit events.
	MissingEvents(ctx context.Context, roomID string, earliest, latest []string, limit int) ([]*event.Event, error)
	// StateIDs gets the IDs of the state at an event and of its auth chain
	// (GET /state_ids).
	StateIDs(ctx context.Context, roomID, eventID string) (state, authChain []string, err error)
}

// IngestResult says what happened to one received event.
type IngestResult struct {
	EventID string
	// Err is non-nil when the event was rejected by the auth rules (it is
	// still stored, marked rejected) or could not be processed.
	Err error
	// SoftFailed events are stored but not shown to clients and not used
	// as prev events (server-server-api "Soft failure").
	SoftFailed bool
}

// JoinTemplate is the answer to make_join/make_leave/make_knock: an
// unsigned event for the remote user's server to complete and sign.
type JoinTemplate struct {
	RoomVersion string
	Event       map[string]any
}

// JoinedRoom is what send_join returns to the joining server.
type JoinedRoom struct {
	State     []*event.Event
	AuthChain []*event.Event
	// Event is the join as accepted (with our signature added for
	// restricted joins).
	Event *event.Event
}
