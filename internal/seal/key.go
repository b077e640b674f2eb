// Package seal encrypts the personal data the stores keep (email, IP,
// session token, user agent, referrer) with AES-256-GCM under a data key of
// its day, each data key wrapped by the key of GLP_DATA_KEY_FILE and kept
// in the store beside the data. Destroying a day's data key leaves that
// day's personal data unreadable in every copy of the store. Store wraps a
// sidecar.Store so that every part of the sidecar reads and writes through
// it, whichever store keeps the data.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// KeySize is the file key's and every data key's length: AES-256.
const KeySize = 32

// Key is a 32-byte key. It never prints: fmt, slog and JSON see its
// fingerprint only.
type Key [KeySize]byte

func (k Key) String() string               { return "key " + k.Fingerprint() }
func (k Key) GoString() string             { return k.String() }
func (k Key) LogValue() slog.Value         { return slog.StringValue(k.String()) }
func (k Key) MarshalJSON() ([]byte, error) { return []byte(`"` + k.String() + `"`), nil }

// Fingerprint names the key without revealing it: the first 8 bytes of its
// SHA-256, in hex.
func (k Key) Fingerprint() string {
	sum := sha256.Sum256(k[:])
	return hex.EncodeToString(sum[:8])
}

// ErrKeyFormat is a key file that holds no 32-byte key.
var ErrKeyFormat = errors.New("must hold a 32-byte key as 64 hex digits or 44 base64 characters (make one with: openssl rand -hex 32)")

// ParseKey reads a key written as 64 hex digits or as base64 (standard or
// URL alphabet, padded or not); surrounding space is ignored.
func ParseKey(s string) (Key, error) {
	var k Key
	s = strings.TrimSpace(s)
	var raw []byte
	var err error
	if len(s) == 2*KeySize {
		raw, err = hex.DecodeString(s)
	} else {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if raw, err = enc.DecodeString(s); err == nil {
				break
			}
		}
	}
	if err != nil || len(raw) != KeySize {
		return k, ErrKeyFormat
	}
	copy(k[:], raw)
	return k, nil
}

// ReadKeyFile reads a key file. Its errors never quote the file's content.
func ReadKeyFile(path string) (Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Key{}, fmt.Errorf("cannot read %s: %w", path, errors.Unwrap(err))
	}
	return ParseKey(string(b))
}

// NewKey makes a random key.
func NewKey() Key {
	var k Key
	rand.Read(k[:])
	return k
}

func newAEAD(k []byte) cipher.AEAD {
	block, err := aes.NewCipher(k)
	if err != nil {
		panic(err) // only a key of the wrong size: a programmer error
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}

// wrapAAD binds a wrapped data key to its day: a key moved to another day
// does not open.
func wrapAAD(day string) []byte { return []byte("glp-sidecar data key " + day) }

// wrap seals a data key under the file key.
func (k Key) wrap(day string, dataKey []byte) []byte {
	aead := newAEAD(k[:])
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	return aead.Seal(nonce, nonce, dataKey, wrapAAD(day))
}

// unwrap opens a data key wrapped under the file key.
func (k Key) unwrap(day string, wrapped []byte) ([]byte, error) {
	aead := newAEAD(k[:])
	if len(wrapped) < aead.NonceSize() {
		return nil, errors.New("wrapped data key too short")
	}
	dk, err := aead.Open(nil, wrapped[:aead.NonceSize()], wrapped[aead.NonceSize():], wrapAAD(day))
	if err != nil || len(dk) != KeySize {
		return nil, fmt.Errorf("the data key of %s does not open with %s", day, k)
	}
	return dk, nil
}
