package schemas

import (
	"strings"
	"testing"
)

func TestClassifyUPN(t *testing.T) {
	tests := []struct {
		upn  string
		want UPNKind
	}{
		{"B801200005001", UPNPermanent}, // DOMAIN.md example
		{"X00180001701A", UPNTemporary}, // DOMAIN.md example
		{"C801200005001", UPNInvalid},   // wrong check letter
		{"B80120000500", UPNInvalid},    // too short
		{"B8012000050011", UPNInvalid},  // too long
		{"B80120000500I", UPNInvalid},   // I is never used
		{"b801200005001", UPNInvalid},   // not normalised
		{"B8012X0005001", UPNInvalid},   // letter in the middle
		{"", UPNInvalid},
	}
	for _, tt := range tests {
		if got := ClassifyUPN(tt.upn); got != tt.want {
			t.Errorf("ClassifyUPN(%q) = %v, want %v", tt.upn, got, tt.want)
		}
	}
}

func TestMakeUPNIsValid(t *testing.T) {
	for i := int64(0); i < 2000; i++ {
		u := MakeUPN(373, i*7919)
		if ClassifyUPN(u) != UPNPermanent {
			t.Fatalf("MakeUPN(373, %d) = %q is not a valid permanent UPN", i*7919, u)
		}
	}
}

func TestValidNHSNumber(t *testing.T) {
	tests := []struct {
		nhs  string
		want bool
	}{
		{"9434765919", true}, // DOMAIN.md examples
		{"9434765870", true},
		{"9434765918", false}, // wrong check digit
		{"943476591", false},
		{"94347659190", false},
		{"94347A5919", false},
	}
	for _, tt := range tests {
		if got := ValidNHSNumber(tt.nhs); got != tt.want {
			t.Errorf("ValidNHSNumber(%q) = %v, want %v", tt.nhs, got, tt.want)
		}
	}
}

func TestMakeTestNHSNumber(t *testing.T) {
	seen := map[string]bool{}
	for i := int64(0); i < 5000; i++ {
		n := MakeTestNHSNumber(i * 3)
		if !IsTestNHSNumber(n) {
			t.Fatalf("MakeTestNHSNumber(%d) = %q is not a valid 999-range number", i, n)
		}
		seen[n] = true
	}
	if len(seen) < 4000 {
		t.Fatalf("only %d distinct numbers from 5000 serials", len(seen))
	}
}

func BenchmarkClassifyUPN(b *testing.B) {
	upns := []string{"B801200005001", "X00180001701A", "C801200005001"}
	i := 0
	for b.Loop() {
		_ = ClassifyUPN(upns[i%3])
		i++
	}
}

func BenchmarkValidNHSNumber(b *testing.B) {
	for b.Loop() {
		_ = ValidNHSNumber("9434765919")
	}
}

func TestNameHoldsIdentifier(t *testing.T) {
	upn := MakeUPN(373, 200100000)
	nhs := MakeTestNHSNumber(12)
	wrongDigit := nhs[:9] + string('0'+(nhs[9]-'0'+1)%10)
	for name, want := range map[string]bool{
		"referral_" + upn + ".csv":                                  true,
		"referral_" + strings.ToLower(upn) + ".csv":                 true,
		"mhst_" + nhs + ".csv":                                      true,
		"mhst " + nhs[:3] + " " + nhs[3:6] + " " + nhs[6:] + ".csv": true,
		"mhst_" + nhs[:3] + "-" + nhs[3:6] + "-" + nhs[6:] + ".csv": true,
		"mhst_" + nhs[:3] + "." + nhs[3:6] + "." + nhs[6:] + ".csv": true,
		// Ordinary names, including the shapes a shape-only check refused.
		"attendance.csv":                   false,
		"Attendance Export 2024-09-02.csv": false,
		"attendance_20240902123456.csv":    false,
		"Attendance 20240902 1030.csv":     false,
		"Y6 4th May referrals.csv":         false,
		"Y11 2PM register.csv":             false,
		"S1 5EE referrals.csv":             false, // postcodes are not checked
		"mhst_" + wrongDigit + ".csv":      false, // not a valid NHS number
		"export_" + nhs + "1.csv":          false, // eleven digits: not an NHS number
		"x" + upn + ".csv":                 false, // part of a longer word
	} {
		if got := NameHoldsIdentifier(name); got != want {
			t.Errorf("NameHoldsIdentifier(%q) = %v, want %v", name, got, want)
		}
	}
}
