// Package csvcodes reads a regular CSV file into dictionary codes: each
// record's fields become small integers, one dictionary of distinct values
// per column. An attendance extract has millions of records but only a few
// dozen distinct values in most columns (schools, dates, sessions, marks) and
// one per pupil in the UPN column, so its checks can run once per distinct
// value and the per-record work is joining integers, with no text per record
// written anywhere.
//
// Only regular files are read: one record per line, every line holding the
// header's number of fields, a field either plain or wholly inside double
// quotes with no quote, line break or carriage return inside it, no blank
// line, and lines ending in LF or CRLF. Anything else stops the read with an
// *IrregularError, and the caller reads the file with a general CSV reader
// (DuckDB's read_csv in this program), which reports malformed rows. A
// regular file's records are exactly what that reader returns, with an empty
// field (quoted or not) as no value.
package csvcodes

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// IrregularError says which line made a file irregular and why.
type IrregularError struct {
	Line   int64
	Reason string
}

func (e *IrregularError) Error() string {
	return fmt.Sprintf("line %d is not a regular CSV record: %s", e.Line, e.Reason)
}

// PartCodes is how many codes a part of a file may use: NewPart's firstCode
// for part k is k x PartCodes. A column with more distinct values than that
// in one part (67 million) makes the file irregular.
const PartCodes = 1 << 26

// maxLine bounds a line; a longer one is irregular (DuckDB's own limit is 2 MB).
const maxLine = 1 << 20

// Encoder reads records and hands out their codes in batches.
type Encoder struct {
	src     io.Reader
	buf     []byte
	start   int  // the next unread byte in buf
	end     int  // the end of the bytes read into buf
	eof     bool // src is exhausted
	line    int64
	nFields int
	want    []int // the file's field index of each output column, or -1
	fields  [][]byte
	cols    []column
	// next[i] is the offset in buf of the next specials[i] at or after the
	// line being read, end when there is none in what is read, or -1 when
	// unknown: each is looked for once per buffer, not once per line.
	next [len(specials)]int
	// buf[:valid] is known to be UTF-8, checked a buffer at a time.
	valid    int
	lf, crlf int64 // lines ended by LF alone and by CRLF
}

// specials are the bytes a line needs looked at closely for: quotes, carriage
// returns and NULs.
var specials = [...]byte{'"', '\r', 0}

// column is one output column's dictionary, with a small direct-mapped cache
// in front of it: most columns have a few dozen distinct values, which then
// never reach the map, and the UPN column mostly repeats the last record's.
type column struct {
	dict   map[string]int32
	values []string // values[i] is coded first + i, except values[0]
	first  int32
	last   cachedValue
	cache  [256]cachedValue
}

type cachedValue struct {
	v  []byte
	id int32 // 0: empty slot
}

// New starts reading r, a CSV file with a header line of nFields fields.
// want gives, for each output column, the index of the file's field that
// feeds it, or -1 for a column the file does not have (always code 0).
func New(r io.Reader, nFields int, want []int) (*Encoder, error) {
	e, err := newEncoder(r, nFields, want, 0)
	if err != nil {
		return nil, err
	}
	// The header must be a regular line too: a quoted line break in it would
	// move every line number after it.
	line, plain, ok, err := e.nextLine()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &IrregularError{Line: 1, Reason: "the file is empty"}
	}
	if err := e.split(line, plain); err != nil {
		return nil, err
	}
	return e, nil
}

// NewPart reads part of a file's records, for reading one file in parts at
// once: r starts at the start of a line, the file's line number afterLine+1,
// and ends at the end of a line (or of the file). Its codes start at
// firstCode, so that parts' codes never collide and their dictionaries can
// be stored side by side; code 0 is still no value.
func NewPart(r io.Reader, nFields int, want []int, afterLine int64, firstCode int32) (*Encoder, error) {
	e, err := newEncoder(r, nFields, want, firstCode)
	if err != nil {
		return nil, err
	}
	e.line = afterLine
	return e, nil
}

