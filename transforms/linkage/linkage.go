// Package linkage turns a record's demographics into match keys: normalised
// field combinations that a school roster and an NHS partner's records can
// both compute, so they can be joined on keyed tokens of those keys without
// either side revealing who anyone is.
//
// The keys form a cascade in the spirit of the ONS and NHS England match-key
// methods: a record tries them in priority order, from the most specific (the
// NHS number) to the most forgiving (phonetic names with date of birth and
// sex), and links on the first one that names exactly one pupil on both sides.
// Each key is deterministic and tolerates one kind of real-world noise that
// the keys above it do not: a missing NHS number, a moved postcode, a typo or
// nickname in a forename, a changed surname, names entered in the wrong order.
//
// Normalisation, applied to every name before any key is built:
//   - Unicode compatibility decomposition, then accents dropped (Zoë -> zoe,
//     Siân -> sian, Ciarán -> ciaran);
//   - lower case; apostrophes, hyphens, full stops and spaces removed, so
//     O'Brien = OBrien = o brien and Smith-Jones = Smith Jones = smithjones;
//   - a forename's common diminutive mapped to one form (Alfie -> alfred,
//     Theo -> theodore): see nicknames.go;
//   - forename and surname sorted, in the keys that use both, so a record
//     with the two swapped builds the same key.
//
// Postcodes are upper-cased with spaces removed; the district is the outward
// code (all but the last three characters). Dates of birth are accepted as
// YYYY-MM-DD, DD/MM/YYYY, DD-MM-YYYY or YYYYMMDD and must be real dates; an
// unreadable date builds no date key rather than a guessed one. Sex is F or M
// (U and X build no key that uses sex).
package linkage

