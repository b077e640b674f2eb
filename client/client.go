// Package client posts a provider's conversions to glp-sidecar from a Go
// backend, and never drops one silently.
//
// A conversion is posted as a server call (Authorization: Bearer with the
// sidecar's GLP_INGEST_TOKEN) with its order id as the Idempotency-Key. A
// connection error, a timeout, a 429 and a 5xx (the sidecar restarting, its
// disk full) stored nothing, or nothing the key does not recognise: Track
// sends the same conversion again, with the same key, with backoff (and the
// sidecar's Retry-After) for RetryFor (a minute by default, 30 s at least).
// Only then, or on a 4xx (the request itself is wrong and would fail again),
// does it give up, and a conversion given up for want of an answer is
// written as one JSON line to Options.NotTracked, for the app to replay later
// (docs/integration.md shows how; Replay does it).
//
// Standard library only, so that a provider's app can vendor it alone.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults.
const (
	DefaultRetryFor     = time.Minute
	MinRetryFor         = 30 * time.Second // a sidecar's restart under Compose or Kubernetes takes seconds; an upgrade, more
	DefaultAttempt      = 5 * time.Second  // one attempt's timeout
	DefaultFirstBackoff = 200 * time.Millisecond
	DefaultMaxBackoff   = 5 * time.Second
	maxAnswerBytes      = 64 << 10
	maxKeyLen           = 256 // the sidecar's limit on an Idempotency-Key
	ConversionPath      = "/glp-s2s-conversion"
)

// Conversion is what the backend knows of one sign-up. ConversionID (your
// order or sign-up id) is required: it is the Idempotency-Key that makes a
// retry safe. Send at least one of ClickID, SessionToken, Email and IP.
type Conversion struct {
	ClickID      string `json:"glpClickId,omitempty"` // the _glp_cid cookie, set by the sidecar when the visitor landed
	SessionToken string `json:"session_token,omitempty"`
	Email        string `json:"email,omitempty"`
	IP           string `json:"ip,omitempty"` // the visitor's address
	ConversionID string `json:"conversion_id"`
}

// Answer is the sidecar's acknowledgement: Status "queued" (202) or
// "duplicate" (200: this order id was acknowledged before).
type Answer struct {
	Status  string `json:"status"`
	EventID string `json:"event_id"`
}

// Options configure a Client. URL is required.
type Options struct {
	URL         string       // the sidecar's public base URL, e.g. http://127.0.0.1:8787
	IngestToken string       // the sidecar's GLP_INGEST_TOKEN
	HTTPClient  *http.Client // nil: one with DefaultAttempt as its timeout
	RetryFor    time.Duration
	// FirstBackoff and MaxBackoff bound the wait between attempts (doubling,
	// with jitter); 0 means the default.
	FirstBackoff, MaxBackoff time.Duration
	// NotTracked receives one JSON line (a NotTracked) per conversion given
	// up for want of an answer: a file opened with O_APPEND, say. nil: the
	// line goes to the log only.
	NotTracked io.Writer
	Logger     *slog.Logger // nil discards
}

// NotTracked is the line written for a conversion given up: enough to send
// it again as it was (Replay).
type NotTracked struct {
	At             time.Time  `json:"at"`
	IdempotencyKey string     `json:"idempotency_key"`
	Body           Conversion `json:"body"`
	Error          string     `json:"error"`
}

// Client posts conversions. It is safe for concurrent use.
type Client struct {
	opts Options
	url  string
	mu   sync.Mutex // one NotTracked line at a time
}

// ErrNoConversionID is Track's error for a conversion without an order id:
// without one, a retry could count a sign-up twice, and a constant stand-in
// (an empty string, "0", "NaN") would make every later sign-up a duplicate.
var ErrNoConversionID = errors.New("client: ConversionID is required (your order or sign-up id): it is the Idempotency-Key that makes retries safe")

// ErrBadConversionID is Track's error for an order id the sidecar would
// refuse as an Idempotency-Key: 1 to 256 printable ASCII characters, no
// spaces (nor line breaks, which would end the header).
var ErrBadConversionID = errors.New("client: ConversionID must be 1 to 256 printable ASCII characters without spaces: it is the Idempotency-Key")

func validKey(s string) bool {
	if len(s) > maxKeyLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// Error is a refusal Track gives up on: the sidecar's status (0 when none
// came), its body, and whether it was recorded in NotTracked.
type Error struct {
	Status     int
	Body       string
	Err        error // the last transport error, when no answer came
	NotTracked bool  // written to Options.NotTracked for replay
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("sidecar unreachable: %v", e.Err)
	}
	return fmt.Sprintf("sidecar answered %d: %s", e.Status, e.Body)
}

func (e *Error) Unwrap() error { return e.Err }

// New checks the options and returns a Client.
func New(opts Options) (*Client, error) {
	if opts.URL == "" {
		return nil, errors.New("client: no sidecar URL")
	}
	if opts.RetryFor == 0 {
		opts.RetryFor = DefaultRetryFor
	}
	if opts.RetryFor < 0 {
		return nil, errors.New("client: RetryFor must be positive")
	}
	if opts.FirstBackoff <= 0 {
		opts.FirstBackoff = DefaultFirstBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: DefaultAttempt}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Client{opts: opts, url: strings.TrimRight(opts.URL, "/") + ConversionPath}, nil
}

