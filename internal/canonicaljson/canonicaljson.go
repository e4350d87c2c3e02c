// Package canonicaljson parses untrusted JSON and produces Matrix Canonical
// JSON (spec: appendices, "Canonical JSON"; room versions 1–5 use the lenient
// rules of rooms/fragments/v1-canonical-json, 6+ the strict rules of
// v6-canonical-json).
//
// The parser is written here rather than built on encoding/json because the
// standard decoder silently accepts duplicate object keys (last one wins),
// which would let two servers disagree on what a signed object means.
package canonicaljson

import (
	"encoding/json"
	"errors"
	"fmt"
)

// DefaultMaxDepth is the nesting limit used when Options.MaxDepth is 0.
//
// The spec sets no limit. Synapse decodes with Python's json module, which
// gives up near its recursion limit of 1000; legitimate events (at most
// 65536 bytes) never come close to either figure. 256 keeps recursion and
// stack use small while staying far above anything a real client sends.
// Re-ordering an unsorted object copies its body, so the worst case costs
// about MaxDepth copies of the input (under 1 ms for a 64 KB event).
const DefaultMaxDepth = 256

// MaxSafeInteger is the largest integer canonical JSON allows, 2^53-1; the
// smallest is its negation (spec: appendices, "Canonical JSON").
const MaxSafeInteger = 1<<53 - 1

// pythonMaxIntDigits mirrors Python's default int_max_str_digits (4300):
// Synapse cannot parse longer integer literals, so even lenient mode rejects
// them rather than accept events the rest of the federation drops.
const pythonMaxIntDigits = 4300

// Options bound and police untrusted input.
type Options struct {
	// MaxDepth is the maximum nesting of objects and arrays; a top-level
	// object is depth 1. 0 (or less) means DefaultMaxDepth.
	MaxDepth int
	// Strict applies the room version 6+ rules: numbers with a fraction or
	// exponent are rejected (ErrFloat), and so are integers outside
	// [-(2^53)+1, 2^53-1] (ErrIntegerRange).
	Strict bool
}

// StrictOptions are the rules for room versions 6 and later and for
// everything Myelin itself produces.
var StrictOptions = Options{Strict: true}

// LenientOptions are the rules for room versions 1–5: numbers are accepted as
// they are (spec: appendices, "Canonical JSON", warning box).
var LenientOptions = Options{}

func (o Options) maxDepth() int {
	if o.MaxDepth <= 0 {
		return DefaultMaxDepth
	}
	return o.MaxDepth
}

// Sentinel errors. Every error returned by this package wraps exactly one of
// them, so an HTTP layer can map ErrSyntax and ErrInvalidUTF8 to M_NOT_JSON
// and the rest to M_BAD_JSON.
var (
	ErrSyntax       = errors.New("canonicaljson: invalid JSON syntax")
	ErrInvalidUTF8  = errors.New("canonicaljson: invalid UTF-8 or unpaired surrogate")
	ErrDuplicateKey = errors.New("canonicaljson: duplicate object key")
	ErrTooDeep      = errors.New("canonicaljson: nesting too deep")
	ErrFloat        = errors.New("canonicaljson: non-integer number")
	ErrIntegerRange = errors.New("canonicaljson: integer out of range")
	// ErrNotFound is returned by Get when the path does not exist.
	ErrNotFound = errors.New("canonicaljson: key not found")
)

// Error describes where and why input was rejected. It wraps one of the
// sentinel errors above.
type Error struct {
	Kind   error // one of the sentinel errors
	Offset int   // byte offset into the input
	Detail string
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("%v at offset %d", e.Kind, e.Offset)
	}
	return fmt.Sprintf("%v at offset %d: %s", e.Kind, e.Offset, e.Detail)
}

func (e *Error) Unwrap() error { return e.Kind }

// Canonicalize parses untrusted JSON and returns its canonical encoding.
//
// It rejects invalid UTF-8 and unpaired \u surrogates, duplicate object keys
// (also nested), trailing data, nesting deeper than opts allow and, with
// opts.Strict, non-integers and integers outside the safe range.
//
// The output has object keys sorted by Unicode code point (bytewise on
// UTF-8), no insignificant whitespace, raw UTF-8 for every character except
// the escapes the spec's grammar requires (\" \\ \b \t \n \f \r and \u00XX
// with lowercase hex for the other control characters), and integers
// without leading zeros, plus sign or exponent; -0 becomes 0.
//
// In lenient mode a number with a fraction or exponent is re-encoded the way
// Synapse does (Python's float repr: shortest round-trip digits, e.g. 1.0,
// 1000.0, 1e+16, 1e-05), because that is what the hashes and signatures of
// existing room v1–5 events were computed over. A non-integer that overflows
// a double is rejected (ErrFloat), as Python's encoder refuses infinities.
// Integers are kept exactly, whatever their size.
func Canonicalize(data []byte, opts Options) ([]byte, error) {
	p := parser{data: data, strict: opts.Strict, maxDepth: opts.maxDepth(), emit: true}
	p.out = make([]byte, 0, len(data))
	var mbuf [32]member
	p.members = mbuf[:0]
	if err := p.parseDocument(); err != nil {
		return nil, err
	}
	return p.out, nil
}

// Valid reports whether data would pass Canonicalize with opts. It does the
// same checks without building the output.
func Valid(data []byte, opts Options) error {
	p := parser{data: data, strict: opts.Strict, maxDepth: opts.maxDepth()}
	var mbuf [32]member
	p.members = mbuf[:0]
	return p.parseDocument()
}

// IsCanonical reports whether data is already byte-for-byte canonical under
// the strict rules (spec: appendices, "Canonical JSON").
func IsCanonical(data []byte) bool {
	return isCanonical(data)
}

// Marshal encodes a Go value canonically. Struct tags follow encoding/json;
// the result is then checked and canonicalized with StrictOptions, so floats
// with a fraction and integers outside [-(2^53)+1, 2^53-1] are errors.
func Marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return Canonicalize(b, StrictOptions)
}
