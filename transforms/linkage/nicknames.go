package linkage

// nicknames maps common diminutives of English given names, as schools and
// health services record them, to one form. Only pairs that are one name
// are here: "Alex" (Alexander, Alexandra, Alexis), "Sam" (Samuel, Samantha),
// "Zak" (Zachary, Isaac), "Ted" (Edward, Theodore), and pairs that are two
// names as often as one (Harry/Henry, Sophie/Sophia, Evie/Evelyn,
// Millie/Amelia, Rosie/Rose, Gracie/Grace, Ella, Liam) are left out, since
// mapping them would make two children's keys meet. The table is deliberately
// small; the surname-and-initial and phonetic keys catch much of what it misses.
var nicknames = map[string]string{
	"alfie": "alfred", "alf": "alfred",
	"archie":  "archibald",
	"charlie": "charles", "chas": "charles",
	"freddie": "frederick", "freddy": "frederick", "fred": "frederick",
	"theo":  "theodore",
	"ollie": "oliver", "olly": "oliver",
	"josh": "joshua",
	"tom":  "thomas", "tommy": "thomas",
	"jake": "jacob",
	"fin":  "finley", "finn": "finley",
	"bill": "william", "billy": "william", "will": "william",
	"mo": "muhammad", "mohammed": "muhammad", "mohammad": "muhammad", "muhammed": "muhammad",
	"liv": "olivia", "livvy": "olivia",
	"flo": "florence", "florrie": "florence",
	"izzy": "isabella", "bella": "isabella", "issy": "isabella",
}

// Canonical returns the one form of a normalised forename's diminutive, or
// the name itself.
func Canonical(normalised string) string {
	if c, ok := nicknames[normalised]; ok {
		return c
	}
	return normalised
}
