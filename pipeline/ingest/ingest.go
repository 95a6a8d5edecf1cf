// Package ingest reads the extracts into private staging tables, checks every
// row, replaces identifiers with keyed tokens and loads the warehouse.
//
// Raw values live only in temporary tables on one pinned connection (memory,
// or the private spill folder) for the length of a run. The identifying
// columns (UPN, NHS number, names, date of birth, postcode) are read only to
// become keyed tokens, once per distinct value, in Go (tokens.go); the
// warehouse and every file written hold tokens and surrogate keys only.
// Every row read ends up loaded, collapsed as a duplicate or quarantined with
// its file, line, column and reason.
package ingest

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/outcomes/outcomes/pipeline/config"
	"github.com/outcomes/outcomes/pipeline/warehouse"
	"github.com/outcomes/outcomes/queries"
	"github.com/outcomes/outcomes/schemas"
	"github.com/outcomes/outcomes/transforms/pseudonym"
)

// File is one extract to read.
type File struct {
	Source schemas.Source
	Path   string
	// Format says how to read it (sources.<source> in the configuration);
	// the zero Format reads the contract's own names, long, ISO, UTF-8.
	Format config.Format
}

// Stats accounts for every row of one file:
// RowsRead = RowsLoaded + RowsQuarantined + RowsDuplicate.
type Stats struct {
	Source              string           `json:"source"`
	Path                string           `json:"path"`
	SHA256              string           `json:"sha256"`
	RowsRead            int64            `json:"rows_read"`
	RowsLoaded          int64            `json:"rows_loaded"`
	RowsQuarantined     int64            `json:"rows_quarantined"`
	RowsDuplicate       int64            `json:"rows_duplicate"`
	QuarantinedByReason map[string]int64 `json:"quarantined_by_reason"`
	// Warnings count rows loaded with a field ignored: nhs_number_ignored or
	// upn_ignored, an identifier that failed its check on a row that another
	// key identifies.
	Warnings map[string]int64 `json:"warnings,omitempty"`
	// Ingested is false for an attendance file whose content was already
	// loaded by an earlier run: it is not read again, and its counts are the
	// earlier run's.
	Ingested bool `json:"ingested_this_run"`
	// Format describes how the file was read when not by the defaults
	// (formatKey); a file read through another format is read again.
	Format string `json:"format,omitempty"`
	// FileID identifies the file in the warehouse's input_files.
	FileID int `json:"-"`
	// ReadBy is the run that read the file, when this run did not: its
	// quarantined rows are in that run's quarantine folder.
	ReadBy string `json:"read_by_run,omitempty"`
	// rosterSHA256 is the roster the file's rows were checked against.
	rosterSHA256 string
	// context is the Options.AttendanceContext the file was read in.
	context string
	// stat lets a nightly run trust the stored hash of a large file whose
	// size, modification and change times and inode are all unchanged.
	stat fileStat
}

// fileStat is what the stat cache compares. ctime is set by the kernel on any
// change, including `touch -r`, and a file copied into place has a new inode.
type fileStat struct{ size, mtime, ctime, inode int64 }

func statFile(path string) (fileStat, error) {
	info, err := os.Stat(path)
	if err != nil {
		return fileStat{}, err
	}
	st := fileStat{size: info.Size(), mtime: info.ModTime().UnixNano()}
	if sys, ok := info.Sys().(*syscall.Stat_t); ok {
		st.ctime = sys.Ctim.Sec*1e9 + sys.Ctim.Nsec
		st.inode = int64(sys.Ino)
	}
	return st, nil
}

// Linkage summarises how one programme's participation records linked to
// roster pupils: Records = Linked + Ambiguous + Conflicting + Unmatched. It
// holds exact counts, so it belongs to the run's private state, never to a
// release.
type Linkage struct {
	Programme string `json:"programme"`
	Records   int64  `json:"records"`
	Linked    int64  `json:"linked"`
	// ByKey counts linked records by the match key they linked on.
	ByKey map[string]int64 `json:"linked_by_key"`
	// Pupils is how many distinct roster pupils the linked records name.
	Pupils int64 `json:"pupils_linked"`
	// Ambiguous records had a key naming several pupils, or shared by
	// partner records of two children, and no better key.
	Ambiguous int64 `json:"ambiguous"`
	// Conflicting records' NHS number and UPN named two different pupils.
	Conflicting int64 `json:"conflicting"`
	// Unmatched records matched no roster pupil on any key.
	Unmatched int64 `json:"unmatched"`
}

// Partitions are the public lists that validation checks against.
type Partitions struct {
	Schools    []string
	Terms      []Term
	Programmes []string
}

// Term is a reporting term's date range and session bound.
type Term struct {
	ID, Start, End string // dates as YYYY-MM-DD
	MaxSessions    int64
}

// Result is what Load returns.
type Result struct {
	Stats   []Stats
	Linkage []Linkage
	// Removed are earlier files no longer in the configuration; Commit
	// forgets them and their rows.
	Removed []int
	// Steps times each step of the load, for logs and benchmarks.
	Steps []Step
	// RosterKept is set when the roster and participation files were not
	// read again (Options.RosterContext): Commit keeps the pupils and
	// participation the warehouse holds, and Linkage is the stored report.
	RosterKept bool
	// SummaryChecked is set by Commit when it changed the sessions summary
	// and checked it (CheckSummary). A run that changed nothing leaves the
	// summary as the last check passed it; before drawing a release from
	// it, the run checks it again.
	SummaryChecked bool
	// rosterContext is recorded with the pupils Commit loads.
	rosterContext string
}

// CheckFileNames refuses input files whose names hold a valid UPN or NHS
// number (schemas.NameHoldsIdentifier): names are written to logs,
// quarantine files, the warehouse and the published manifest. The refusal
// names the file's role and position, never the name. Runs and
// `outcomes tokens` call it before reading or writing anything.
func CheckFileNames(files []File) error {
	seen := map[schemas.Source]int{}
	for _, f := range files {
		seen[f.Source]++
		if schemas.NameHoldsIdentifier(filepath.Base(f.Path)) {
			return fmt.Errorf("%s file %d of the configuration: %w: its name holds a pupil's UPN or NHS number (not shown here); "+
				"file names are written to logs, quarantine files and the published manifest, so rename the file", f.Source, seen[f.Source], ErrUnreadable)
		}
	}
	return nil
}

// Step is one timed step of a load.
type Step struct {
	Name    string
	Elapsed time.Duration
}

// MissingColumnsError reports a file whose header lacks required columns,
// with the mapping it was read through.
type MissingColumnsError struct {
	Path     string
	Missing  []string
	Expected []string
	Found    []string
	// Source and Mapping name the configured mapping (sources.<source>.columns);
	// Unmatched are its headers that the file does not have.
	Source    string
	Mapping   map[string]string
	Unmatched []string
	// NoHeader is set when no header matched at all: the first row is then
	// probably data, so Found is left empty rather than quoting it.
	NoHeader bool
	// Hint names what the first line suggests is wrong with the file as a
	// whole (headerHint), or is empty.
	Hint string
}

// maxFoundShown is how many of a file's headers a message lists: a file
// whose lines end in a carriage return alone reads as one line of tens of
// thousands of fields, and listing them made a 1.6 MB message.
const maxFoundShown = 20

func (e *MissingColumnsError) Error() string {
	shown := e.Found
	more := ""
	if len(shown) > maxFoundShown {
		shown, more = shown[:maxFoundShown], fmt.Sprintf(" and %d more", len(e.Found)-maxFoundShown)
	}
	var found string
	switch {
	case e.NoHeader:
		found = "the first row matches none of them: is the header row missing? (its values are not shown: they may be a pupil's)"
	case len(e.Found) == 0:
		found = "the headers found are not shown: the first line does not read as a header row"
	default:
		found = "found " + strings.Join(shown, ", ") + more
	}
	hint := ""
	if e.Hint != "" {
		hint = "; " + e.Hint
	}
	return fmt.Sprintf("%s: missing column(s) %s; expected %s; %s%s%s", e.Path,
		strings.Join(e.Missing, ", "), strings.Join(e.Expected, ", "), found, hint,
		mappingText(e.Source, e.Mapping, e.Unmatched))
}

