package streams

import "sync"

// Notifier wakes long-polling readers (/sync) when something they can see
// changes. A reader takes its wake-up channel before checking for new data,
// so a change between the check and the wait is never missed.
type Notifier struct {
	mu    sync.Mutex
	chans map[string]chan struct{}
}

// NewNotifier returns an empty notifier.
func NewNotifier() *Notifier { return &Notifier{chans: map[string]chan struct{}{}} }

// RoomKey is the key woken by every event committed to roomID, for
// readers of the room who need not be members (peeking). Room IDs start
// with '!' and user IDs with '@', so the two kinds of key never collide.
func RoomKey(roomID string) string { return roomID }

// Listen returns a channel closed at the next Wake of key (a user ID, or
// a RoomKey).
func (n *Notifier) Listen(key string) <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	ch, ok := n.chans[key]
	if !ok {
		ch = make(chan struct{})
		n.chans[key] = ch
	}
	return ch
}

// Wake wakes every current listener of each key. Keys nobody listens to
// cost nothing.
func (n *Notifier) Wake(keys ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, k := range keys {
		if ch, ok := n.chans[k]; ok {
			close(ch)
			delete(n.chans, k)
		}
	}
}