import (
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/antzucaro/matchr"
	"github.com/outcomes/outcomes/schemas"
	"github.com/outcomes/outcomes/transforms/pseudonym"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// Key names one match key. The names appear in linkage reports and in the
// column names of tokenised files (as "tok_" + name).
type Key string

// The match keys. NHSNumber and UPN are the identifier keys; the rest are
// built from demographics.
const (
	NHSNumber Key = "nhs_number"
	UPN       Key = "upn"
	// NamesDOBPostcode: forename, surname, date of birth, full postcode.
	NamesDOBPostcode Key = "names_dob_postcode"
	// InitialDOBDistrict: surname, forename initial, date of birth, postcode
	// district. Survives a forename typo or nickname and a move within the district.
	InitialDOBDistrict Key = "initial_dob_district"
	// NamesDOB: forename, surname, date of birth. Survives any move.
	NamesDOB Key = "names_dob"
	// PhoneticDOBSex: Double Metaphone codes of forename and surname, date of
	// birth and sex. Survives spelling variants and most typos.
	PhoneticDOBSex Key = "phonetic_dob_sex"
	// ForenameDOBPostcode: forename, date of birth, full postcode. Survives a
	// change of surname; twins differ in forename.
	ForenameDOBPostcode Key = "forename_dob_postcode"
)

// Cascade lists the keys in the order they are tried: a record links on the
// first key that names exactly one pupil on both sides.
var Cascade = []Key{NHSNumber, UPN, NamesDOBPostcode, InitialDOBDistrict, NamesDOB, PhoneticDOBSex, ForenameDOBPostcode}

// DemographicKeys are the keys built from demographics, in cascade order.
var DemographicKeys = Cascade[2:]

// Demographics are the identifying fields of a record other than the NHS
// number and UPN, as they appear in the file.
type Demographics struct {
	Forename, Surname, DateOfBirth, Postcode, Sex string
}

// Keys returns the normalised value of each demographic key, in the order of
// DemographicKeys; an empty string where a field the key needs is missing or
// unreadable. The values are not secret-free: they must be tokenised with a
// keyed hash before they leave memory.
func (d Demographics) Keys() []string {
	// Phonetic codes take the names as written: a typo in a nickname
	// ("Alfei") still sounds like it. The other keys take the canonical form,
	// of both names, since either may sit in the forename field.
	rawFore, rawSur := NormaliseName(d.Forename), NormaliseName(d.Surname)
	fore, sur := Canonical(rawFore), Canonical(rawSur)
	dob := NormaliseDate(d.DateOfBirth)
	pc := NormalisePostcode(d.Postcode)
	district := PostcodeDistrict(pc)
	sex := NormaliseSex(d.Sex)
	names := ""
	if fore != "" && sur != "" {
		a, b := fore, sur
		if b < a {
			a, b = b, a
		}
		names = a + "|" + b
	}
	out := make([]string, len(DemographicKeys))
	for i, k := range DemographicKeys {
		var parts []string
		switch k {
		case NamesDOBPostcode:
			parts = []string{names, dob, pc}
		case InitialDOBDistrict:
			initial := ""
			for _, r := range fore { // the first letter, not the first byte
				initial = string(r)
				break
			}
			parts = []string{sur, initial, dob, district}
		case NamesDOB:
			parts = []string{names, dob}
		case PhoneticDOBSex:
			pf, ps := phonetic(rawFore), phonetic(rawSur)
			if pf != "" && ps != "" && ps < pf {
				pf, ps = ps, pf
			}
			parts = []string{pf, ps, dob, sex}
		case ForenameDOBPostcode:
			parts = []string{fore, dob, pc}
		}
		out[i] = join(parts)
	}
	return out
}

// join returns the parts joined, or "" when any part is empty: a key is only
// as good as its weakest field.
func join(parts []string) string {
	for _, p := range parts {
		if p == "" {
			return ""
		}
	}
	return strings.Join(parts, "|")
}

// foldAccents drops combining marks after decomposition. A transform chain
// keeps buffers between calls, so one chain must never serve two callers at
// once (a shared one corrupted names when two runs tokenised together);
// making one per call is slow, so chains are pooled: each is held by one
// caller at a time, and transform.String resets it before use.
func foldAccents() transform.Transformer {
	return transform.Chain(norm.NFKD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
}

var accentFolders = sync.Pool{New: func() any { return foldAccents() }}

// foldLetters spells out the Latin letters that have no decomposition, so
// Søren = Soren, Łukasz = Lukasz, Strauß = Strauss.
var foldLetters = strings.NewReplacer("ø", "o", "Ø", "O", "ł", "l", "Ł", "L", "ß", "ss", "đ", "d", "Đ", "D",
	"æ", "ae", "Æ", "AE", "œ", "oe", "Œ", "OE", "þ", "th", "Þ", "TH", "ð", "d", "Ð", "D", "ı", "i")

// NormaliseName folds accents and case and keeps only letters:
// "Anne-Marie" -> "annemarie", "O'Brien" -> "obrien", "Zoë" -> "zoe".
// Letters of other scripts are kept as they are.
func NormaliseName(s string) string {
	if isASCII(s) {
		// Nothing to fold: decomposition and foldLetters leave ASCII as it
		// is, and most names are ASCII, so they skip the transform chain's
		// buffers (most of the tokenise stage's time before).
		return lettersLower(s)
	}
	fold := accentFolders.Get().(transform.Transformer)
	folded, _, err := transform.String(fold, foldLetters.Replace(s))
	accentFolders.Put(fold)
	if err != nil {
		folded = s
	}
	return lettersLower(folded)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// lettersLower keeps the letters of s, lower-cased.
func lettersLower(folded string) string {
	var b strings.Builder
	for _, r := range folded {
		if unicode.IsLetter(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// NormalisePostcode upper-cases a postcode and removes everything but
// letters and digits; it returns "" for a value too short or long to be one.
func NormalisePostcode(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(unicode.ToUpper(r))
		}
	}
	if b.Len() < 5 || b.Len() > 7 {
		return ""
	}
	return b.String()
}

// PostcodeDistrict returns the outward code of a normalised postcode: all
// but the last three characters (the inward code is always three).
func PostcodeDistrict(pc string) string {
	if len(pc) < 5 {
		return ""
	}
	return pc[:len(pc)-3]
}

var dateLayouts = []string{"2006-01-02", "02/01/2006", "2/1/2006", "02-01-2006", "20060102"}

// NormaliseDate reads a date of birth in one of the unambiguous UK forms and
// returns it as YYYY-MM-DD, or "" when it is not a real date. US month-first
// dates are never tried: 03/04/2015 is 3 April. A midnight time part, as
// spreadsheets add ("2015-04-03 00:00:00"), is dropped; two-digit years are
// not read, since the century would be a guess.
func NormaliseDate(s string) string {
	s = strings.TrimSpace(s)
	for _, midnight := range []string{" 00:00:00", " 00:00", "T00:00:00"} {
		s = strings.TrimSuffix(s, midnight)
	}
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Format(time.DateOnly)
		}
	}
	return ""
}

// NormaliseSex returns F or M, or "" for anything else (U, X, 0, 9, empty):
// the keys that use sex need a value both sides record the same way. The NHS
// Data Dictionary's codes are read too: 1 male, 2 female.
func NormaliseSex(s string) string {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "F", "FEMALE", "GIRL", "2":
		return "F"
	case "M", "MALE", "BOY", "1":
		return "M"
	}
	return ""
}

// phonetic returns the primary Double Metaphone code of a normalised name.
func phonetic(name string) string {
	if name == "" {
		return ""
	}
	primary, _ := matchr.DoubleMetaphone(name)
	return primary
}

// Tokens returns the keyed token of each demographic key of d, in the order
// of DemographicKeys, "" where the key is empty. The roster, the pipeline's
// reading of a raw partner file and `outcomes tokens` on a partner's machine
// all call this, so the three always agree.
func Tokens(tok *pseudonym.Tokeniser, d Demographics) []string {
	keys := d.Keys()
	for i, k := range keys {
		if k != "" {
			keys[i] = tok.Token(pseudonym.Kind("mk_"+string(DemographicKeys[i])), k)
		}
	}
	return keys
}

// UPNToken checks a raw UPN and returns its status (permanent, temporary or
// invalid) and, unless invalid, its token.
func UPNToken(tok *pseudonym.Tokeniser, raw string) (status, token string) {
	n := pseudonym.NormaliseUPN(raw)
	switch schemas.ClassifyUPN(n) {
	case schemas.UPNPermanent:
		return "permanent", tok.Token(pseudonym.UPN, n)
	case schemas.UPNTemporary:
		return "temporary", tok.Token(pseudonym.UPN, n)
	}
	return "invalid", ""
}

// NHSToken checks a raw NHS number (modulus 11) and returns its status
// (valid or invalid) and, when valid, its token.
func NHSToken(tok *pseudonym.Tokeniser, raw string) (status, token string) {
	n := pseudonym.NormaliseNHSNumber(raw)
	if schemas.ValidNHSNumber(n) {
		return "valid", tok.Token(pseudonym.NHSNumber, n)
	}
	return "invalid", ""
}