// DefinePartitions creates the temp tables of public lists and code sets
// (cfg_schools, cfg_terms, cfg_dates, cfg_programmes, cfg_codes, cfg_reasons) that the
// queries join against. Each key must be unique: the queries join on them.
// That is checked here rather than by PRIMARY KEY constraints, whose
// indexes cost each table about 300 first-touched pages (5 ms on a machine
// where a page fault costs 11-28 us), twice a run.
func DefinePartitions(ctx context.Context, conn *sql.Conn, p Partitions) error {
	var termIDs []string
	for _, t := range p.Terms {
		termIDs = append(termIDs, t.ID)
	}
	var codeKeys, reasonKeys []string
	for _, c := range schemas.AttendanceCodes {
		codeKeys = append(codeKeys, c.Code)
	}
	for _, r := range schemas.QuarantineReasons {
		reasonKeys = append(reasonKeys, r.Code)
	}
	for _, keys := range []struct {
		what string
		list []string
	}{{"school", p.Schools}, {"term", termIDs}, {"programme", p.Programmes}, {"attendance code", codeKeys}, {"quarantine reason", reasonKeys}} {
		seen := map[string]bool{}
		for _, k := range keys.list {
			if seen[k] {
				return fmt.Errorf("define partitions: the %s %q is listed twice", keys.what, k)
			}
			seen[k] = true
		}
	}
	stmts := []string{
		"CREATE OR REPLACE TEMP TABLE cfg_schools (urn VARCHAR NOT NULL, idx INTEGER)",
		"CREATE OR REPLACE TEMP TABLE cfg_terms (term_id VARCHAR NOT NULL, start_date DATE, end_date DATE, max_sessions BIGINT, idx INTEGER)",
		"CREATE OR REPLACE TEMP TABLE cfg_programmes (programme_id VARCHAR NOT NULL, idx INTEGER)",
		"CREATE OR REPLACE TEMP TABLE cfg_codes (code VARCHAR NOT NULL, category VARCHAR, best_mark_rank INTEGER)",
		"CREATE OR REPLACE TEMP TABLE cfg_reasons (code VARCHAR NOT NULL, column_name VARCHAR, message VARCHAR)",
	}
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("define partitions: %w", err)
		}
	}
	insert := func(q string, args ...any) error {
		_, err := conn.ExecContext(ctx, q, args...)
		return err
	}
	// idx columns give each public key a small integer, the position in its
	// list, so per-pupil rows cross into Go as integers.
	var schools, terms, programmes, codes, reasons [][]any
	for i, s := range p.Schools {
		schools = append(schools, []any{s, i})
	}
	for i, t := range p.Terms {
		terms = append(terms, []any{t.ID, t.Start, t.End, t.MaxSessions, i})
	}
	for i, pr := range p.Programmes {
		programmes = append(programmes, []any{pr, i})
	}
	rank := map[schemas.Category]int{schemas.Present: 1, schemas.ApprovedActivity: 2, schemas.Authorised: 3,
		schemas.Unauthorised: 4, schemas.NotPossible: 5, schemas.Pending: 6}
	for _, c := range schemas.AttendanceCodes {
		codes = append(codes, []any{c.Code, string(c.Category), rank[c.Category]})
	}
	for _, r := range schemas.QuarantineReasons {
		reasons = append(reasons, []any{r.Code, r.Column, r.Message})
	}
	if err := warehouse.InsertRows(ctx, conn,
		warehouse.Rows{Table: "cfg_schools", Tuple: "(?, ?)", Values: schools},
		warehouse.Rows{Table: "cfg_terms", Tuple: "(?, ?::DATE, ?::DATE, ?, ?)", Values: terms},
		warehouse.Rows{Table: "cfg_programmes", Tuple: "(?, ?)", Values: programmes},
		warehouse.Rows{Table: "cfg_codes", Tuple: "(?, ?, ?)", Values: codes},
		warehouse.Rows{Table: "cfg_reasons", Tuple: "(?, ?, ?)", Values: reasons},
	); err != nil {
		return fmt.Errorf("define partitions: %w", err)
	}
	// Every date of every term, so millions of marks find their term by an
	// equality (hash) join instead of a range join. Terms never overlap.
	// day_in_term counts from 0 at the term's start; term_slots() is one more
	// than the largest half-day number in a term (day_in_term x 2 + 1 for PM).
	// Each date's word and its morning's bit (HalfDayColumns) are worked out
	// here once, not for each of millions of marks.
	if err := insert(`CREATE OR REPLACE TEMP TABLE cfg_dates AS
		SELECT *, ` + HalfDayColumns + `
		FROM (SELECT CAST(d AS DATE) AS session_date, t.term_id, t.idx AS term_idx, t.max_sessions,
		             CAST(CAST(d AS DATE) - t.start_date AS INTEGER) AS day_in_term
		      FROM cfg_terms t, generate_series(t.start_date::TIMESTAMP, t.end_date::TIMESTAMP, INTERVAL 1 DAY) g(d))`); err != nil {
		return err
	}
	var slots int64
	if err := conn.QueryRowContext(ctx, "SELECT coalesce(max(day_in_term), 0) * 2 + 2 FROM cfg_dates").Scan(&slots); err != nil {
		return err
	}
	if err := insert(fmt.Sprintf("CREATE OR REPLACE TEMP MACRO term_slots() AS %d", slots)); err != nil {
		return err
	}
	return nil
}

// HalfDayColumns derive cfg_dates' word and am_bit from its day_in_term:
// half-day h = day_in_term x 2 (+ 1 for PM) is bit 63 - h % 64 of 64-bit word
// h / 64 (summarise_sessions.sql, resolve_attendance.sql). The afternoon's bit
// is the next one down, am_bit >> 1, in the same word. The shift is by a
// USMALLINT: by an INTEGER, DuckDB would widen the UBIGINT to HUGEINT.
const HalfDayColumns = `(day_in_term // 32)::UTINYINT AS word, 1::UBIGINT << (63 - day_in_term * 2 % 64)::USMALLINT AS am_bit`

// checkAttendanceLines refuses attendance staged as text with a line past
// maxAttendanceLine, which attendance_codes cannot number (files coded as
// read are checked as they are read). It names the file by its path (paths,
// by file id) and the first line past the limit.
func checkAttendanceLines(ctx context.Context, conn *sql.Conn, paths map[int]string) error {
	var id int
	var line int64
	err := conn.QueryRowContext(ctx, `SELECT file_id, min(line) FROM raw_attendance WHERE line > ?
		GROUP BY file_id ORDER BY file_id LIMIT 1`, maxAttendanceLine).Scan(&id, &line)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("count the lines of attendance staged as text: %w", plainDuckDBError(err))
	}
	return fmt.Errorf("read %s: %w", paths[id], tooManyLines(line))
}

// storedFile is what the warehouse remembers of a file read by an earlier run.
type storedFile struct {
	id    int
	stats Stats
}

