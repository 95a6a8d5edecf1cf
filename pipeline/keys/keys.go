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

// Load reads the key at path, refusing a file that group or others can read
// or write, or a key shorter than 32 bytes. The messages name the file, never
// its content.
func Load(path string) (*pseudonym.Tokeniser, error) {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: key file %s does not exist; create one with `outcomes keygen --out %s` (or point run.key_file at the trust's key)", ErrNoKey, path, path)
	}
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	if mode := info.Mode().Perm(); mode&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o; run `chmod 600 %s`", ErrKeyExposed, path, mode, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file %s: %w", path, err)
	}
	key := []byte(strings.TrimSpace(string(b)))
	tok, err := pseudonym.New(key)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return tok, nil
}
