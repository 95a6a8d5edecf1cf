package csvcodes

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

// decode reads every record of an encoder and returns them as text, one
// "line: a|b|c" per record, with <nil> for code 0.
func decode(t *testing.T, e *Encoder, cols int) ([]string, error) {
	t.Helper()
	lines := make([]int64, 3)
	codes := make([][]int32, cols)
	for c := range codes {
		codes[c] = make([]int32, 3)
	}
	var out []string
	for {
		n, err := e.Next(lines, codes)
		for i := 0; i < n; i++ {
			var vals []string
			for c := range codes {
				code := codes[c][i]
				switch {
				case code == 0:
					vals = append(vals, "<nil>")
				default:
					vals = append(vals, e.Values(c)[code-e.FirstCode()])
				}
			}
			out = append(out, fmt.Sprintf("%d: %s", lines[i], strings.Join(vals, "|")))
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

func TestRegularFiles(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       []string
	}{
		{"plain", "a,b,c\n1,x,2\n1,y,3\n", []string{"2: 1|x|2", "3: 1|y|3"}},
		{"no final line break", "a,b,c\n1,x,2\n4,y,3", []string{"2: 1|x|2", "3: 4|y|3"}},
		{"crlf", "a,b,c\r\n1,x,2\r\n4,y,3\r\n", []string{"2: 1|x|2", "3: 4|y|3"}},
		{"empty fields are no value", "a,b,c\n,x,\n ,,2\n", []string{"2: <nil>|x|<nil>", "3:  |<nil>|2"}},
		{"quoted fields", "\"a\",b,c\n\"1\",\"x, y\",\"\"\n", []string{"2: 1|x, y|<nil>"}},
		{"spaces kept", "a,b,c\n 1 ,\" x \",2\n", []string{"2:  1 | x |2"}},
		{"values repeat", "a,b,c\n1,AM,/\n1,PM,\\\n1,AM,/\n2,PM,/\n", []string{"2: 1|AM|/", "3: 1|PM|\\", "4: 1|AM|/", "5: 2|PM|/"}},
		{"utf-8", "a,b,c\nJosé,Zoë,ß\n", []string{"2: José|Zoë|ß"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := New(strings.NewReader(tc.file), 3, []int{0, 1, 2})
			if err != nil {
				t.Fatal(err)
			}
			got, err := decode(t, e, 3)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestColumnsPickAndReorderFields(t *testing.T) {
	e, err := New(strings.NewReader("name,urn,skip,mark\nAda,900001,zz,/\n"), 4, []int{1, -1, 3})
	if err != nil {
		t.Fatal(err)
	}
	got, err := decode(t, e, 3)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"2: 900001|<nil>|/"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestIrregularFiles(t *testing.T) {
	long := "a,b,c\n1,2," + strings.Repeat("x", maxLine) + "\n"
	for _, tc := range []struct {
		name, file string
		line       int64
		reason     string
	}{
		{"blank line", "a,b,c\n1,2,3\n\n4,5,6\n", 3, "blank"},
		{"too few fields", "a,b,c\n1,2\n", 2, "header's 3 fields"},
		{"too many fields", "a,b,c\n1,2,3,4\n", 2, "header's 3 fields"},
		{"header too short", "a,b\n1,2,3\n", 1, "header's 3 fields"},
		{"quote inside a plain field", "a,b,c\n1,x\"y,3\n", 2, "quote inside an unquoted field"},
		{"doubled quote", "a,b,c\n1,\"x\"\"y\",3\n", 2, "quote inside a quoted field"},
		{"text after a closing quote", "a,b,c\n1,\"x\"y,3\n", 2, "quote inside a quoted field"},
		{"line break inside quotes", "a,b,c\n1,\"x\ny\",3\n", 2, "does not end on its line"},
		{"bare carriage return", "a,b,c\n1,x\ry,3\n", 2, "carriage return"},
		{"old Mac line endings", "a,b,c\r1,2,3\r", 1, "carriage return"},
		{"NUL byte", "a,b,c\n1,\x00,3\n", 2, "NUL"},
		{"not UTF-8", "a,b,c\n1,Zo\xeb,3\n", 2, "not UTF-8"},
		{"a line over 1 MB", long, 2, "longer than 1 MB"},
		{"empty file", "", 1, "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := New(strings.NewReader(tc.file), 3, []int{0, 1, 2})
			if err == nil {
				_, err = decode(t, e, 3)
			}
			var irregular *IrregularError
			if !errors.As(err, &irregular) {
				t.Fatalf("got %v, want an IrregularError", err)
			}
			if irregular.Line != tc.line || !strings.Contains(irregular.Reason, tc.reason) {
				t.Errorf("got line %d %q, want line %d with %q", irregular.Line, irregular.Reason, tc.line, tc.reason)
			}
		})
	}
}

// TestEndings counts line endings, so that a caller can refuse a file that
// mixes them across parts. A last line ending in a bare CR counts as CRLF:
// beside LF lines, the general reader sees mixed endings.
func TestEndings(t *testing.T) {
	for _, tc := range []struct {
		file     string
		lf, crlf int64
	}{
		{"a\n1\r\n2\r\n3", 1, 2}, // the header's LF; the last line has no ending
		{"a\n1\n2\r", 2, 1},
	} {
		e, err := New(strings.NewReader(tc.file), 1, []int{0})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decode(t, e, 1); err != nil {
			t.Fatal(err)
		}
		if lf, crlf := e.Endings(); lf != tc.lf || crlf != tc.crlf {
			t.Errorf("%q: Endings() = %d, %d; want %d LF and %d CRLF", tc.file, lf, crlf, tc.lf, tc.crlf)
		}
	}
}

// TestParts: a file read as two parts gives the same records, with the
// second part's lines continuing the first's and its codes offset.
func TestParts(t *testing.T) {
	file := "u,s\nA,AM\nB,PM\nA,AM\nC,PM\n"
	split := strings.Index(file, "A,AM\nC")
	head, err := New(strings.NewReader(file[:split]), 2, []int{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	tail, err := NewPart(strings.NewReader(file[split:]), 2, []int{0, 1}, 3, 1000)
	if err != nil {
		t.Fatal(err)
	}
	first, err := decode(t, head, 2)
	if err != nil {
		t.Fatal(err)
	}
	second, err := decode(t, tail, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := append(first, second...), []string{"2: A|AM", "3: B|PM", "4: A|AM", "5: C|PM"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	lines, codes := make([]int64, 1), [][]int32{make([]int32, 1), make([]int32, 1)}
	again, _ := NewPart(strings.NewReader("A,AM\n"), 2, []int{0, 1}, 3, 1000)
	if _, err := again.Next(lines, codes); err != nil {
		t.Fatal(err)
	}
	if codes[0][0] != 1001 || lines[0] != 4 {
		t.Errorf("first record of a part coded %d on line %d, want 1001 on line 4", codes[0][0], lines[0])
	}
}

// TestSmallBuffers: records that straddle the reader's buffer refills come
// out whole (the reader hands out a few bytes at a time).
func TestSmallBuffers(t *testing.T) {
	var b strings.Builder
	b.WriteString("a,b\n")
	var want []string
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&b, "%d,\"v%d\"\r\n", i%7, i%13)
		want = append(want, fmt.Sprintf("%d: %d|v%d", i+2, i%7, i%13))
	}
	e, err := New(&trickle{r: strings.NewReader(b.String())}, 2, []int{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	got, err := decode(t, e, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %d records, want %d; first difference near %v", len(got), len(want), firstDiff(got, want))
	}
}

type trickle struct{ r io.Reader }

func (t *trickle) Read(p []byte) (int, error) { return t.r.Read(p[:min(len(p), 7)]) }

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return a[i] + " / " + b[i]
		}
	}
	return "the end"
}

// BenchmarkEncode codes a synthetic attendance extract of 100,000 marks:
// 20 schools, 500 pupils, 100 dates, AM and PM, a handful of marks.
func BenchmarkEncode(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("school_urn,upn,session_date,session,mark\n")
	marks := []string{"/", "\\", "L", "C", "N", "I"}
	for p := 0; p < 500; p++ {
		for d := 0; d < 100; d++ {
			for s, half := range []string{"AM", "PM"} {
				fmt.Fprintf(&sb, "9000%02d,A%012d,2024-%02d-%02d,%s,%s\n", p%20, p, 9+d/28, 1+d%28, half, marks[(p+d+s)%len(marks)])
			}
		}
	}
	data := sb.String()
	lines := make([]int64, 4096)
	codes := make([][]int32, 5)
	for c := range codes {
		codes[c] = make([]int32, 4096)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		e, err := New(strings.NewReader(data), 5, []int{0, 1, 2, 3, 4})
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := e.Next(lines, codes); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
}
