//go:build duckdb_arrow

package ingest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/duckdb/duckdb-go/v2"

	"github.com/outcomes/outcomes/pipeline/warehouse"
	"github.com/outcomes/outcomes/schemas"
	"github.com/outcomes/outcomes/transforms/csvcodes"
)

// AttendanceCodeTables creates the tables attendance rows reach
// validate_attendance.sql in, as dictionary codes. For each file:
//   - attendance_dict holds each column's distinct raw values, numbered;
//     code 0 is an empty field, with raw NULL;
//   - attendance_session_marks numbers each distinct session mark: what a
//     school recorded for a session without the pupil (the codes of its
//     school, date, session and mark);
//   - attendance_codes holds one row per record: its line, the code of its
//     UPN and the number of its session mark. The line is an INTEGER, not a
//     BIGINT: 4 bytes a mark less, 390 MB at region scale, where the table
//     is near DuckDB's memory limit. A file of more lines than an INTEGER
//     holds (maxAttendanceLine, over 2 billion) is refused, with its path
//     and the first line past the limit.
//
// Why a session mark rather than a code per column: a file has millions of
// records but only thousands of session marks (20 schools x 195 days x 2
// sessions x a dozen marks), and every column DuckDB stores costs memory per
// record (a 256 KB validity block per column for every 122,880 rows, besides
// the values), which on some machines costs more time to touch than the
// validation does: four columns of four bytes become one.
//
// A regular CSV file (see csvcodes) is coded in Go while it is read, so no
// text is written per record; any other file (irregular CSV, the wide layout,
// Parquet) is staged as text by DuckDB and coded by code_attendance.sql.
const AttendanceCodeTables = `
CREATE OR REPLACE TEMP TABLE attendance_codes (file_id INTEGER, line INTEGER, upn INTEGER, session_mark INTEGER);
CREATE OR REPLACE TEMP TABLE attendance_session_marks (file_id INTEGER, id INTEGER, school_urn INTEGER, session_date INTEGER, session INTEGER, mark INTEGER);
CREATE OR REPLACE TEMP TABLE attendance_dict (file_id INTEGER, col VARCHAR, id INTEGER, raw VARCHAR);`

// maxAttendanceLine is the last line of an attendance file that
// attendance_codes can number (a variable so that tests can lower it).
var maxAttendanceLine int64 = math.MaxInt32

// tooManyLines is the error for a line past maxAttendanceLine.
func tooManyLines(line int64) error {
	return fmt.Errorf("line %d: the file has more lines than an attendance extract may have (%d); split it into smaller extracts", line, maxAttendanceLine)
}

// codedColumns are the attendance contract's columns, in order: the columns
// an Encoder codes.
func codedColumns() []string {
	var cols []string
	for _, c := range stagedColumns(schemas.SourceAttendance) {
		cols = append(cols, c.Name)
	}
	return cols
}

// sessionMarkColumns are the columns a session mark combines, in
// attendance_session_marks' order; the other coded column is the UPN.
var sessionMarkColumns = [4]string{"school_urn", "session_date", "session", "mark"}

// sessionMarks numbers the distinct session marks of one part of a file.
// Numbers start after first, the part's first code (csvcodes.NewPart), so
// that parts' numbers never collide.
type sessionMarks struct {
	first int32
	ids   map[[4]int32]int32
	marks [][4]int32 // marks[i] is numbered first + 1 + i
}

func newSessionMarks(first int32) *sessionMarks {
	return &sessionMarks{first: first, ids: map[[4]int32]int32{}}
}

// number returns the number of the session mark with these codes, or -1
// when the part has as many as it may number.
func (s *sessionMarks) number(codes [4]int32) int32 {
	if id, ok := s.ids[codes]; ok {
		return id
	}
	if len(s.marks) >= csvcodes.PartCodes-1 {
		return -1
	}
	s.marks = append(s.marks, codes)
	id := s.first + int32(len(s.marks))
	s.ids[codes] = id
	return id
}

// batchRows is the records per Arrow batch: DuckDB's row group size.
const batchRows = 122880

