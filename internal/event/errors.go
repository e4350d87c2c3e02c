package event

import (
	"errors"
	"fmt"
)

// ErrBadFormat marks a PDU that does not follow its room version's event
// format. Such events are dropped (server-server-api.md, "Checks performed on
// receipt of a PDU", step 1); clients get M_BAD_JSON.
var ErrBadFormat = errors.New("bad event format")

// ErrTooLarge marks an event over the 65536-byte limit (client-server-api
// "Size limits"); clients get M_TOO_LARGE.
var ErrTooLarge = errors.New("event too large")

// ErrBadSignature marks an event whose signatures do not verify; such events
// are dropped.
var ErrBadSignature = errors.New("bad event signature")

func errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadFormat, fmt.Sprintf(format, args...))
}
