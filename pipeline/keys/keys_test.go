package keys

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenerateAndLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "key")
	fp, err := Generate(path)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(path)
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %o, want 600", info.Mode().Perm())
	}
	tok, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Fingerprint() != fp {
		t.Fatalf("fingerprint %s after load, %s at generation", tok.Fingerprint(), fp)
	}
	if _, err := Generate(path); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("overwrote an existing key: %v", err)
	}
}

func TestLoadRefuses(t *testing.T) {
	dir := t.TempDir()
	secret := strings.Repeat("k", 40)
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		want    string
	}{
		{"readable by group", secret, 0o640, "mode 0640"},
		{"readable by others", secret, 0o604, "chmod 600"},
		{"short", "tooshort", 0o600, "shorter than 32 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_"))
			if err := os.WriteFile(p, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(p, tt.mode)
			_, err := Load(p)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), tt.content) {
				t.Fatalf("error shows the key: %v", err)
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "keygen") {
		t.Fatalf("missing key: %v", err)
	}
	p := filepath.Join(dir, "exposed")
	os.WriteFile(p, []byte(secret), 0o644)
	os.Chmod(p, 0o644)
	if _, err := Load(p); !errors.Is(err, ErrKeyExposed) {
		t.Fatalf("got %v, want ErrKeyExposed", err)
	}
}
