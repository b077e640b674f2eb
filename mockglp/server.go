// Package mockglp is a mock of GLP Winner's tracking API: the S2S conversion
// endpoint with its authentication, validation and attribution rules, the
// session service of the browser SDK, fault injection and a live page. It
// imports nothing of the sidecar, so that the sidecar is tested against the
// upstream's rules and not against its own.
package mockglp

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

// Defaults.
const (
	DefaultSoftMatchWindow = 720 * time.Hour
	maxBodyBytes           = 1 << 20
)

// Options configure a Server.
type Options struct {
	Providers       map[string]int64 // API token → provider id
	DBPath          string           // SQLite file; "" keeps the store in memory
	SoftMatchWindow time.Duration    // how far back soft-matching looks; 0 means the default
	Logger          *slog.Logger     // nil discards
	Now             func() time.Time // nil is time.Now
}

// Server is the mock upstream, an http.Handler.
type Server struct {
	opts    Options
	store   *store
	faults  faults
	handler http.Handler
}

// New opens the mock's store and returns the server.
func New(opts Options) (*Server, error) {
	if opts.SoftMatchWindow == 0 {
		opts.SoftMatchWindow = DefaultSoftMatchWindow
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	st, err := openStore(opts.DBPath)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, store: st}
	s.handler = s.routes()
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Close closes the store.
func (s *Server) Close() error { return s.store.close() }

// SetFault sets the fault for the next conversion calls, as POST
// /_mock/faults does.
func (s *Server) SetFault(f Fault) { s.faults.set(f) }

func (s *Server) handleConversion() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, faulty := s.faults.take()
		if faulty {
			if f.Delay > 0 {
				select {
				case <-time.After(time.Duration(f.Delay)):
				case <-r.Context().Done():
					return
				}
			}
			if f.Drop && !f.After {
				s.opts.Logger.Info("mock fault: connection dropped unanswered")
				dropConnection(w)
				return
			}
			if f.Status != 0 {
				if f.RetryAfter != "" {
					w.Header().Set("Retry-After", f.RetryAfter)
				}
				if f.Location != "" {
					w.Header().Set("Location", f.Location)
				}
				s.opts.Logger.Info("mock fault: status", "status", f.Status)
				encode(w, f.Status, errorBody{Error: http.StatusText(f.Status)})
				return
			}
		}
		out := s.convert(r)
		s.opts.Logger.Info("mock conversion", "status", out.status, "method", out.method, "test", testMode(r))
		if faulty && f.Drop && f.After {
			s.opts.Logger.Info("mock fault: answer dropped after recording")
			dropConnection(w)
			return
		}
		encode(w, out.status, out.body)
	})
}

// convert checks a conversion call in the order the upstream does: token
// present, token known, body valid, provider id the token's, then
// attribution.
func (s *Server) convert(r *http.Request) outcome {
	token, ok := bearer(r)
	if !ok {
		return outcome{status: http.StatusUnauthorized, body: errorBody{Error: "Unauthorized: API token missing."}}
	}
	provider, known := s.opts.Providers[token]
	if !known {
		return outcome{status: http.StatusForbidden, body: errorBody{Error: "Unauthorized: Invalid API token."}}
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBodyBytes))
	if err != nil {
		return outcome{status: http.StatusBadRequest, body: errorBody{Error: "Invalid request body", Details: &zodErrors{root: []string{msgInvalidJSON}}}}
	}
	req, zerr := validateConversion(body)
	if !zerr.empty() {
		return outcome{status: http.StatusBadRequest, body: errorBody{Error: "Invalid request body", Details: zerr}}
	}
	if req.ProviderID != provider {
		return outcome{status: http.StatusForbidden, body: errorBody{Error: "Unauthorized: Provider ID mismatch."}}
	}
	c := call{test: testMode(r), sourceIP: remoteIP(r), now: s.opts.Now(), window: s.opts.SoftMatchWindow}
	var out outcome
	err = s.store.inTx(context.WithoutCancel(r.Context()), func(tx *sql.Tx) error {
		var err error
		out, err = attribute(tx, req, c)
		return err
	})
	if err != nil {
		s.opts.Logger.Error("mock conversion failed", "err", err)
		return outcome{status: http.StatusInternalServerError, body: errorBody{Error: "Internal Server Error"}}
	}
	return out
}

func (s *Server) handleSession() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Content-Type")
		h.Set("Access-Control-Max-Age", "600")
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
		if err != nil {
			encode(w, http.StatusBadRequest, errorBody{Error: "Invalid request body"})
			return
		}
		req, zerr := validateSession(body)
		if zerr.empty() && !s.knownProvider(req.ProviderID) {
			zerr.add("providerId", msgUnknownProvi)
		}
		if !zerr.empty() {
			encode(w, http.StatusBadRequest, errorBody{Error: "Invalid request body", Details: zerr})
			return
		}
		utm, _ := json.Marshal(req.UTM)
		if req.UTM == nil {
			utm = nil
		}
		token, err := s.store.upsertSessionClick(context.WithoutCancel(r.Context()), click{
			ClickID: req.ClickID, ProviderID: req.ProviderID, Test: testMode(r), IP: remoteIP(r), Email: req.Email,
			UserAgent: r.UserAgent(), UTM: string(utm), createdNano: s.opts.Now().UnixNano(),
		})
		if err != nil {
			s.opts.Logger.Error("mock session failed", "err", err)
			encode(w, http.StatusInternalServerError, errorBody{Error: "Internal Server Error"})
			return
		}
		encode(w, http.StatusCreated, map[string]string{"status": "ok", "session_token": token})
	})
}

func (s *Server) knownProvider(id int64) bool {
	for _, p := range s.opts.Providers {
		if p == id {
			return true
		}
	}
	return false
}

func (s *Server) handleClicks() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		list, err := s.store.clicks(r.Context())
		s.answerList(w, list, err)
	})
}

func (s *Server) handleConversions() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		list, err := s.store.conversions(r.Context())
		s.answerList(w, list, err)
	})
}

func (s *Server) answerList(w http.ResponseWriter, list any, err error) {
	if err != nil {
		s.opts.Logger.Error("mock list failed", "err", err)
		encode(w, http.StatusInternalServerError, errorBody{Error: "Internal Server Error"})
		return
	}
	encode(w, http.StatusOK, list)
}

func (s *Server) handleReset() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.store.reset(r.Context()); err != nil {
			s.opts.Logger.Error("mock reset failed", "err", err)
			encode(w, http.StatusInternalServerError, errorBody{Error: "Internal Server Error"})
			return
		}
		s.faults.set(Fault{})
		encode(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

func (s *Server) handleFaults() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			var f Fault
			dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
				encode(w, http.StatusBadRequest, errorBody{Error: "Invalid fault: " + err.Error()})
				return
			}
			if err := f.validate(); err != nil {
				encode(w, http.StatusBadRequest, errorBody{Error: "Invalid fault: " + err.Error()})
				return
			}
			s.faults.set(f)
		}
		encode(w, http.StatusOK, s.faults.state())
	})
}

func bearer(r *http.Request) (string, bool) {
	const prefix = "Bearer "
	h := r.Header.Get("Authorization")
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	return h[len(prefix):], true
}

func testMode(r *http.Request) bool { return r.URL.Query().Get("testMode") == "true" }

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func encode(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
