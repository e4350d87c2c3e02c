package clientapi

import (
	"context"
	"time"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/presence"
)

// TypingService records typing notices (internal/typing).
type TypingService interface {
	Set(ctx context.Context, roomID, userID string, typing bool, timeout time.Duration) error
}

// ReceiptService records receipts and read markers (internal/receipts).
type ReceiptService interface {
	// Post sets a receipt or the fully read marker; threadID is nil for
	// an unthreaded receipt.
	Post(ctx context.Context, roomID, userID, typ, eventID string, threadID *string) error
	// ReadMarkers sets each non-empty marker or receipt.
	ReadMarkers(ctx context.Context, roomID, userID, fullyRead, read, readPrivate string) error
}

// PresenceService tracks presence (internal/presence).
type PresenceService interface {
	// Set sets a user's presence and status message (nil clears it).
	Set(ctx context.Context, userID, state string, statusMsg *string) error
	// Get returns what observer may see of userID's presence.
	Get(ctx context.Context, observer, userID string) (presence.Content, error)
}

// EphemeralAPI serves typing notices, receipts, read markers and presence
// (client-server-api "Typing Notifications", "Receipts", "Fully read
// markers", "Presence").
type EphemeralAPI struct {
	Auth     httpapi.TokenResolver
	Typing   TypingService
	Receipts ReceiptService
	Presence PresenceService
}

// Register adds the endpoints under both the v3 and r0 prefixes.
func (a *EphemeralAPI) Register(rt *httpapi.Router) {
	for _, p := range []string{"/_matrix/client/v3", "/_matrix/client/r0"} {
		auth := func(method, path string, h httpapi.AuthHandler) {
			rt.Handle(method+" "+p+path, httpapi.RequireAuth(a.Auth, h))
		}
		auth("PUT", "/rooms/{roomId}/typing/{userId}", a.putTyping)
		auth("POST", "/rooms/{roomId}/receipt/{receiptType}/{eventId}", a.postReceipt)
		auth("POST", "/rooms/{roomId}/read_markers", a.postReadMarkers)
		auth("PUT", "/presence/{userId}/status", a.putPresence)
		auth("GET", "/presence/{userId}/status", a.getPresence)
	}
}