// codeRegularCSV reads a regular attendance CSV file into attendance_codes
// and attendance_dict. It returns false, having added nothing, when the file
// is not regular, with the reason: the caller then stages it as text.
// fields[i] is the file's field feeding the i-th coded column, or -1.
func codeRegularCSV(ctx context.Context, conn *sql.Conn, path string, nFields int, fields []int, fileID int) (regular bool, reason string, err error) {
	encoders, closeAll, err := partEncoders(path, nFields, fields)
	defer closeAll()
	var irregular *csvcodes.IrregularError
	if errors.As(err, &irregular) {
		return false, irregular.Error(), nil
	}
	if err != nil {
		return false, "", err
	}
	cols := codedColumns()
	layout, err := newRecordLayout(cols)
	if err != nil {
		return false, "", err
	}
	stream := newCodeStream(ctx, encoders, layout)
	defer stream.Release()
	err = warehouse.WithArrow(conn, func(ar *duckdb.Arrow, dc *duckdb.Conn) error {
		const view = "attendance_codes_arrow"
		return warehouse.ReadArrow(ctx, ar, dc, stream, view, fmt.Sprintf("INSERT INTO attendance_codes SELECT %d, * FROM %s", fileID, view))
	})
	if failure := stream.Err(); failure != nil {
		err = failure
	}
	if errors.As(err, &irregular) {
		if _, derr := conn.ExecContext(context.WithoutCancel(ctx), "DELETE FROM attendance_codes WHERE file_id = ?", fileID); derr != nil {
			return false, "", derr
		}
		return false, irregular.Error(), nil
	}
	if err != nil {
		return false, "", fmt.Errorf("read %s: %w", path, err)
	}
	if err := insertSessionMarks(ctx, conn, fileID, stream.marks); err != nil {
		return false, "", err
	}
	return true, "", insertDictionary(ctx, conn, fileID, cols, encoders)
}

// recordLayout places an Encoder's coded columns in attendance_codes' records.
type recordLayout struct {
	schema *arrow.Schema
	upn    int    // the coded column of the UPN
	marks  [4]int // the coded columns of sessionMarkColumns
	nCols  int    // how many columns an Encoder codes
}

func newRecordLayout(cols []string) (recordLayout, error) {
	at := map[string]int{}
	for i, c := range cols {
		at[c] = i
	}
	l := recordLayout{nCols: len(cols)}
	var ok bool
	if l.upn, ok = at["upn"]; !ok {
		return l, errors.New("the attendance contract has no upn column")
	}
	for i, c := range sessionMarkColumns {
		if l.marks[i], ok = at[c]; !ok {
			return l, fmt.Errorf("the attendance contract has no %s column", c)
		}
	}
	l.schema = arrow.NewSchema([]arrow.Field{
		{Name: "line", Type: arrow.PrimitiveTypes.Int32},
		{Name: "upn", Type: arrow.PrimitiveTypes.Int32},
		{Name: "session_mark", Type: arrow.PrimitiveTypes.Int32},
	}, nil)
	return l, nil
}

// insertSessionMarks appends each part's session marks to
// attendance_session_marks.
func insertSessionMarks(ctx context.Context, conn *sql.Conn, fileID int, parts []*sessionMarks) error {
	return warehouse.WithArrow(conn, func(ar *duckdb.Arrow, dc *duckdb.Conn) error {
		fields := []arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int32}}
		for _, c := range sessionMarkColumns {
			fields = append(fields, arrow.Field{Name: c, Type: arrow.PrimitiveTypes.Int32})
		}
		schema := arrow.NewSchema(fields, nil)
		b := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
		defer b.Release()
		for _, part := range parts {
			for i, codes := range part.marks {
				b.Field(0).(*array.Int32Builder).Append(part.first + 1 + int32(i))
				for c, code := range codes {
					b.Field(1 + c).(*array.Int32Builder).Append(code)
				}
			}
		}
		return insertBuilt(ctx, ar, dc, b, "attendance_session_marks", fileID)
	})
}

// insertBuilt appends the rows built in b to table, each after the column
// fileID, through the Arrow view <table>_arrow.
func insertBuilt(ctx context.Context, ar *duckdb.Arrow, dc *duckdb.Conn, b *array.RecordBuilder, table string, fileID int) error {
	rec := b.NewRecordBatch()
	defer rec.Release()
	reader, err := array.NewRecordReader(rec.Schema(), []arrow.RecordBatch{rec})
	if err != nil {
		return err
	}
	defer reader.Release()
	view := table + "_arrow"
	return warehouse.ReadArrow(ctx, ar, dc, reader, view, fmt.Sprintf("INSERT INTO %s SELECT %d, * FROM %s", table, fileID, view))
}

