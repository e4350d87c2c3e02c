// Package merr gives every layer of Myelin a way to return errors that carry
// their Matrix meaning (spec: client-server-api, "Standard error response")
// without importing HTTP. Storage, the room engine and services wrap one of
// the Kind sentinels, usually through a constructor such as Forbidden or
// BadRequest; internal/httpapi turns them into status codes and
// {"errcode", "error"} bodies in exactly one place.
//
// The errcode strings of the spec are written here and nowhere else.
package merr

import (
	"errors"
	"fmt"
	"time"
)

// Kinds of failure. Each maps to one HTTP status in internal/httpapi; the
// errcode refines it. Lower layers may return these bare (or wrapped with
// fmt.Errorf("...: %w", merr.ErrNotFound)) when the default errcode of the
// kind is right.
var (
	ErrBadRequest    = errors.New("bad request")         // 400
	ErrUnauthorized  = errors.New("unauthorized")        // 401
	ErrForbidden     = errors.New("forbidden")           // 403
	ErrNotFound      = errors.New("not found")           // 404
	ErrConflict      = errors.New("conflict")            // 409
	ErrTooLarge      = errors.New("too large")           // 413
	ErrLimitExceeded = errors.New("rate limit exceeded") // 429
	ErrUnavailable   = errors.New("unavailable")         // 503
	// ErrBadGateway and ErrGatewayTimeout are failures of another server
	// that a request needed: unreachable, refusing TLS, answering nonsense
	// (502), or not answering in time (504).
	ErrBadGateway     = errors.New("bad gateway")     // 502
	ErrGatewayTimeout = errors.New("gateway timeout") // 504
)

// Error codes used by Myelin (client-server-api "Common error codes" and
// "Other error codes", plus the per-endpoint ones).
const (
	CodeBadJSON                = "M_BAD_JSON"
	CodeNotJSON                = "M_NOT_JSON"
	CodeForbidden              = "M_FORBIDDEN"
	CodeLimitExceeded          = "M_LIMIT_EXCEEDED"
	CodeMissingToken           = "M_MISSING_TOKEN"
	CodeUnknownToken           = "M_UNKNOWN_TOKEN"
	CodeNotFound               = "M_NOT_FOUND"
	CodeUnknown                = "M_UNKNOWN"
	CodeUnrecognized           = "M_UNRECOGNIZED"
	CodeInvalidParam           = "M_INVALID_PARAM"
	CodeMissingParam           = "M_MISSING_PARAM"
	CodeTooLarge               = "M_TOO_LARGE"
	CodeUserInUse              = "M_USER_IN_USE"
	CodeInvalidUsername        = "M_INVALID_USERNAME"
	CodeRoomInUse              = "M_ROOM_IN_USE"
	CodeUnsupportedRoomVersion = "M_UNSUPPORTED_ROOM_VERSION"
	CodeIncompatibleRoomVer    = "M_INCOMPATIBLE_ROOM_VERSION"
	CodeExclusive              = "M_EXCLUSIVE"
	CodeUserDeactivated        = "M_USER_DEACTIVATED"
	CodeWeakPassword           = "M_WEAK_PASSWORD"
	CodeGuestAccessForbidden   = "M_GUEST_ACCESS_FORBIDDEN"
	CodeUnauthorized           = "M_UNAUTHORIZED"
	CodeBadState               = "M_BAD_STATE"
	CodeInvalidRoomState       = "M_INVALID_ROOM_STATE"
	CodeResourceLimitExceeded  = "M_RESOURCE_LIMIT_EXCEEDED"
	CodeThreepidNotFound       = "M_THREEPID_NOT_FOUND"
	CodeThreepidInUse          = "M_THREEPID_IN_USE"
	CodeThreepidDenied         = "M_THREEPID_DENIED"
	// CodeThreepidMediumNotSupported: the server does not add third-party
	// IDs of that medium (spec v1.13, MSC4178).
	CodeThreepidMediumNotSupported = "M_THREEPID_MEDIUM_NOT_SUPPORTED"
	CodeThreepidAuthFailed         = "M_THREEPID_AUTH_FAILED"
	CodeServerNotTrusted           = "M_SERVER_NOT_TRUSTED"
	CodeProfileTooLarge            = "M_PROFILE_TOO_LARGE"
	CodeKeyTooLarge                = "M_KEY_TOO_LARGE"
	CodeUserLocked                 = "M_USER_LOCKED"
	CodeUserSuspended              = "M_USER_SUSPENDED"
	// CodeCannotLeaveServerNoticeRoom: client-server-api "Server Notices".
	CodeCannotLeaveServerNoticeRoom = "M_CANNOT_LEAVE_SERVER_NOTICE_ROOM"
	// CodeInviteBlocked: the invitee blocks invites (client-server-api
	// "Invite permission", spec v1.18).
	CodeInviteBlocked = "M_INVITE_BLOCKED"
	// CodeInvalidSignature: a signed key whose signature does not verify
	// (keys.yaml, /keys/signatures/upload failures; Synapse uses it for
	// /keys/upload too).
	CodeInvalidSignature = "M_INVALID_SIGNATURE"
	// CodeWrongRoomKeysVersion: a key backup write named a version that is
	// not the current one (key_backup.yaml, 403 with current_version).
	CodeWrongRoomKeysVersion = "M_WRONG_ROOM_KEYS_VERSION"
	// Restricted joins (server-server-api "Joining Rooms"): the resident
	// server cannot check the allow conditions, or the user qualifies but
	// none of its users may invite; the joining server tries another.
	CodeUnableToAuthoriseJoin = "M_UNABLE_TO_AUTHORISE_JOIN"
	CodeUnableToGrantJoin     = "M_UNABLE_TO_GRANT_JOIN"
	// Content repository (content-repo.yaml): a second upload to an ID
	// from /media/v1/create (409), and content still being uploaded when
	// a download's timeout_ms ran out (504).
	CodeCannotOverwriteMedia = "M_CANNOT_OVERWRITE_MEDIA"
	// Application services (application-service-api.md): a device_id the
	// user does not have, /login or /register refusals, and the errors of
	// POST /appservice/{appserviceId}/ping.
	CodeUnknownDevice              = "M_UNKNOWN_DEVICE"
	CodeAppserviceLoginUnsupported = "M_APPSERVICE_LOGIN_UNSUPPORTED"
	CodeURLNotSet                  = "M_URL_NOT_SET"
	CodeBadStatus                  = "M_BAD_STATUS"
	CodeConnectionFailed           = "M_CONNECTION_FAILED"
	CodeConnectionTimeout          = "M_CONNECTION_TIMEOUT"
	CodeNotYetUploaded             = "M_NOT_YET_UPLOADED"
)

