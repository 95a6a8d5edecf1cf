package pseudonym

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestTokenIsKeyedAndDomainSeparated(t *testing.T) {
	a, err := New(testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := New(testKey(2))
	const upn = "B801200005001"
	ta := a.Token(UPN, upn)
	if len(ta) != 32 {
		t.Fatalf("token length %d, want 32", len(ta))
	}
	if ta != a.Token(UPN, upn) {
		t.Fatal("token is not deterministic")
	}
	if ta == b.Token(UPN, upn) {
		t.Fatal("two keys gave the same token")
	}
	if ta == a.Token(NHSNumber, upn) {
		t.Fatal("UPN and NHS number token spaces collide")
	}
	if strings.Contains(ta, upn) || strings.Contains(a.Fingerprint(), "0101") {
		t.Fatal("token or fingerprint shows its input")
	}
	if a.Fingerprint() == b.Fingerprint() || len(a.Fingerprint()) != 16 {
		t.Fatalf("fingerprints %q %q", a.Fingerprint(), b.Fingerprint())
	}
}

func TestShortKeyRefused(t *testing.T) {
	if _, err := New(make([]byte, 31)); !errors.Is(err, ErrShortKey) {
		t.Fatalf("31-byte key: got %v, want ErrShortKey", err)
	}
}

func TestNormalise(t *testing.T) {
	tests := []struct{ in, upn, nhs string }{
		{" b801200005001 ", "B801200005001", "b801200005001"},
		{"943 476 5919", "9434765919", "9434765919"},
		{"943-476-5919", "943-476-5919", "9434765919"},
	}
	for _, tt := range tests {
		if got := NormaliseUPN(tt.in); got != tt.upn {
			t.Errorf("NormaliseUPN(%q) = %q, want %q", tt.in, got, tt.upn)
		}
		if got := NormaliseNHSNumber(tt.in); got != tt.nhs {
			t.Errorf("NormaliseNHSNumber(%q) = %q, want %q", tt.in, got, tt.nhs)
		}
	}
}

func BenchmarkToken(b *testing.B) {
	tk, _ := New(testKey(7))
	for b.Loop() {
		_ = tk.Token(UPN, "B801200005001")
	}
}

// TestCloneMakesTheSameTokens: a clone (for another goroutine) tokenises as
// the original does, under both keys, and its linkage tokeniser too.
func TestCloneMakesTheSameTokens(t *testing.T) {
	key := bytes.Repeat([]byte("c"), 32)
	tok, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	clone := tok.Clone()
	if a, b := tok.Token(UPN, "A123456789012"), clone.Token(UPN, "A123456789012"); a != b {
		t.Errorf("clone token %s, original %s", b, a)
	}
	if a, b := tok.Linkage().Token(NHSNumber, "9990000018"), clone.Linkage().Token(NHSNumber, "9990000018"); a != b {
		t.Errorf("clone's linkage token %s, original's %s", b, a)
	}
	if clone.Fingerprint() != tok.Fingerprint() {
		t.Errorf("clone fingerprint %s, original %s", clone.Fingerprint(), tok.Fingerprint())
	}
	link := tok.Linkage().Clone()
	if a, b := tok.Linkage().Token(UPN, "X"), link.Linkage().Token(UPN, "X"); a != b {
		t.Errorf("a cloned linkage tokeniser is not its own linkage tokeniser: %s, %s", a, b)
	}
}
