package schemas

import (
	"fmt"
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

// NameHoldsIdentifier reports whether a file name holds a valid UPN (a
// letter, 11 digits and a check character that agrees) or a valid NHS
// number (10 digits, or 3-3-4 split by single separators, whose check
// digit agrees), each standing on its own between characters that are not
// letters or digits. Input file names are written to logs, quarantine files,
// the warehouse and the published manifest, so such a file is refused before
// it is read, and the name is never quoted. Valid values only, and no
// postcodes: shapes alone refused ordinary names ("Y6 4th May.csv", a
// date-and-time stamp, a ten-digit export number), and a check that stops
// ordinary nightly runs would be switched off.
func NameHoldsIdentifier(name string) bool {
	words := strings.FieldsFunc(name, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z')
	})
	digits := func(w string) bool {
		for _, r := range w {
			if r < '0' || r > '9' {
				return false
			}
		}
		return w != ""
	}
	for i, w := range words {
		if len(w) == 13 && ClassifyUPN(strings.ToUpper(w)) != UPNInvalid {
			return true
		}
		if len(w) == 10 && digits(w) && ValidNHSNumber(w) {
			return true
		}
		if i+2 < len(words) && len(w) == 3 && len(words[i+1]) == 3 && len(words[i+2]) == 4 &&
			digits(w+words[i+1]+words[i+2]) && ValidNHSNumber(w+words[i+1]+words[i+2]) {
			return true
		}
	}
	return false
}
