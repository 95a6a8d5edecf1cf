package ingest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/outcomes/outcomes/pipeline/config"
	"github.com/outcomes/outcomes/schemas"
)

// TestPrivateCopy: a Windows-1252 file is read through a UTF-8 copy that is
// owner-only, inside the private temp folder, and gone after cleanup.
func TestPrivateCopy(t *testing.T) {
	dir := t.TempDir()
	tmp := filepath.Join(dir, "private")
	src := write(t, dir, "a.csv", "school_urn,upn,session_date,session,mark,note\r\n900001,X,2024-09-02,AM,/,caf\xe9\n")
	var logBuf bytes.Buffer
	file, cleanup, err := readableCSV(File{Source: schemas.SourceAttendance, Path: src}, tmp, slog.New(slog.NewTextHandler(&logBuf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(file.path) != tmp {
		t.Fatalf("copy at %s, want it in %s", file.path, tmp)
	}
	info, err := os.Stat(file.path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("copy mode %v, want 0600", info.Mode().Perm())
	}
	b, _ := os.ReadFile(file.path)
	if !strings.HasSuffix(string(b), "café\n") || strings.Contains(string(b), "\r") {
		t.Errorf("copy %q: want UTF-8 with LF endings (the file mixed them)", b)
	}
	for _, w := range []string{"read as Windows-1252", "mixes CRLF and LF"} {
		if !strings.Contains(logBuf.String(), w) {
			t.Errorf("log lacks %q:\n%s", w, logBuf.String())
		}
	}
	cleanup()
	if _, err := os.Stat(file.path); !os.IsNotExist(err) {
		t.Errorf("copy still there after cleanup: %v", err)
	}
	// UTF-8 with one kind of ending is read in place: no copy.
	src2 := write(t, dir, "b.csv", "h\r\n1\r\n")
	file, cleanup, err = readableCSV(File{Source: schemas.SourceAttendance, Path: src2, Format: config.Format{Encoding: config.EncodingUTF8}}, tmp, slog.New(slog.DiscardHandler))
	if err != nil || file.path != src2 {
		t.Errorf("got %v, %v; want the file itself", file, err)
	}
	cleanup()
}

// TestProgressReportsEveryStep: a load tells the progress function of each
// step and ends at the total, whether its attendance is coded as it is read
// or staged as text first (a quoted line break makes a file irregular),
// which adds a step.
func TestProgressReportsEveryStep(t *testing.T) {
	for _, tc := range []struct {
		name, mark string
		steps      int
	}{
		{"coded as read", "/", 9},          // two files, tokenise, five queries, count
		{"staged as text", "\"/\nX\"", 10}, // and coding the staged text
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, tok, dir := setup(t)
			a := schemas.MakeUPN(373, 1)
			roster := write(t, dir, "roster.csv", "school_urn,upn,year_group\n900001,"+a+",3\n")
			att := write(t, dir, "attendance.csv", "school_urn,upn,session_date,session,mark\n900001,"+a+",2024-09-02,AM,"+tc.mark+"\n")
			var steps []string
			last, total := 0, 0
			_, err := LoadWithOptions(context.Background(), conn, []File{{Source: schemas.SourceRoster, Path: roster}, {Source: schemas.SourceAttendance, Path: att}},
				tok, filepath.Join(dir, "q"), Options{Progress: func(done, n int, step string) {
					steps = append(steps, step)
					last, total = done, n
				}})
			DropStaging(conn)
			if err != nil {
				t.Fatal(err)
			}
			if total != tc.steps || last != total {
				t.Errorf("progress ended at %d of %d, want %d of %d", last, total, tc.steps, tc.steps)
			}
			if !strings.Contains(strings.Join(steps, "|"), "read attendance attendance.csv") {
				t.Errorf("steps %v", steps)
			}
		})
	}
}

// TestLeftoversRemoved: what a killed run left in the state folder's temp
// folder (a private copy of an extract, a DuckDB spill file) is removed, and
// nothing else there is touched.
func TestLeftoversRemoved(t *testing.T) {
	tmp := t.TempDir()
	copied := write(t, tmp, "extract-123.csv", "school_urn,upn\n900001,"+schemas.MakeUPN(373, 9)+"\n")
	spilled := write(t, tmp, "duckdb_temp_storage_DEFAULT-0.tmp", "staged rows")
	other := write(t, tmp, "duckdb_spill.tmp", "x")
	RemoveLeftovers(tmp, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, p := range []string{copied, spilled} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still there: %v", filepath.Base(p), err)
		}
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("another file in the temp folder was touched: %v", err)
	}
}

// TestBlankLineEndingOtherwise: a blank line that ends otherwise than the
// records (a CRLF line appended to an LF file, an LF line inside a CRLF
// file) made DuckDB refuse the whole file ("state machine reached an
// invalid state"); it is read through the LF copy, every row counted, and a
// bad row after the blank line quarantined at its own line.
func TestBlankLineEndingOtherwise(t *testing.T) {
	const header = "school_urn,upn,year_group,fsm,sen,gender,date_of_birth,forename,surname,postcode,nhs_number"
	good := func(i int) string {
		return fmt.Sprintf("900001,%s,1,Y,N,M,2019-06-06,Ann,Lee,S1 1AA,", schemas.MakeUPN(373, int64(200100000+i)))
	}
	bad := "900001," + schemas.MakeUPN(373, 200100099) + ",99,Y,N,M,2019-06-06,Ann,Lee,S1 1AA,"
	for _, tc := range []struct {
		name, content string
		badLine       string
	}{
		{"a CRLF blank line at the end of an LF file", header + "\n" + good(1) + "\n" + bad + "\n" + good(2) + "\n\r\n", "3"},
		{"a CRLF blank line inside an LF file", header + "\n" + good(1) + "\n\r\n" + bad + "\n" + good(2) + "\n", "4"},
		{"an LF blank line inside a CRLF file", header + "\r\n" + good(1) + "\r\n\n" + bad + "\r\n" + good(2) + "\r\n", "4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, tok, dir := setup(t)
			roster := write(t, dir, "roster.csv", tc.content)
			qdir := filepath.Join(dir, "q")
			res, err := Load(context.Background(), conn, []File{{Source: schemas.SourceRoster, Path: roster}}, tok, qdir)
			if err != nil {
				t.Fatal(err)
			}
			defer DropStaging(conn)
			if st := res.Stats[0]; st.RowsRead != 3 || st.RowsLoaded != 2 || st.RowsQuarantined != 1 {
				t.Errorf("read %d, loaded %d, quarantined %d; want 3, 2, 1", st.RowsRead, st.RowsLoaded, st.RowsQuarantined)
			}
			got := readQuarantine(t, filepath.Join(qdir, "roster.csv"))
			if _, ok := got[tc.badLine]; !ok || len(got) != 1 {
				t.Errorf("quarantined %v, want line %s alone", got, tc.badLine)
			}
		})
	}
}
