package ingest

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Why this file exists: DuckDB numbers a CSV file's records, not its lines.
// Its rejects table gives a record's "line" counting every line break outside
// quotes (blank lines included), and the staged table's rowid counts only the
// records it kept (blank lines are skipped silently). A quoted field with a
// line break, or a blank line, therefore shifts every later number away from
// the line a data lead sees in a text editor. scanCSV walks the file once,
// quote-aware as DuckDB's parser is, and records where those shifts happen, so
// staging can give every row the physical line where its record starts.

// breakpoint says that from data record j on (1-based, blank lines not
// counted), DuckDB's line number is j + 1 + dOff and the physical line where
// the record starts is j + 1 + pOff.
type breakpoint struct {
	j, dOff, pOff int64
}

// csvScan is what one pass over a CSV file learns.
type csvScan struct {
	// records counts data records (not the header, not blank lines).
	records int64
	// breaks maps record numbers to lines; it always starts at record 1.
	breaks []breakpoint
	// validUTF8 is false when some byte sequence is not UTF-8; badLine is
	// the physical line of the first one.
	validUTF8 bool
	badLine   int64
	// crlf and lf count record endings of each kind: DuckDB refuses a file
	// that mixes them, so such a file is rewritten with LF endings.
	crlf, lf int64
	// bom is true when the file starts with a UTF-8 byte order mark.
	bom bool
}

// mixedEndings reports a file whose records end in both CRLF and LF.
func (s *csvScan) mixedEndings() bool { return s.crlf > 0 && s.lf > 0 }

// irregular reports whether line numbers need the breakpoints (a blank line
// or a line break inside a quoted field somewhere).
func (s *csvScan) irregular() bool {
	for _, b := range s.breaks {
		if b.dOff != 0 || b.pOff != 0 {
			return true
		}
	}
	return false
}

