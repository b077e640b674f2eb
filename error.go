package sidecar

import "errors"

// Error codes, each answered with one HTTP status (internal/web.Answer).
const (
	EInvalid         = "invalid"          // 400: the body is not what the contract takes
	ENothing         = "nothing"          // 422: nothing to attribute the conversion to
	ETooLarge        = "too_large"        // 413
	EUnsupportedType = "unsupported_type" // 415
	ERateLimited     = "rate_limited"     // 429
	EForbidden       = "forbidden"        // 403: an origin that may not call
	EUnauthorized    = "unauthorized"     // 401: an Authorization header that is not the expected token
	ENotFound        = "not_found"        // 404
	EConflict        = "conflict"         // 409: not possible in the state the thing is in
	EUnavailable     = "unavailable"      // 503: the outbox cannot take a write now
	EInternal        = "internal"         // 500
)

// Error is a domain error with a code, a message fit for the caller, and,
// for EInvalid, the fields that were wrong and why.
type Error struct {
	Code    string
	Message string
	Fields  map[string]string
	Err     error // the cause, never shown to callers
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf is a shorthand for an Error with a code and a message.
func Errorf(code, message string) *Error { return &Error{Code: code, Message: message} }

// ErrorCode returns the code of the first *Error in err's chain, EInternal for
// any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}
