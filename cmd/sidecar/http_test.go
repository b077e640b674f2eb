package main

import (
	"net/http"
	"strings"
	"time"
)

var httpClient = &http.Client{Timeout: 30 * time.Second}

// testIngestToken is the ingest token of the tests' sidecars (serveEnv): a
// request that sends it is a server call.
const testIngestToken = "ingest-SECRET-0123456789abcdef"

func newJSONRequest(url, bearer, body string) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return req, nil
}
