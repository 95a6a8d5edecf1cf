package linkage

import (
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/transform"

	"github.com/outcomes/outcomes/transforms/pseudonym"
)

func TestNormaliseName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Olivia", "olivia"},
		{"  OLIVIA ", "olivia"},
		{"Anne-Marie", "annemarie"},
		{"Anne Marie", "annemarie"},
		{"O'Brien", "obrien"},
		{"O’Brien", "obrien"}, // typographic apostrophe, as Word and Excel write it
		{"Smith-Jones", "smithjones"},
		{"Zoë", "zoe"},
		{"Siân", "sian"},
		{"Ciarán", "ciaran"},
		{"Chloé", "chloe"},
		{"St. John", "stjohn"},
		{"Søren", "soren"},
		{"Łukasz", "lukasz"},
		{"Strauß", "strauss"},
		{"Анна", "анна"}, // other scripts kept, lower-cased
		{"", ""},
		{"---", ""},
	} {
		if got := NormaliseName(tc.in); got != tc.want {
			t.Errorf("NormaliseName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestNormalisePostcode(t *testing.T) {
	for _, tc := range []struct{ in, want, district string }{
		{"S1 2AB", "S12AB", "S1"},
		{"s10 5dd", "S105DD", "S10"},
		{"SW1A 1AA", "SW1A1AA", "SW1A"},
		{" s11  8yz ", "S118YZ", "S11"},
		{"S1", "", ""},
		{"NOT A POSTCODE AT ALL", "", ""},
		{"", "", ""},
	} {
		got := NormalisePostcode(tc.in)
		if got != tc.want || PostcodeDistrict(got) != tc.district {
			t.Errorf("NormalisePostcode(%q) = %q district %q, want %q district %q", tc.in, got, PostcodeDistrict(got), tc.want, tc.district)
		}
	}
}

func TestNormaliseDate(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"2015-04-03", "2015-04-03"},
		{"03/04/2015", "2015-04-03"}, // UK day first, never US month first
		{"3/4/2015", "2015-04-03"},
		{"03-04-2015", "2015-04-03"},
		{"20150403", "2015-04-03"},
		{"2015-04-03 00:00:00", "2015-04-03"},
		{"03/04/2015 00:00", "2015-04-03"},
		{"03/04/15", ""},   // the century would be a guess
		{"2015-02-30", ""}, // not a real date: no key, never a guess
		{"30/02/2015", ""},
		{"04/13/2015", ""}, // a US date is impossible as a UK one
		{"yesterday", ""},
		{"", ""},
	} {
		if got := NormaliseDate(tc.in); got != tc.want {
			t.Errorf("NormaliseDate(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestNormaliseSex(t *testing.T) {
	for in, want := range map[string]string{"F": "F", "f": "F", "Female": "F", "M": "M", " male ": "M", "1": "M", "2": "F", "U": "", "X": "", "9": "", "": ""} {
		if got := NormaliseSex(in); got != want {
			t.Errorf("NormaliseSex(%q) = %q, want %q", in, got, want)
		}
	}
}

// keyOf returns the value of key k among d's keys.
func keyOf(t *testing.T, d Demographics, k Key) string {
	t.Helper()
	for i, dk := range DemographicKeys {
		if dk == k {
			return d.Keys()[i]
		}
	}
	t.Fatalf("%s is not a demographic key", k)
	return ""
}

// TestKeysTolerateNoise shows which keys survive each kind of noise partner
// records carry, and that the stricter keys do not: the cascade relies on
// both halves.
func TestKeysTolerateNoise(t *testing.T) {
	school := Demographics{Forename: "Alfie", Surname: "Smith-Jones", DateOfBirth: "2014-03-07", Postcode: "S10 5DD", Sex: "M"}
	for _, tc := range []struct {
		name    string
		partner Demographics
		same    []Key // keys that must equal the school's
		differ  []Key // keys that must not
	}{
		{"identical but formatted differently",
			Demographics{"ALFIE", "smith jones", "07/03/2014", "s105dd", "Male"},
			DemographicKeys, nil},
		{"forename and surname swapped",
			Demographics{"Smith-Jones", "Alfie", "2014-03-07", "S10 5DD", "M"},
			[]Key{NamesDOBPostcode, NamesDOB, PhoneticDOBSex}, []Key{InitialDOBDistrict, ForenameDOBPostcode}},
		{"nickname for the formal name",
			Demographics{"Alfred", "Smith-Jones", "2014-03-07", "S10 5DD", "M"},
			[]Key{NamesDOBPostcode, InitialDOBDistrict, NamesDOB, ForenameDOBPostcode}, []Key{PhoneticDOBSex}},
		{"moved house in the same district",
			Demographics{"Alfie", "Smith-Jones", "2014-03-07", "S10 9QQ", "M"},
			[]Key{InitialDOBDistrict, NamesDOB, PhoneticDOBSex}, []Key{NamesDOBPostcode, ForenameDOBPostcode}},
		{"moved to another district",
			Demographics{"Alfie", "Smith-Jones", "2014-03-07", "S2 4AB", "M"},
			[]Key{NamesDOB, PhoneticDOBSex}, []Key{NamesDOBPostcode, InitialDOBDistrict, ForenameDOBPostcode}},
		{"typo in the forename",
			Demographics{"Alfei", "Smith-Jones", "2014-03-07", "S10 5DD", "M"},
			[]Key{InitialDOBDistrict, PhoneticDOBSex}, []Key{NamesDOBPostcode, NamesDOB, ForenameDOBPostcode}},
		{"surname changed",
			Demographics{"Alfie", "Patel", "2014-03-07", "S10 5DD", "M"},
			[]Key{ForenameDOBPostcode}, []Key{NamesDOBPostcode, InitialDOBDistrict, NamesDOB, PhoneticDOBSex}},
		{"twin: same surname, birthday and home, other forename",
			Demographics{"Oscar", "Smith-Jones", "2014-03-07", "S10 5DD", "M"},
			nil, DemographicKeys},
		{"date of birth a day out",
			Demographics{"Alfie", "Smith-Jones", "2014-03-08", "S10 5DD", "M"},
			nil, DemographicKeys},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range tc.same {
				if a, b := keyOf(t, school, k), keyOf(t, tc.partner, k); a != b || a == "" {
					t.Errorf("%s: school %q, partner %q: want equal and non-empty", k, a, b)
				}
			}
			for _, k := range tc.differ {
				if a, b := keyOf(t, school, k), keyOf(t, tc.partner, k); a == b {
					t.Errorf("%s: both %q: want different", k, a)
				}
			}
		})
	}
}

func TestKeysNeedEveryField(t *testing.T) {
	full := Demographics{Forename: "Isla", Surname: "Patel", DateOfBirth: "2012-11-30", Postcode: "S1 2AB", Sex: "F"}
	for i, k := range DemographicKeys {
		if full.Keys()[i] == "" {
			t.Errorf("%s is empty for a complete record", k)
		}
	}
	noDOB := full
	noDOB.DateOfBirth = "31/11/2012" // 31 November does not exist
	for i, k := range DemographicKeys {
		if v := noDOB.Keys()[i]; v != "" {
			t.Errorf("%s = %q without a readable date of birth, want empty", k, v)
		}
	}
	noSex := full
	noSex.Sex = "U"
	for i, k := range DemographicKeys {
		if empty := noSex.Keys()[i] == ""; empty != (k == PhoneticDOBSex) {
			t.Errorf("%s empty = %v with sex unknown", k, empty)
		}
	}
}

// TestInitialIsALetterNotAByte: two Cyrillic forenames share their first
// byte but not their first letter.
func TestInitialIsALetterNotAByte(t *testing.T) {
	anna := Demographics{Forename: "Анна", Surname: "Иванова", DateOfBirth: "2015-05-05", Postcode: "E1 6AN", Sex: "F"}
	maria := Demographics{Forename: "Мария", Surname: "Иванова", DateOfBirth: "2015-05-05", Postcode: "E1 6ZZ", Sex: "F"}
	if a, m := keyOf(t, anna, InitialDOBDistrict), keyOf(t, maria, InitialDOBDistrict); a == m || !strings.Contains(a, "|а|") {
		t.Errorf("initial keys %q and %q: want different, with the letter а", a, m)
	}
}

// TestNicknamesNeverMergeTwoNames: pairs that are as often two children's
// names as one stay apart.
func TestNicknamesNeverMergeTwoNames(t *testing.T) {
	for _, pair := range [][2]string{{"sophie", "sophia"}, {"harry", "henry"}, {"evie", "evelyn"}, {"millie", "amelia"},
		{"rosie", "rose"}, {"ella", "eleanor"}, {"sam", "samuel"}, {"alex", "alexander"}, {"ted", "edward"}} {
		if Canonical(pair[0]) == Canonical(pair[1]) {
			t.Errorf("%s and %s share a canonical form", pair[0], pair[1])
		}
	}
	if Canonical("alfie") != Canonical("alfred") || Canonical("ollie") != Canonical("oliver") {
		t.Error("Alfie/Alfred or Ollie/Oliver do not share a form")
	}
}

// TestKeysAreSafeForConcurrentRuns: two runs in one process (the tests run
// pipelines in parallel) tokenise at the same time.
func TestKeysAreSafeForConcurrentRuns(t *testing.T) {
	d := Demographics{Forename: "Zoë", Surname: "Núñez-Wiśniewski", DateOfBirth: "2015-03-07", Postcode: "S10 5DD", Sex: "F"}
	want := strings.Join(d.Keys(), ",")
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2000 {
				if got := strings.Join(d.Keys(), ","); got != want {
					t.Errorf("keys %q, want %q", got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// BenchmarkTokens is one record's demographic match keys: normalising names
// (accents, nicknames), date of birth, postcode and sex, a Double Metaphone
// code per name, and an HMAC per key. The roster and every partner record
// pay it on every run, so it is the tokenise stage's cost per record.
func BenchmarkTokens(b *testing.B) {
	tok, err := pseudonym.New([]byte("a synthetic benchmark key of at least 32 bytes"))
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		d    Demographics
	}{
		{"ascii", Demographics{Forename: "Ann-Marie", Surname: "O'Brien-Smith", DateOfBirth: "03/07/2013", Postcode: "s1 2hh", Sex: "F"}},
		{"accented", Demographics{Forename: "Zoë-Ann", Surname: "Núñez", DateOfBirth: "03/07/2013", Postcode: "s1 2hh", Sex: "F"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				_ = Tokens(tok, tc.d)
			}
		})
	}
}

// TestNormaliseNameASCIIFastPath: ASCII names skip the accent-folding
// chain; for every printable ASCII character, alone and inside a name, the
// result is what the full fold gives.
func TestNormaliseNameASCIIFastPath(t *testing.T) {
	full := func(s string) string {
		folded, _, err := transform.String(foldAccents(), foldLetters.Replace(s))
		if err != nil {
			t.Fatal(err)
		}
		return lettersLower(folded)
	}
	for c := byte(0); c < utf8.RuneSelf; c++ {
		for _, s := range []string{string(c), "Anne" + string(c) + "Marie", " O" + string(c) + "Brien "} {
			if got, want := NormaliseName(s), full(s); got != want {
				t.Errorf("NormaliseName(%q) = %q, the full fold gives %q", s, got, want)
			}
		}
	}
}
