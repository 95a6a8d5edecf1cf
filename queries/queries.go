// Package queries holds the SQL that DuckDB runs, one statement per .sql
// file, each opening with a comment that defines what it computes.
package queries

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.sql
var files embed.FS

// Get returns the SQL in name (without .sql). It panics on an unknown name:
// the set of files is fixed at build time and a test prepares every one.
func Get(name string) string {
	b, err := files.ReadFile(name + ".sql")
	if err != nil {
		panic(fmt.Sprintf("queries: no file %s.sql", name))
	}
	return string(b)
}

// Names lists every query, sorted.
func Names() []string {
	entries, _ := fs.ReadDir(files, ".")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".sql"))
	}
	sort.Strings(names)
	return names
}

//go:embed analyst/*.sql
var analyst embed.FS

// Analyst returns a named query for `outcomes query`, run over the published
// tables only, or ok=false. Each takes the named parameters $school and
// $programme, NULL when not given.
func Analyst(name string) (string, bool) {
	b, err := analyst.ReadFile("analyst/" + name + ".sql")
	if err != nil {
		return "", false
	}
	return string(b), true
}

// AnalystNames lists the named analyst queries, sorted.
func AnalystNames() []string {
	entries, _ := fs.ReadDir(analyst, "analyst")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".sql"))
	}
	sort.Strings(names)
	return names
}

// AnalystDescription is the first sentence of a named query's opening comment.
func AnalystDescription(name string) string {
	q, ok := Analyst(name)
	if !ok {
		return ""
	}
	var words []string
	for _, line := range strings.Split(q, "\n") {
		if !strings.HasPrefix(line, "--") {
			break
		}
		words = append(words, strings.TrimSpace(strings.TrimPrefix(line, "--")))
	}
	text := strings.Join(words, " ")
	if i := strings.Index(text, ". "); i > 0 {
		text = text[:i+1]
	}
	return text
}