// storedFiles reads input_files, keyed by source and path.
func storedFiles(ctx context.Context, conn *sql.Conn) (map[string]storedFile, int, error) {
	rows, err := conn.QueryContext(ctx, `SELECT file_id, source, path, sha256, rows_read, rows_loaded, rows_quarantined,
		rows_duplicate, quarantined_by_reason, roster_sha256, size_bytes, mtime_ns, ctime_ns, inode, format, run_id, context FROM input_files`)
	if err != nil {
		return nil, 0, fmt.Errorf("read input_files: %w", err)
	}
	defer rows.Close()
	out := map[string]storedFile{}
	top := 0
	for rows.Next() {
		var f storedFile
		var reasons string
		if err := rows.Scan(&f.id, &f.stats.Source, &f.stats.Path, &f.stats.SHA256, &f.stats.RowsRead, &f.stats.RowsLoaded,
			&f.stats.RowsQuarantined, &f.stats.RowsDuplicate, &reasons, &f.stats.rosterSHA256,
			&f.stats.stat.size, &f.stats.stat.mtime, &f.stats.stat.ctime, &f.stats.stat.inode, &f.stats.Format,
			&f.stats.ReadBy, &f.stats.context); err != nil {
			return nil, 0, err
		}
		f.stats.QuarantinedByReason = map[string]int64{}
		if err := json.Unmarshal([]byte(reasons), &f.stats.QuarantinedByReason); err != nil {
			return nil, 0, fmt.Errorf("input_files: %w", err)
		}
		f.stats.FileID = f.id
		out[f.stats.Source+"\x00"+f.stats.Path] = f
		top = max(top, f.id)
	}
	return out, top, rows.Err()
}

// Load stages, checks and tokenises the files, and writes one quarantine CSV
// per source into quarantineDir; Commit then loads the warehouse. An
// attendance file whose content the warehouse already holds is not read
// again: the nightly cost follows the new data. A changed attendance file
// replaces its earlier rows, and one no longer configured loses them. The
// roster and participation files are read in full, unless they and what they
// are checked against are unchanged (Options.RosterContext): the warehouse's
// pupils and participation then stand.
// DefinePartitions must have run on conn; DropStaging must follow.
func Load(ctx context.Context, conn *sql.Conn, files []File, tok *pseudonym.Tokeniser, quarantineDir string) (*Result, error) {
	return LoadWithOptions(ctx, conn, files, tok, quarantineDir, Options{})
}

// LoadWithOptions is Load with a logger and a progress report.
func LoadWithOptions(ctx context.Context, conn *sql.Conn, files []File, tok *pseudonym.Tokeniser, quarantineDir string, opt Options) (*Result, error) {
	opt.tempDir = privateTempDir(ctx, conn)
	formats := map[int]string{}
	for _, q := range []string{
		"CREATE OR REPLACE TEMP TABLE malformed (source VARCHAR, file VARCHAR, file_id INTEGER, line BIGINT, column_name VARCHAR, error_type VARCHAR)",
		"CREATE OR REPLACE TEMP TABLE replaced_files (file_id INTEGER)",
		// The name of each file read this run, for quarantine files and the
		// best-mark rule's order, so the checked rows need not carry it.
		"CREATE OR REPLACE TEMP TABLE staged_files (source VARCHAR, file_id INTEGER, file VARCHAR)",
		AttendanceCodeTables,
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return nil, err
		}
	}
	stored, topID, err := storedFiles(ctx, conn)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	mark := time.Now()
	progress := newProgress(opt, len(files))
	defer progress.finish()
	step := func(name string) {
		now := time.Now()
		res.Steps = append(res.Steps, Step{Name: name, Elapsed: now.Sub(mark)})
		mark = now
		progress.done(name)
	}
	stats := make([]Stats, len(files))
	for _, src := range []schemas.Source{schemas.SourceRoster, schemas.SourceAttendance, schemas.SourceParticipation} {
		if err := createRaw(ctx, conn, src); err != nil {
			return nil, err
		}
	}
	configured := map[string]bool{}
	parts := map[schemas.Source][]string{}
	textAttendance := false // some attendance file read this run was staged as text, not coded
	replace := func(id int) error {
		_, err := conn.ExecContext(ctx, "INSERT INTO replaced_files VALUES (?)", id)
		return err
	}
	// The roster and participation files are small: hashed every run.
	sums := map[string]string{}
	rosterSHA := ""
	for _, f := range files {
		if f.Source != schemas.SourceAttendance {
			if sums[f.Path], err = fileSHA256(f.Path); err != nil {
				return nil, err
			}
		}
		if f.Source == schemas.SourceRoster {
			rosterSHA = sums[f.Path]
		}
	}
	storedLinkage, kept, err := rosterUnchanged(ctx, conn, files, stored, sums, opt.RosterContext)
	if err != nil {
		return nil, err
	}
	res.RosterKept, res.rosterContext = kept, opt.RosterContext
	var readBytes int64 // what this load reads: BeforeRead
	for i, f := range files {
		key := string(f.Source) + "\x00" + f.Path
		configured[key] = true
		prev, known := stored[key]
		st, err := statFile(f.Path)
		if err != nil {
			return nil, fmt.Errorf("%s file %s: %w", f.Source, f.Path, err)
		}
		if kept && f.Source != schemas.SourceAttendance {
			stats[i] = prev.stats
			stats[i].Ingested = false
			progress.done("unchanged " + string(f.Source) + " " + filepath.Base(f.Path))
			continue
		}
		sum, hashed := sums[f.Path]
		if !hashed {
			sum = prev.stats.SHA256
		}
		// A new file is read whatever its hash, so it is hashed while it is
		// read; a known one is hashed first, as it may not need reading.
		var hashing chan hashResult
		switch {
		case !hashed && !known:
			hashing = make(chan hashResult, 1)
			go func(path string) {
				sum, err := fileSHA256(path)
				hashing <- hashResult{sum, err}
			}(f.Path)
		case !hashed && (prev.stats.stat != st || st.inode == 0):
			if sum, err = fileSHA256(f.Path); err != nil {
				return nil, err
			}
		}
		// An unchanged attendance file is skipped, unless some of its rows
		// named pupils missing from the roster it was checked against and the
		// roster has changed since: they may be on it now.
		recheck := prev.stats.QuarantinedByReason["pupil_not_on_roster"] > 0 && prev.stats.rosterSHA256 != rosterSHA
		// A file read through a different format (mapping, layout, dates,
		// encoding), or in another context (schools, terms, code:
		// Options.AttendanceContext), is read again: its rows may come out
		// differently, as marks at a school or on a day newly configured.
		if known && prev.stats.SHA256 == sum && f.Source == schemas.SourceAttendance && !recheck && prev.stats.Format == formatKey(f.Format) &&
			prev.stats.context == opt.AttendanceContext {
			stats[i] = prev.stats
			stats[i].Ingested = false
			progress.done("unchanged " + string(f.Source) + " " + filepath.Base(f.Path))
			continue
		}
		id := prev.id
		if !known {
			topID++
			id = topID
		} else if f.Source == schemas.SourceAttendance {
			if err := replace(id); err != nil {
				return nil, err
			}
		}
		if readBytes += st.size; opt.BeforeRead != nil {
			if err := opt.BeforeRead(ctx, readBytes); err != nil {
				return nil, err
			}
		}
		stats[i] = Stats{Source: string(f.Source), Path: f.Path, SHA256: sum, QuarantinedByReason: map[string]int64{}, Ingested: true, FileID: id,
			rosterSHA256: rosterSHA, stat: st, Format: formatKey(f.Format), context: opt.AttendanceContext}
		formats[id] = f.Format.DateFormat
		progress.start("read " + string(f.Source) + " " + filepath.Base(f.Path))
		if _, err := conn.ExecContext(ctx, "INSERT INTO staged_files VALUES (?, ?, ?)", string(f.Source), id, fileNameOf(f)); err != nil {
			return nil, err
		}
		part, coded, err := stage(ctx, conn, f, id, opt)
		textAttendance = textAttendance || (f.Source == schemas.SourceAttendance && !coded)
		if hashing != nil {
			hash := <-hashing
			if err == nil && hash.err != nil {
				err = hash.err
			}
			stats[i].SHA256 = hash.sum
		}
		if err != nil {
			return nil, err
		}
		if part != "" {
			parts[f.Source] = append(parts[f.Source], part)
			if err := defineRaw(ctx, conn, f.Source, parts[f.Source]); err != nil {
				return nil, err
			}
		}
		if f.Source == schemas.SourceParticipation {
			if err := checkTokenKey(ctx, conn, f.Path, id, tok.Linkage().Fingerprint()); err != nil {
				return nil, err
			}
		}
		step("read " + string(f.Source) + " " + filepath.Base(f.Path))
	}
	for key, prev := range stored {
		if !configured[key] {
			res.Removed = append(res.Removed, prev.id)
			if prev.stats.Source == string(schemas.SourceAttendance) {
				if err := replace(prev.id); err != nil {
					return nil, err
				}
			}
		}
	}
	steps := []string{"validate_roster", "stage_pupils", "validate_attendance", "resolve_attendance", "validate_participation"}
	validated := []schemas.Source{schemas.SourceRoster, schemas.SourceAttendance, schemas.SourceParticipation}
	if kept {
		// No roster or participation row was read this run; the pupils the
		// new marks are checked against are the warehouse's.
		steps = []string{"stage_known_pupils", "validate_attendance", "resolve_attendance"}
		validated = []schemas.Source{schemas.SourceAttendance}
	}
	// The steps left are known now: tokenise, the queries, counting, and
	// coding any attendance staged as text.
	left := 1 + len(steps) + 1
	if textAttendance {
		left++
	}
	progress.plan(len(files) + left)
	// Attendance staged as text (none, usually) is coded as regular files were.
	if textAttendance {
		progress.start("code staged attendance")
		paths := map[int]string{}
		for _, st := range stats {
			paths[st.FileID] = st.Path
		}
		if err := checkAttendanceLines(ctx, conn, paths); err != nil {
			return nil, err
		}
		if _, err := conn.ExecContext(ctx, queries.Get("code_attendance")); err != nil {
			return nil, fmt.Errorf("code_attendance: %w", plainDuckDBError(err))
		}
		step("code staged attendance")
	}
	progress.start("tokenise")
	if err := tokenise(ctx, conn, tok, kept); err != nil {
		return nil, fmt.Errorf("pseudonymise: %w", err)
	}
	step("tokenise")
	if err := defineDateParsing(ctx, conn, formats); err != nil {
		return nil, err
	}
	for _, q := range steps {
		progress.start(q)
		if _, err := conn.ExecContext(ctx, queries.Get(q)); err != nil {
			return nil, fmt.Errorf("%s: %w", q, plainDuckDBError(err))
		}
		step(q)
	}
	progress.start("count and quarantine")
	if err := count(ctx, conn, stats, validated); err != nil {
		return nil, err
	}
	if err := logIgnoredFields(ctx, conn, validated, opt.logger()); err != nil {
		return nil, err
	}
	if err := writeQuarantine(ctx, conn, quarantineDir, validated); err != nil {
		return nil, err
	}
	linkage := storedLinkage
	if !kept {
		if linkage, err = linkageReport(ctx, conn); err != nil {
			return nil, err
		}
	}
	step("count and quarantine")
	res.Stats, res.Linkage = stats, linkage
	return res, nil
}

