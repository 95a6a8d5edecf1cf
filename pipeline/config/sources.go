package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/outcomes/outcomes/schemas"
)

// Layouts of an attendance extract.
const (
	// LayoutLong has one row per pupil per session: session and mark columns.
	LayoutLong = "long"
	// LayoutWide has one row per pupil per date, with a mark column for the
	// morning and one for the afternoon (am_mark, pm_mark).
	LayoutWide = "wide"
)

// Date formats an extract's dates may be written in. Each is exact: a value
// that does not fit the declared format is quarantined as invalid_date, never
// read another way.
const (
	DateISO       = "iso"         // 2024-09-02
	DateDMY       = "dd/mm/yyyy"  // 02/09/2024 (one-digit day or month too)
	DateDMonY     = "dd-mon-yyyy" // 02-Sep-2024 (month name in any case)
	dateFormatsTx = `"iso", "dd/mm/yyyy" or "dd-mon-yyyy"`
)

// Encodings an extract may be written in.
const (
	// EncodingAuto reads UTF-8 (with or without a byte order mark) and falls
	// back to Windows-1252, saying so in the log, when a file is not valid UTF-8.
	EncodingAuto = ""
	// EncodingUTF8 refuses a file that is not valid UTF-8.
	EncodingUTF8 = "utf-8"
	// EncodingWindows1252 is what Excel on Windows writes as "CSV".
	EncodingWindows1252 = "windows-1252"
)

// Format says how to read one source's extracts: how its headers map to the
// input contract, its layout, date format and encoding. Every field is
// optional; the zero Format reads the contract's own column names, the long
// layout, ISO dates and UTF-8 (or detected Windows-1252).
type Format struct {
	// Columns maps a header in the file to a column of the input contract,
	// e.g. {"Pupil UPN" = "upn", "Date" = "session_date"}. Headers are
	// matched ignoring case, spaces and punctuation; an unmapped header is
	// matched to the contract by its own name.
	Columns map[string]string `toml:"columns,omitempty"`
	// Layout is "long" (default) or "wide"; attendance only. A wide file maps
	// its morning and afternoon mark columns to am_mark and pm_mark.
	Layout string `toml:"layout,omitempty"`
	// DateFormat is "iso" (default), "dd/mm/yyyy" or "dd-mon-yyyy";
	// attendance and participation only (dates of birth are read by linkage,
	// which accepts the common UK forms itself).
	DateFormat string `toml:"date_format,omitempty"`
	// Encoding is "utf-8" or "windows-1252"; by default UTF-8, or
	// Windows-1252 when the file is not valid UTF-8 (and the log says so).
	Encoding string `toml:"encoding,omitempty"`
	// Files overrides these settings for single files of the source, keyed
	// by the path as written in [inputs], for a trust whose schools use
	// different MIS: [sources.attendance.files."arbor.csv"]. A setting the
	// file's table gives replaces the source's (columns as a whole).
	Files map[string]Format `toml:"files,omitempty"`
}

// SourceFormat returns how to read a source's files, with defaults filled.
func (c *Config) SourceFormat(src schemas.Source) Format {
	return c.FileFormat(src, "")
}

// FileFormat returns how to read one file of a source (path as written in
// [inputs]): the source's settings, overridden by the file's own, with
// defaults filled.
func (c *Config) FileFormat(src schemas.Source, path string) Format {
	f := c.Sources[string(src)]
	if o, ok := f.Files[path]; ok && path != "" {
		if o.Columns != nil {
			f.Columns = o.Columns
		}
		if o.Layout != "" {
			f.Layout = o.Layout
		}
		if o.DateFormat != "" {
			f.DateFormat = o.DateFormat
		}
		if o.Encoding != "" {
			f.Encoding = o.Encoding
		}
	}
	f.Files = nil
	f.Encoding = strings.ToLower(f.Encoding)
	if f.Layout == "" {
		f.Layout = LayoutLong
	}
	if f.DateFormat == "" {
		f.DateFormat = DateISO
	}
	return f
}

// Contract is the list of columns a source's file must or may have in a
// layout: the wide attendance layout has am_mark and pm_mark in place of
// session and mark.
func Contract(src schemas.Source, layout string) []schemas.InputColumn {
	cols := src.Columns()
	if src != schemas.SourceAttendance || layout != LayoutWide {
		return cols
	}
	var out []schemas.InputColumn
	for _, c := range cols {
		if c.Name == "session" || c.Name == "mark" {
			continue
		}
		out = append(out, c)
	}
	return append(out, schemas.InputColumn{Name: "am_mark", Required: true}, schemas.InputColumn{Name: "pm_mark", Required: true})
}