// scanCSV reads r once. Quotes open a field only at its start, a doubled
// quote inside a quoted field is an escaped quote, and line breaks count as
// records only outside quotes: the rules of DuckDB's strict CSV parser.
func scanCSV(r io.Reader) (*csvScan, error) {
	s := &csvScan{validUTF8: true}
	var (
		physNL, duckNL int64 // line breaks seen: all, and outside quotes
		header         = true
		lineStart      = true // at the start of a line outside quotes: a record may begin
		fieldStart     = true
		inQuote        bool
		afterClose     bool // just closed a quoted field: a quote now is an escaped one
		prev           byte
		carry          []byte
		first          = true
	)
	buf := make([]byte, 256<<10)
	startRecord := func() {
		lineStart = false
		if header {
			return
		}
		s.records++
		j := s.records
		d, p := duckNL+1-(j+1), physNL+1-(j+1)
		if n := len(s.breaks); n == 0 || s.breaks[n-1].dOff != d || s.breaks[n-1].pOff != p {
			s.breaks = append(s.breaks, breakpoint{j: j, dOff: d, pOff: p})
		}
	}
	for {
		n, err := r.Read(buf)
		chunk := buf[:n]
		if first && n > 0 {
			first = false
			if bytes.HasPrefix(chunk, []byte("\ufeff")) {
				s.bom = true
			}
		}
		if s.validUTF8 && n > 0 {
			data := append(carry, chunk...)
			cut := len(data)
			// Keep an incomplete rune at the end for the next chunk.
			for k := len(data) - 1; k >= 0 && k >= len(data)-utf8.UTFMax; k-- {
				if utf8.RuneStart(data[k]) {
					if !utf8.FullRune(data[k:]) {
						cut = k
					}
					break
				}
			}
			if !utf8.Valid(data[:cut]) {
				s.validUTF8 = false
				at := max(0, firstInvalid(data[:cut])-len(carry)) // offset in this chunk
				s.badLine = physNL + 1 + int64(bytes.Count(chunk[:at], []byte("\n")))
			}
			carry = append(carry[:0], data[cut:]...)
		}
		for _, c := range chunk {
			if inQuote {
				switch c {
				case '"':
					inQuote, afterClose = false, true
				case '\n':
					physNL++
				}
				prev = c
				continue
			}
			if afterClose && c == '"' {
				inQuote, afterClose = true, false
				prev = c
				continue
			}
			afterClose = false
			switch c {
			case '\n':
				physNL++
				duckNL++
				if !lineStart {
					if header {
						header = false
					} else if prev == '\r' {
						s.crlf++
					} else {
						s.lf++
					}
				}
				lineStart, fieldStart = true, true
			case '\r':
				// Part of a line ending, or of a field: neither starts a record.
			case '"':
				if lineStart {
					startRecord()
				}
				if fieldStart {
					inQuote = true
				}
				fieldStart = false
			case ',':
				if lineStart {
					startRecord()
				}
				fieldStart = true
			default:
				if lineStart {
					startRecord()
				}
				fieldStart = false
			}
			prev = c
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if len(carry) > 0 && s.validUTF8 {
		s.validUTF8 = false
		s.badLine = physNL + 1
	}
	if len(s.breaks) == 0 {
		s.breaks = []breakpoint{{j: 1}}
	}
	return s, nil
}

// firstInvalid is the offset of the first byte of b that is not part of a
// valid UTF-8 sequence, or len(b).
func firstInvalid(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// numberRecords stores the file's breakpoints in the temp table lines and
// returns a relation over the staged table with each record's physical line
// (column line). DuckDB keeps file order (preserve_insertion_order), so the
// staged rowid k (from 0) is kept record k+1, shifted past the rejected
// records before it: a record number j; the breakpoints then give its line.
// (A window numbering the rows would force the read onto one thread.)
func numberRecords(ctx context.Context, conn *sql.Conn, f File, scan *csvScan, staging, rejects, lines string, opt Options) (string, error) {
	var staged, rejected int64
	if err := conn.QueryRowContext(ctx, fmt.Sprintf("SELECT (SELECT count(*) FROM %s), (SELECT count(DISTINCT line) FROM %s)", staging, rejects)).Scan(&staged, &rejected); err != nil {
		return "", fmt.Errorf("count records of %s: %w", f.Path, err)
	}
	breaks := scan.breaks
	if staged+rejected != scan.records {
		// The two parsers disagree about where records start (a case the scan
		// does not model): DuckDB's own numbering is the safer of the two.
		opt.logger().Warn("quarantine line numbers for this file count records (a quoted line break adds none), not lines of the file",
			"file", filepath.Base(f.Path), "records_read", staged+rejected, "records_scanned", scan.records)
		breaks = []breakpoint{{j: 1}}
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TEMP TABLE %s (j BIGINT, d_line BIGINT, d_off BIGINT, p_off BIGINT)", lines)); err != nil {
		return "", err
	}
	for start := 0; start < len(breaks); start += 500 {
		var vals []string
		for _, b := range breaks[start:min(len(breaks), start+500)] {
			vals = append(vals, fmt.Sprintf("(%d, %d, %d, %d)", b.j, b.j+1+b.dOff, b.dOff, b.pOff))
		}
		if _, err := conn.ExecContext(ctx, "INSERT INTO "+lines+" VALUES "+strings.Join(vals, ", ")); err != nil {
			return "", fmt.Errorf("record line breaks of %s: %w", f.Path, err)
		}
	}
	// j: the record number of each kept row.
	j := "s.rowid + 1"
	with := ""
	if rejected > 0 {
		// shift(k) = number of rejected records r_i (ascending, i from 1) with r_i - i + 1 <= k.
		with = fmt.Sprintf(`WITH rj AS (SELECT r.line - 1 - b.d_off AS j FROM (SELECT DISTINCT line FROM %s) r ASOF JOIN %s b ON r.line >= b.d_line),
		adj AS (SELECT j - row_number() OVER (ORDER BY j) + 1 AS a FROM rj),
		steps AS (SELECT a, count(*) OVER (ORDER BY a ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS shift FROM adj) `, rejects, lines)
		j = "s.rowid + 1 + coalesce((SELECT max(shift) FROM steps WHERE steps.a <= s.rowid + 1), 0)"
	}
	regular := len(breaks) == 1 && breaks[0].dOff == 0 && breaks[0].pOff == 0
	if regular {
		return fmt.Sprintf("(%sSELECT s.*, %s + 1 AS line FROM %s s)", with, j, staging), nil
	}
	return fmt.Sprintf("(%sSELECT n.*, n.j + 1 + b.p_off AS line FROM (SELECT s.*, %s AS j FROM %s s) n ASOF JOIN %s b ON n.j >= b.j)",
		with, j, staging, lines), nil
}
