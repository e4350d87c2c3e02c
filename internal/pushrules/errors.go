package pushrules

import "errors"

var (
	errBadAction = errors.New("an action must be a string or an object with a string set_tweak")
	errNotObject = errors.New("event is not a JSON object")
)