func newEncoder(r io.Reader, nFields int, want []int, firstCode int32) (*Encoder, error) {
	if nFields < 1 {
		return nil, errors.New("csvcodes: a file has at least one field")
	}
	e := &Encoder{src: r, buf: make([]byte, 4<<20), nFields: nFields, want: want, fields: make([][]byte, nFields)}
	for c, f := range want {
		if f >= nFields {
			return nil, fmt.Errorf("csvcodes: column %d reads field %d of a file with %d", c, f, nFields)
		}
	}
	e.cols = make([]column, len(want))
	for c := range e.cols {
		e.cols[c].dict = map[string]int32{}
		e.cols[c].values = []string{""} // no value
		e.cols[c].first = firstCode
	}
	e.next = [len(specials)]int{-1, -1, -1}
	return e, nil
}

// Next fills lines and codes (one slice per output column, each as long as
// lines) with the next records and returns how many it filled: fewer than
// len(lines) only at the end of the file, where it returns io.EOF with them.
// lines[i] is the record's line in the file (the header is line 1).
func (e *Encoder) Next(lines []int64, codes [][]int32) (int, error) {
	for n := range lines {
		line, plain, ok, err := e.nextLine()
		if err != nil {
			return n, err
		}
		if !ok {
			return n, io.EOF
		}
		if err := e.split(line, plain); err != nil {
			return n, err
		}
		lines[n] = e.line
		for c, f := range e.want {
			if f < 0 {
				codes[c][n] = 0
				continue
			}
			id := e.code(c, e.fields[f])
			if id < 0 {
				return n, &IrregularError{Line: e.line, Reason: "a column has more than 67 million distinct values"}
			}
			codes[c][n] = id
		}
	}
	return len(lines), nil
}

// Values is column c's dictionary: Values(c)[i] is the value coded
// FirstCode() + i, and Values(c)[0] is "", no value, which is coded 0. Call
// it once the file is read.
func (e *Encoder) Values(c int) []string { return e.cols[c].values }

// FirstCode is the code of Values(c)[0] (see NewPart); its value is coded 0.
func (e *Encoder) FirstCode() int32 { return e.cols[0].first }

func (e *Encoder) code(c int, v []byte) int32 {
	n := len(v)
	if n == 0 {
		return 0
	}
	col := &e.cols[c]
	if col.last.id != 0 && string(col.last.v) == string(v) {
		return col.last.id
	}
	slot := &col.cache[(uint(n)*31+uint(v[0])*7+uint(v[n/2])*17+uint(v[n-1])*131)&255]
	if slot.id == 0 || string(slot.v) != string(v) {
		id, ok := col.dict[string(v)]
		if !ok {
			if len(col.values) >= PartCodes {
				return -1
			}
			s := string(v)
			id = col.first + int32(len(col.values))
			col.values = append(col.values, s)
			col.dict[s] = id
		}
		slot.v, slot.id = append(slot.v[:0], v...), id
	}
	col.last.v, col.last.id = append(col.last.v[:0], v...), slot.id
	return slot.id
}

// nextLine returns the next line without its line ending; ok is false at the
// end of the file. plain says the line has no quote.
func (e *Encoder) nextLine() (line []byte, plain, ok bool, err error) {
	for {
		if i := bytes.IndexByte(e.buf[e.start:e.end], '\n'); i >= 0 {
			if i > maxLine {
				return nil, false, false, &IrregularError{Line: e.line + 1, Reason: "the line is longer than 1 MB"}
			}
			from := e.start
			e.start += i + 1
			e.line++
			if i > 0 && e.buf[from+i-1] == '\r' {
				e.crlf++
			} else {
				e.lf++
			}
			return e.check(from, e.buf[from:from+i])
		}
		if e.eof {
			if e.start == e.end {
				return nil, false, false, nil
			}
			from := e.start
			e.start = e.end
			e.line++
			// A last line ending in a bare CR has a CRLF ending as far as the
			// general reader is concerned: in a file of LF lines it is a mixed
			// ending, which that reader refuses or rejects.
			if e.buf[e.end-1] == '\r' {
				e.crlf++
			}
			return e.check(from, e.buf[from:e.end])
		}
		if e.end-e.start >= maxLine {
			return nil, false, false, &IrregularError{Line: e.line + 1, Reason: "the line is longer than 1 MB"}
		}
		// Move the partial line to the front and read more.
		n := copy(e.buf, e.buf[e.start:e.end])
		e.valid = max(0, e.valid-e.start)
		e.next = [len(specials)]int{-1, -1, -1}
		e.start, e.end = 0, n
		for e.end < len(e.buf) && !e.eof {
			m, err := e.src.Read(e.buf[e.end:])
			e.end += m
			if err == io.EOF {
				e.eof = true
			} else if err != nil {
				return nil, false, false, err
			}
			if m > 0 {
				break
			}
		}
	}
}

