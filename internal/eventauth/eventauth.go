// Package eventauth implements the Matrix authorisation rules for room
// versions 1–12: whether an event is allowed given some room state, the
// rules about an event's own auth_events, power levels, and which state
// events a new event must cite ("auth events selection").
//
// It is pure and deterministic: no clocks, no I/O, no globals. Every rule
// that differs between room versions is decided by a switch of
// roomversion.Version, never by comparing version strings.
//
// Spec: rooms/fragments/v1-auth-rules.md (v1–v2), v3-auth-rules.md (v3–v5),
// rooms/v6.md, v7.md, fragments/v8-auth-rules.md (v8–v9), v10.md, v11.md,
// v12.md "Authorisation rules"; server-server-api.md "Auth events selection".
// Rule numbers in error messages follow the room version 12 numbering
// unless they say otherwise (see ruleNum).
package eventauth

import (
	"errors"
	"fmt"

	"github.com/myelin-chat/myelin/internal/event"
)

// StateLookup returns the current event for a state tuple, or nil.
type StateLookup interface {
	Get(typ, stateKey string) *event.Event
}

// StateMap is the simplest StateLookup.
type StateMap map[event.StateTuple]*event.Event

// Get returns m[{typ, stateKey}] or nil.
func (m StateMap) Get(typ, stateKey string) *event.Event {
	return m[event.StateTuple{Type: typ, StateKey: stateKey}]
}

// ErrNotAllowed is wrapped by every rejection. The message names the rule,
// e.g. "rule 5.3.3: sender is banned".
var ErrNotAllowed = errors.New("not allowed by the authorisation rules")

// reject builds a rejection error naming the rule that failed.
func reject(rule, format string, args ...any) error {
	return fmt.Errorf("%w: rule %s: %s", ErrNotAllowed, rule, fmt.Sprintf(format, args...))
}
