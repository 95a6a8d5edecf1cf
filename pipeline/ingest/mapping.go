package ingest

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/outcomes/outcomes/pipeline/config"
	"github.com/outcomes/outcomes/schemas"
)

// contract is the input contract of a file in its layout.
func contract(f File) []schemas.InputColumn {
	return config.Contract(f.Source, f.Format.Layout)
}

// readColumns are the columns read from a file: stagedColumns (the one rule
// for which identifiers are read), with the wide layout's am_mark and pm_mark
// in place of session and mark.
func readColumns(f File) []string {
	var out []string
	for _, c := range stagedColumns(f.Source) {
		if f.Format.Layout == config.LayoutWide && f.Source == schemas.SourceAttendance && (c.Name == "session" || c.Name == "mark") {
			if c.Name == "session" {
				out = append(out, "am_mark", "pm_mark")
			}
			continue
		}
		out = append(out, c.Name)
	}
	return out
}

// resolveColumns decides which of the file's headers feeds each contract
// column: a header the source's mapping (sources.<source>.columns) names, or
// else a header whose own name is the column's. Headers are compared after
// normaliseHeader (case, spaces and punctuation ignored). It returns contract
// column -> the header's position in found.
func resolveColumns(f File, found []string) (map[string]int, error) {
	// Lone carriage returns for line endings make the first line the whole
	// file; when its last column is optional every required column still
	// matches, and the rows would be lost (outcomes tokens wrote none) or
	// all quarantined as malformed, with nothing said of line endings.
	hint := headerHint(found)
	if hint == hintLoneCR {
		return nil, fmt.Errorf("%s: %w: %s", f.Path, ErrUnreadable, hint)
	}
	byNorm := map[string][]int{}
	var foundNorm []string
	for i, h := range found {
		n := normaliseHeader(h)
		byNorm[n] = append(byNorm[n], i)
		foundNorm = append(foundNorm, n)
	}
	headers := func(idx []int) []string {
		out := make([]string, len(idx))
		for i, k := range idx {
			out[i] = found[k]
		}
		return out
	}
	out := map[string]int{}
	taken := map[string]bool{} // normalised headers the mapping uses
	var unmatched []string
	mapped := make([]string, 0, len(f.Format.Columns))
	for h := range f.Format.Columns {
		mapped = append(mapped, h)
	}
	sort.Strings(mapped)
	for _, h := range mapped {
		n := normaliseHeader(h)
		taken[n] = true
		hs := byNorm[n]
		switch {
		case len(hs) == 0:
			unmatched = append(unmatched, h)
		case len(hs) > 1:
			return nil, &AmbiguousHeaderError{Path: f.Path, Column: f.Format.Columns[h], Headers: headers(hs)}
		default:
			out[f.Format.Columns[h]] = hs[0]
		}
	}
	var missing, expected []string
	for _, c := range contract(f) {
		expected = append(expected, c.Name)
		if _, ok := out[c.Name]; !ok && !taken[c.Name] {
			switch hs := byNorm[c.Name]; {
			case len(hs) > 1:
				if c.Identifier && c.Name != "upn" && c.Name != "nhs_number" {
					continue // never read, so never ambiguous
				}
				return nil, &AmbiguousHeaderError{Path: f.Path, Column: c.Name, Headers: headers(hs)}
			case len(hs) == 1:
				out[c.Name] = hs[0]
			}
		}
		if _, ok := out[c.Name]; c.Required && !ok {
			missing = append(missing, c.Name)
		}
	}
	if len(missing) > 0 {
		e := &MissingColumnsError{Path: f.Path, Missing: missing, Expected: expected,
			Source: string(f.Source), Mapping: f.Format.Columns, Unmatched: unmatched, Hint: hint}
		switch {
		case len(out) == 0:
			// Nothing matched: the first row is likely data, not a header,
			// and is not repeated into a message.
			e.NoHeader = true
		case e.Hint != "":
			// The first line does not read as a header row (another
			// encoding or separator): its garbled fields are not listed.
		default:
			for _, h := range foundNorm {
				e.Found = append(e.Found, maskHeader(h))
			}
		}
		return nil, e
	}
	return out, nil
}

// hintLoneCR is headerHint's answer for a first line holding a carriage
// return: Go's CSV reader ends lines at LF (CRLF included), so a CR left in
// a field means lines end in CR alone and the first line is the whole file.
const hintLoneCR = "its lines seem to end in a carriage return alone (old Mac line endings): save it with Windows or Unix line endings"

// headerHint says what a first line suggests about the whole file, from its
// shape alone, or "": the values themselves may be a pupil's and are never
// quoted.
func headerHint(found []string) string {
	line := strings.Join(found, ",")
	switch {
	case strings.ContainsRune(line, 0) || !utf8.ValidString(line):
		return "the file does not look like UTF-8 text (UTF-16, a spreadsheet or another binary format?): save it as CSV in UTF-8"
	case strings.Contains(line, "\r"):
		return hintLoneCR
	case len(found) == 1 && strings.Count(line, ";") >= 2:
		return "its columns seem to be separated by semicolons: save it with commas between columns"
	case len(found) == 1 && strings.Count(line, "\t") >= 2:
		return "its columns seem to be separated by tabs: save it with commas between columns"
	}
	return ""
}

// unmatchedMapping lists the mapping's headers that a file does not have:
// harmless when the column matched by its own name, but worth a log line,
// since a mapping usually names every header it expects.
func unmatchedMapping(f File, found []string) []string {
	have := map[string]bool{}
	for _, h := range found {
		have[normaliseHeader(h)] = true
	}
	var out []string
	for h := range f.Format.Columns {
		if !have[normaliseHeader(h)] {
			out = append(out, h)
		}
	}
	sort.Strings(out)
	return out
}

// AmbiguousHeaderError reports two headers that both read as one column.
type AmbiguousHeaderError struct {
	Path    string
	Column  string
	Headers []string
}

// Is makes the error an ErrUnreadable.
func (e *AmbiguousHeaderError) Is(target error) bool { return target == ErrUnreadable }

func (e *AmbiguousHeaderError) Error() string {
	return fmt.Sprintf("%s: the headers %s all read as column %s (headers are compared ignoring case, spaces and punctuation); map the one to use in the configuration's sources columns",
		e.Path, quoteAll(e.Headers), e.Column)
}

// mappingText describes a mapping for an error message, naming its key.
func mappingText(source string, m map[string]string, unmatched []string) string {
	if len(m) == 0 {
		return fmt.Sprintf("; no column mapping is configured (sources.%s.columns maps a file's headers to these names)", source)
	}
	keys := make([]string, 0, len(m))
	for h := range m {
		keys = append(keys, h)
	}
	sort.Strings(keys)
	var pairs []string
	for _, h := range keys {
		pairs = append(pairs, fmt.Sprintf("%q = %s", h, m[h]))
	}
	s := fmt.Sprintf("; mapping sources.%s.columns: %s", source, strings.Join(pairs, ", "))
	if len(unmatched) > 0 {
		s += fmt.Sprintf(" (no header in the file matches %s)", quoteAll(unmatched))
	}
	return s
}

func quoteAll(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}

var manyDigits = regexp.MustCompile(`[0-9].*[0-9].*[0-9].*[0-9]`)

// maskHeader hides a header that looks like a value rather than a name
// (four digits or more, or a UPN, NHS number or postcode shape).
func maskHeader(h string) string {
	if manyDigits.MatchString(h) || identifierShapes.MatchString(h) || identifierShapes.MatchString(strings.ReplaceAll(h, "_", " ")) {
		return "[not shown]"
	}
	return h
}