// check refuses a blank line, a line that is not UTF-8 and bytes a regular
// line cannot hold, and drops a CR before the LF.
func (e *Encoder) check(from int, line []byte) ([]byte, bool, bool, error) {
	end := from + len(line)
	if end > e.valid {
		// Whole lines only: a character may straddle the end of the buffer.
		upTo := e.end
		if !e.eof {
			upTo = from + bytes.LastIndexByte(e.buf[from:e.end], '\n')
		}
		if !utf8.Valid(e.buf[from:upTo]) {
			return nil, false, false, &IrregularError{Line: e.line + firstInvalidLine(e.buf[from:upTo]), Reason: "it is not UTF-8"}
		}
		e.valid = upTo
	}
	for i, b := range specials {
		if e.next[i] < from {
			if j := bytes.IndexByte(e.buf[from:e.end], b); j >= 0 {
				e.next[i] = from + j
			} else {
				e.next[i] = e.end
			}
		}
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
		end--
	}
	switch {
	case len(line) == 0:
		return nil, false, false, &IrregularError{Line: e.line, Reason: "the line is blank"}
	case e.next[1] < end:
		return nil, false, false, &IrregularError{Line: e.line, Reason: "a carriage return inside the line"}
	case e.next[2] < end:
		return nil, false, false, &IrregularError{Line: e.line, Reason: "a NUL byte"}
	}
	return line, e.next[0] >= end, true, nil
}

// firstInvalidLine counts the line breaks before the first line of data
// that is not UTF-8.
func firstInvalidLine(data []byte) int64 {
	var n int64
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			i = len(data) - 1
		}
		if !utf8.Valid(data[:i+1]) {
			return n
		}
		data = data[i+1:]
		n++
	}
	return n
}

// Endings counts the lines read that ended in LF alone and in CRLF (a last
// line with no line break counts in neither, unless it ends in a CR, which
// counts as CRLF). A file with both is one the general reader is left to
// read.
func (e *Encoder) Endings() (lf, crlf int64) { return e.lf, e.crlf }

// split cuts a line into e.fields.
func (e *Encoder) split(line []byte, plain bool) error {
	if plain {
		n := 0
		for {
			i := bytes.IndexByte(line, ',')
			if n == e.nFields-1 {
				if i >= 0 {
					return e.fieldCount()
				}
				e.fields[n] = line
				return nil
			}
			if i < 0 {
				return e.fieldCount()
			}
			e.fields[n] = line[:i]
			line = line[i+1:]
			n++
		}
	}
	for n := 0; n < e.nFields; n++ {
		var v []byte
		if len(line) > 0 && line[0] == '"' {
			j := bytes.IndexByte(line[1:], '"')
			if j < 0 {
				return &IrregularError{Line: e.line, Reason: "a quoted field does not end on its line"}
			}
			v, line = line[1:1+j], line[2+j:]
			if len(line) > 0 && line[0] != ',' {
				return &IrregularError{Line: e.line, Reason: "a quote inside a quoted field, or text after one"}
			}
		} else {
			i := bytes.IndexByte(line, ',')
			if i < 0 {
				i = len(line)
			}
			v, line = line[:i], line[i:]
			if bytes.IndexByte(v, '"') >= 0 {
				return &IrregularError{Line: e.line, Reason: "a quote inside an unquoted field"}
			}
		}
		e.fields[n] = v
		switch {
		case n == e.nFields-1 && len(line) > 0:
			return e.fieldCount()
		case n < e.nFields-1 && len(line) == 0:
			return e.fieldCount()
		case n < e.nFields-1:
			line = line[1:] // the comma
		}
	}
	return nil
}

func (e *Encoder) fieldCount() error {
	return &IrregularError{Line: e.line, Reason: fmt.Sprintf("it does not have the header's %d fields", e.nFields)}
}