// partSize is the least size of a part when a file is coded in parts: each
// part is coded by its own goroutine. A variable so that tests can split
// small files.
var partSize int64 = 16 << 20

// partEncoders opens path once per part: two parts, split at the first line
// break after the middle, for a file of at least two partSizes; one
// otherwise. A regular file has no line break inside a field, and a break
// inside quotes makes both parts irregular, so the split cannot silently
// cut a record.
func partEncoders(path string, nFields int, fields []int) ([]*csvcodes.Encoder, func(), error) {
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	open := func() (*os.File, error) {
		f, err := os.Open(path)
		if err == nil {
			files = append(files, f)
		}
		return f, err
	}
	first, err := open()
	if err != nil {
		return nil, closeAll, err
	}
	info, err := first.Stat()
	if err != nil {
		return nil, closeAll, err
	}
	split, afterLine := int64(0), int64(0)
	if size := info.Size(); size >= 2*partSize {
		if split, afterLine, err = lineBreakAfter(first, size/2); err != nil {
			return nil, closeAll, err
		}
	}
	if split == 0 {
		enc, err := csvcodes.New(first, nFields, fields)
		if err != nil {
			return nil, closeAll, err
		}
		return []*csvcodes.Encoder{enc}, closeAll, nil
	}
	head, err := csvcodes.New(io.NewSectionReader(first, 0, split), nFields, fields)
	if err != nil {
		return nil, closeAll, err
	}
	second, err := open()
	if err != nil {
		return nil, closeAll, err
	}
	if _, err := second.Seek(split, io.SeekStart); err != nil {
		return nil, closeAll, err
	}
	tail, err := csvcodes.NewPart(second, nFields, fields, afterLine, csvcodes.PartCodes)
	if err != nil {
		return nil, closeAll, err
	}
	return []*csvcodes.Encoder{head, tail}, closeAll, nil
}

// lineBreakAfter finds the first line break at or after from: it returns
// the offset just past it (0 when there is none) and the number of line
// breaks up to there, which is the line the next part starts after.
func lineBreakAfter(f *os.File, from int64) (split, lines int64, err error) {
	buf := make([]byte, 1<<20)
	for off := int64(0); ; {
		n, err := f.ReadAt(buf, off)
		chunk := buf[:n]
		if off+int64(n) > from {
			start := max(0, from-off)
			if i := bytes.IndexByte(chunk[start:], '\n'); i >= 0 {
				end := start + int64(i) + 1
				return off + end, lines + int64(bytes.Count(chunk[:end], []byte{'\n'})), nil
			}
		}
		lines += int64(bytes.Count(chunk, []byte{'\n'}))
		off += int64(n)
		if err == io.EOF {
			return 0, 0, nil
		}
		if err != nil {
			return 0, 0, err
		}
	}
}

// insertDictionary appends each coded column's values to attendance_dict.
func insertDictionary(ctx context.Context, conn *sql.Conn, fileID int, cols []string, encoders []*csvcodes.Encoder) error {
	return warehouse.WithArrow(conn, func(ar *duckdb.Arrow, dc *duckdb.Conn) error {
		schema := arrow.NewSchema([]arrow.Field{
			{Name: "col", Type: arrow.BinaryTypes.String},
			{Name: "id", Type: arrow.PrimitiveTypes.Int32},
			{Name: "raw", Type: arrow.BinaryTypes.String, Nullable: true},
		}, nil)
		b := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
		defer b.Release()
		col, id, raw := b.Field(0).(*array.StringBuilder), b.Field(1).(*array.Int32Builder), b.Field(2).(*array.StringBuilder)
		for c, name := range cols {
			col.Append(name)
			id.Append(0)
			raw.AppendNull()
			for _, enc := range encoders {
				for i, v := range enc.Values(c)[1:] {
					col.Append(name)
					id.Append(enc.FirstCode() + int32(i) + 1)
					raw.Append(v)
				}
			}
		}
		return insertBuilt(ctx, ar, dc, b, "attendance_dict", fileID)
	})
}

