package ingest

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Why this file exists: DuckDB numbers a CSV file's records, not its lines.
// Its rejects table gives a record's "line" counting every line break outside
// quotes (blank lines included), and the staged table's rowid counts only the
// records it kept (blank lines are skipped silently). A quoted field with a
// line break, or a blank line, therefore shifts every later number away from
// the line a data lead sees in a text editor. Every file gets a cheap pass
// (scanQuick: UTF-8 and line counts); when its lines and DuckDB's records
// disagree, scanCSV walks it quote-aware, as DuckDB's parser is, and records
// where the shifts happen, so staging can give every row the physical line
// where its record starts. A file DuckDB cannot read as it is (Windows-1252,
// mixed line endings) is read through a private UTF-8 copy (encoding.go).

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
	// blankCRLF and blankLF count blank lines' endings: DuckDB refuses a
	// blank line that ends differently from the records too (a CRLF line
	// appended to an LF file), so they count towards mixing.
	blankCRLF, blankLF int64
	// bom is true when the file starts with a UTF-8 byte order mark.
	bom bool
}

// mixedEndings reports a file whose lines, records or blank, end in both
// CRLF and LF.
func (s *csvScan) mixedEndings() bool {
	return s.crlf+s.blankCRLF > 0 && s.lf+s.blankLF > 0
}

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

// quickScan is the cheap pass every CSV file gets: whether it is UTF-8, and
// its line breaks counted with vectorised calls. Most files are regular (no
// blank line, no line break inside quotes, one kind of line ending), and for
// them that is all that is needed; scanCSV's quote-aware pass runs only when
// the counts say a file is not (see csvFile).
type quickScan struct {
	nl, crlf  int64 // "\n" and "\r\n" anywhere in the file
	last      byte  // the file's last byte
	size      int64
	validUTF8 bool
	badLine   int64 // the first line that is not UTF-8
}

// lines is the number of physical lines: a last line without a line break
// counts too.
func (q *quickScan) lines() int64 {
	if q.size > 0 && q.last != '\n' {
		return q.nl + 1
	}
	return q.nl
}

