package merr

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestKindsAndCodesSurviveWrapping(t *testing.T) {
	tests := []struct {
		name string
		err  error
		kind error
		code string
	}{
		{"Forbidden", Forbidden("x"), ErrForbidden, CodeForbidden},
		{"wrapped NotFound", fmt.Errorf("room: %w", NotFound("x")), ErrNotFound, CodeNotFound},
		{"bare kind", fmt.Errorf("device: %w", ErrNotFound), ErrNotFound, CodeNotFound},
		{"bare forbidden", ErrForbidden, ErrForbidden, CodeForbidden},
		{"UserInUse is a bad request", UserInUse("x"), ErrBadRequest, CodeUserInUse},
		{"UserDeactivated is forbidden", UserDeactivated("x"), ErrForbidden, CodeUserDeactivated},
		{"UnknownToken", UnknownToken("x", true), ErrUnauthorized, CodeUnknownToken},
		{"MissingToken", MissingToken("x"), ErrUnauthorized, CodeMissingToken},
		{"LimitExceeded", LimitExceeded(time.Second), ErrLimitExceeded, CodeLimitExceeded},
		{"TooLarge", TooLarge("x"), ErrTooLarge, CodeTooLarge},
		{"bare bad request", ErrBadRequest, ErrBadRequest, CodeUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.kind) {
				t.Errorf("errors.Is(%v, %v) = false", tt.err, tt.kind)
			}
			if got := CodeOf(tt.err); got != tt.code {
				t.Errorf("CodeOf = %s, want %s", got, tt.code)
			}
		})
	}
	if CodeOf(errors.New("plain")) != "" {
		t.Error("a plain error has no code")
	}
	e := UnknownToken("expired", true)
	if !e.SoftLogout || e.Error() != "M_UNKNOWN_TOKEN: expired" {
		t.Errorf("UnknownToken = %+v, %q", e, e.Error())
	}
	if me, ok := As(fmt.Errorf("x: %w", LimitExceeded(2*time.Second))); !ok || me.RetryAfter != 2*time.Second {
		t.Errorf("As = %v, %v", me, ok)
	}
}
