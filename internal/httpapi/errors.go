package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/myelin-chat/myelin/internal/merr"
)

// Error is a Matrix standard error response (client-server-api, "Standard
// error response"): an HTTP status, an errcode, a human-readable message and
// any extra top-level keys the errcode defines.
type Error struct {
	Status  int
	Code    string
	Message string
	Extra   map[string]any
}

func (e *Error) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// Body returns the JSON object sent to the client: errcode and error always
// (the spec says they MUST be present), then the extras.
func (e *Error) Body() map[string]any {
	body := make(map[string]any, len(e.Extra)+2)
	for k, v := range e.Extra {
		body[k] = v
	}
	body["errcode"] = e.Code
	body["error"] = e.Message
	return body
}

func newError(status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Message: msg}
}

// Constructors, one per errcode (client-server-api, "Common error codes" and
// "Other error codes"; statuses from the endpoints that use them).

func Forbidden(msg string) *Error { return newError(http.StatusForbidden, merr.CodeForbidden, msg) }
func MissingToken(msg string) *Error {
	return newError(http.StatusUnauthorized, merr.CodeMissingToken, msg)
}
func NotJSON(msg string) *Error { return newError(http.StatusBadRequest, merr.CodeNotJSON, msg) }
func BadJSON(msg string) *Error { return newError(http.StatusBadRequest, merr.CodeBadJSON, msg) }
func InvalidParam(msg string) *Error {
	return newError(http.StatusBadRequest, merr.CodeInvalidParam, msg)
}
func MissingParam(msg string) *Error {
	return newError(http.StatusBadRequest, merr.CodeMissingParam, msg)
}
func TooLarge(msg string) *Error {
	return newError(http.StatusRequestEntityTooLarge, merr.CodeTooLarge, msg)
}
func NotFound(msg string) *Error  { return newError(http.StatusNotFound, merr.CodeNotFound, msg) }
func UserInUse(msg string) *Error { return newError(http.StatusBadRequest, merr.CodeUserInUse, msg) }
func InvalidUsername(msg string) *Error {
	return newError(http.StatusBadRequest, merr.CodeInvalidUsername, msg)
}
func RoomInUse(msg string) *Error { return newError(http.StatusBadRequest, merr.CodeRoomInUse, msg) }
func UnsupportedRoomVersion(msg string) *Error {
	return newError(http.StatusBadRequest, merr.CodeUnsupportedRoomVersion, msg)
}
func UserDeactivated(msg string) *Error {
	return newError(http.StatusForbidden, merr.CodeUserDeactivated, msg)
}
func WeakPassword(msg string) *Error {
	return newError(http.StatusBadRequest, merr.CodeWeakPassword, msg)
}
func GuestAccessForbidden(msg string) *Error {
	return newError(http.StatusForbidden, merr.CodeGuestAccessForbidden, msg)
}

// Unauthorized is 401 M_UNAUTHORIZED, used by the federation API for
// requests whose signature is missing or wrong.
func Unauthorized(msg string) *Error {
	return newError(http.StatusUnauthorized, merr.CodeUnauthorized, msg)
}

// Unknown is M_UNKNOWN with the given status: 500 for server faults, 400
// for requests that are wrong in a way no specific errcode describes.
func Unknown(status int, msg string) *Error { return newError(status, merr.CodeUnknown, msg) }

// Unrecognized is M_UNRECOGNIZED: 404 for an endpoint that does not exist,
// 405 for a known endpoint called with the wrong method.
func Unrecognized(status int, msg string) *Error {
	return newError(status, merr.CodeUnrecognized, msg)
}

// UnknownToken is 401 M_UNKNOWN_TOKEN. soft_logout is always present so
// clients need not guess its default (client-server-api, "Soft logout").
func UnknownToken(msg string, softLogout bool) *Error {
	e := newError(http.StatusUnauthorized, merr.CodeUnknownToken, msg)
	e.Extra = map[string]any{"soft_logout": softLogout}
	return e
}

// LimitExceeded is 429 M_LIMIT_EXCEEDED. WriteError also sends the
// Retry-After header the spec asks for (client-server-api, "Rate limiting");
// retry_after_ms is kept for older clients.
func LimitExceeded(retryAfter time.Duration) *Error {
	e := newError(http.StatusTooManyRequests, merr.CodeLimitExceeded, "Too many requests")
	ms := retryAfter.Milliseconds()
	if time.Duration(ms)*time.Millisecond < retryAfter {
		ms++
	}
	e.Extra = map[string]any{"retry_after_ms": ms}
	return e
}

