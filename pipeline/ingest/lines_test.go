package ingest

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

func TestScanCSV(t *testing.T) {
	tests := []struct {
		name, in  string
		records   int64
		breaks    []breakpoint
		utf8      bool
		crlf, lf  int64
		mixed     bool
		irregular bool
	}{
		{"plain", "h\n1\n2\n", 2, []breakpoint{{1, 0, 0}}, true, 0, 3, false, false},
		{"no final newline", "h\n1\n2", 2, []breakpoint{{1, 0, 0}}, true, 0, 2, false, false},
		{"crlf", "h\r\n1\r\n2\r\n", 2, []breakpoint{{1, 0, 0}}, true, 3, 0, false, false},
		{"mixed", "h\r\n1\r\n2\n", 2, []breakpoint{{1, 0, 0}}, true, 2, 1, true, false},
		// DuckDB takes the line ending from the header: an LF header over CRLF rows is mixed.
		{"lf header", "h\n1\r\n2\r\n", 2, []breakpoint{{1, 0, 0}}, true, 2, 1, true, false},
		// Record 2 spans lines 3-4; record 3 starts on line 5, DuckDB's line 4.
		{"quoted newline", "h\n1\n\"a\nb\"\n3\n", 3, []breakpoint{{1, 0, 0}, {3, 0, 1}}, true, 0, 4, false, true},
		// A blank line is a DuckDB line but no record.
		{"blank line", "h\n1\n\n2\n", 2, []breakpoint{{1, 0, 0}, {2, 1, 1}}, true, 0, 3, false, true},
		{"doubled quote", "h\n\"a\"\"\nb\",x\n2\n", 2, []breakpoint{{1, 0, 0}, {2, 0, 1}}, true, 0, 3, false, true},
		{"quote mid-field is text", "h\na\"b\nc\n", 2, []breakpoint{{1, 0, 0}}, true, 0, 3, false, false},
		{"unterminated quote", "h\n1\n\"a\nb\n", 2, []breakpoint{{1, 0, 0}}, true, 0, 2, false, false},
		{"not utf-8", "h\n1\n\xe9\n", 2, []breakpoint{{1, 0, 0}}, false, 0, 3, false, false},
		{"header only", "h\n", 0, []breakpoint{{1, 0, 0}}, true, 0, 1, false, false},
		// A blank line ending otherwise than the records mixes them too:
		// DuckDB refuses it ("state machine reached an invalid state").
		{"crlf blank line in an lf file", "h\n1\n2\n\r\n", 2, []breakpoint{{1, 0, 0}}, true, 0, 3, true, false},
		{"lf blank line in a crlf file", "h\r\n1\r\n\n2\r\n", 2, []breakpoint{{1, 0, 0}, {2, 1, 1}}, true, 3, 0, true, true},
		{"crlf blank line in a crlf file", "h\r\n1\r\n\r\n2\r\n", 2, []breakpoint{{1, 0, 0}, {2, 1, 1}}, true, 3, 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One byte at a time too, so chunk edges fall everywhere.
			for _, r := range []func() *csvScan{
				func() *csvScan { s, _ := scanCSV(strings.NewReader(tt.in)); return s },
				func() *csvScan { s, _ := scanCSV(iotest.OneByteReader(strings.NewReader(tt.in))); return s },
			} {
				s := r()
				if s.records != tt.records || !reflect.DeepEqual(s.breaks, tt.breaks) || s.validUTF8 != tt.utf8 ||
					s.crlf != tt.crlf || s.lf != tt.lf || s.mixedEndings() != tt.mixed || s.irregular() != tt.irregular {
					t.Errorf("got records %d breaks %v utf8 %v crlf %d lf %d", s.records, s.breaks, s.validUTF8, s.crlf, s.lf)
				}
			}
		})
	}
}

func TestScanCSVFindsTheBadLineAcrossChunks(t *testing.T) {
	var b strings.Builder
	b.WriteString("h\n")
	for i := 0; i < 100_000; i++ {
		b.WriteString("900001,é,2024-09-02,AM,/\n") // valid two-byte runes all along
	}
	b.WriteString("x\xff\n")
	s, err := scanCSV(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if s.validUTF8 || s.badLine != 100_002 {
		t.Errorf("valid %v, bad line %d; want invalid at line 100002", s.validUTF8, s.badLine)
	}
}

func TestLFWriter(t *testing.T) {
	for _, chunks := range [][]string{{"a\r\nb\r\n"}, {"a\r", "\nb\r", "\n"}, {"a\r", "b\r"}, {"\r\n\r", "\n"}} {
		var out bytes.Buffer
		w := &lfWriter{w: &out}
		for _, c := range chunks {
			w.Write([]byte(c))
		}
		w.flush()
		want := strings.ReplaceAll(strings.Join(chunks, ""), "\r\n", "\n")
		if out.String() != want {
			t.Errorf("%q -> %q, want %q", chunks, out.String(), want)
		}
	}
}

// BenchmarkScanCSV measures the quick pass every CSV file gets before it is
// staged, and the quote-aware scan that irregular files get, on quoted and
// unquoted session rows.
func BenchmarkScanCSV(b *testing.B) {
	for _, quoted := range []bool{false, true} {
		var buf bytes.Buffer
		buf.WriteString("school_urn,upn,session_date,session,mark\n")
		for buf.Len() < 32<<20 {
			if quoted {
				fmt.Fprintf(&buf, "\"900001\",\"A373000004001\",\"2024-09-02\",\"AM\",\"/\"\r\n")
			} else {
				fmt.Fprintf(&buf, "900001,A373000004001,2024-09-02,AM,/\n")
			}
		}
		data := buf.Bytes()
		b.Run(fmt.Sprintf("quick/quoted=%v", quoted), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := scanQuick(bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("full/quoted=%v", quoted), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := scanCSV(bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzScanCSV checks the fast scan against the byte-at-a-time reference,
// with the input read whole and in small pieces (chunk edges everywhere).
func FuzzScanCSV(f *testing.F) {
	for _, s := range []string{"h\n1\n2\n", "h\r\n1\r\n\r\n\"a\nb\"\r\n3", "h\n\"a\"\"\nb\",x\n2\n", "h\na\"b\n\n\n,\"x\"\r\r\n", "\ufeffh\n\xe9\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		defer watchdog(fmt.Sprintf("%q", in))()
		want, _ := scanCSVReference(bytes.NewReader(in))
		for _, r := range []io.Reader{bytes.NewReader(in), iotest.OneByteReader(bytes.NewReader(in)), iotest.HalfReader(bytes.NewReader(in))} {
			got, err := scanCSV(r)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("scan %+v, reference %+v", got, want)
			}
		}
	})
}

func TestScanQuick(t *testing.T) {
	for _, tt := range []struct {
		in        string
		lines, nl int64
		crlf      int64
		valid     bool
		badLine   int64
	}{
		{"h\n1\n", 2, 2, 0, true, 0},
		{"h\r\n1", 2, 1, 1, true, 0},
		{"h\n\xe9\n", 2, 2, 0, false, 2},
		{"", 0, 0, 0, true, 0},
		{"h\n\xc3", 2, 1, 0, false, 2},
	} {
		q, err := scanQuick(iotest.OneByteReader(strings.NewReader(tt.in)))
		if err != nil {
			t.Fatal(err)
		}
		if q.lines() != tt.lines || q.nl != tt.nl || q.crlf != tt.crlf || q.validUTF8 != tt.valid || q.badLine != tt.badLine {
			t.Errorf("%q: got %+v lines %d", tt.in, q, q.lines())
		}
	}
}
