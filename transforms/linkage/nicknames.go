package linkage

// nicknames maps common diminutives of English given names, as schools and
// health services record them, to one form. Only unambiguous pairs are here:
// "Alex" (Alexander, Alexandra, Alexis), "Sam" (Samuel, Samantha), "Zak"
// (Zachary, Isaac) and names that stand alone as often as not (Ella, Liam) are left
// out, since mapping them would make two children's keys meet. The table is
// deliberately small; the surname-and-initial and phonetic keys catch what it
// misses.
var nicknames = map[string]string{
	"alfie": "alfred", "alf": "alfred",
	"archie":  "archibald",
	"charlie": "charles", "chas": "charles",
	"freddie": "frederick", "freddy": "frederick", "fred": "frederick",
	"theo": "theodore", "ted": "theodore",
	"harry": "henry", "hal": "henry",
	"ollie": "oliver", "olly": "oliver",
	"josh": "joshua",
	"tom":  "thomas", "tommy": "thomas",
	"jake": "jacob",
	"fin":  "finley", "finn": "finley",
	"bill": "william", "billy": "william", "will": "william",
	"mo": "muhammad", "mohammed": "muhammad", "mohammad": "muhammad", "muhammed": "muhammad",
	"liv": "olivia", "livvy": "olivia",
	"millie": "amelia", "milly": "amelia",
	"evie": "evelyn",
	"flo":  "florence", "florrie": "florence",
	"sophie": "sophia",
	"izzy":   "isabella", "bella": "isabella", "issy": "isabella",
	"gracie": "grace",
	"rosie":  "rose",
}

// Canonical returns the one form of a normalised forename's diminutive, or
// the name itself.
func Canonical(normalised string) string {
	if c, ok := nicknames[normalised]; ok {
		return c
	}
	return normalised
}
