package keys

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/outcomes/outcomes/transforms/pseudonym"
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

// TestPartnerLinkageKey: the partner's key makes the same match tokens as the
// trust's key derives, none of the warehouse's tokens, and is refused where
// the trust's key is needed.
func TestPartnerLinkageKey(t *testing.T) {
	dir := t.TempDir()
	trustPath, partnerPath := filepath.Join(dir, "trust.key"), filepath.Join(dir, "partner.key")
	if _, err := Generate(trustPath); err != nil {
		t.Fatal(err)
	}
	fp, err := WriteLinkage(trustPath, partnerPath)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(partnerPath); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("partner key: %v, want mode 0600", err)
	}
	trust, err := Load(trustPath)
	if err != nil {
		t.Fatal(err)
	}
	partner, err := LoadLinkage(partnerPath)
	if err != nil {
		t.Fatal(err)
	}
	derived, err := LoadLinkage(trustPath)
	if err != nil {
		t.Fatal(err)
	}
	const upn = "A123456789012"
	if partner.Fingerprint() != fp || derived.Fingerprint() != fp || trust.Fingerprint() == fp {
		t.Errorf("fingerprints: partner %s, derived %s, written %s, trust %s", partner.Fingerprint(), derived.Fingerprint(), fp, trust.Fingerprint())
	}
	if partner.Token(pseudonym.UPN, upn) != trust.Linkage().Token(pseudonym.UPN, upn) {
		t.Error("the partner's match token differs from the trust's")
	}
	if partner.Token(pseudonym.UPN, upn) == trust.Token(pseudonym.UPN, upn) {
		t.Error("the partner's key makes the warehouse's tokens")
	}
	if _, err := Load(partnerPath); !errors.Is(err, ErrLinkageKey) {
		t.Errorf("Load(partner key) = %v, want ErrLinkageKey", err)
	}
	if _, err := WriteLinkage(partnerPath, filepath.Join(dir, "again.key")); !errors.Is(err, ErrLinkageKey) {
		t.Errorf("WriteLinkage from a partner key = %v, want ErrLinkageKey", err)
	}
	if _, err := WriteLinkage(trustPath, partnerPath); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("overwriting the partner key: %v", err)
	}
	b, _ := os.ReadFile(partnerPath)
	trustKey, _ := os.ReadFile(trustPath)
	if strings.Contains(string(b), strings.TrimSpace(string(trustKey))) {
		t.Error("the partner key file contains the trust's key")
	}
}