func scanQuick(r io.Reader) (*quickScan, error) {
	q := &quickScan{validUTF8: true}
	var carry []byte
	var prev byte
	buf := make([]byte, 256<<10)
	for {
		n, err := r.Read(buf)
		chunk := buf[:n]
		if n > 0 {
			if q.validUTF8 {
				data := append(carry, chunk...)
				cut := incompleteTail(data)
				if !utf8.Valid(data[:cut]) {
					q.validUTF8 = false
					at := max(0, firstInvalid(data[:cut])-len(carry))
					q.badLine = q.nl + 1 + int64(bytes.Count(chunk[:at], nl))
				}
				carry = append(carry[:0], data[cut:]...)
			}
			q.nl += int64(bytes.Count(chunk, nl))
			q.crlf += int64(bytes.Count(chunk, crlfSeq))
			if prev == '\r' && chunk[0] == '\n' {
				q.crlf++
			}
			prev = chunk[n-1]
			q.last = prev
			q.size += int64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if len(carry) > 0 && q.validUTF8 {
		q.validUTF8 = false
		q.badLine = q.nl + 1
	}
	return q, nil
}

// incompleteTail is where an incomplete UTF-8 sequence at the end of data
// starts (len(data) when there is none): it is kept for the next chunk.
func incompleteTail(data []byte) int {
	for k := len(data) - 1; k >= 0 && k >= len(data)-utf8.UTFMax; k-- {
		if utf8.RuneStart(data[k]) {
			if !utf8.FullRune(data[k:]) {
				return k
			}
			break
		}
	}
	return len(data)
}

// csvFile is a CSV extract as DuckDB will read it.
type csvFile struct {
	path  string // the file itself, or its private UTF-8 copy
	quick *quickScan
	full  *csvScan
}

// scan is the quote-aware pass over the readable file, run at most once.
func (c *csvFile) scan() (*csvScan, error) {
	if c.full != nil {
		return c.full, nil
	}
	f, err := os.Open(c.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c.full, err = scanCSV(f)
	return c.full, err
}

// scanCSV reads r once. Quotes open a field only at its start, a doubled
// quote inside a quoted field is an escaped quote, and line breaks count as
// records only outside quotes: the rules of DuckDB's strict CSV parser.
//
// It runs on every CSV file before staging, so it must cost little beside
// DuckDB's own read: runs of bytes without a quote are handled with
// bytes.Count and bytes.IndexByte (vectorised), and only quotes, blank lines
// and record starts after irregular lines go byte by byte.
func scanCSV(r io.Reader) (*csvScan, error) {
	sc := &scanner{s: &csvScan{validUTF8: true}, header: true, lineStart: true, fieldStart: true}
	s := sc.s
	var carry, head []byte
	buf := make([]byte, 256<<10)
	for {
		n, err := r.Read(buf)
		chunk := buf[:n]
		if len(head) < 3 {
			head = append(head, chunk[:min(n, 3-len(head))]...)
			s.bom = bytes.Equal(head, []byte("\ufeff"))
		}
		if s.validUTF8 && n > 0 {
			data := append(carry, chunk...)
			cut := incompleteTail(data)
			if !utf8.Valid(data[:cut]) {
				s.validUTF8 = false
				at := max(0, firstInvalid(data[:cut])-len(carry)) // offset in this chunk
				s.badLine = sc.physNL + 1 + int64(bytes.Count(chunk[:at], []byte("\n")))
			}
			carry = append(carry[:0], data[cut:]...)
		}
		sc.chunk(chunk)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if len(carry) > 0 && s.validUTF8 {
		s.validUTF8 = false
		s.badLine = sc.physNL + 1
	}
	if len(s.breaks) == 0 {
		s.breaks = []breakpoint{{j: 1}}
	}
	return s, nil
}

// scanner is scanCSV's state between bytes and chunks.
type scanner struct {
	s              *csvScan
	physNL, duckNL int64 // line breaks seen: all, and outside quotes
	header         bool
	lineStart      bool // at the start of a line outside quotes: a record may begin
	fieldStart     bool
	inQuote        bool
	afterClose     bool // just closed a quoted field: a quote now is an escaped one
	prev           byte
}

var (
	nl       = []byte("\n")
	crlfSeq  = []byte("\r\n")
	nlCR     = []byte("\n\r")
	blankSeq = []byte("\n\n")
)

func (sc *scanner) chunk(c []byte) {
	for i := 0; i < len(c); {
		if sc.inQuote {
			k := bytes.IndexByte(c[i:], '"')
			if k < 0 {
				sc.physNL += int64(bytes.Count(c[i:], nl))
				sc.prev = c[len(c)-1]
				return
			}
			sc.physNL += int64(bytes.Count(c[i:i+k], nl))
			i += k
			sc.step(c[i])
			i++
			continue
		}
		if sc.afterClose || sc.header || sc.lineStart || len(sc.s.breaks) == 0 {
			// Record starts, the header and an escaped quote: byte by byte.
			sc.step(c[i])
			i++
			continue
		}
		end := len(c)
		if k := bytes.IndexByte(c[i:], '"'); k >= 0 {
			end = i + k
		}
		seg := c[i:end]
		if len(seg) > 0 {
			if len(seg) < 64 || bytes.Contains(seg, blankSeq) || bytes.Contains(seg, nlCR) {
				// Byte by byte: short runs (between the quotes of a quoted
				// file) cost less so than through the vectorised calls, and a
				// blank line (or a line of carriage returns) moves DuckDB's
				// numbering off the records'.
				for _, b := range seg {
					sc.step(b)
				}
			} else {
				sc.plain(seg)
			}
		}
		i = end
		if i < len(c) {
			sc.step(c[i])
			i++
		}
	}
}

// plain handles a run of bytes outside quotes, with no quote and no blank
// line, that does not start at a record start: every line break in it ends a
// record, and every one but a final one is followed by the next record's
// first byte. Record numbers and line numbers move together, so no
// breakpoint can start inside it.
func (sc *scanner) plain(seg []byte) {
	lines := int64(bytes.Count(seg, nl))
	crlf := int64(bytes.Count(seg, crlfSeq))
	if sc.prev == '\r' && seg[0] == '\n' {
		crlf++
	}
	sc.s.crlf += crlf
	sc.s.lf += lines - crlf
	started := lines
	last := seg[len(seg)-1]
	if last == '\n' {
		started--
	}
	if started > 0 {
		// The first record starting here follows a line that may have held a
		// quoted line break: it may need a breakpoint. The rest cannot.
		j := sc.s.records + 1
		sc.breakAt(j, sc.duckNL+1, sc.physNL+1)
	}
	sc.s.records += started
	sc.physNL += lines
	sc.duckNL += lines
	sc.lineStart = last == '\n'
	// Whether the next byte starts a field: the last byte that is not a
	// carriage return decides.
	k := len(seg) - 1
	for k >= 0 && seg[k] == '\r' {
		k--
	}
	if k >= 0 {
		sc.fieldStart = seg[k] == ',' || seg[k] == '\n'
	}
	sc.prev = last
}

// step takes one byte.
func (sc *scanner) step(c byte) {
	s := sc.s
	if sc.inQuote {
		switch c {
		case '"':
			sc.inQuote, sc.afterClose = false, true
		case '\n':
			sc.physNL++
		}
		sc.prev = c
		return
	}
	if sc.afterClose && c == '"' {
		sc.inQuote, sc.afterClose = true, false
		sc.prev = c
		return
	}
	sc.afterClose = false
	switch c {
	case '\n':
		sc.physNL++
		sc.duckNL++
		switch {
		case !sc.lineStart:
			// The header's ending counts too: DuckDB takes the file's line
			// ending from it.
			sc.header = false
			if sc.prev == '\r' {
				s.crlf++
			} else {
				s.lf++
			}
		case sc.prev == '\r':
			s.blankCRLF++
		default:
			s.blankLF++
		}
		sc.lineStart, sc.fieldStart = true, true
	case '\r':
		// Part of a line ending, or of a field: neither starts a record.
	case '"':
		if sc.lineStart {
			sc.startRecord()
		}
		if sc.fieldStart {
			sc.inQuote = true
		}
		sc.fieldStart = false
	case ',':
		if sc.lineStart {
			sc.startRecord()
		}
		sc.fieldStart = true
	default:
		if sc.lineStart {
			sc.startRecord()
		}
		sc.fieldStart = false
	}
	sc.prev = c
}

func (sc *scanner) startRecord() {
	s := sc.s
	sc.lineStart = false
	if sc.header {
		return
	}
	s.records++
	sc.breakAt(s.records, sc.duckNL, sc.physNL)
}

// breakAt records a breakpoint at record j when its offsets differ from the
// last breakpoint's; duckNL and physNL are the line breaks before it.
func (sc *scanner) breakAt(j, duckNL, physNL int64) {
	s := sc.s
	d, p := duckNL+1-(j+1), physNL+1-(j+1)
	if n := len(s.breaks); n == 0 || s.breaks[n-1].dOff != d || s.breaks[n-1].pOff != p {
		s.breaks = append(s.breaks, breakpoint{j: j, dOff: d, pOff: p})
	}
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
// direct reports a relation cheap enough to read many times (lines follow
// from row positions alone), rather than one to copy once.
func numberRecords(ctx context.Context, conn *sql.Conn, f File, file *csvFile, staging, rejects, lines string, opt Options) (relation string, direct bool, err error) {
	var staged, rejected int64
	if err := conn.QueryRowContext(ctx, fmt.Sprintf("SELECT (SELECT count(*) FROM %s), (SELECT count(DISTINCT line) FROM %s)", staging, rejects)).Scan(&staged, &rejected); err != nil {
		return "", false, fmt.Errorf("count records of %s: %w", f.Path, err)
	}
	// A header and one line per record: nothing moves the numbering (a blank
	// line or a line break inside quotes would add a line).
	breaks := []breakpoint{{j: 1}}
	if file.quick.lines() != staged+rejected+1 {
		scan, err := file.scan()
		if err != nil {
			return "", false, fmt.Errorf("read %s: %w", f.Path, err)
		}
		breaks = scan.breaks
		if staged+rejected != scan.records {
			// The two parsers disagree about where records start (a case the scan
			// does not model): DuckDB's own numbering is the safer of the two.
			opt.logger().Warn("quarantine line numbers for this file count records (a quoted line break adds none), not lines of the file",
				"file", filepath.Base(f.Path), "records_read", staged+rejected, "records_scanned", scan.records)
			breaks = []breakpoint{{j: 1}}
		}
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TEMP TABLE %s (j BIGINT, d_line BIGINT, d_off BIGINT, p_off BIGINT)", lines)); err != nil {
		return "", false, err
	}
	for start := 0; start < len(breaks); start += 500 {
		var vals []string
		for _, b := range breaks[start:min(len(breaks), start+500)] {
			vals = append(vals, fmt.Sprintf("(%d, %d, %d, %d)", b.j, b.j+1+b.dOff, b.dOff, b.pOff))
		}
		if _, err := conn.ExecContext(ctx, "INSERT INTO "+lines+" VALUES "+strings.Join(vals, ", ")); err != nil {
			return "", false, fmt.Errorf("record line breaks of %s: %w", f.Path, err)
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
		return fmt.Sprintf("(%sSELECT s.*, %s + 1 AS line FROM %s s)", with, j, staging), rejected == 0, nil
	}
	return fmt.Sprintf("(%sSELECT n.*, n.j + 1 + b.p_off AS line FROM (SELECT s.*, %s AS j FROM %s s) n ASOF JOIN %s b ON n.j >= b.j)",
		with, j, staging, lines), false, nil
}