// Commit loads what Load checked into the warehouse in one transaction, so a
// failed or killed run leaves the previous load: the roster and participation
// are replaced (unless Load kept them), new and changed attendance files' marks replace their earlier
// rows, and input_files records every file read for the next run.
func Commit(ctx context.Context, conn *sql.Conn, res *Result, runID string) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	resummarised, err := deleteReplacedSessions(ctx, tx)
	if err != nil {
		return err
	}
	// Every mark counted as loaded must reach sessions: the count is taken
	// from the marks set aside (count_attendance.sql), so a mark lost on the
	// way would otherwise go unnoticed.
	inserted, err := tx.ExecContext(ctx, queries.Get("load_sessions"))
	if err != nil {
		return fmt.Errorf("load warehouse: %w", err)
	}
	var counted int64
	for _, s := range res.Stats {
		if s.Ingested && s.Source == string(schemas.SourceAttendance) {
			counted += s.RowsLoaded
		}
	}
	n, err := inserted.RowsAffected()
	if err != nil {
		return fmt.Errorf("load warehouse: count the sessions loaded: %w", err)
	}
	if n != counted {
		return fmt.Errorf("load warehouse: %d attendance marks were counted as loaded but %d were loaded; nothing was committed. This is a fault in the program: please report it", counted, n)
	}
	var loads []string
	if !res.RosterKept {
		loads = append(loads, "DELETE FROM participation", "DELETE FROM pupils",
			queries.Get("load_pupils"), queries.Get("load_pupil_keys"), queries.Get("load_participation"))
		if err := recordRoster(ctx, tx, res); err != nil {
			return err
		}
	}
	for _, q := range loads {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("load warehouse: %w", err)
		}
	}
	// The marks loaded now are added to the summary from the checked rows:
	// reading them back from sessions inside this transaction took seven
	// times as long. A run that loads no marks and summarises nothing again
	// (a weekend's run, with no new file) skips both the summary and its
	// check: the run checks it before drawing from it (SummaryChecked), and
	// a run that only republishes draws nothing.
	if n > 0 {
		if err := summarise(ctx, tx, "loaded_attendance"); err != nil {
			return err
		}
	}
	if n > 0 || resummarised {
		if err := CheckSummary(ctx, tx); err != nil {
			return fmt.Errorf("nothing was loaded: %w", err)
		}
		res.SummaryChecked = true
	}
	forget := append([]int{}, res.Removed...)
	for _, s := range res.Stats {
		if s.Ingested {
			forget = append(forget, s.FileID)
		}
	}
	for _, id := range forget {
		if _, err := tx.ExecContext(ctx, "DELETE FROM input_files WHERE file_id = ?", id); err != nil {
			return fmt.Errorf("record input files: %w", err)
		}
	}
	for _, s := range res.Stats {
		if !s.Ingested {
			continue
		}
		reasons, err := json.Marshal(s.QuarantinedByReason)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO input_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", s.FileID, s.Source, s.Path,
			s.SHA256, s.RowsRead, s.RowsLoaded, s.RowsQuarantined, s.RowsDuplicate, string(reasons), runID, s.rosterSHA256,
			s.stat.size, s.stat.mtime, s.stat.ctime, s.stat.inode, s.Format, s.context); err != nil {
			return fmt.Errorf("record input files: %w", err)
		}
	}
	return tx.Commit()
}

// rosterUnchanged reports whether the roster and participation files can be
// left unread: the same files as the warehouse's pupils and participation
// were built from (by content hash, in sums, and read the same way), none
// added or dropped, and the same context (Options.RosterContext). It also
// returns the linkage report stored with them.
func rosterUnchanged(ctx context.Context, conn *sql.Conn, files []File, stored map[string]storedFile, sums map[string]string, context string) ([]Linkage, bool, error) {
	if context == "" {
		return nil, false, nil
	}
	configured := 0
	for _, f := range files {
		if f.Source == schemas.SourceAttendance {
			continue
		}
		configured++
		prev, known := stored[string(f.Source)+"\x00"+f.Path]
		if !known || prev.stats.SHA256 != sums[f.Path] || prev.stats.Format != formatKey(f.Format) {
			return nil, false, nil
		}
	}
	for _, prev := range stored {
		if prev.stats.Source != string(schemas.SourceAttendance) {
			configured--
		}
	}
	if configured != 0 {
		return nil, false, nil // a file dropped from the configuration
	}
	var builtFor, report string
	err := conn.QueryRowContext(ctx, "SELECT context, linkage FROM roster_state").Scan(&builtFor, &report)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	} else if err != nil {
		return nil, false, fmt.Errorf("read roster_state: %w", err)
	}
	if builtFor != context {
		return nil, false, nil
	}
	var linkage []Linkage
	if err := json.Unmarshal([]byte(report), &linkage); err != nil {
		return nil, false, fmt.Errorf("roster_state: %w", err)
	}
	return linkage, true, nil
}

