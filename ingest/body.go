package ingest

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// readBody reads the request's body, at most maxBodyBytes of it.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err == nil {
		return data, nil
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, sidecar.Errorf(sidecar.ETooLarge, fmt.Sprintf("Request body too large: at most %d bytes", maxBodyBytes))
	}
	return nil, &sidecar.Error{Code: sidecar.EInvalid, Message: "Invalid request body", Fields: map[string]string{"body": "could not be read"}}
}
