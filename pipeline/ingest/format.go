package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"

	"github.com/outcomes/outcomes/pipeline/config"
)

// Options are a load's optional settings.
type Options struct {
	// Logger receives what a data lead should know (an encoding detected,
	// progress). Defaults to discarding.
	Logger *slog.Logger
	// Progress, when set, is told as each step starts and ends (a bar on a
	// terminal); otherwise progress goes to Logger as periodic lines.
	Progress func(done, total int, step string)
	// RosterContext names everything besides the files that decides how the
	// roster and participation files come out: the configuration they are
	// checked and linked against, the keys, the code. When it and those
	// files are the ones the warehouse's pupils and participation were built
	// from, Load does not read them again. Empty: always read them.
	RosterContext string
	// AttendanceContext names what an attendance file's rows are checked
	// against besides the roster: the schools, terms and code. An unchanged
	// attendance file read in another context is read again.
	AttendanceContext string
	// BeforeRead, when set, is called before each file Load reads, with
	// the bytes of every file this load has read so far and this one. A
	// caller sizes DuckDB's work by it: a nightly run reads one day's file.
	BeforeRead func(ctx context.Context, bytes int64) error

	tempDir string // the run's private temp folder: DuckDB's spill folder
}

func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// formatKey describes how a file is read when that differs from the
// defaults, for input_files and the run summary: header names and settings
// only, never a value from the file.
func formatKey(f config.Format) string {
	var parts []string
	if f.Layout != "" && f.Layout != config.LayoutLong {
		parts = append(parts, "layout="+f.Layout)
	}
	if f.DateFormat != "" && f.DateFormat != config.DateISO {
		parts = append(parts, "date_format="+f.DateFormat)
	}
	if f.Encoding != "" {
		parts = append(parts, "encoding="+f.Encoding)
	}
	if len(f.Columns) > 0 {
		var m []string
		for h, c := range f.Columns {
			m = append(m, fmt.Sprintf("%q=%s", h, c))
		}
		sort.Strings(m)
		parts = append(parts, "columns="+strings.Join(m, ","))
	}
	return strings.Join(parts, "; ")
}

func fileNameOf(f File) string { return filepath.Base(f.Path) }
