// Package keys creates and reads the secret pseudonymisation key. The key
// never appears in a log, manifest or message; only its fingerprint does.
package keys

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/outcomes/outcomes/transforms/pseudonym"
)

// ErrNoKey means the configured key file does not exist.
var ErrNoKey = errors.New("no key file")

// ErrKeyExposed means the key file can be read or written by someone other than its owner.
var ErrKeyExposed = errors.New("key file is readable by others")

// Generate writes a new random 32-byte key, hex-encoded, to path with mode
// 0600. It refuses to overwrite an existing file: a new key means new tokens
// and a rebuilt warehouse. It returns the key's fingerprint.
func Generate(path string) (string, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("create key folder: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("key file %s already exists; a new key would make new tokens and need a rebuilt warehouse, so remove the old one deliberately first", path)
	}
	if err != nil {
		return "", fmt.Errorf("create key file: %w", err)
	}
	encoded := hex.EncodeToString(key)
	if _, err := f.WriteString(encoded + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("write key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return pseudonym.Fingerprint([]byte(encoded)), nil
}

// linkagePrefix starts a partner's linkage key file, so neither kind of key
// is ever taken for the other.
const linkagePrefix = "outcomes-linkage-key-v1 "

// ErrLinkageKey means the pipeline was given a partner's linkage key instead
// of the trust's key.
var ErrLinkageKey = errors.New("a partner's linkage key, not the trust's key")

// WriteLinkage writes the linkage key derived from the trust's key at
// trustKeyPath to path (mode 0600, refusing to overwrite), for a partner who
// tokenises its own files. It returns the linkage key's fingerprint.
func WriteLinkage(trustKeyPath, path string) (string, error) {
	key, err := read(trustKeyPath)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(key, linkagePrefix) {
		return "", fmt.Errorf("%w: %s; give the trust's own key", ErrLinkageKey, trustKeyPath)
	}
	if len(key) < pseudonym.MinKeyBytes {
		return "", fmt.Errorf("key file %s: %w (it has %d)", trustKeyPath, pseudonym.ErrShortKey, len(key))
	}
	linkage := pseudonym.LinkageKey([]byte(key))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("%s already exists; remove it or choose another --out", path)
	}
	if err != nil {
		return "", fmt.Errorf("create linkage key file: %w", err)
	}
	if _, err := f.WriteString(linkagePrefix + string(linkage) + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("write linkage key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return pseudonym.Fingerprint(linkage), nil
}

// LoadLinkage returns the linkage tokeniser from a partner's linkage key
// file, or derived from the trust's key file: `outcomes tokens` accepts either.
func LoadLinkage(path string) (*pseudonym.Tokeniser, error) {
	key, err := read(path)
	if err != nil {
		return nil, err
	}
	if rest, ok := strings.CutPrefix(key, linkagePrefix); ok {
		tok, err := pseudonym.NewLinkage([]byte(strings.TrimSpace(rest)))
		if err != nil {
			return nil, fmt.Errorf("linkage key file %s: %w", path, err)
		}
		return tok, nil
	}
	tok, err := pseudonym.New([]byte(key))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return tok.Linkage(), nil
}

// Load reads the trust's key at path, refusing a file that group or others
// can read or write, a key shorter than 32 bytes, or a partner's linkage key.
// The messages name the file, never its content.
func Load(path string) (*pseudonym.Tokeniser, error) {
	key, err := read(path)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(key, linkagePrefix) {
		return nil, fmt.Errorf("%w: %s is for tokenising partner files with `outcomes tokens`; run.key_file must be the trust's key", ErrLinkageKey, path)
	}
	tok, err := pseudonym.New([]byte(key))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return tok, nil
}

// read returns the trimmed content of a key file that only its owner can
// read or write.
func read(path string) (string, error) {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w: key file %s does not exist; create one with `outcomes keygen --out %s` (or point run.key_file at the trust's key)", ErrNoKey, path, path)
	}
	if err != nil {
		return "", fmt.Errorf("key file: %w", err)
	}
	if mode := info.Mode().Perm(); mode&0o077 != 0 {
		return "", fmt.Errorf("%w: %s has mode %04o; run `chmod 600 %s`", ErrKeyExposed, path, mode, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read key file %s: %w", path, err)
	}
	return strings.TrimSpace(string(b)), nil
}
