package schemas

import (
	"fmt"
	"regexp"
	"strings"
)

// UPNKind says what kind of Unique Pupil Number a value is.
type UPNKind int

const (
	// UPNInvalid is any value that is not a well-formed UPN with a correct check letter.
	UPNInvalid UPNKind = iota
	// UPNPermanent is a check letter followed by 12 digits.
	UPNPermanent
	// UPNTemporary is a check letter, 11 digits and a final letter; schools issue
	// one while a permanent UPN is pending.
	UPNTemporary
)

// upnLetters maps 0..22 to the letters a UPN may use (I, O and S are never used).
const upnLetters = "ABCDEFGHJKLMNPQRTUVWXYZ"

// UPNCheckLetter returns the check letter for the 12 characters that follow it
// (DOMAIN.md §3: weights 2..13, sum mod 23, mapped through upnLetters). ok is
// false when body is not 11 digits followed by a digit or a UPN letter.
func UPNCheckLetter(body string) (letter byte, ok bool) {
	if len(body) != 12 {
		return 0, false
	}
	sum := 0
	for i := 0; i < 12; i++ {
		c := body[i]
		var v int
		switch {
		case c >= '0' && c <= '9':
			v = int(c - '0')
		case i == 11:
			v = strings.IndexByte(upnLetters, c)
			if v < 0 {
				return 0, false
			}
		default:
			return 0, false
		}
		sum += v * (i + 2)
	}
	return upnLetters[sum%23], true
}

// ClassifyUPN reports whether s is a permanent or temporary UPN with a correct
// check letter. It does not trim or upper-case: normalise first.
func ClassifyUPN(s string) UPNKind {
	if len(s) != 13 {
		return UPNInvalid
	}
	want, ok := UPNCheckLetter(s[1:])
	if !ok || want != s[0] {
		return UPNInvalid
	}
	if s[12] >= '0' && s[12] <= '9' {
		return UPNPermanent
	}
	return UPNTemporary
}

// MakeUPN builds a permanent UPN from a 3-digit local authority number and a
// 9-digit serial; the fixtures use it to make valid synthetic pupils.
func MakeUPN(laNumber int, serial int64) string {
	body := fmt.Sprintf("%03d%09d", laNumber%1000, serial%1_000_000_000)
	letter, _ := UPNCheckLetter(body)
	return string(letter) + body
}

// NHSNumberCheckDigit returns the modulus 11 check digit of the first nine
// digits of an NHS number, or ok=false where the number cannot be valid
// (a check of 10) or the input is not nine digits.
func NHSNumberCheckDigit(first9 string) (digit byte, ok bool) {
	if len(first9) != 9 {
		return 0, false
	}
	sum := 0
	for i := 0; i < 9; i++ {
		c := first9[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		sum += int(c-'0') * (10 - i)
	}
	check := 11 - sum%11
	switch check {
	case 11:
		return '0', true
	case 10:
		return 0, false
	}
	return byte('0' + check), true
}

// ValidNHSNumber reports whether s is ten digits with a correct check digit.
func ValidNHSNumber(s string) bool {
	if len(s) != 10 {
		return false
	}
	d, ok := NHSNumberCheckDigit(s[:9])
	return ok && d == s[9]
}

// IsTestNHSNumber reports whether s lies in the 999 range the NHS reserves for
// testing; fixtures use nothing else.
func IsTestNHSNumber(s string) bool {
	return strings.HasPrefix(s, "999") && ValidNHSNumber(s)
}

// MakeTestNHSNumber returns the n-th valid NHS number in the 999 test range,
// skipping serials whose check digit would be 10.
func MakeTestNHSNumber(n int64) string {
	for serial := n; ; serial++ {
		first9 := fmt.Sprintf("999%06d", serial%1_000_000)
		if d, ok := NHSNumberCheckDigit(first9); ok {
			return first9 + string(d)
		}
	}
}

// identifierInName matches what looks like an identifier inside a name:
// a UPN's shape (a letter, 11 digits and a digit or letter), an NHS
// number's (10 digits, or 3-3-4 with spaces or hyphens, with no digit on
// either side: a longer run is a date and time, not a number) or a full UK
// postcode's. It matches shapes, not valid values: a mistyped identifier
// still names a pupil.
var identifierInName = regexp.MustCompile(`[A-Za-z] ?([0-9] ?){11}[0-9A-Za-z]|` +
	`(^|[^0-9])[0-9]{3}[ -]?[0-9]{3}[ -]?[0-9]{4}([^0-9]|$)|` +
	`(^|[^A-Za-z0-9])[A-Za-z]{1,2}[0-9][0-9A-Za-z]?[ _-]?[0-9][A-Za-z]{2}([^A-Za-z0-9]|$)`)

// NameLooksLikeIdentifier reports whether a file name holds something shaped
// like a UPN, an NHS number or a postcode. Input file names are written to
// logs, quarantine files, the warehouse and the published manifest, so such
// a file is refused before it is read, and the name is never quoted.
func NameLooksLikeIdentifier(name string) bool {
	return identifierInName.MatchString(name)
}
