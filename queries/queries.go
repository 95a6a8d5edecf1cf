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