// recordRoster records, with the pupils and participation Commit loads, the
// context they were built in and their linkage report, for rosterUnchanged.
func recordRoster(ctx context.Context, tx *sql.Tx, res *Result) error {
	report, err := json.Marshal(res.Linkage)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM roster_state"); err != nil {
		return fmt.Errorf("record roster state: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO roster_state VALUES (?, ?)", res.rosterContext, string(report)); err != nil {
		return fmt.Errorf("record roster state: %w", err)
	}
	return nil
}

// CheckSummary refuses a pupil_terms that contradicts itself: a key twice,
// or half-day words whose set bits disagree with the counts beside them.
// Both would be a fault in this program, and either would reach the DP
// input or the impact windows unnoticed. Commit checks a summary it has
// changed, so the run fails and the warehouse keeps its last good load; a
// run that changed none checks it before drawing from it. Either way the
// check comes before any budget is spent.
func CheckSummary(ctx context.Context, tx interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) error {
	var repeated, inconsistent int64
	// (A GROUP BY finds repeated keys in half the time of count(DISTINCT).)
	if err := tx.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM (SELECT 1 FROM pupil_terms GROUP BY pupil_key, school_urn, term_id HAVING count(*) > 1)),
		count(*) FILTER (WHERE
			bit_count(possible_w0)::BIGINT + bit_count(possible_w1) + bit_count(possible_w2) + bit_count(possible_w3) + bit_count(possible_w4) + bit_count(possible_w5) <> possible
			OR bit_count(attended_w0)::BIGINT + bit_count(attended_w1) + bit_count(attended_w2) + bit_count(attended_w3) + bit_count(attended_w4) + bit_count(attended_w5)
				<> possible - authorised - unauthorised)
		FROM pupil_terms`).Scan(&repeated, &inconsistent); err != nil {
		return fmt.Errorf("check the sessions summary: %w", err)
	}
	if repeated > 0 || inconsistent > 0 {
		return fmt.Errorf("the sessions summary (pupil_terms) is inconsistent (pupil, school and term keys with more than one row: %d; rows whose half-day bits disagree with their counts: %d). This is a fault in the program: please report it", repeated, inconsistent)
	}
	return nil
}

// deleteReplacedSessions deletes the sessions of replaced and removed files
// and keeps pupil_terms (summarise_sessions.sql) equal to the sessions kept,
// inside Commit's transaction and before the new marks are loaded, which
// Commit then adds. A run that only adds marks keeps the summary as it is,
// so a nightly run reads its new day and not the year. When sessions are
// deleted, only the pupils who had sessions in those files are summarised
// again: a school's re-sent file costs that school's pupils, not the
// region's. When the configured terms differ from those the summary was
// built for (the words number each term's half-days), or its query has
// changed, it is rebuilt from every session kept. It says whether it
// summarised any sessions again.
func deleteReplacedSessions(ctx context.Context, tx *sql.Tx) (resummarised bool, err error) {
	var calendar, built string
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(string_agg(term_id || ' ' || start_date || ' ' || end_date, ', ' ORDER BY term_id), '')
		|| '; ' || term_slots() || ' half-days' FROM cfg_terms`).Scan(&calendar); err != nil {
		return false, fmt.Errorf("summarise sessions: %w", err)
	}
	// The summary's definition too: a changed query rebuilds it.
	definition := sha256.Sum256([]byte(queries.Get("summarise_sessions")))
	calendar += "; summarise_sessions.sql " + hex.EncodeToString(definition[:8])
	if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(calendar), '') FROM pupil_terms_calendar").Scan(&built); err != nil {
		return false, fmt.Errorf("summarise sessions: %w", err)
	}
	var deleted bool
	if err := tx.QueryRowContext(ctx, "SELECT count(*) > 0 FROM replaced_files").Scan(&deleted); err != nil {
		return false, fmt.Errorf("summarise sessions: %w", err)
	}
	deleteSessions := "DELETE FROM sessions WHERE file_id IN (SELECT file_id FROM replaced_files)"
	var stmts []string
	var from string
	switch {
	case calendar != built:
		stmts = []string{deleteSessions, "DELETE FROM pupil_terms", "DELETE FROM pupil_terms_calendar"}
		from = "sessions"
	case deleted:
		stmts = []string{
			`CREATE OR REPLACE TEMP TABLE summary_pupils AS
				SELECT DISTINCT pupil_key FROM sessions WHERE file_id IN (SELECT file_id FROM replaced_files)`,
			deleteSessions,
			"DELETE FROM pupil_terms WHERE pupil_key IN (SELECT pupil_key FROM summary_pupils)",
		}
		from = "sessions SEMI JOIN summary_pupils USING (pupil_key)"
	default:
		return false, nil
	}
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return false, fmt.Errorf("summarise sessions: %w", err)
		}
	}
	if err := summarise(ctx, tx, from); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, "DROP TABLE IF EXISTS summary_pupils"); err != nil {
		return false, fmt.Errorf("summarise sessions: %w", err)
	}
	if calendar != built {
		if _, err := tx.ExecContext(ctx, "INSERT INTO pupil_terms_calendar VALUES (?)", calendar); err != nil {
			return false, fmt.Errorf("summarise sessions: %w", err)
		}
	}
	return true, nil
}

// summarise adds to pupil_terms the sessions the relation from selects
// (summarise_sessions.sql reads them through the view summary_input).
func summarise(ctx context.Context, tx *sql.Tx, from string) error {
	for _, q := range []string{
		"CREATE OR REPLACE TEMP VIEW summary_input AS SELECT pupil_key, school_urn, session_date, session, category FROM " + from,
		queries.Get("summarise_sessions"), "DROP VIEW summary_input",
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("summarise sessions: %w", err)
		}
	}
	return nil
}

// DropStaging drops every staging table, the only place raw identifiers
// ever sit; call it once Commit has run (or the run has failed).
func DropStaging(conn *sql.Conn) {
	ctx := context.Background()
	var stmts []string
	// A file read in place has a table of its own, staged_<file id>; every
	// file read this run is in staged_files.
	if rows, err := conn.QueryContext(ctx, "SELECT DISTINCT file_id FROM staged_files"); err == nil {
		for rows.Next() {
			var id int
			if rows.Scan(&id) == nil {
				stmts = append(stmts, fmt.Sprintf("DROP TABLE IF EXISTS temp.staged_%d", id))
			}
		}
		rows.Close()
	}
	for _, src := range []schemas.Source{schemas.SourceRoster, schemas.SourceAttendance, schemas.SourceParticipation} {
		stmts = append(stmts, "DROP VIEW IF EXISTS temp."+rawTable(src), "DROP TABLE IF EXISTS temp."+rawRows(src))
	}
	// loaded_attendance and failed_attendance are views on the tables
	// below: dropped first.
	stmts = append(stmts, "DROP VIEW IF EXISTS temp.loaded_attendance", "DROP VIEW IF EXISTS temp.failed_attendance")
	for _, t := range []string{"upn_tokens", "nhs_tokens", "demo_tokens", "attendance_codes", "attendance_session_marks", "attendance_dict",
		"coded_raw_attendance", "checked_roster", "checked_upns", "checked_session_marks", "resolved_attendance", "quarantined_attendance", "checked_participation", "malformed", "replaced_files", "staged_files"} {
		stmts = append(stmts, "DROP TABLE IF EXISTS temp."+t)
	}
	// validate_attendance.sql's type, once nothing uses it.
	stmts = append(stmts, "DROP TYPE IF EXISTS temp.attendance_failure")
	// One statement for all (each costs a round trip); should any fail, each
	// is tried on its own, so one failure leaves nothing else behind.
	if _, err := conn.ExecContext(ctx, strings.Join(stmts, ";\n")); err != nil {
		for _, q := range stmts {
			_, _ = conn.ExecContext(ctx, q)
		}
	}
	// staged_pupils is a view when the roster was kept (stage_known_pupils.sql)
	// and a table otherwise; dropping it as the other kind fails.
	_, _ = conn.ExecContext(ctx, "DROP VIEW IF EXISTS temp.staged_pupils")
	_, _ = conn.ExecContext(ctx, "DROP TABLE IF EXISTS temp.staged_pupils")
}

