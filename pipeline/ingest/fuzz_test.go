package ingest

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/outcomes/outcomes/fixtures"
	"github.com/outcomes/outcomes/pipeline/config"
	"github.com/outcomes/outcomes/pipeline/warehouse"
	"github.com/outcomes/outcomes/schemas"
	"github.com/outcomes/outcomes/transforms/pseudonym"
)

// Fuzz targets for the readers and validators: `make fuzz` runs each for
// FUZZTIME. Seeds are the nasty corpus and a few hand-made shapes; go test
// without -fuzz runs the seeds only.

func FuzzNormaliseHeader(f *testing.F) {
	for _, s := range []string{"Pupil UPN", "\ufeffschool_urn", " Session Date ", "Mark (AM/PM)", "NHS-Number", "", "__", "Ünïcödé  Ñame", "a\x00b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		n := normaliseHeader(h)
		if normaliseHeader(n) != n {
			t.Errorf("not idempotent: %q -> %q -> %q", h, n, normaliseHeader(n))
		}
		if strings.HasPrefix(n, "_") || strings.HasSuffix(n, "_") || strings.Contains(n, "__") {
			t.Errorf("%q -> %q has a stray underscore", h, n)
		}
		for _, r := range n {
			if r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
				t.Errorf("%q -> %q keeps %q", h, n, r)
			}
		}
	})
}

// fuzzDB is one in-memory DuckDB per fuzz process: opening one per input
// would be most of the cost.
var fuzzDB = sync.OnceValues(func() (*sql.Conn, error) {
	w, err := warehouse.Open(context.Background(), "", warehouse.Options{MemoryLimit: "512MB", Threads: 1}) // in memory
	if err != nil {
		return nil, err
	}
	return w.Conn(context.Background())
})

var digitRuns = regexp.MustCompile(`[0-9]+`)

// FuzzParseDate checks the date parsing of every format through DuckDB: a
// text is either invalid (NULL) or a date whose day, month and year are
// exactly the numbers written, in the format's order — never a guess.
func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"2024-09-02", "02/09/2024", "2/9/2024", "02-Sep-2024", "31/09/2024", "02/09/24", "2024-02-30", "2024-09-02 00:00:00", "0002-09-02", "99999-01-01", " 02/09/2024", "02/09/2024x"} {
		f.Add(s)
	}
	months := map[string]int{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}
	f.Fuzz(func(t *testing.T, text string) {
		if !utf8.ValidString(text) || strings.ContainsRune(text, 0) {
			t.Skip("dates reach DuckDB only as UTF-8 text (extracts are transcoded first)")
		}
		defer watchdog(fmt.Sprintf("%q", text))()
		conn, err := fuzzDB()
		if err != nil {
			t.Fatal(err)
		}
		for _, format := range []string{config.DateISO, config.DateDMY, config.DateDMonY} {
			var got sql.NullString
			q := "SELECT strftime(" + dateExpr(format, "?") + ", '%Y-%m-%d')"
			q = strings.ReplaceAll(q, "?", "$1")
			if err := conn.QueryRowContext(context.Background(), q, text).Scan(&got); err != nil {
				t.Fatalf("%s %q: %v", format, text, err)
			}
			if !got.Valid {
				continue
			}
			var y, m, d int
			fmt.Sscanf(got.String, "%d-%d-%d", &y, &m, &d)
			if y < 1900 || y > 2999 {
				t.Errorf("%s %q -> %s: year out of range", format, text, got.String)
			}
			nums := digitRuns.FindAllString(text, -1)
			atoi := func(i int) int {
				if i >= len(nums) {
					return -1
				}
				n, _ := strconv.Atoi(nums[i])
				return n
			}
			var wy, wm, wd int
			switch format {
			case config.DateISO:
				wy, wm, wd = atoi(0), atoi(1), atoi(2)
			case config.DateDMY:
				wd, wm, wy = atoi(0), atoi(1), atoi(2)
			case config.DateDMonY:
				wd, wy = atoi(0), atoi(1)
				parts := strings.SplitN(text, "-", 3)
				if len(parts) < 2 {
					t.Fatalf("%s %q parsed without a month name", format, text)
				}
				wm = months[strings.ToLower(parts[1])]
			}
			if y != wy || m != wm || d != wd {
				t.Errorf("%s %q -> %s, but the text says day %d month %d year %d", format, text, got.String, wd, wm, wy)
			}
		}
	})
}

