package pipeline

import (
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"sync"

	"github.com/outcomes/outcomes/pipeline/config"
	"github.com/outcomes/outcomes/queries"
	"github.com/outcomes/outcomes/transforms/pseudonym"
)

// The contexts below let a nightly run leave unread what is unchanged: the
// warehouse records, with what it loaded, the context it was loaded in, and
// a file whose content and context are both unchanged is not read again.

// attendanceContext describes what an attendance file's rows are checked
// against besides their content and the roster (ingest.Options): the
// configured schools and terms, and the code that validates them. When it
// changes, files already loaded are read again, so that marks at a school or
// on a day newly configured are loaded.
func (r *Runner) attendanceContext() string {
	c := r.Config
	return contextOf(codeIdentity(r.CodeVersion), struct {
		Schools []config.School
		Terms   []config.Term
	}{c.Schools, c.Terms}, "", "macros", "validate_attendance", "resolve_attendance")
}

// contextOf hashes what files are read in: the program, the configuration
// that checks them, the keys their tokens are made with, and the text of the
// queries that check them.
func contextOf(code string, configuration any, keys string, checks ...string) string {
	h := sha256.New()
	shape, _ := json.Marshal(configuration)
	fmt.Fprintf(h, "code %s\nkeys %s\nconfig %s\n", code, keys, shape)
	for _, q := range checks {
		fmt.Fprintf(h, "%s %s\n", q, queries.Get(q))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// codeIdentity names the running program: its version and, from its own
// executable, the Go build ID, which changes with any change to the code
// (a development build's version alone does not).
func codeIdentity(version string) string {
	buildIDOnce.Do(func() {
		exe, err := os.Executable()
		if err != nil {
			return
		}
		f, err := elf.Open(exe)
		if err != nil {
			return
		}
		defer f.Close()
		if sec := f.Section(".note.go.buildid"); sec != nil {
			if data, err := sec.Data(); err == nil {
				buildID = hex.EncodeToString(data)
			}
		}
	})
	return version + " " + buildID
}

var (
	buildIDOnce sync.Once
	buildID     string
)

// rosterContext describes what the roster and participation files are
// checked and linked against besides their content (ingest.Options): the
// configuration they are read and validated with, the keys their tokens are
// made with, and the code that validates and links them. When it changes,
// the files are read again.
func (r *Runner) rosterContext(tok *pseudonym.Tokeniser) string {
	c := r.Config
	return contextOf(codeIdentity(r.CodeVersion), struct {
		Schools    []config.School
		Terms      []config.Term
		Programmes []config.Programme
		Sources    map[string]config.Format
	}{c.Schools, c.Terms, c.Programmes, c.Sources}, tok.Fingerprint()+" "+tok.Linkage().Fingerprint(),
		"macros", "validate_roster", "stage_pupils", "validate_participation")
}