// Track posts c until the sidecar acknowledges it (202 queued, 200
// duplicate), refuses it for good (a 4xx: an *Error), or RetryFor has
// passed (an *Error, with the conversion written to NotTracked). ctx ends
// the retries early (say, your server shutting down): the conversion is
// then written to NotTracked too.
func (c *Client) Track(ctx context.Context, conv Conversion) (Answer, error) {
	if strings.TrimSpace(conv.ConversionID) == "" {
		return Answer{}, ErrNoConversionID
	}
	if !validKey(conv.ConversionID) {
		return Answer{}, ErrBadConversionID
	}
	body, err := json.Marshal(conv)
	if err != nil {
		return Answer{}, fmt.Errorf("client: %w", err)
	}
	deadline := time.Now().Add(c.opts.RetryFor)
	backoff := c.opts.FirstBackoff
	for attempt := 1; ; attempt++ {
		answer, wait, err := c.post(ctx, conv.ConversionID, body)
		if err == nil {
			return answer, nil
		}
		var e *Error
		if errors.As(err, &e) && e.Status != 0 && !retryable(e.Status) {
			return Answer{}, err // the request is wrong: it would fail again
		}
		pause := jitter(backoff)
		backoff = min(2*backoff, c.opts.MaxBackoff)
		if wait > pause {
			pause = min(wait, c.opts.MaxBackoff)
		}
		if time.Now().Add(pause).After(deadline) || ctx.Err() != nil {
			return Answer{}, c.giveUp(conv, err, attempt)
		}
		c.opts.Logger.Warn("conversion not acknowledged yet; retrying", "conversion_id", conv.ConversionID, "attempt", attempt, "in", pause.Round(time.Millisecond).String(), "err", err)
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return Answer{}, c.giveUp(conv, err, attempt)
		}
	}
}

// retryable is a status that stored nothing for a reason of the moment.
func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500
}

// jitter is d ± 25 %.
func jitter(d time.Duration) time.Duration {
	return d - d/4 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// post makes one attempt; wait is the sidecar's Retry-After.
func (c *Client) post(ctx context.Context, key string, body []byte) (Answer, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return Answer{}, 0, &Error{Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key) // also lets net/http resend it on a keep-alive connection the sidecar closed
	if c.opts.IngestToken != "" {
		req.Header.Set("Authorization", "Bearer "+c.opts.IngestToken)
	}
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return Answer{}, 0, &Error{Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return Answer{}, 0, &Error{Err: fmt.Errorf("reading the answer (%d): %w", resp.StatusCode, err)}
	}
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return Answer{}, time.Duration(wait) * time.Second, &Error{Status: resp.StatusCode, Body: strings.TrimSpace(string(raw))}
	}
	var a Answer
	if err := json.Unmarshal(raw, &a); err != nil || a.EventID == "" {
		return Answer{}, 0, &Error{Status: resp.StatusCode, Body: string(raw), Err: fmt.Errorf("not the sidecar's answer: %w", err)}
	}
	return a, 0, nil
}

// giveUp writes conv to NotTracked and returns the error that ended it.
func (c *Client) giveUp(conv Conversion, last error, attempts int) error {
	e := &Error{}
	if !errors.As(last, &e) {
		e = &Error{Err: last}
	}
	line, err := json.Marshal(NotTracked{At: time.Now().UTC(), IdempotencyKey: conv.ConversionID, Body: conv, Error: e.Error()})
	if err == nil && c.opts.NotTracked != nil {
		c.mu.Lock()
		_, err = c.opts.NotTracked.Write(append(line, '\n'))
		c.mu.Unlock()
		e.NotTracked = err == nil
	}
	if err != nil {
		c.opts.Logger.Error("conversion not tracked, and not kept for replay", "conversion_id", conv.ConversionID, "err", err)
	}
	c.opts.Logger.Error("conversion not tracked", "conversion_id", conv.ConversionID, "attempts", attempts, "kept_for_replay", e.NotTracked, "err", e.Error())
	return e
}

// Replay sends again every conversion of r (lines written to NotTracked),
// each with its Idempotency-Key and Track's retries: one acknowledged
// before counts as a duplicate, never twice. It returns how many were
// acknowledged; those given up again are written to NotTracked anew, so
// replay into a new file, then replace the old one with it.
func (c *Client) Replay(ctx context.Context, r io.Reader) (int, error) {
	dec := json.NewDecoder(r)
	done := 0
	for line := 1; ; line++ {
		var nt NotTracked
		if err := dec.Decode(&nt); errors.Is(err, io.EOF) {
			return done, nil
		} else if err != nil {
			return done, fmt.Errorf("client: replay: line %d: %w", line, err)
		}
		if _, err := c.Track(ctx, nt.Body); err != nil {
			var e *Error
			if !errors.As(err, &e) || !e.NotTracked {
				c.opts.Logger.Error("replay: conversion refused", "conversion_id", nt.IdempotencyKey, "err", err)
			}
			continue
		}
		done++
	}
}
