package ingest

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/outcomes/outcomes/fixtures"
	"github.com/outcomes/outcomes/pipeline/config"
	"github.com/outcomes/outcomes/schemas"
)

// nastyCase is one row of fixtures/nasty/cases.toml.
type nastyCase struct {
	File        string           `toml:"file"`
	Source      string           `toml:"source"`
	Problem     string           `toml:"problem"`
	Format      config.Format    `toml:"format"`
	Loaded      int64            `toml:"loaded"`
	Duplicate   int64            `toml:"duplicate"`
	Quarantined map[string]int64 `toml:"quarantined"`
	Lines       map[string][]int `toml:"lines"`
	Error       string           `toml:"error"`
	Log         string           `toml:"log"`
}

const nastyDir = "../../fixtures/nasty"

func readNastyCases(t *testing.T) []nastyCase {
	t.Helper()
	var table struct {
		Case []nastyCase `toml:"case"`
	}
	md, err := toml.DecodeFile(filepath.Join(nastyDir, "cases.toml"), &table)
	if err != nil {
		t.Fatal(err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		t.Fatalf("cases.toml has unknown keys %v", u)
	}
	return table.Case
}

// TestNastyCorpus reads every file of the nasty corpus with the roster,
// through real DuckDB, and checks its documented outcome: the rows loaded,
// collapsed and quarantined by reason, with their lines, or the message the
// run is refused with. It also checks that no raw identifier of the corpus
// reaches an error, the log, or any file the load writes (quarantine, the
// warehouse and its temp folder, read back through DuckDB and as bytes).
func TestNastyCorpus(t *testing.T) {
	cases := readNastyCases(t)
	names, err := fixtures.NastyFileNames()
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.File] = true
	}
	for _, n := range names {
		if !covered[n] {
			t.Errorf("corpus file %s has no case in cases.toml", n)
		}
	}
	ids := fixtures.NastyIdentifiers()
	for _, tc := range cases {
		t.Run(tc.File, func(t *testing.T) {
			conn, tok, dir := setup(t)
			var logBuf bytes.Buffer
			opt := Options{Logger: slog.New(slog.NewTextHandler(&logBuf, nil))}
			src := schemas.Source(tc.Source)
			if src == "" {
				src = schemas.SourceAttendance
			}
			format := tc.Format
			if format.Layout == "" {
				format.Layout = config.LayoutLong
			}
			if format.DateFormat == "" {
				format.DateFormat = config.DateISO
			}
			files := []File{{Source: src, Path: filepath.Join(nastyDir, tc.File), Format: format}}
			if src != schemas.SourceRoster {
				files = append([]File{{Source: schemas.SourceRoster, Path: filepath.Join(nastyDir, "roster.csv")}}, files...)
			}
			qdir := filepath.Join(dir, "q")
			res, err := LoadWithOptions(context.Background(), conn, files, tok, qdir, opt)
			defer DropStaging(conn)
			scanForIdentifiers(t, ids, "the log", logBuf.String())
			if tc.Log != "" && !strings.Contains(logBuf.String(), tc.Log) {
				t.Errorf("log lacks %q:\n%s", tc.Log, logBuf.String())
			}
			if tc.Error != "" {
				if err == nil {
					t.Fatalf("loaded; want the run refused with %q", tc.Error)
				}
				if !strings.Contains(err.Error(), tc.Error) || !strings.Contains(err.Error(), tc.File) {
					t.Errorf("error %q\nwant it to name the file and contain %q", err, tc.Error)
				}
				scanForIdentifiers(t, ids, "the error", err.Error())
				return
			}
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			st := res.Stats[len(res.Stats)-1]
			if st.RowsRead != st.RowsLoaded+st.RowsQuarantined+st.RowsDuplicate {
				t.Errorf("rows read %d != loaded %d + quarantined %d + duplicate %d", st.RowsRead, st.RowsLoaded, st.RowsQuarantined, st.RowsDuplicate)
			}
			want := tc.Quarantined
			if want == nil {
				want = map[string]int64{}
			}
			if st.RowsLoaded != tc.Loaded || st.RowsDuplicate != tc.Duplicate || !reflect.DeepEqual(st.QuarantinedByReason, want) {
				t.Errorf("loaded %d, duplicate %d, quarantined %v; want %d, %d, %v",
					st.RowsLoaded, st.RowsDuplicate, st.QuarantinedByReason, tc.Loaded, tc.Duplicate, want)
			}
			if len(tc.Lines) > 0 {
				got := quarantinedLines(t, filepath.Join(qdir, string(src)+".csv"), tc.File)
				for reason, lines := range tc.Lines {
					if !slices.Equal(got[reason], lines) {
						t.Errorf("%s on lines %v, want %v", reason, got[reason], lines)
					}
				}
			}
			if os.Getenv("NASTY_SHOW") != "" {
				b, _ := os.ReadFile(filepath.Join(qdir, string(src)+".csv"))
				t.Logf("quarantine:\n%s\nlog:\n%s", b, logBuf.String())
			}
			if err := Commit(context.Background(), conn, res, "test-run"); err != nil {
				t.Fatal(err)
			}
			DropStaging(conn)
			scanWarehouse(t, ids, conn)
			filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
				if err == nil && !info.IsDir() {
					b, _ := os.ReadFile(p)
					scanForIdentifiers(t, ids, p, string(b))
				}
				return nil
			})
		})
	}
}

// quarantinedLines reads a quarantine file: reason -> the distinct lines of
// that file, ascending.
func quarantinedLines(t *testing.T, path, file string) map[string][]int {
	t.Helper()
	recs := readCSVFile(t, path)
	out := map[string][]int{}
	for _, r := range recs[1:] { // file, line, column, reason, ...
		if r[0] != file {
			continue
		}
		n, _ := strconv.Atoi(r[1])
		if !slices.Contains(out[r[3]], n) {
			out[r[3]] = append(out[r[3]], n)
		}
	}
	for k := range out {
		slices.Sort(out[k])
	}
	return out
}

func scanForIdentifiers(t *testing.T, ids []string, what, text string) {
	t.Helper()
	for _, id := range ids {
		if strings.Contains(text, id) {
			t.Errorf("%s contains the raw identifier %q", what, id)
		}
	}
}

// scanWarehouse reads every column of every warehouse table as text.
func scanWarehouse(t *testing.T, ids []string, conn *sql.Conn) {
	t.Helper()
	ctx := context.Background()
	rows, err := conn.QueryContext(ctx, "SELECT table_name, column_name FROM information_schema.columns WHERE table_catalog = current_database()")
	if err != nil {
		t.Fatal(err)
	}
	var cols [][2]string
	for rows.Next() {
		var tb, c string
		rows.Scan(&tb, &c)
		cols = append(cols, [2]string{tb, c})
	}
	rows.Close()
	if len(cols) < 10 {
		t.Fatalf("only %d warehouse columns found", len(cols))
	}
	for _, tc := range cols {
		var all sql.NullString
		q := fmt.Sprintf(`SELECT string_agg(DISTINCT CAST(%q AS VARCHAR), '|') FROM %q`, tc[1], tc[0])
		if err := conn.QueryRowContext(ctx, q).Scan(&all); err != nil {
			t.Fatalf("scan %s.%s: %v", tc[0], tc[1], err)
		}
		scanForIdentifiers(t, ids, "warehouse "+tc[0]+"."+tc[1], all.String)
	}
}

func readCSVFile(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}
