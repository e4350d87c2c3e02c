package rooms

import (
	"strings"
	"unicode/utf8"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/merr"
)

// checkText refuses an identifier that the database could not store as
// given: PostgreSQL rejects U+0000 and invalid UTF-8 in text (and would
// fail the whole transaction of a batch with it), while SQLite would keep
// them, so the two backends would disagree. The HTTP layer checks what it
// is sent; the engine checks again so that no caller can poison a batch.
func checkText(what, s string) error {
	if !utf8.ValidString(s) {
		return merr.InvalidParam(what + " is not valid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return merr.InvalidParam(what + " contains U+0000")
	}
	return nil
}

// checkBuilder applies checkText to what a local event stores in columns
// of its own: type, state key, sender and redacted event. The content is
// stored as canonical JSON, which escapes U+0000 as \u0000 (appendices,
// "Canonical JSON"), so a NUL in a content string is valid and harmless;
// invalid UTF-8 in the content is refused here too (canonical JSON
// requires UTF-8), rather than when the event is built.
func checkBuilder(b *event.Builder) error {
	if err := checkText("event type", b.Type); err != nil {
		return err
	}
	if b.StateKey != nil {
		if err := checkText("state key", *b.StateKey); err != nil {
			return err
		}
	}
	if err := checkText("sender", b.Sender); err != nil {
		return err
	}
	if err := checkText("redacted event ID", b.Redacts); err != nil {
		return err
	}
	if !utf8.Valid(b.Content) {
		return merr.BadJSON("content is not valid UTF-8")
	}
	return nil
}

// checkTxn applies checkText to a client transaction's key.
func checkTxn(t *Txn) error {
	if err := checkText("transaction ID", t.TxnID); err != nil {
		return err
	}
	return checkText("device ID", t.DeviceID)
}