// rawTable is the view of every row read from a source's files this run, with
// file, file_id and line (rawColumns): it unites the staged tables of files
// read directly and the rawRows table of files whose rows were copied.
func rawTable(src schemas.Source) string { return "raw_" + string(src) }

// rawRows is the temp table of a source's rows copied by insertStaged.
func rawRows(src schemas.Source) string { return "raw_" + string(src) + "_rows" }

// rawColumns are the columns of rawTable and rawRows, in order.
func rawColumns(src schemas.Source) []string {
	cols := []string{"file", "file_id", "line"}
	for _, c := range stagedColumns(src) {
		cols = append(cols, c.Name)
	}
	return cols
}

// stagedColumns are the columns read from a file. Names, dates of birth and
// postcodes are read only from the roster and participation files, into temp
// tables, to build match tokens (tokenise); like UPNs and NHS numbers they
// never reach the warehouse.
func stagedColumns(src schemas.Source) []schemas.InputColumn {
	return src.Columns()
}

// createRaw creates a source's empty rawRows table and its rawTable view.
func createRaw(ctx context.Context, conn *sql.Conn, src schemas.Source) error {
	cols := []string{"file VARCHAR", "file_id INTEGER", "line BIGINT"}
	for _, c := range stagedColumns(src) {
		cols = append(cols, c.Name+" VARCHAR")
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TEMP TABLE %s (%s)", rawRows(src), strings.Join(cols, ", "))); err != nil {
		return err
	}
	return defineRaw(ctx, conn, src, nil)
}

// defineRaw (re)defines a source's rawTable view: its rawRows table and the
// given SELECTs of staged files (stagedRows), each read where it lies rather
// than copied. A file of millions of marks is then written once, by read_csv.
func defineRaw(ctx context.Context, conn *sql.Conn, src schemas.Source, parts []string) error {
	cols := strings.Join(rawColumns(src), ", ")
	q := fmt.Sprintf("CREATE OR REPLACE TEMP VIEW %s AS SELECT %s FROM %s", rawTable(src), cols, rawRows(src))
	for _, p := range parts {
		q += fmt.Sprintf(" UNION ALL SELECT %s FROM (%s)", cols, p)
	}
	if _, err := conn.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("define %s: %w", rawTable(src), err)
	}
	return nil
}

// normaliseHeader lower-cases a header and turns runs of anything but letters
// and digits into one underscore: "Pupil UPN" -> "pupil_upn".
func normaliseHeader(h string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.TrimPrefix(h, "\ufeff") {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if under && b.Len() > 0 {
				b.WriteByte('_')
			}
			under = false
			b.WriteRune(unicode.ToLower(r))
		} else {
			under = true
		}
	}
	return b.String()
}

// csvSource reads every field as text, nothing guessed: types are checked
// by the validation queries. Columns get positional names c0, c1, ... so a
// header that is empty, repeated or full of punctuation cannot break the read.
func csvSource(path string, n int, rejectsTable, rejectsScan string) string {
	cols := make([]string, n)
	for i := range cols {
		cols[i] = fmt.Sprintf("'c%d': 'VARCHAR'", i)
	}
	opts := "header = true, delim = ',', quote = '\"', escape = '\"', auto_detect = false, columns = {" + strings.Join(cols, ", ") + "}"
	if rejectsTable != "" {
		opts += fmt.Sprintf(", store_rejects = true, rejects_table = '%s', rejects_scan = '%s'", rejectsTable, rejectsScan)
	}
	return fmt.Sprintf("read_csv(%s, %s)", warehouse.QuoteLiteral(path), opts)
}

// header reads a CSV file's header record. It is read in Go, not sniffed:
// a file with broken rows must still give its header so those rows can be
// reported.
func header(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReader(f))
	r.FieldsPerRecord = -1
	r.LazyQuotes = true // a stray quote in a header is DuckDB's to report, with its line
	rec, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, errEmpty
	}
	if err != nil {
		return nil, err
	}
	if len(rec) > 0 {
		rec[0] = strings.TrimPrefix(rec[0], "\ufeff")
	}
	return rec, nil
}

// stage reads one file into a temp table and records malformed rows. It
// returns a SELECT of the file's rows with their line numbers, to become part
// of the source's raw view (rawView), when the staged table can be read as it
// is: the usual case, a file whose line numbers follow from row positions.
// Otherwise (rejected rows, blank lines or line breaks inside quotes) it
// copies the rows with their computed lines into the source's raw table and
// returns "". The file's format (config.Format) says which headers feed which
// contract columns, its layout, dates and encoding.
// It also reports whether the file was coded as it was read (codeAttendance)
// instead, which stages no text.
func stage(ctx context.Context, conn *sql.Conn, f File, fileID int, opt Options) (part string, coded bool, err error) {
	part, coded, err = stageFile(ctx, conn, f, fileID, opt)
	if err != nil || part == "" {
		// Nothing refers to the staged table.
		_, _ = conn.ExecContext(context.Background(), fmt.Sprintf("DROP TABLE IF EXISTS temp.staged_%d", fileID))
	}
	return part, coded, err
}

func stageFile(ctx context.Context, conn *sql.Conn, f File, fileID int, opt Options) (string, bool, error) {
	index := fileID
	if _, err := os.Stat(f.Path); err != nil {
		return "", false, fmt.Errorf("%s file %s: %w", f.Source, f.Path, err)
	}
	rejects, scans := fmt.Sprintf("rejects_%d", index), fmt.Sprintf("reject_scans_%d", index)
	var (
		found  []string
		from   string
		csvIn  *csvFile // nil for Parquet: no rejects, no line breaks to map
		exprOf func(i int) string
	)
	if isParquet(f.Path) {
		cols, err := parquetColumns(ctx, conn, f.Path)
		if err != nil {
			return "", false, fmt.Errorf("read %s: %w: it is not a Parquet file this program can read (%v); re-export it", f.Path, ErrUnreadable, err)
		}
		for _, c := range cols {
			found = append(found, c.name)
		}
		from = parquetSource(f.Path)
		exprOf = func(i int) string { return parquetText(cols[i], f.Format.DateFormat) }
	} else {
		coded, err := codeAttendance(ctx, conn, f, fileID, opt)
		if err != nil || coded {
			return "", coded, err
		}
		file, cleanup, err := readableCSV(f, opt.tempDir, opt.logger())
		if err != nil {
			return "", false, err
		}
		defer cleanup()
		csvIn = file
		if found, err = header(file.path); err != nil {
			return "", false, fmt.Errorf("read header of %s: %w", f.Path, err)
		}
		from = csvSource(file.path, len(found), rejects, scans)
		exprOf = func(i int) string { return fmt.Sprintf("c%d", i) }
	}
	actual, err := resolveColumns(f, found)
	if err != nil {
		return "", false, err
	}
	warnUnmatched(f, found, opt)
	cols := readColumns(f)
	var sel []string
	for _, c := range cols {
		if i, ok := actual[c]; ok {
			sel = append(sel, exprOf(i)+" AS "+c)
		} else {
			sel = append(sel, "NULL::VARCHAR AS "+c)
		}
	}
	staging := fmt.Sprintf("staged_%d", index)
	q := fmt.Sprintf("CREATE OR REPLACE TEMP TABLE %s AS SELECT %s FROM %s", staging, strings.Join(sel, ", "), from)
	if _, err := conn.ExecContext(ctx, q); err != nil {
		if strings.Contains(err.Error(), "Invalid Input Error") {
			// DuckDB could not parse the file at all; its own advice (strict
			// mode, sniffing) is not something a data lead can act on.
			return "", false, fmt.Errorf("read %s: %w: it is not a CSV file this program can read (%v); check it opens as a table with one header row, and re-export it if not", f.Path, ErrUnreadable, firstSentence(plainDuckDBError(err)))
		}
		return "", false, fmt.Errorf("read %s: %w", f.Path, plainDuckDBError(err))
	}
	defer conn.ExecContext(context.Background(), "DROP TABLE IF EXISTS temp."+rejects)
	defer conn.ExecContext(context.Background(), "DROP TABLE IF EXISTS temp."+scans)

	name := filepath.Base(f.Path)
	if csvIn == nil {
		// A Parquet row's number is its position in the file, from 1.
		return stagedRows(f, fileID, cols, "rowid + 1", staging), false, nil
	}
	lines := fmt.Sprintf("lines_%d", index)
	defer conn.ExecContext(context.Background(), "DROP TABLE IF EXISTS temp."+lines)
	numbered, direct, err := numberRecords(ctx, conn, f, csvIn, staging, rejects, lines, opt)
	if err != nil {
		return "", false, err
	}
	// A rejected record's line is where it starts in the file. In a wide file
	// each line carries two marks, and rows count marks: a line that cannot be
	// read loses both, so it counts twice.
	copies := "1"
	if f.Format.Layout == config.LayoutWide {
		copies = "2"
	}
	// DuckDB names the column at fault by its position (c0, c1, ...): report
	// the contract column it feeds, or none for a column that is not read (a
	// header is the file's own text, and a file without one has data there).
	colName := "NULL"
	if len(actual) > 0 {
		var whens []string
		for c, i := range actual {
			whens = append(whens, fmt.Sprintf("WHEN 'c%d' THEN '%s'", i, c))
		}
		sort.Strings(whens)
		colName = "CASE r.column_name " + strings.Join(whens, " ") + " END"
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`INSERT INTO malformed
		SELECT ?, ?, ?, r.line - b.d_off + b.p_off, `+colName+`, r.error_type
		FROM (SELECT line, any_value(column_name) AS column_name, any_value(error_type) AS error_type FROM %s GROUP BY line) r
		ASOF JOIN %s b ON r.line >= b.d_line, range(%s)`, rejects, lines, copies),
		string(f.Source), name, fileID); err != nil {
		return "", false, fmt.Errorf("read rejects of %s: %w", f.Path, err)
	}
	if direct {
		return stagedRows(f, fileID, cols, "line", numbered), false, nil
	}
	return "", false, insertStaged(ctx, conn, f, fileID, cols, "line", numbered)
}

