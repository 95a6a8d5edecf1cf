package linkage

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzMatchKeys: any fields build keys without panicking; the keys that
// use both names do not depend on their order, and a key is either empty
// or has every one of its parts.
func FuzzMatchKeys(f *testing.F) {
	f.Add("Zoë", "O'Brien", "07/03/2015", "S10 5DD", "F")
	f.Add("Анна", "Иванова", "2015-05-05", "E1 6AN", "2")
	f.Add("", "Smith-Jones", "2015-02-30", "", "X")
	f.Add("Ł", "ß", "20150307", "sw1a1aa", "m")
	f.Fuzz(func(t *testing.T, fore, sur, dob, pc, sex string) {
		d := Demographics{Forename: fore, Surname: sur, DateOfBirth: dob, Postcode: pc, Sex: sex}
		swapped := Demographics{Forename: sur, Surname: fore, DateOfBirth: dob, Postcode: pc, Sex: sex}
		keys, swappedKeys := d.Keys(), swapped.Keys()
		for i, k := range DemographicKeys {
			if (k == NamesDOBPostcode || k == NamesDOB || k == PhoneticDOBSex) && keys[i] != swappedKeys[i] {
				t.Fatalf("%s changes when the names are swapped: %q vs %q", k, keys[i], swappedKeys[i])
			}
			if keys[i] == "" {
				continue
			}
			if !utf8.ValidString(keys[i]) && utf8.ValidString(fore+sur+dob+pc+sex) {
				t.Fatalf("%s = %q is not valid UTF-8", k, keys[i])
			}
			for _, part := range strings.Split(keys[i], "|") {
				if part == "" {
					t.Fatalf("%s = %q has an empty part", k, keys[i])
				}
			}
		}
	})
}
