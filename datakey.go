package sidecar

import (
	"context"
	"time"
)

// DataKey is one day's data key as a store keeps it: encrypted (wrapped)
// under the key of GLP_DATA_KEY_FILE, never in the clear.
type DataKey struct {
	Day     string // YYYY-MM-DD (UTC): the day whose personal data it seals
	Wrapped []byte // the data key, sealed by the file's key
}

// KeyStore keeps the wrapped data keys beside the data they seal, and the
// fingerprint of the file key that wraps them.
type KeyStore interface {
	// KeyFingerprint is the fingerprint of the file key the store's data
	// keys are wrapped with; "" when the store was never written with one.
	KeyFingerprint(ctx context.Context) (string, error)
	// SetKeyFingerprint records it, once, when a store is first opened with
	// a key; it fails with EConflict when another is recorded.
	SetKeyFingerprint(ctx context.Context, fingerprint string) error
	// DataKeys returns every data key that was not destroyed.
	DataKeys(ctx context.Context) ([]DataKey, error)
	// AddDataKey stores k unless its day has a key already, and returns
	// the day's key as stored (another sidecar of the fleet may have won).
	AddDataKey(ctx context.Context, k DataKey) (DataKey, error)
	// DestroyDataKeys deletes the keys of the days before day, leaving
	// nothing of them in the store's files, and returns their days.
	DestroyDataKeys(ctx context.Context, before string) ([]string, error)
	// RewrapDataKeys replaces the wrapped keys of keys' days and the
	// fingerprint in one transaction (key rotation).
	RewrapDataKeys(ctx context.Context, keys []DataKey, fingerprint string) error
}

// KeyDay is the day (UTC, YYYY-MM-DD) whose data key seals what is stored
// at t.
func KeyDay(t time.Time) string { return t.UTC().Format(DayLayout) }
