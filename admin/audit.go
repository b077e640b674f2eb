package admin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/internal/web"
)

// Audit actions: the admin requests that read personal data or change
// something.
const (
	ActionEventsList  = "events.list"
	ActionEventRead   = "event.read"
	ActionEventRetry  = "event.retry"
	ActionEventsRetry = "events.retry"
	ActionClicksList  = "clicks.list"
	ActionReportCSV   = "report.csv"
)

// auditRepeat is how long an identical read (same user, address, action,
// target and answer) is one line: an open dashboard re-reads its list
// every few seconds.
const auditRepeat = 5 * time.Minute

// request is what the guard learned of an admin request: its user, and
// the ids or range the handler touched.
type request struct {
	user   string
	target string
}

type requestKey struct{}

// withRequest gives the request a record of its user, for the audit.
func withRequest(r *http.Request, user string) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), requestKey{}, &request{user: user}))
}

func requestOf(r *http.Request) *request {
	if v, ok := r.Context().Value(requestKey{}).(*request); ok {
		return v
	}
	return nil
}

// touched notes the event ids or range a handler read or changed.
func touched(r *http.Request, target string) {
	if q := requestOf(r); q != nil {
		q.target = target
	}
}

// Fingerprint names a secret (an admin token, a session) in the audit
// without revealing it: the first 8 bytes of its SHA-256, in hex.
func Fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:8])
}

// audit records the request after it is answered: time, user, client
// address, action, target and status. A line that cannot be stored is
// logged at error level (the answer is already sent).
func (s *Server) audit(action string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if s.opts.Audit == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
			q := requestOf(r)
			if q == nil {
				r = withRequest(r, "anonymous")
				q = requestOf(r)
			}
			if q.target == "" {
				q.target = defaultTarget(r)
			}
			defer func() {
				e := sidecar.AuditEntry{At: s.opts.Now(), User: q.user, Client: web.ClientAddr(r, s.opts.Trusted).String(), Action: action, Target: sidecar.Clip(q.target, maxTarget), Status: rec.status}
				s.record(r.Context(), e, r.Method == http.MethodGet)
			}()
			next.ServeHTTP(rec, r)
		})
	}
}

// targetParams are the query parameters an audit line keeps: the range a
// read covered. Any other (a token, or whatever a caller adds) is left out,
// so that nothing personal reaches the audit through a URL.
var targetParams = []string{"state", "before", "limit", "from", "to", "tz", "test"}

// maxTarget bounds an audit line's target.
const maxTarget = 512

// defaultTarget is the request's path and the range its query asked for.
func defaultTarget(r *http.Request) string {
	q, kept := r.URL.Query(), url.Values{}
	for _, k := range targetParams {
		if v, ok := q[k]; ok {
			kept[k] = v
		}
	}
	return strings.TrimPrefix(r.URL.Path, "/admin/api/") + "?" + kept.Encode()
}

func (s *Server) record(ctx context.Context, e sidecar.AuditEntry, read bool) {
	if read {
		key := strings.Join([]string{e.User, e.Client, e.Action, e.Target, http.StatusText(e.Status)}, "\x00")
		s.auditMu.Lock()
		last, seen := s.auditRecent[key]
		if seen && e.At.Sub(last) < auditRepeat {
			s.auditMu.Unlock()
			return
		}
		for k, t := range s.auditRecent {
			if e.At.Sub(t) >= auditRepeat {
				delete(s.auditRecent, k)
			}
		}
		s.auditRecent[key] = e.At
		s.auditMu.Unlock()
	}
	if _, err := s.opts.Audit.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		s.opts.Logger.Error("audit line not stored", "action", e.Action, "user", e.User, "err", err)
	}
}

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// auditBody is GET /admin/api/audit's answer.
type auditBody struct {
	From   string               `json:"from"`
	To     string               `json:"to"`
	Lines  []sidecar.AuditEntry `json:"lines"`
	Anchor string               `json:"anchor,omitempty"`
}

// maxAuditLines caps one answer of the audit endpoint: the newest are kept.
const maxAuditLines = 5000

func handleAudit(store sidecar.AuditStore, now func() time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := sidecar.ParseReportQuery(r.URL.Query().Get("from"), r.URL.Query().Get("to"), "UTC", false, now())
		if err != nil {
			answerError(w, err)
			return
		}
		b := auditBody{From: q.From.Format(sidecar.DayLayout), To: q.To.Format(sidecar.DayLayout), Lines: []sidecar.AuditEntry{}}
		b.Anchor, err = store.AuditLines(r.Context(), q.From, q.To.AddDate(0, 0, 1), func(e sidecar.AuditEntry) error {
			b.Lines = append(b.Lines, e)
			if len(b.Lines) > maxAuditLines {
				b.Lines = b.Lines[1:]
			}
			return nil
		})
		if err != nil {
			answerError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, b)
	})
}
