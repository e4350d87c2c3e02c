package remote

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/federation/fedclient"
	"github.com/myelin-chat/myelin/internal/merr"
)

// What the client gets when the Policy Server does not sign: its Matrix
// error verbatim (server-server-api "Validating Policy Server
// signatures"), otherwise a gateway error naming it and why.
func TestPolicyServerError_RefusalsVerbatimFailuresAsGatewayErrors(t *testing.T) {
	const via = "policy.example"
	answer := func(status int, code, msg string) error {
		return &fedclient.Error{Destination: via, Status: status, Errcode: code, Message: msg, RetryAfter: 2 * time.Second}
	}
	for _, tc := range []struct {
		name     string
		err      error
		kind     error
		code     string
		contains string
	}{
		{"refused", answer(400, "M_FORBIDDEN", "spam"), merr.ErrBadRequest, "M_FORBIDDEN", "spam"},
		{"ACL'd", answer(403, "M_FORBIDDEN", "not you"), merr.ErrForbidden, "M_FORBIDDEN", "not you"},
		{"unknown room", answer(404, "M_NOT_FOUND", "Unknown room"), merr.ErrNotFound, "M_NOT_FOUND", "Unknown room"},
		{"not a Policy Server", answer(404, "M_UNRECOGNIZED", "no"), merr.ErrNotFound, "M_UNRECOGNIZED", "no"},
		{"rate limited", answer(429, "M_LIMIT_EXCEEDED", "slow down"), merr.ErrLimitExceeded, "M_LIMIT_EXCEEDED", "slow down"},
		{"server error with errcode", answer(500, "M_UNKNOWN", "oops"), merr.ErrBadGateway, "M_UNKNOWN", "oops"},
		{"answer without errcode", answer(502, "", ""), merr.ErrBadGateway, "M_UNKNOWN", "answered 502"},
		{"connection refused", fmt.Errorf("%w: %w", fedclient.ErrUnreachable, syscall.ECONNREFUSED), merr.ErrBadGateway, "M_UNKNOWN", "connection refused"},
		{"timed out", fmt.Errorf("%w: %w", fedclient.ErrUnreachable, context.DeadlineExceeded), merr.ErrGatewayTimeout, "M_UNKNOWN", "did not answer in time"},
		{"blocked", fmt.Errorf("dial: %w", fedclient.ErrBlocked), merr.ErrBadGateway, "M_UNKNOWN", "ip_range_blacklist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := policyServerError(via, tc.err)
			me, ok := merr.As(err)
			if !ok || !errors.Is(err, tc.kind) || me.Code != tc.code || !strings.Contains(me.Message, tc.contains) {
				t.Errorf("got %v (kind ok %v), want %v %s containing %q", err, errors.Is(err, tc.kind), tc.kind, tc.code, tc.contains)
			}
		})
	}
}