// IncompatibleRoomVersion is 400 M_INCOMPATIBLE_ROOM_VERSION naming the
// room's version.
func IncompatibleRoomVersion(roomVersion string) *Error {
	e := newError(http.StatusBadRequest, merr.CodeIncompatibleRoomVer,
		"Your homeserver does not support the features required to join this room")
	e.Extra = map[string]any{"room_version": roomVersion}
	return e
}

// statusOfKind maps merr kinds to HTTP statuses.
var statusOfKind = []struct {
	kind   error
	status int
}{
	{merr.ErrBadRequest, http.StatusBadRequest},
	{merr.ErrUnauthorized, http.StatusUnauthorized},
	{merr.ErrForbidden, http.StatusForbidden},
	{merr.ErrNotFound, http.StatusNotFound},
	{merr.ErrConflict, http.StatusConflict},
	{merr.ErrTooLarge, http.StatusRequestEntityTooLarge},
	{merr.ErrLimitExceeded, http.StatusTooManyRequests},
	{merr.ErrUnavailable, http.StatusServiceUnavailable},
	{merr.ErrBadGateway, http.StatusBadGateway},
	{merr.ErrGatewayTimeout, http.StatusGatewayTimeout},
}

// internalError is what clients see for errors without Matrix meaning; the
// detail goes to the log only.
func internalError() *Error { return Unknown(http.StatusInternalServerError, "Internal server error") }

// FromError maps any error to the response it should produce:
//   - an *Error is used as it is;
//   - a *merr.Error gets the status of its Kind, its code and message;
//   - an error wrapping a merr kind sentinel gets that kind's status and
//     default code, with the error's text as message;
//   - a request body over its limit is 413 M_TOO_LARGE;
//   - anything else is 500 M_UNKNOWN with a generic message, so internal
//     details never reach clients.
//
// The second result reports whether err was unexpected (and should be
// logged with its detail).
func FromError(err error) (*Error, bool) {
	var he *Error
	if errors.As(err, &he) {
		return he, false
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return TooLarge(fmt.Sprintf("Request body is larger than %d bytes", mbe.Limit)), false
	}
	status := 0
	for _, sk := range statusOfKind {
		if errors.Is(err, sk.kind) {
			status = sk.status
			break
		}
	}
	if status == 0 {
		return internalError(), true
	}
	if me, ok := merr.As(err); ok {
		switch {
		case me.Code == merr.CodeUnknownToken:
			e := UnknownToken(me.Message, me.SoftLogout)
			e.Status = status
			return withExtra(e, me.Extra), false
		case me.Code == merr.CodeLimitExceeded || errors.Is(err, merr.ErrLimitExceeded):
			e := LimitExceeded(me.RetryAfter)
			e.Code, e.Message = me.Code, me.Message
			return withExtra(e, me.Extra), false
		}
		return withExtra(newError(status, me.Code, me.Message), me.Extra), false
	}
	return newError(status, merr.DefaultCode(err), err.Error()), false
}

func withExtra(e *Error, extra map[string]any) *Error {
	if len(extra) == 0 {
		return e
	}
	if e.Extra == nil {
		e.Extra = make(map[string]any, len(extra))
	}
	for k, v := range extra {
		if k != "errcode" && k != "error" {
			e.Extra[k] = v
		}
	}
	return e
}

// WriteError writes err as a Matrix error response (see FromError). For
// unexpected errors the detail is attached to the request's log line (when
// the request went through a Router) and never sent to the client.
func WriteError(w http.ResponseWriter, err error) {
	e, unexpected := FromError(err)
	if upstreamFailure(e.Status) {
		// Another server failed us: worth a warning with the detail
		// (Router.finish), not an error of ours.
		if sw := findStatusWriter(w); sw != nil {
			sw.info.err = err
		}
	}
	if unexpected {
		if sw := findStatusWriter(w); sw != nil {
			sw.info.err = err
		} else if !errors.Is(err, context.Canceled) {
			slog.Error("internal error outside a Router", "err", err)
		}
	}
	writeMatrixError(w, e)
}

// upstreamFailure reports whether status says another server failed a
// request that needed it (502, 504).
func upstreamFailure(status int) bool {
	return status == http.StatusBadGateway || status == http.StatusGatewayTimeout
}

func writeMatrixError(w http.ResponseWriter, e *Error) {
	if e.Code == merr.CodeLimitExceeded {
		if ms, ok := e.Extra["retry_after_ms"].(int64); ok && ms > 0 {
			w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(float64(ms)/1000)), 10))
		}
	}
	WriteJSON(w, e.Status, e.Body())
}
