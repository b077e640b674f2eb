package web_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/internal/web"
)

func TestAnswerGivesACodesStatusAndMessageAndHidesEveryOtherCause(t *testing.T) {
	const internal = "Internal error"
	for _, tt := range []struct {
		err    error
		status int
		body   string
	}{
		{&sidecar.Error{Code: sidecar.EInvalid, Message: "Invalid request body", Fields: map[string]string{"email": "must be an email"}}, 400,
			`{"error":"Invalid request body","details":{"email":"must be an email"}}`},
		{fmt.Errorf("append: %w", sidecar.Errorf(sidecar.ENothing, "Nothing to attribute")), 422, `{"error":"Nothing to attribute"}`},
		{sidecar.Errorf(sidecar.EUnavailable, "disk full"), 503, `{"error":"disk full"}`},
		{sidecar.Errorf(sidecar.ERateLimited, "Too many"), 429, `{"error":"Too many"}`},
		{&sidecar.Error{Code: sidecar.EInternal, Message: "secret path /var/lib/x", Err: errors.New("io")}, 500, `{"error":"Internal error"}`},
		{&sidecar.Error{Code: "no_such_code", Message: "secret"}, 500, `{"error":"Internal error"}`},
		{errors.New("database is locked at /var/lib/x"), 500, `{"error":"Internal error"}`},
	} {
		status, body := web.Answer(tt.err, internal)
		b, _ := json.Marshal(body)
		if status != tt.status || string(b) != tt.body {
			t.Errorf("Answer(%v) = %d %s, want %d %s", tt.err, status, b, tt.status, tt.body)
		}
	}
}