// codeAttendance codes a regular attendance CSV file as it reads it
// (codeRegularCSV), and reports whether it did. The usual extract is one,
// and then no text is staged, no quick scan is needed (the coded reader
// checks UTF-8 as it reads) and no rejects can arise; any other file is left
// to the general reader, which reports its problems, transcodes or refuses
// what is not UTF-8, and logs what it does. A file asked to be read as
// Windows-1252, a wide file, and a header that is not UTF-8 or does not name
// the columns are all left to it.
func codeAttendance(ctx context.Context, conn *sql.Conn, f File, fileID int, opt Options) (bool, error) {
	if f.Source != schemas.SourceAttendance || f.Format.Layout == config.LayoutWide || f.Format.Encoding == config.EncodingWindows1252 {
		return false, nil
	}
	found, err := header(f.Path)
	if err != nil || !utf8.ValidString(strings.Join(found, "")) {
		return false, nil
	}
	actual, err := resolveColumns(f, found)
	if err != nil {
		return false, nil
	}
	var fields []int
	for _, c := range codedColumns() {
		if i, ok := actual[c]; ok {
			fields = append(fields, i)
		} else {
			fields = append(fields, -1)
		}
	}
	regular, reason, err := codeRegularCSV(ctx, conn, f.Path, len(found), fields, fileID)
	if err != nil {
		return false, err
	}
	if !regular {
		opt.logger().Debug("attendance file read by the general CSV reader", "file", filepath.Base(f.Path), "reason", reason)
		return false, nil
	}
	warnUnmatched(f, found, opt)
	return true, nil
}

// warnUnmatched warns when the file's column mapping names headers the file
// does not have.
func warnUnmatched(f File, found []string, opt Options) {
	if um := unmatchedMapping(f, found); len(um) > 0 {
		opt.logger().Warn("the column mapping names headers this file does not have (sources."+string(f.Source)+".columns)",
			"file", filepath.Base(f.Path), "headers", strings.Join(um, ", "))
	}
}

// ErrTokenKey means a tokenised participation file was made with another key
// than the pipeline's, so none of its tokens could match.
var ErrTokenKey = errors.New("tokenised with a different key")