// validateSources checks [sources.*]: a source name, a layout, a date format
// and an encoding it knows, and a mapping whose targets are contract columns,
// each named once.
func (c *Config) validateSources(bad func(key string, value any, reason string)) {
	names := make([]string, 0, len(c.Sources))
	for n := range c.Sources {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		f := c.Sources[name]
		key := "sources." + name
		src := schemas.Source(name)
		if src != schemas.SourceRoster && src != schemas.SourceAttendance && src != schemas.SourceParticipation {
			bad(key, nil, "is not a source (expected sources.roster, sources.attendance or sources.participation)")
			continue
		}
		c.validateFormat(key, src, f, f.Layout, bad)
		paths := map[string]bool{}
		switch src {
		case schemas.SourceRoster:
			paths[c.Inputs.Roster] = true
		case schemas.SourceAttendance:
			for _, p := range c.Inputs.Attendance {
				paths[p] = true
			}
		case schemas.SourceParticipation:
			for _, p := range c.Inputs.Participation {
				paths[p] = true
			}
		}
		files := make([]string, 0, len(f.Files))
		for p := range f.Files {
			files = append(files, p)
		}
		sort.Strings(files)
		for _, p := range files {
			fk := fmt.Sprintf("%s.files.%q", key, p)
			o := f.Files[p]
			if !paths[p] {
				bad(fk, nil, fmt.Sprintf("names no file of inputs.%s (use the path exactly as written there)", name))
			}
			if len(o.Files) > 0 {
				bad(fk+".files", nil, "a file's table cannot have files of its own")
			}
			merged := c.FileFormat(src, p)
			if o.Columns == nil {
				// The source's mapping, read in this file's layout.
				o.Columns = merged.Columns
			}
			c.validateFormat(fk, src, o, merged.Layout, bad)
		}
	}
}

// validateFormat checks one [sources.*] table (or a file's table within it);
// layout is the layout its columns are read in.
func (c *Config) validateFormat(key string, src schemas.Source, f Format, layout string, bad func(key string, value any, reason string)) {
	switch f.Layout {
	case "", LayoutLong:
	case LayoutWide:
		if src != schemas.SourceAttendance {
			bad(key+".layout", fmt.Sprintf("%q", f.Layout), "only attendance extracts can be wide")
		}
	default:
		bad(key+".layout", fmt.Sprintf("%q", f.Layout), `must be "long" (one row per pupil per session) or "wide" (one row per pupil per date, with AM and PM mark columns)`)
	}
	switch f.DateFormat {
	case "", DateISO, DateDMY, DateDMonY:
		if f.DateFormat != "" && src == schemas.SourceRoster {
			bad(key+".date_format", fmt.Sprintf("%q", f.DateFormat), "the roster has no dates that are read (dates of birth never are)")
		}
	default:
		bad(key+".date_format", fmt.Sprintf("%q", f.DateFormat), "must be "+dateFormatsTx)
	}
	switch strings.ToLower(f.Encoding) {
	case EncodingAuto, EncodingUTF8, EncodingWindows1252:
	default:
		bad(key+".encoding", fmt.Sprintf("%q", f.Encoding), `must be "utf-8" or "windows-1252" (leave it out to read UTF-8 and detect Windows-1252)`)
	}
	if layout == "" {
		layout = LayoutLong
	}
	contract := Contract(src, layout)
	known := map[string]bool{}
	var expected []string
	for _, col := range contract {
		known[col.Name] = true
		expected = append(expected, col.Name)
	}
	headers := make([]string, 0, len(f.Columns))
	for h := range f.Columns {
		headers = append(headers, h)
	}
	sort.Strings(headers)
	target := map[string]string{}
	for _, h := range headers {
		to := f.Columns[h]
		ck := fmt.Sprintf("%s.columns.%q", key, h)
		switch {
		case strings.TrimSpace(h) == "":
			bad(key+".columns", nil, "maps an empty header")
		case !known[to]:
			bad(ck, fmt.Sprintf("%q", to), fmt.Sprintf("is not a column of the %s %s contract (expected one of %s)", layout, src, strings.Join(expected, ", ")))
		case target[to] != "":
			bad(ck, fmt.Sprintf("%q", to), fmt.Sprintf("is also mapped from %q: each column can come from one header only", target[to]))
		default:
			target[to] = h
		}
	}
}
