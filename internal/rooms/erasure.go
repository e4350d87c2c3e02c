package rooms

import (
	"context"
	"slices"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
)

// ErasedSenders reports which of some local users asked for their content
// to be erased when they deactivated (client-server-api "Account
// deactivation", erase; spec v1.10). The map holds only the erased ones.
type ErasedSenders interface {
	ErasedSenders(ctx context.Context, userIDs []string) (map[string]bool, error)
}

// SetErasure makes the engine serve redacted copies of erased users'
// events to those who join rooms later (see visibility.Erased). Call it
// before the engine serves reads; without it no sender counts as erased.
func (e *Engine) SetErasure(es ErasedSenders) { e.erasure = es }

// erasedAmong returns the erased senders among evs. Erasure is local (the
// request is not shared over federation), so only this server's users are
// looked up, and a timeline without any costs nothing.
func (e *Engine) erasedAmong(ctx context.Context, evs []*roomstore.StoredEvent) (map[string]bool, error) {
	if e.erasure == nil {
		return nil, nil
	}
	// A timeline page is short and has few senders: a slice dedupes them
	// without a map per room on /sync's path.
	var local []string
	for _, se := range evs {
		s := se.Sender()
		if domainOf(s) == e.serverName && !slices.Contains(local, s) {
			local = append(local, s)
		}
	}
	if len(local) == 0 {
		return nil, nil
	}
	return e.erasure.ErasedSenders(ctx, local)
}

// redactedCopy is se served in its redacted form. The stored event (which
// the event cache shares) is left as it is.
func redactedCopy(se *roomstore.StoredEvent) *roomstore.StoredEvent {
	c := *se
	c.Event = se.Event.Redacted()
	c.ErasedCopy = true
	return &c
}

// ServerRedacts reports whether another server, allowed to see se, must be
// served its redacted form because its sender was erased: as for users
// (visibility.Erased), a server that had a joined member when the event
// was sent may still have it whole; a server that joined later may not.
func (e *Engine) ServerRedacts(ctx context.Context, server string, se *roomstore.StoredEvent) (bool, error) {
	erased, err := e.erasedAmong(ctx, []*roomstore.StoredEvent{se})
	if err != nil || !erased[se.Sender()] {
		return false, err
	}
	before, err := e.StateBefore(ctx, se)
	if err != nil {
		return false, err
	}
	has := serverHasMember(before, server, map[string]bool{event.Join: true})
	return !has, before.Err()
}
