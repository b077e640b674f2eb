package sidecar

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// AuditEntry is one line of the admin audit log: who read personal data or
// changed something, from where, what, and the answer. It holds no
// personal data: events are named by id, reads by their query.
type AuditEntry struct {
	Seq    int64     `json:"seq"`
	At     time.Time `json:"at"`
	User   string    `json:"user"`   // the proxy's user, "token:<fingerprint>", "cli:<os user>" or "anonymous"
	Client string    `json:"client"` // the client's address (the peer, or the right-most untrusted X-Forwarded-For)
	Action string    `json:"action"` // events.list, event.read, event.retry, events.retry, clicks.list, report.csv, outbox.retry, outbox.purge
	Target string    `json:"target"` // the event ids or the range it touched
	Status int       `json:"status"` // the answer's HTTP status; for the CLI 0 (done) or 1 (failed)
	Prev   string    `json:"prev"`   // the hash of the line before (the anchor for the first line)
	Hash   string    `json:"hash"`   // SHA-256 of Prev and this line's fields
}

// AuditStore keeps the audit log, chained: each line's hash covers the line
// before's, so that an edited or a deleted line breaks the chain.
type AuditStore interface {
	// AppendAudit chains e to the last line (sets Seq, Prev and Hash, one
	// writer at a time across the fleet) and stores it.
	AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error)
	// AuditLines calls fn with the lines at or after from and before to
	// (zero: no bound), in order, and returns the anchor: the hash the
	// first line kept must chain to ("" while retention deleted none).
	AuditLines(ctx context.Context, from, to time.Time, fn func(AuditEntry) error) (anchor string, err error)
	// RetainAudit deletes the lines older than age, keeps the last deleted
	// line's hash as the anchor, and returns how many it deleted.
	RetainAudit(ctx context.Context, age time.Duration) (int, error)
}

// ChainHash is the hash of a line whose predecessor's hash is prev: SHA-256
// over prev and the line's fields, each quoted, so that no two lines share
// an input.
func (e AuditEntry) ChainHash(prev string) string {
	fields, _ := json.Marshal([]string{prev, strconv.FormatInt(e.Seq, 10), strconv.FormatInt(e.At.UnixMilli(), 10), e.User, e.Client, e.Action, e.Target, strconv.Itoa(e.Status)})
	sum := sha256.Sum256(fields)
	return hex.EncodeToString(sum[:])
}

// Chain sets e's Seq, Prev and Hash after the line whose seq and hash are
// given (0 and the anchor for the first line).
func (e AuditEntry) Chain(lastSeq int64, lastHash string) AuditEntry {
	e.Seq, e.Prev = lastSeq+1, lastHash
	e.At = e.At.Truncate(time.Millisecond)
	e.Hash = e.ChainHash(e.Prev)
	return e
}

// AuditVerifier checks the chain line by line.
type AuditVerifier struct {
	prev    string
	prevSeq int64
	started bool
	Lines   int
}

// NewAuditVerifier starts a walk from the anchor.
func NewAuditVerifier(anchor string) *AuditVerifier { return &AuditVerifier{prev: anchor} }

// Check checks the next line: its Prev is the last line's hash (or the
// anchor), its Seq follows, and its Hash is its own. The error names the
// line and what is wrong.
func (v *AuditVerifier) Check(e AuditEntry) error {
	v.Lines++
	switch {
	case e.Prev != v.prev:
		return fmt.Errorf("line %d (seq %d): does not follow the line before: a line before it was deleted or edited", v.Lines, e.Seq)
	case v.started && e.Seq != v.prevSeq+1:
		return fmt.Errorf("line %d (seq %d): the line before was seq %d: lines were deleted", v.Lines, e.Seq, v.prevSeq)
	case e.Hash != e.ChainHash(e.Prev):
		return fmt.Errorf("line %d (seq %d): edited: its hash does not match its fields", v.Lines, e.Seq)
	}
	v.prev, v.prevSeq, v.started = e.Hash, e.Seq, true
	return nil
}
