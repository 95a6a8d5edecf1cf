package ingest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"golang.org/x/text/encoding/charmap"

	"github.com/outcomes/outcomes/pipeline/config"
)

// NotUTF8Error reports a file declared UTF-8 (sources.<source>.encoding =
// "utf-8") that is not.
type NotUTF8Error struct {
	Path   string
	Source string
	Line   int64
}

// Is makes the error an ErrUnreadable.
func (e *NotUTF8Error) Is(target error) bool { return target == ErrUnreadable }

func (e *NotUTF8Error) Error() string {
	return fmt.Sprintf("%s: line %d is not valid UTF-8, but its configuration (sources.%s) says encoding = \"utf-8\"; if it was saved from Excel as CSV, set encoding = \"windows-1252\" (or leave encoding out to detect it)",
		e.Path, e.Line, e.Source)
}

// readableCSV returns a CSV file DuckDB can read, with what one pass over it
// learnt. A UTF-8 file with one kind of line ending is read where it is.
// Otherwise a UTF-8 copy with LF endings is written into tmpDir, owner-only,
// and cleanup removes it: the copy holds raw identifiers, so it lives only in
// the run's private temp folder (beside DuckDB's own spill files) and only
// while the file is staged. Windows-1252 is decoded by golang.org/x/text.
func readableCSV(f File, tmpDir string, log *slog.Logger) (file *csvFile, cleanup func(), err error) {
	cleanup = func() {}
	in, err := os.Open(f.Path)
	if err != nil {
		return nil, cleanup, err
	}
	defer in.Close()
	// A workbook saved under a .csv name is the commonest "CSV" that is not.
	var magic [8]byte
	if n, _ := in.ReadAt(magic[:], 0); n >= 4 {
		switch {
		case bytes.HasPrefix(magic[:], []byte("PK\x03\x04")):
			return nil, cleanup, fmt.Errorf("%s: %w: it is an Excel workbook (.xlsx) or another zip archive with a .csv name; open it in Excel and save it as CSV", f.Path, ErrUnreadable)
		case bytes.HasPrefix(magic[:], []byte("\xd0\xcf\x11\xe0")):
			return nil, cleanup, fmt.Errorf("%s: %w: it is an old Excel workbook (.xls) with a .csv name; open it in Excel and save it as CSV", f.Path, ErrUnreadable)
		}
	}
	q, err := scanQuick(in)
	if err != nil {
		return nil, cleanup, fmt.Errorf("read %s: %w", f.Path, err)
	}
	file = &csvFile{path: f.Path, quick: q}
	transcode := false
	switch f.Format.Encoding {
	case config.EncodingWindows1252:
		transcode = true
	case config.EncodingUTF8:
		if !q.validUTF8 {
			return nil, cleanup, &NotUTF8Error{Path: f.Path, Source: string(f.Source), Line: q.badLine}
		}
	default:
		if !q.validUTF8 {
			transcode = true
			log.Info("file is not valid UTF-8: read as Windows-1252 (set sources."+string(f.Source)+".encoding to say so and silence this)",
				"file", filepath.Base(f.Path), "first_non_utf8_line", q.badLine)
		}
	}
	// Some CRLF and some bare LF: mixed record endings, or only CRLFs (or
	// LFs) inside quoted fields; the quote-aware scan tells which.
	mixed := false
	if q.crlf > 0 && q.crlf < q.nl {
		scan, err := file.scan()
		if err != nil {
			return nil, cleanup, fmt.Errorf("read %s: %w", f.Path, err)
		}
		if mixed = scan.mixedEndings(); mixed {
			log.Info("file mixes CRLF and LF line endings: read through a private copy with LF endings",
				"file", filepath.Base(f.Path), "crlf_records", scan.crlf, "lf_records", scan.lf)
		}
	}
	if !transcode && !mixed {
		return file, cleanup, nil
	}
	if _, err := in.Seek(0, io.SeekStart); err != nil {
		return nil, cleanup, err
	}
	if err := os.MkdirAll(tmpDir, 0o700); err != nil {
		return nil, cleanup, fmt.Errorf("create private temp folder: %w", err)
	}
	out, err := os.CreateTemp(tmpDir, "extract-*.csv") // mode 0600
	if err != nil {
		return nil, cleanup, fmt.Errorf("create private copy of %s: %w", f.Path, err)
	}
	cleanup = func() { os.Remove(out.Name()) }
	var r io.Reader = in
	if transcode {
		r = charmap.Windows1252.NewDecoder().Reader(in)
	}
	var w io.Writer = out
	var lw *lfWriter
	if mixed {
		lw = &lfWriter{w: out}
		w = lw
	}
	_, err = io.Copy(w, r)
	if lw != nil && err == nil {
		err = lw.flush()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		cleanup()
		return nil, func() {}, fmt.Errorf("write private copy of %s: %w", f.Path, err)
	}
	// The copy has the same lines and records; a scan made of the original
	// still holds (its line endings are not read again).
	file.path = out.Name()
	return file, cleanup, nil
}

// lfWriter turns CRLF into LF, keeping a CR that ends one write until it
// sees the next byte.
type lfWriter struct {
	w       io.Writer
	heldCR  bool
	scratch []byte
}

func (l *lfWriter) Write(p []byte) (int, error) {
	l.scratch = l.scratch[:0]
	if l.heldCR {
		if len(p) == 0 || p[0] != '\n' {
			l.scratch = append(l.scratch, '\r')
		}
		l.heldCR = false
	}
	body := p
	if len(body) > 0 && body[len(body)-1] == '\r' {
		body, l.heldCR = body[:len(body)-1], true
	}
	l.scratch = append(l.scratch, bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n"))...)
	if _, err := l.w.Write(l.scratch); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (l *lfWriter) flush() error {
	if l.heldCR {
		l.heldCR = false
		_, err := l.w.Write([]byte("\r"))
		return err
	}
	return nil
}

// privateTempDir is DuckDB's spill folder for this database: the run's
// private temp folder inside the state folder (README, Privacy). Without an
// absolute one (tests with an in-memory database), the system's.
func privateTempDir(ctx context.Context, conn *sql.Conn) (dir string) {
	if err := conn.QueryRowContext(ctx, "SELECT current_setting('temp_directory')").Scan(&dir); err != nil || !filepath.IsAbs(dir) {
		return os.TempDir()
	}
	return dir
}

// RemoveLeftovers deletes what a run killed while staging can leave in the
// state folder's temp folder, both holding raw identifiers: private UTF-8
// copies of extracts (extract-*.csv) and DuckDB's spill files
// (duckdb_temp_*). Call it with the state lock held and before the
// warehouse opens, so that no spill file is this process's own; nothing
// else in the folder is touched.
func RemoveLeftovers(dir string, log *slog.Logger) {
	for _, pattern := range []string{"extract-*.csv", "duckdb_temp_*"} {
		stale, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, p := range stale {
			if err := os.RemoveAll(p); err == nil {
				log.Info("removed a file left by an interrupted run", "file", filepath.Base(p))
			}
		}
	}
}

// ErrUnreadable marks an input file that cannot be read as configured (not
// the encoding declared, headers that clash, empty, not CSV at all): the run
// is refused as bad input, like a missing column.
var ErrUnreadable = errors.New("input file cannot be read as configured")

var errEmpty = fmt.Errorf("the file is empty: expected a header row%w", errorsMark{ErrUnreadable})

// errorsMark lets an error match a sentinel without repeating its text.
type errorsMark struct{ sentinel error }

func (m errorsMark) Error() string        { return "" }
func (m errorsMark) Is(target error) bool { return target == m.sentinel }