// checkTokenKey refuses a tokenised participation file (one with a
// key_fingerprint column) unless every row names the pipeline's key.
func checkTokenKey(ctx context.Context, conn *sql.Conn, path string, fileID int, fingerprint string) error {
	var tokenised, wrong int64
	var firstWrong sql.NullInt64
	var other sql.NullString
	// A row is tokenised when it carries a fingerprint or any token: tokens
	// without a fingerprint cannot be trusted to be this key's.
	var anyToken []string
	for _, k := range schemas.MatchKeys {
		anyToken = append(anyToken, schemas.TokenColumn(k))
	}
	isTokenised := "(key_fingerprint IS NOT NULL OR coalesce(" + strings.Join(anyToken, ", ") + ") IS NOT NULL)"
	err := conn.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE `+isTokenised+`),
			count(*) FILTER (WHERE `+isTokenised+` AND trim(coalesce(key_fingerprint, '')) <> ?),
			min(line) FILTER (WHERE `+isTokenised+` AND trim(coalesce(key_fingerprint, '')) <> ?),
			any_value(trim(key_fingerprint)) FILTER (WHERE `+isTokenised+` AND trim(coalesce(key_fingerprint, '')) <> ?)
		FROM raw_participation WHERE file_id = ?`, fingerprint, fingerprint, fingerprint, fileID).Scan(&tokenised, &wrong, &firstWrong, &other)
	if err != nil {
		return fmt.Errorf("check key of %s: %w", path, err)
	}
	if tokenised == 0 || wrong == 0 {
		return nil
	}
	found := "no fingerprint"
	if other.Valid && other.String != "" && regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(other.String) {
		found = "key fingerprint " + other.String
	}
	return fmt.Errorf("%s line %d: %w: the row has %s, this pipeline's linkage key is %s (%d rows differ). "+
		"Ask the partner to run `outcomes tokens` again with the current shared key; nothing was loaded",
		path, firstWrong.Int64, ErrTokenKey, found, fingerprint, wrong)
}

var identifierShapes = regexp.MustCompile(`[A-Za-z] ?([0-9] ?){11}[0-9A-Za-z]|[0-9]{3}[ -]?[0-9]{3}[ -]?[0-9]{4}|[A-Za-z]{1,2}[0-9][0-9A-Za-z]? ?[0-9][A-Za-z]{2}`)

// plainDuckDBError keeps DuckDB's explanation of a CSV problem but drops the
// copy of the offending input line it quotes, and masks anything shaped like
// a UPN, NHS number or postcode, so no identifier reaches a message.
func plainDuckDBError(err error) error {
	var keep []string
	for _, line := range strings.Split(err.Error(), "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "Original Line") || strings.HasPrefix(trimmed, "LINE ") || strings.Trim(trimmed, "^ ") == "" {
			continue
		}
		keep = append(keep, identifierShapes.ReplaceAllString(trimmed, "[masked]"))
	}
	return errors.New(strings.Join(keep, " "))
}

// firstSentence keeps DuckDB's explanation and drops its suggestions.
func firstSentence(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "Possible fixes"); i > 0 {
		msg = msg[:i]
	}
	return strings.TrimSpace(msg)
}

type hashResult struct {
	sum string
	err error
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("open input: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// count fills each file's row accounting from the checked tables.
func count(ctx context.Context, conn *sql.Conn, stats []Stats, validated []schemas.Source) error {
	byID := map[int]*Stats{}
	for i := range stats {
		if stats[i].Ingested {
			byID[stats[i].FileID] = &stats[i]
		}
	}
	// Each source is grouped on its own columns first, and only the groups'
	// reasons are cut to their code. Attendance (millions of rows, not
	// stored per mark) is counted by count_attendance.sql.
	grouped := func(from, nhs, upn string) string {
		return fmt.Sprintf(`SELECT file_id, outcome::VARCHAR AS outcome, failed::VARCHAR AS failed, n, nhs_ignored, upn_ignored
			FROM (SELECT file_id, outcome, failed, count(*) AS n, count(*) FILTER (WHERE %s) AS nhs_ignored,
				count(*) FILTER (WHERE %s) AS upn_ignored FROM %s GROUP BY file_id, outcome, failed)`, nhs, upn, from)
	}
	checked := map[schemas.Source]string{
		schemas.SourceRoster: grouped("checked_roster", "nhs_ignored", "false"),
		schemas.SourceAttendance: `SELECT file_id, outcome, failed, n, 0 AS nhs_ignored, 0 AS upn_ignored FROM (` +
			strings.TrimRight(strings.TrimSpace(stripComments(queries.Get("count_attendance"))), ";") + `)`,
		schemas.SourceParticipation: grouped("checked_participation", "nhs_ignored", "upn_ignored"),
	}
	parts := []string{"SELECT file_id, 'quarantined' AS outcome, 'malformed_row' AS failed, count(*) AS n, 0 AS nhs_ignored, 0 AS upn_ignored FROM malformed GROUP BY ALL"}
	for _, src := range validated {
		parts = append(parts, checked[src])
	}
	q := `SELECT file_id, outcome, coalesce(split_part(failed, ':', 1), ''), sum(n)::BIGINT,
			sum(nhs_ignored)::BIGINT, sum(upn_ignored)::BIGINT
		FROM (` + strings.Join(parts, " UNION ALL ") + `) GROUP BY ALL ORDER BY ALL`
	rows, err := conn.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("count rows: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int
		var outcome, reason string
		var n, nhsIgnored, upnIgnored int64
		if err := rows.Scan(&id, &outcome, &reason, &n, &nhsIgnored, &upnIgnored); err != nil {
			return err
		}
		s, ok := byID[id]
		if !ok {
			return fmt.Errorf("count rows: rows from file %d, which was not read this run", id)
		}
		s.RowsRead += n
		switch outcome {
		case "loaded":
			s.RowsLoaded += n
		case "duplicate":
			s.RowsDuplicate += n
		case "quarantined":
			s.RowsQuarantined += n
			s.QuarantinedByReason[reason] += n
		}
		for warning, n := range map[string]int64{"nhs_number_ignored": nhsIgnored, "upn_ignored": upnIgnored} {
			if n > 0 {
				if s.Warnings == nil {
					s.Warnings = map[string]int64{}
				}
				s.Warnings[warning] += n
			}
		}
	}
	return rows.Err()
}

// ignoredFields are the fields a row is loaded without when they are not
// valid (Stats.Warnings): the row still counts, but the data lead should
// know where to correct the export.
var ignoredFields = []struct {
	source             schemas.Source
	table, flag, field string
	reason             string
}{
	{schemas.SourceRoster, "checked_roster", "nhs_ignored", "nhs_number", "not 10 digits with a correct check digit: the pupil is loaded without it, and cannot be linked by NHS number"},
	{schemas.SourceParticipation, "checked_participation", "nhs_ignored", "nhs_number", "not 10 digits with a correct check digit: the record is linked by its other identifiers"},
	{schemas.SourceParticipation, "checked_participation", "upn_ignored", "upn", "not a valid UPN: the record is linked by its other identifiers"},
}

// logIgnoredFields logs, per file, how many rows were loaded without an
// invalid field and their first lines (line numbers, never values): a
// count in summary.json alone left the data lead nothing to correct.
func logIgnoredFields(ctx context.Context, conn *sql.Conn, validated []schemas.Source, log *slog.Logger) error {
	for _, f := range ignoredFields {
		if !slices.Contains(validated, f.source) {
			continue
		}
		rows, err := conn.QueryContext(ctx, fmt.Sprintf(`SELECT file, count(*), list(line ORDER BY line)[1:10]::VARCHAR
			FROM %s WHERE %s GROUP BY file ORDER BY file`, f.table, f.flag))
		if err != nil {
			return fmt.Errorf("count ignored fields: %w", err)
		}
		for rows.Next() {
			var file, lines string
			var n int64
			if err := rows.Scan(&file, &n, &lines); err != nil {
				rows.Close()
				return fmt.Errorf("count ignored fields: %w", err)
			}
			log.Warn("rows loaded without an invalid field", "file", filepath.Base(file), "column", f.field, "rows", n,
				"first_lines", strings.Trim(lines, "[]"), "reason", f.reason)
		}
		if err := rows.Close(); err != nil {
			return err
		}
	}
	return nil
}

// writeQuarantine writes quarantine/<source>.csv for every source with
// quarantined rows: masked, never with an identifier column.
func writeQuarantine(ctx context.Context, conn *sql.Conn, dir string, validated []schemas.Source) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create quarantine folder: %w", err)
	}
	for _, src := range validated {
		q := strings.TrimRight(strings.TrimSpace(stripComments(queries.Get("quarantine_"+string(src)))), ";")
		var n int64
		if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM ("+q+")").Scan(&n); err != nil {
			return fmt.Errorf("quarantine %s: %w", src, err)
		}
		if n == 0 {
			continue
		}
		path := filepath.Join(dir, string(src)+".csv")
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("COPY (%s) TO %s (HEADER, DELIMITER ',')", q, warehouse.QuoteLiteral(path))); err != nil {
			return fmt.Errorf("write quarantine %s: %w", path, err)
		}
		if err := os.Chmod(path, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func stripComments(sqlText string) string {
	var out []string
	for _, l := range strings.Split(sqlText, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "--") {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

func linkageReport(ctx context.Context, conn *sql.Conn) ([]Linkage, error) {
	rows, err := conn.QueryContext(ctx, `SELECT programme, coalesce(linked_by, 'unmatched'), count(*), count(DISTINCT pupil_key)
		FROM checked_participation WHERE outcome = 'loaded' GROUP BY ALL ORDER BY ALL`)
	if err != nil {
		return nil, fmt.Errorf("linkage report: %w", err)
	}
	defer rows.Close()
	byProgramme := map[string]*Linkage{}
	var out []Linkage
	for rows.Next() {
		var programme, how string
		var n, pupils int64
		if err := rows.Scan(&programme, &how, &n, &pupils); err != nil {
			return nil, err
		}
		l, ok := byProgramme[programme]
		if !ok {
			l = &Linkage{Programme: programme, ByKey: map[string]int64{}}
			byProgramme[programme] = l
		}
		l.Records += n
		switch how {
		case "unmatched":
			l.Unmatched += n
		case "ambiguous":
			l.Ambiguous += n
		case "conflict":
			l.Conflicting += n
		default:
			l.Linked += n
			l.ByKey[how] += n
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Distinct pupils over all keys: a pupil linked by two keys counts once.
	prow, err := conn.QueryContext(ctx, `SELECT programme, count(DISTINCT pupil_key) FROM checked_participation
		WHERE outcome = 'loaded' AND pupil_key IS NOT NULL GROUP BY programme`)
	if err != nil {
		return nil, fmt.Errorf("linkage report: %w", err)
	}
	defer prow.Close()
	for prow.Next() {
		var programme string
		var pupils int64
		if err := prow.Scan(&programme, &pupils); err != nil {
			return nil, err
		}
		if l, ok := byProgramme[programme]; ok {
			l.Pupils = pupils
		}
	}
	for _, l := range byProgramme {
		out = append(out, *l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Programme < out[j].Programme })
	return out, prow.Err()
}
