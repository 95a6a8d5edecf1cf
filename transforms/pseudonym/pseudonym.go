// Package pseudonym turns identifiers into keyed tokens.
//
// A token is HMAC-SHA256 under the trust's secret key over a domain tag and
// the normalised identifier. Without the key a token cannot be reversed by
// trying every valid UPN or NHS number, which an unkeyed hash would allow
// (ENISA 2019). Tokens are still personal data: pseudonymisation is not
// anonymisation, so they stay in the trust's private warehouse.
package pseudonym

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"unicode"
)

// MinKeyBytes is the shortest key accepted: 256 bits, the HMAC-SHA256 block strength.
const MinKeyBytes = 32

// Kind separates the token spaces of different identifiers, so a UPN and an
// NHS number with the same characters never share a token.
type Kind string

// Kinds of identifier that are tokenised.
const (
	UPN       Kind = "upn"
	NHSNumber Kind = "nhs"
)

// ErrShortKey means the key has fewer than MinKeyBytes bytes.
var ErrShortKey = errors.New("key is shorter than 32 bytes")

// Tokeniser computes tokens under one key. It is not safe for concurrent use.
type Tokeniser struct {
	key         []byte // for Clone
	mac         hash.Hash
	fingerprint string
	buf         []byte
	// linkageKey is the key Linkage derives; linkage its tokeniser, made on
	// first use. A tokeniser made by NewLinkage is its own linkage tokeniser.
	linkageKey []byte
	linkage    *Tokeniser
}

// New returns a Tokeniser for the trust's key.
func New(key []byte) (*Tokeniser, error) {
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("%w (it has %d)", ErrShortKey, len(key))
	}
	return &Tokeniser{key: key, mac: hmac.New(sha256.New, key), fingerprint: Fingerprint(key), linkageKey: LinkageKey(key)}, nil
}

// Clone returns a tokeniser with the same key, for use on another goroutine.
func (t *Tokeniser) Clone() *Tokeniser {
	c := &Tokeniser{key: t.key, mac: hmac.New(sha256.New, t.key), fingerprint: t.fingerprint, linkageKey: t.linkageKey}
	if t.linkage == t {
		c.linkage = c
	}
	return c
}

// NewLinkage returns a Tokeniser for a linkage key (from LinkageKey), as a
// partner holds it: it makes match tokens only.
func NewLinkage(linkageKey []byte) (*Tokeniser, error) {
	if len(linkageKey) < MinKeyBytes {
		return nil, fmt.Errorf("%w (it has %d)", ErrShortKey, len(linkageKey))
	}
	t := &Tokeniser{key: linkageKey, mac: hmac.New(sha256.New, linkageKey), fingerprint: Fingerprint(linkageKey)}
	t.linkage = t
	return t, nil
}

// Linkage returns the tokeniser of the linkage key derived from this one's:
// the one match tokens are made with, on the trust's machine and on partners'.
func (t *Tokeniser) Linkage() *Tokeniser {
	if t.linkage == nil {
		t.linkage, _ = NewLinkage(t.linkageKey) // 64 hex digits: never short
	}
	return t.linkage
}

// Fingerprint identifies a key without revealing it: the first 16 hex digits
// of SHA-256 over a fixed label and the key. Only this may appear in logs,
// manifests and messages.
func Fingerprint(key []byte) string {
	h := sha256.New()
	h.Write([]byte("outcomes key fingerprint v1\x00"))
	h.Write(key)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Fingerprint returns the fingerprint of the tokeniser's key.
func (t *Tokeniser) Fingerprint() string { return t.fingerprint }

// Token returns the token of an already normalised identifier: 32 hex digits
// (128 bits) of HMAC-SHA256(key, kind || 0x00 || value).
func (t *Tokeniser) Token(kind Kind, normalised string) string {
	t.mac.Reset()
	t.buf = append(t.buf[:0], kind...)
	t.buf = append(t.buf, 0)
	t.buf = append(t.buf, normalised...)
	t.mac.Write(t.buf)
	sum := t.mac.Sum(t.buf[:0])
	return hex.EncodeToString(sum[:16])
}

// NormaliseUPN upper-cases a UPN and removes white space, the only variation
// MIS exports introduce.
func NormaliseUPN(s string) string {
	return strings.ToUpper(strings.Map(dropSpace, s))
}

// NormaliseNHSNumber removes spaces and hyphens ("943 476 5919", "943-476-5919").
func NormaliseNHSNumber(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

func dropSpace(r rune) rune {
	if unicode.IsSpace(r) {
		return -1
	}
	return r
}

// linkageLabel names the linkage key derived from the trust's key.
const linkageLabel = "outcomes linkage key v1"

// LinkageKey derives the key that match tokens are made with:
// HMAC-SHA256(trust key, label), hex-encoded. Partners who tokenise their own
// files get this key, never the trust's: it makes the tokens that linkage
// compares within one run, but none of the tokens the warehouse keeps, and the
// trust's key cannot be worked back from it.
func LinkageKey(trustKey []byte) []byte {
	mac := hmac.New(sha256.New, trustKey)
	mac.Write([]byte(linkageLabel))
	return []byte(hex.EncodeToString(mac.Sum(nil)))
}
