package sidecar

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// ClickKeySize is the size of the key that signs click cookies.
const ClickKeySize = 32

// ClickSigCookieSuffix makes the companion cookie's name from the click-id
// cookie's: _glp_cid_sig beside _glp_cid.
const ClickSigCookieSuffix = "_sig"

// ClickSigner signs and checks the companion cookie that tells a click id
// the sidecar set itself from one that a client wrote: the readable click-id
// cookie proves nothing, for any client can write it. The key is the
// store's (every sidecar of a fleet shares it), never shown.
type ClickSigner struct {
	key []byte
}

// NewClickSigner returns a signer with key (ClickKeySize random bytes).
func NewClickSigner(key []byte) *ClickSigner {
	if len(key) < ClickKeySize {
		panic("sidecar: a click key of fewer than 32 bytes")
	}
	return &ClickSigner{key: key}
}

// Sign is the companion cookie's value for clickID, valid until expires:
// "<unix seconds>.<HMAC-SHA256, base64url>".
func (s *ClickSigner) Sign(clickID string, expires time.Time) string {
	exp := strconv.FormatInt(expires.Unix(), 10)
	return exp + "." + base64.RawURLEncoding.EncodeToString(s.mac(clickID, exp))
}

// Verify reports whether value is the sidecar's signature of clickID, not
// expired at now.
func (s *ClickSigner) Verify(value, clickID string, now time.Time) bool {
	exp, sig, ok := strings.Cut(value, ".")
	if !ok {
		return false
	}
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || now.Unix() > unix {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	return err == nil && hmac.Equal(got, s.mac(clickID, exp))
}

func (s *ClickSigner) mac(clickID, exp string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("glp-click-v1\x00" + clickID + "\x00" + exp))
	return m.Sum(nil)
}
