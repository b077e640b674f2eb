package web

import (
	"errors"
	"net/http"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// statuses is the status each error code is answered with; any other code
// is answered with 500.
var statuses = map[string]int{
	sidecar.EInvalid:         http.StatusBadRequest,
	sidecar.ENothing:         http.StatusUnprocessableEntity,
	sidecar.ETooLarge:        http.StatusRequestEntityTooLarge,
	sidecar.EUnsupportedType: http.StatusUnsupportedMediaType,
	sidecar.ERateLimited:     http.StatusTooManyRequests,
	sidecar.EForbidden:       http.StatusForbidden,
	sidecar.EUnauthorized:    http.StatusUnauthorized,
	sidecar.ENotFound:        http.StatusNotFound,
	sidecar.EConflict:        http.StatusConflict,
	sidecar.EUnavailable:     http.StatusServiceUnavailable,
}

// ErrorBody is the JSON body of every error answer: the message and, for
// EInvalid, each bad field and why.
type ErrorBody struct {
	Error   string            `json:"error"`
	Details map[string]string `json:"details,omitempty"`
}

// Answer is the one mapping from an error to its answer: the status of its
// code and a body with its message and fields. An error without a code, or
// one whose code answers 500, is answered with internal, never its cause.
func Answer(err error, internal string) (int, ErrorBody) {
	var e *sidecar.Error
	if !errors.As(err, &e) {
		return http.StatusInternalServerError, ErrorBody{Error: internal}
	}
	status, ok := statuses[e.Code]
	if !ok {
		return http.StatusInternalServerError, ErrorBody{Error: internal}
	}
	return status, ErrorBody{Error: e.Message, Details: e.Fields}
}