// Error is an error with a Matrix errcode. Kind is one of the sentinels
// above and decides the HTTP status.
type Error struct {
	Kind    error
	Code    string
	Message string
	// RetryAfter is set on ErrLimitExceeded errors.
	RetryAfter time.Duration
	// SoftLogout is set on M_UNKNOWN_TOKEN errors whose session the client
	// may resume by logging in again with the same device (spec:
	// client-server-api, "Soft logout").
	SoftLogout bool
	// Extra holds additional top-level keys of the error response that an
	// errcode defines (e.g. "room_version" for M_INCOMPATIBLE_ROOM_VERSION).
	Extra map[string]any
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code
	}
	return e.Code + ": " + e.Message
}

// Unwrap makes errors.Is(err, merr.ErrForbidden) and friends work.
func (e *Error) Unwrap() error { return e.Kind }

// New returns an error of the given kind and errcode.
func New(kind error, code, msg string) *Error {
	return &Error{Kind: kind, Code: code, Message: msg}
}

// Newf is New with a formatted message.
func Newf(kind error, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// CodeOf returns the errcode err carries: its *Error's Code, the default
// code of the Kind it wraps, or "" for errors without Matrix meaning.
func CodeOf(err error) string {
	if e, ok := As(err); ok {
		return e.Code
	}
	return DefaultCode(err)
}

// DefaultCode is the errcode for an error that wraps a Kind but carries no
// code of its own; "" when err wraps no Kind.
func DefaultCode(err error) string {
	switch {
	case errors.Is(err, ErrNotFound):
		return CodeNotFound
	case errors.Is(err, ErrForbidden):
		return CodeForbidden
	case errors.Is(err, ErrUnauthorized):
		return CodeUnknownToken
	case errors.Is(err, ErrLimitExceeded):
		return CodeLimitExceeded
	case errors.Is(err, ErrTooLarge):
		return CodeTooLarge
	case errors.Is(err, ErrBadRequest), errors.Is(err, ErrConflict), errors.Is(err, ErrUnavailable),
		errors.Is(err, ErrBadGateway), errors.Is(err, ErrGatewayTimeout):
		return CodeUnknown
	}
	return ""
}

// Constructors for the common cases, named after the errcode.

// Forbidden is 403 M_FORBIDDEN.
func Forbidden(msg string) *Error { return New(ErrForbidden, CodeForbidden, msg) }

// NotFound is 404 M_NOT_FOUND.
func NotFound(msg string) *Error { return New(ErrNotFound, CodeNotFound, msg) }

// BadRequest is a 400 with the given errcode (M_INVALID_PARAM, M_BAD_JSON, ...).
func BadRequest(code, msg string) *Error { return New(ErrBadRequest, code, msg) }

// InvalidParam is 400 M_INVALID_PARAM.
func InvalidParam(msg string) *Error { return BadRequest(CodeInvalidParam, msg) }

// MissingParam is 400 M_MISSING_PARAM.
func MissingParam(msg string) *Error { return BadRequest(CodeMissingParam, msg) }

// BadJSON is 400 M_BAD_JSON.
func BadJSON(msg string) *Error { return BadRequest(CodeBadJSON, msg) }

// UnknownToken is 401 M_UNKNOWN_TOKEN; soft says whether the client may
// resume its session (spec: "Soft logout").
func UnknownToken(msg string, soft bool) *Error {
	e := New(ErrUnauthorized, CodeUnknownToken, msg)
	e.SoftLogout = soft
	return e
}

// MissingToken is 401 M_MISSING_TOKEN.
func MissingToken(msg string) *Error { return New(ErrUnauthorized, CodeMissingToken, msg) }

// LimitExceeded is 429 M_LIMIT_EXCEEDED with a retry hint.
func LimitExceeded(retryAfter time.Duration) *Error {
	e := New(ErrLimitExceeded, CodeLimitExceeded, "Too many requests")
	e.RetryAfter = retryAfter
	return e
}

// TooLarge is 413 M_TOO_LARGE.
func TooLarge(msg string) *Error { return New(ErrTooLarge, CodeTooLarge, msg) }

// UserInUse is 400 M_USER_IN_USE.
func UserInUse(msg string) *Error { return BadRequest(CodeUserInUse, msg) }

// InvalidUsername is 400 M_INVALID_USERNAME.
func InvalidUsername(msg string) *Error { return BadRequest(CodeInvalidUsername, msg) }

// WeakPassword is 400 M_WEAK_PASSWORD.
func WeakPassword(msg string) *Error { return BadRequest(CodeWeakPassword, msg) }

// UserDeactivated is 403 M_USER_DEACTIVATED.
func UserDeactivated(msg string) *Error { return New(ErrForbidden, CodeUserDeactivated, msg) }

// UserLocked is 401 M_USER_LOCKED with soft_logout, as Synapse answers
// for a locked account (client-server-api "Other error codes": the
// account "has been locked and cannot be used at this time").
func UserLocked(msg string) *Error {
	e := New(ErrUnauthorized, CodeUserLocked, msg)
	e.Extra = map[string]any{"soft_logout": true}
	return e
}

// UserSuspended is 403 M_USER_SUSPENDED: the action is one a suspended
// account may not take (client-server-api "Account suspension").
func UserSuspended(msg string) *Error { return New(ErrForbidden, CodeUserSuspended, msg) }

// Exclusive is 400 M_EXCLUSIVE: a user ID or alias in an application
// service's exclusive namespace, claimed by someone else (or one outside
// its namespaces, claimed by an appservice).
func Exclusive(msg string) *Error { return BadRequest(CodeExclusive, msg) }

// InviteBlocked is 403 M_INVITE_BLOCKED: the invitee's
// m.invite_permission_config blocks invites.
func InviteBlocked(msg string) *Error { return New(ErrForbidden, CodeInviteBlocked, msg) }

// GuestAccessForbidden is 403 M_GUEST_ACCESS_FORBIDDEN.
func GuestAccessForbidden(msg string) *Error {
	return New(ErrForbidden, CodeGuestAccessForbidden, msg)
}