// codeStream hands DuckDB the encoders' records as Arrow batches. Each
// encoder (a part of the file) runs in its own goroutine, ahead of DuckDB,
// so Go codes the next batches while DuckDB stores the last.
type codeStream struct {
	marks   []*sessionMarks // each encoder's, in order; read once the stream has ended
	refs    atomic.Int64
	schema  *arrow.Schema
	batches chan arrow.RecordBatch
	cancel  context.CancelFunc
	done    chan struct{}
	current arrow.RecordBatch
	mu      sync.Mutex
	failure error // the first error; set before batches is closed
}

func newCodeStream(ctx context.Context, encoders []*csvcodes.Encoder, layout recordLayout) *codeStream {
	ctx, cancel := context.WithCancel(ctx)
	s := &codeStream{schema: layout.schema, batches: make(chan arrow.RecordBatch, 2*len(encoders)), cancel: cancel, done: make(chan struct{})}
	for _, enc := range encoders {
		s.marks = append(s.marks, newSessionMarks(enc.FirstCode()))
	}
	s.refs.Store(1)
	var wg sync.WaitGroup
	fail := func(err error) {
		s.mu.Lock()
		if s.failure == nil {
			s.failure = err
		}
		s.mu.Unlock()
		cancel()
	}
	for i, enc := range encoders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.code(ctx, enc, s.marks[i], layout, fail)
		}()
	}
	go func() {
		wg.Wait()
		// Mixed line endings: the general reader copies such a file with LF
		// endings, and says so.
		var lf, crlf int64
		for _, enc := range encoders {
			l, c := enc.Endings()
			lf, crlf = lf+l, crlf+c
		}
		if lf > 0 && crlf > 0 {
			fail(&csvcodes.IrregularError{Line: 0, Reason: "it mixes CRLF and LF line endings"})
		}
		close(s.batches)
		close(s.done)
	}()
	return s
}

// code sends enc's records as batches until the end, an error or ctx's end,
// numbering their session marks in marks.
func (s *codeStream) code(ctx context.Context, enc *csvcodes.Encoder, marks *sessionMarks, layout recordLayout, fail func(error)) {
	pool := memory.NewGoAllocator()
	lines := make([]int64, batchRows)
	codes := make([][]int32, layout.nCols)
	for i := range codes {
		codes[i] = make([]int32, batchRows)
	}
	numbers := make([]int32, batchRows)
	for {
		n, err := enc.Next(lines, codes)
		for i := range n {
			var key [4]int32
			for k, c := range layout.marks {
				key[k] = codes[c][i]
			}
			if lines[i] > maxAttendanceLine {
				fail(tooManyLines(lines[i]))
				return
			}
			if numbers[i] = marks.number(key); numbers[i] < 0 {
				fail(&csvcodes.IrregularError{Line: lines[i], Reason: "it has more than 67 million distinct session marks"})
				return
			}
		}
		if n > 0 {
			lb := array.NewInt32Builder(pool)
			lb.Reserve(n)
			for _, l := range lines[:n] {
				lb.UnsafeAppend(int32(l)) // at most maxAttendanceLine, checked above
			}
			ub := array.NewInt32Builder(pool)
			ub.AppendValues(codes[layout.upn][:n], nil)
			mb := array.NewInt32Builder(pool)
			mb.AppendValues(numbers[:n], nil)
			cols := []arrow.Array{lb.NewArray(), ub.NewArray(), mb.NewArray()}
			lb.Release()
			ub.Release()
			mb.Release()
			rec := array.NewRecordBatch(s.schema, cols, int64(n))
			for _, a := range cols {
				a.Release()
			}
			select {
			case s.batches <- rec:
			case <-ctx.Done():
				rec.Release()
				fail(ctx.Err())
				return
			}
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			fail(err)
			return
		}
	}
}

func (s *codeStream) Retain()               { s.refs.Add(1) }
func (s *codeStream) Schema() *arrow.Schema { return s.schema }
func (s *codeStream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failure
}

func (s *codeStream) Release() {
	if s.refs.Add(-1) > 0 {
		return
	}
	s.cancel()
	for rec := range s.batches {
		rec.Release()
	}
	<-s.done
	if s.current != nil {
		s.current.Release()
		s.current = nil
	}
}

func (s *codeStream) Next() bool {
	if s.current != nil {
		s.current.Release()
		s.current = nil
	}
	rec, ok := <-s.batches
	if !ok {
		return false
	}
	s.current = rec
	return true
}

func (s *codeStream) RecordBatch() arrow.RecordBatch { return s.current }
func (s *codeStream) Record() arrow.RecordBatch      { return s.current }