var fuzzRoster = func() string {
	a, b := schemas.MakeUPN(373, 1), schemas.MakeUPN(373, 2)
	return fmt.Sprintf("school_urn,upn,year_group\n900001,%s,3\n900001,%s,4\n", a, b)
}()

// FuzzLoadAttendance stages and validates an attendance file through real
// DuckDB, read in a layout, date format and encoding picked by mode. Whatever
// the bytes: no panic; either a plain error naming the file, or every row
// accounted for (read = loaded + quarantined + duplicate) with every
// quarantined line inside the file, and the line scan agreeing with DuckDB
// about where records start.
func FuzzLoadAttendance(f *testing.F) {
	a := schemas.MakeUPN(373, 1)
	f.Add([]byte("school_urn,upn,session_date,session,mark\n900001,"+a+",2024-09-02,AM,/\n"), uint8(0))
	f.Add([]byte("school_urn,upn,session_date,session,mark\r\n900001,"+a+",\"2024-09-02\",AM,\"/\r\n\"\r\n\r\n900001,"+a+",2024-09-0"), uint8(0))
	f.Add([]byte("school_urn,upn,session_date,am,pm\n900001,"+a+",02/09/2024,/,\\\n900001,"+a+",03/09/2024,,\n"), uint8(5))
	f.Add([]byte("school_urn,upn,session_date,session,mark\n900001,"+a+",02-Sep-2024,AM,/\n\n900001,"+a+",x\"y,AM,/\n"), uint8(2))
	if names, err := fixtures.NastyFileNames(); err == nil {
		for _, n := range names {
			if strings.HasSuffix(n, ".csv") && n != "roster.csv" {
				b, _ := fixtures.NastyContent(n)
				f.Add(b, uint8(len(n)))
			}
		}
	}
	f.Fuzz(func(t *testing.T, content []byte, mode uint8) {
		defer watchdog(fmt.Sprintf("%q (mode %d)", content, mode))()
		conn, err := fuzzDB()
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if err := DefinePartitions(ctx, conn, testPartitions); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		roster := filepath.Join(dir, "roster.csv")
		path := filepath.Join(dir, "attendance.csv")
		os.WriteFile(roster, []byte(fuzzRoster), 0o600)
		os.WriteFile(path, content, 0o600)
		format := config.Format{Layout: config.LayoutLong, DateFormat: []string{config.DateISO, config.DateDMY, config.DateDMonY}[mode%3]}
		if mode&4 != 0 {
			format.Layout = config.LayoutWide
			format.Columns = map[string]string{"am": "am_mark", "pm": "pm_mark"}
		}
		if mode&8 != 0 {
			format.Encoding = config.EncodingWindows1252
		}
		var logBuf bytes.Buffer
		res, err := LoadWithOptions(ctx, conn, []File{
			{Source: schemas.SourceRoster, Path: roster},
			{Source: schemas.SourceAttendance, Path: path, Format: format},
		}, pseudonymForFuzz(t), filepath.Join(dir, "q"), Options{Logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
		DropStaging(conn)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		st := res.Stats[1]
		if st.RowsRead != st.RowsLoaded+st.RowsQuarantined+st.RowsDuplicate {
			t.Errorf("read %d != loaded %d + quarantined %d + duplicate %d", st.RowsRead, st.RowsLoaded, st.RowsQuarantined, st.RowsDuplicate)
		}
		if strings.Contains(logBuf.String(), "count records") {
			t.Errorf("the line scan and DuckDB disagree about records:\n%s", logBuf.String())
		}
		lines := int64(bytes.Count(content, []byte("\n")) + 1)
		if q := filepath.Join(dir, "q", "attendance.csv"); fileExists(q) {
			for _, r := range readCSVFile(t, q)[1:] {
				n, err := strconv.ParseInt(r[1], 10, 64)
				if err != nil || n < 2 || n > lines {
					t.Errorf("quarantined line %q outside the file's %d lines", r[1], lines)
				}
			}
		}
	})
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func pseudonymForFuzz(t *testing.T) *pseudonym.Tokeniser {
	tok, err := pseudonym.New(bytes.Repeat([]byte("k"), 32))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// watchdog crashes the fuzz worker, with every goroutine's stack and the
// input, when one input runs for over a minute: a hang would otherwise stall
// the fuzzer silently. Call the returned func when the input is done.
// watchdogAfter is how long one input may run.
var watchdogAfter = time.Minute

func watchdog(input string) func() {
	timer := time.AfterFunc(watchdogAfter, func() {
		debug.SetTraceback("all")
		panic("one input took over a minute: " + input)
	})
	return func() { timer.Stop() }
}
