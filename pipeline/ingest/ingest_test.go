package ingest

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/outcomes/outcomes/pipeline/warehouse"
	"github.com/outcomes/outcomes/schemas"
	"github.com/outcomes/outcomes/transforms/pseudonym"
)

var testPartitions = Partitions{
	Schools:    []string{"900001"},
	Terms:      []Term{{ID: "202425-autumn", Start: "2024-08-01", End: "2024-12-31", MaxSessions: 150}},
	Programmes: []string{"mhst"},
}

func setup(t testing.TB) (*sql.Conn, *pseudonym.Tokeniser, string) {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	w, err := warehouse.Open(ctx, filepath.Join(dir, "w.duckdb"), warehouse.Options{MemoryLimit: "1GB", Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	conn, err := w.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := DefinePartitions(ctx, conn, testPartitions); err != nil {
		t.Fatal(err)
	}
	tok, err := pseudonym.New(bytes.Repeat([]byte("k"), 32))
	if err != nil {
		t.Fatal(err)
	}
	return conn, tok, dir
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func readQuarantine(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	byLine := map[string]string{}
	for _, r := range recs[1:] { // file, line, column, reason, message, ...
		byLine[r[1]] = r[3] + "@" + r[2]
	}
	return byLine
}

// TestEveryRowAccountedForWithItsLine feeds an attendance file with a quoted
// line break, short and long rows, a duplicate, a conflicting mark, a bad
// check letter and an unknown mark, and checks each row's outcome and line.
func TestEveryRowAccountedForWithItsLine(t *testing.T) {
	conn, tok, dir := setup(t)
	a, b := schemas.MakeUPN(373, 1), schemas.MakeUPN(373, 2)
	badCheck := "Z" + a[1:]
	if schemas.ClassifyUPN(badCheck) != schemas.UPNInvalid {
		badCheck = "Y" + a[1:]
	}
	roster := write(t, dir, "roster.csv", fmt.Sprintf("School URN,UPN,Year Group\n900001,%s,3\n900001,%s,4\n", a, b))
	attendance := write(t, dir, "attendance.csv", strings.Join([]string{
		"school_urn,upn,session_date,session,mark",
		fmt.Sprintf("900001,%s,2024-09-02,AM,/", a),                       // line 2: loaded
		fmt.Sprintf("900001,%s,2024-09-02,PM,\"/\nX\"", a),                // lines 3-4: unknown mark, reported at line 3
		fmt.Sprintf("900001,%s,2024-09-03", a),                            // line 5: too few fields
		fmt.Sprintf("900001,%s,2024-09-03,AM,/,extra", a),                 // line 6: too many fields
		fmt.Sprintf("900001,%s,2024-09-04,AM,I", b),                       // line 7: loaded
		fmt.Sprintf("900001,%s,2024-09-02,AM,/", a),                       // line 8: duplicate of line 2
		fmt.Sprintf("900001,%s,2024-09-04,AM,O", b),                       // line 9: conflicts with line 7; I (authorised) wins
		fmt.Sprintf("900001,%s,2024-09-05,AM,/", badCheck),                // line 10: invalid UPN
		fmt.Sprintf("900001,%s,2025-09-05,AM,/", b),                       // line 11: outside the terms
		fmt.Sprintf("900001,%s,2024-09-31,AM,/", b),                       // line 12: impossible date
		fmt.Sprintf("900002,%s,2024-09-06,AM,/", b),                       // line 13: unknown school
		fmt.Sprintf("900001,%s,2024-09-06,XX,/", b),                       // line 14: bad session
		fmt.Sprintf("900001,%s,2024-09-06,PM,", b),                        // line 15: missing mark
		fmt.Sprintf("900001,%s,2024-09-06,AM,/", schemas.MakeUPN(373, 3)), // line 16: not on roster
	}, "\n")+"\n")
	qdir := filepath.Join(dir, "q")
	res, err := Load(context.Background(), conn, []File{
		{Source: schemas.SourceRoster, Path: roster},
		{Source: schemas.SourceAttendance, Path: attendance},
	}, tok, qdir)
	if err != nil {
		t.Fatal(err)
	}
	defer DropStaging(conn)
	att := res.Stats[1]
	if att.RowsRead != 14 || att.RowsLoaded != 2 || att.RowsDuplicate != 1 || att.RowsQuarantined != 11 {
		t.Errorf("attendance stats %+v, want read 14 = loaded 2 + duplicate 1 + quarantined 11", att)
	}
	// Lines are where each record starts in the file: the quoted line break
	// in line 3's mark moves every later record down one.
	want := map[string]string{
		"3":  "unknown_mark@mark",
		"5":  "malformed_row@",
		"6":  "malformed_row@",
		"9":  "conflicting_mark@mark",
		"10": "invalid_upn@upn",
		"11": "date_outside_terms@session_date",
		"12": "invalid_date@session_date",
		"13": "unknown_school@school_urn",
		"14": "invalid_session@session",
		"15": "missing_value@mark",
		"16": "pupil_not_on_roster@upn",
	}
	got := readQuarantine(t, filepath.Join(qdir, "attendance.csv"))
	for line, w := range want {
		g := got[line]
		// malformed rows name DuckDB's column when it knows one.
		if strings.HasPrefix(w, "malformed_row") && strings.HasPrefix(g, "malformed_row") {
			continue
		}
		if g != w {
			t.Errorf("line %s: got %q, want %q", line, g, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("quarantine has lines %v, want %d lines", got, len(want))
	}
	body, _ := os.ReadFile(filepath.Join(qdir, "attendance.csv"))
	for _, id := range []string{a, b, badCheck} {
		if strings.Contains(string(body), id) {
			t.Errorf("quarantine file contains the UPN %s", id)
		}
	}
}

// TestLineNumbersAtScale checks that line numbers stay exact on a file large
// enough for DuckDB to read in parallel, with malformed rows scattered in it.
func TestLineNumbersAtScale(t *testing.T) {
	if testing.Short() {
		t.Skip("large file")
	}
	conn, tok, dir := setup(t)
	a := schemas.MakeUPN(373, 1)
	roster := write(t, dir, "roster.csv", "school_urn,upn,year_group\n900001,"+a+",3\n")
	var b strings.Builder
	b.WriteString("school_urn,upn,session_date,session,mark\n")
	wantBad := map[string]string{}
	const rows = 1_000_000
	for i := 0; i < rows; i++ {
		line := fmt.Sprint(i + 2)
		switch {
		case i%49_999 == 7:
			b.WriteString("900001," + a + ",2024-09-02\n") // malformed
			wantBad[line] = "malformed_row"
		case i%20_011 == 3:
			b.WriteString("900001," + a + ",2024-09-02,AM,H\n") // unknown mark
			wantBad[line] = "unknown_mark"
		default:
			// Same pupil and session over and over: the rest are duplicates, which
			// is fine: only quarantined lines are checked.
			b.WriteString("900001," + a + ",2024-09-02,AM,/\n")
		}
	}
	attendance := write(t, dir, "attendance.csv", b.String())
	qdir := filepath.Join(dir, "q")
	res, err := Load(context.Background(), conn, []File{
		{Source: schemas.SourceRoster, Path: roster}, {Source: schemas.SourceAttendance, Path: attendance},
	}, tok, qdir)
	if err != nil {
		t.Fatal(err)
	}
	defer DropStaging(conn)
	if res.Stats[1].RowsRead != rows {
		t.Fatalf("read %d rows, want %d", res.Stats[1].RowsRead, rows)
	}
	got := readQuarantine(t, filepath.Join(qdir, "attendance.csv"))
	for line, reason := range wantBad {
		if !strings.HasPrefix(got[line], reason) {
			t.Errorf("line %s: got %q, want %s", line, got[line], reason)
		}
	}
	if len(got) != len(wantBad) {
		t.Errorf("%d quarantined lines, want %d", len(got), len(wantBad))
	}
}

func TestMissingColumnNamesExpectedAndFound(t *testing.T) {
	conn, tok, dir := setup(t)
	roster := write(t, dir, "roster.csv", "school_urn,pupil_number,year_group\n900001,x,3\n")
	_, err := Load(context.Background(), conn, []File{{Source: schemas.SourceRoster, Path: roster}}, tok, filepath.Join(dir, "q"))
	var mc *MissingColumnsError
	if !errors.As(err, &mc) {
		t.Fatalf("got %v, want a MissingColumnsError", err)
	}
	msg := err.Error()
	for _, want := range []string{"roster.csv", "missing column(s) upn", "expected school_urn, upn", "found school_urn, pupil_number, year_group"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
}

// TestMissingColumnsSaysWhatTheFileLooksLike: a file that is not a
// comma-separated UTF-8 CSV with one record a line reads as a header that
// lacks columns; the message says what the first line suggests, lists at
// most maxFoundShown headers, and quotes no value.
func TestMissingColumnsSaysWhatTheFileLooksLike(t *testing.T) {
	const header = "school_urn,upn,year_group,fsm,sen,gender,date_of_birth,forename,surname,postcode,nhs_number"
	const row = "900001,M373200100000,1,Y,N,M,2019-06-06,Zzyzxleak,Johnson,ZZ9 9ZZ,"
	rows := func(sep, eol string, n int) string {
		lines := []string{strings.ReplaceAll(header, ",", sep)}
		for i := 0; i < n; i++ {
			lines = append(lines, strings.ReplaceAll(row, ",", sep))
		}
		return strings.Join(lines, eol) + eol
	}
	utf16 := func(text string) string {
		b := []byte{0xff, 0xfe}
		for _, r := range text {
			b = append(b, byte(r), 0)
		}
		return string(b)
	}
	for _, tc := range []struct {
		name, content, want string
	}{
		{"semicolons", rows(";", "\n", 3), "separated by semicolons"},
		{"tabs", rows("\t", "\n", 3), "separated by tabs"},
		{"UTF-16", utf16(rows(",", "\r\n", 3)), "does not look like UTF-8"},
		{"many unknown headers", "school_urn," + strings.Repeat("extra,", 60) + "year_group\n900001," + strings.Repeat("x,", 60) + "1\n", "and 42 more"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, tok, dir := setup(t)
			roster := write(t, dir, "roster.csv", tc.content)
			_, err := Load(context.Background(), conn, []File{{Source: schemas.SourceRoster, Path: roster}}, tok, filepath.Join(dir, "q"))
			var mc *MissingColumnsError
			if !errors.As(err, &mc) {
				t.Fatalf("got %v, want a MissingColumnsError", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, "roster.csv") || !strings.Contains(msg, "missing column(s)") {
				t.Errorf("message %q lacks %q", msg, tc.want)
			}
			if len(msg) > 1500 {
				t.Errorf("message of %d bytes: %.300s", len(msg), msg)
			}
			// Headers are compared lower-cased, and a value that leaks may be too.
			for _, value := range []string{"Zzyzxleak", "Johnson", "ZZ9 9ZZ", "zz9_9zz", "M373200100000", "2019-06-06"} {
				if strings.Contains(strings.ToLower(msg), strings.ToLower(value)) {
					t.Errorf("message quotes %q: %s", value, msg)
				}
			}
		})
	}
}

// TestCarriageReturnsAloneAreRefused: a file with lone carriage returns for
// line endings whose last column is optional matched every required
// column, and its rows were then lost or quarantined as malformed; it is
// refused, saying why, and quoting no value.
func TestCarriageReturnsAloneAreRefused(t *testing.T) {
	upn := schemas.MakeUPN(373, 200100000)
	for _, tc := range []struct{ name, header, row string }{
		{"every required column matches", "school_urn,upn,year_group,fsm,sen,gender,date_of_birth,forename,surname,postcode,nhs_number",
			"900001," + upn + ",1,Y,N,M,2019-06-06,Zzyzxleak,Lee,S1 1AA,"},
		// upn last, as mark is in an attendance extract: a required column
		// runs into the next line.
		{"a required column runs on", "school_urn,year_group,fsm,sen,gender,date_of_birth,forename,surname,postcode,nhs_number,upn",
			"900001,1,Y,N,M,2019-06-06,Zzyzxleak,Lee,S1 1AA,," + upn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, tok, dir := setup(t)
			roster := write(t, dir, "roster.csv", tc.header+strings.Repeat("\r"+tc.row, 400)+"\r")
			_, err := Load(context.Background(), conn, []File{{Source: schemas.SourceRoster, Path: roster}}, tok, filepath.Join(dir, "q"))
			if !errors.Is(err, ErrUnreadable) || !strings.Contains(err.Error(), "carriage return alone") || !strings.Contains(err.Error(), "roster.csv") {
				t.Fatalf("got %v, want the file refused for its line endings", err)
			}
			if msg := strings.ToLower(err.Error()); strings.Contains(msg, "zzyzxleak") || strings.Contains(msg, strings.ToLower(upn)) || len(msg) > 1500 {
				t.Errorf("the refusal quotes a value or runs long: %v", err)
			}
		})
	}
}

// TestIgnoredFieldsAreLoggedWithTheirLines: a roster row with an invalid
// NHS number is loaded without it; the log names the file, the column, the
// count and the lines, so the export can be corrected, and never the value.
func TestIgnoredFieldsAreLoggedWithTheirLines(t *testing.T) {
	conn, tok, dir := setup(t)
	valid := schemas.MakeTestNHSNumber(12)
	invalid := valid[:9] + string('0'+(valid[9]-'0'+1)%10)
	row := func(i int, nhs string) string {
		return fmt.Sprintf("900001,%s,1,Y,N,M,2019-06-06,Ann,Lee,S1 1AA,%s\n", schemas.MakeUPN(373, int64(200100000+i)), nhs)
	}
	roster := write(t, dir, "roster.csv", "school_urn,upn,year_group,fsm,sen,gender,date_of_birth,forename,surname,postcode,nhs_number\n"+
		row(1, valid)+row(2, invalid)+row(3, "")+row(4, "12345"))
	var logs bytes.Buffer
	res, err := LoadWithOptions(context.Background(), conn, []File{{Source: schemas.SourceRoster, Path: roster}}, tok, filepath.Join(dir, "q"),
		Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer DropStaging(conn)
	if st := res.Stats[0]; st.RowsLoaded != 4 || st.Warnings["nhs_number_ignored"] != 2 {
		t.Errorf("loaded %d, nhs_number_ignored %d; want 4 and 2", st.RowsLoaded, st.Warnings["nhs_number_ignored"])
	}
	out := logs.String()
	for _, want := range []string{"rows loaded without an invalid field", "file=roster.csv", "column=nhs_number", "rows=2", `first_lines="3, 5"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	for _, value := range []string{invalid, "12345", valid} {
		if strings.Contains(out, value) {
			t.Errorf("log quotes %q", value)
		}
	}
}

func TestNormaliseHeader(t *testing.T) {
	tests := map[string]string{
		"Pupil UPN": "pupil_upn", "\ufeffschool_urn": "school_urn", " Session Date ": "session_date",
		"Mark (AM/PM)": "mark_am_pm", "NHS-Number": "nhs_number",
	}
	for in, want := range tests {
		if got := normaliseHeader(in); got != want {
			t.Errorf("normaliseHeader(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPlainDuckDBErrorDropsInput(t *testing.T) {
	upn := schemas.MakeUPN(373, 42)
	err := plainDuckDBError(errors.New("Invalid Input Error: CSV Error on Line: 3\nOriginal Line: 900001," + upn + ",2024-09-02\nInvalid unicode detected near 943 476 5919 in S10 2AB"))
	msg := err.Error()
	if strings.Contains(msg, upn) || strings.Contains(msg, "943 476 5919") || strings.Contains(msg, "S10 2AB") {
		t.Fatalf("message keeps an identifier: %q", msg)
	}
	if !strings.Contains(msg, "CSV Error on Line: 3") || !strings.Contains(msg, "Invalid unicode") {
		t.Fatalf("message lost DuckDB's explanation: %q", msg)
	}
}

// TestRepeatedSessionsAcrossFilesAndRuns: when two files of one run mark the
// same pupil and session, the best mark wins, then the file whose name sorts
// first; a later run's marks are checked against the sessions already loaded
// from files it does not replace, and repeats within one file still collapse.
func TestRepeatedSessionsAcrossFilesAndRuns(t *testing.T) {
	conn, tok, dir := setup(t)
	ctx := context.Background()
	a, b := schemas.MakeUPN(373, 1), schemas.MakeUPN(373, 2)
	roster := write(t, dir, "roster.csv", fmt.Sprintf("school_urn,upn,year_group\n900001,%s,3\n900001,%s,4\n", a, b))
	header := "school_urn,upn,session_date,session,mark\n"
	first := write(t, dir, "a_first.csv", header+strings.Join([]string{
		fmt.Sprintf("900001,%s,2024-09-02,AM,O", a), // 2: loses to b_second line 2 (I is authorised, O unauthorised)
		fmt.Sprintf("900001,%s,2024-09-02,PM,/", a), // 3: kept: same mark and rank as b_second line 3, earlier file
		fmt.Sprintf("900001,%s,2024-09-03,AM,C", b), // 4: kept over b_second line 4 (both authorised)
		fmt.Sprintf("900001,%s,2024-09-04,AM,/", b), // 5: kept
	}, "\n")+"\n")
	second := write(t, dir, "b_second.csv", header+strings.Join([]string{
		fmt.Sprintf("900001,%s,2024-09-02,AM,I", a), // 2: kept
		fmt.Sprintf("900001,%s,2024-09-02,PM,/", a), // 3: duplicate
		fmt.Sprintf("900001,%s,2024-09-03,AM,M", b), // 4: conflicting_mark
		fmt.Sprintf("900001,%s,2024-09-04,AM,/", b), // 5: duplicate
		fmt.Sprintf("900001,%s,2024-09-04,AM,/", b), // 6: duplicate: a third mark
	}, "\n")+"\n")
	files := []File{{Source: schemas.SourceRoster, Path: roster},
		{Source: schemas.SourceAttendance, Path: first}, {Source: schemas.SourceAttendance, Path: second}}

	type outcome struct{ loaded, duplicate, quarantined int64 }
	check := func(res *Result, want map[string]outcome, wantQuarantine map[string]string) {
		t.Helper()
		for _, s := range res.Stats {
			w, ok := want[filepath.Base(s.Path)]
			if !ok || !s.Ingested {
				continue
			}
			if got := (outcome{s.RowsLoaded, s.RowsDuplicate, s.RowsQuarantined}); got != w {
				t.Errorf("%s: loaded, duplicate, quarantined = %v, want %v", filepath.Base(s.Path), got, w)
			}
		}
		recs := readCSVFile(t, filepath.Join(dir, "q", "attendance.csv"))
		got := map[string]string{}
		for _, r := range recs[1:] {
			got[r[0]+":"+r[1]] = r[3] + "@" + r[2] + " " + strings.Join(r[5:], ",")
		}
		if fmt.Sprint(got) != fmt.Sprint(wantQuarantine) {
			t.Errorf("quarantine %v, want %v", got, wantQuarantine)
		}
	}

	res, err := Load(ctx, conn, files, tok, filepath.Join(dir, "q"))
	if err != nil {
		t.Fatal(err)
	}
	check(res, map[string]outcome{"a_first.csv": {3, 0, 1}, "b_second.csv": {1, 3, 1}}, map[string]string{
		"a_first.csv:2":  "conflicting_mark@mark 900001,2024-09-02,AM,O",
		"b_second.csv:4": "conflicting_mark@mark 900001,2024-09-03,AM,M",
	})
	if err := Commit(ctx, conn, res, "run-1"); err != nil {
		t.Fatal(err)
	}
	DropStaging(conn)

	// The next night: a third file repeats sessions already loaded.
	third := write(t, dir, "c_third.csv", header+strings.Join([]string{
		fmt.Sprintf("900001,%s,2024-09-02,AM,I", a), // 2: duplicate of the loaded mark
		fmt.Sprintf("900001,%s,2024-09-03,AM,I", b), // 3: conflicting_mark: C stands, although I ranks the same
		fmt.Sprintf("900001,%s,2024-09-05,AM,/", a), // 4: loaded
		fmt.Sprintf("900001,%s,2024-09-06,PM,L", a), // 5: loaded
		fmt.Sprintf("900001,%s,2024-09-06,PM,/", a), // 6: conflicting_mark: / and L rank the same, L comes first
		fmt.Sprintf("900001,%s,2024-12-31,PM,/", b), // 7: loaded: the term's last half-day
		fmt.Sprintf("900001,%s,2024-12-31,PM,/", b), // 8: duplicate
	}, "\n")+"\n")
	if err := os.RemoveAll(filepath.Join(dir, "q")); err != nil {
		t.Fatal(err)
	}
	res, err = Load(ctx, conn, append(files, File{Source: schemas.SourceAttendance, Path: third}), tok, filepath.Join(dir, "q"))
	if err != nil {
		t.Fatal(err)
	}
	defer DropStaging(conn)
	check(res, map[string]outcome{"c_third.csv": {3, 2, 2}}, map[string]string{
		"c_third.csv:3": "conflicting_mark@mark 900001,2024-09-03,AM,I",
		"c_third.csv:6": "conflicting_mark@mark 900001,2024-09-06,PM,/",
	})
	if err := Commit(ctx, conn, res, "run-2"); err != nil {
		t.Fatal(err)
	}
	var sessions int64
	var marks string
	if err := conn.QueryRowContext(ctx, `SELECT count(*), string_agg(mark::VARCHAR, '' ORDER BY session_date, session) FROM sessions`).Scan(&sessions, &marks); err != nil {
		t.Fatal(err)
	}
	if sessions != 7 || marks != "I/C//L/" {
		t.Errorf("sessions: %d with marks %q, want 7: I/C//L/", sessions, marks)
	}
}

// TestDropStagingLeavesNoRawRows: after a load of files coded as read (a
// regular attendance file), read in place (the roster) and copied (one with
// a rejected row and a quoted line break), DropStaging leaves only the public
// lists on the connection.
func TestDropStagingLeavesNoRawRows(t *testing.T) {
	conn, tok, dir := setup(t)
	ctx := context.Background()
	a := schemas.MakeUPN(373, 1)
	roster := write(t, dir, "roster.csv", "school_urn,upn,year_group\n900001,"+a+",3\n")
	regular := write(t, dir, "regular.csv", "school_urn,upn,session_date,session,mark\n900001,"+a+",2024-09-02,AM,/\n")
	irregular := write(t, dir, "irregular.csv", "school_urn,upn,session_date,session,mark\n900001,"+a+",2024-09-03,AM,\"/\nX\"\n900001,"+a+",2024-09-03\n900001,"+a+",2024-09-04,AM,/\n")
	res, err := Load(ctx, conn, []File{{Source: schemas.SourceRoster, Path: roster},
		{Source: schemas.SourceAttendance, Path: regular}, {Source: schemas.SourceAttendance, Path: irregular}}, tok, filepath.Join(dir, "q"))
	if err != nil {
		t.Fatal(err)
	}
	var rows, coded, upns int64
	if err := conn.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM raw_attendance), (SELECT count(*) FROM attendance_codes),
		(SELECT count(*) FROM attendance_dict WHERE col = 'upn' AND raw = ?)`, a).Scan(&rows, &coded, &upns); err != nil || rows != 2 || coded != 3 || upns != 2 {
		t.Errorf("raw_attendance holds %d rows, attendance_codes %d, attendance_dict the UPN %d times (%v); want 2 read from irregular.csv, 3 coded (one from regular.csv), 2 (once per file)", rows, coded, upns, err)
	}
	if got := res.Stats[1].RowsLoaded + res.Stats[2].RowsLoaded; got != 2 {
		t.Errorf("loaded %d marks, want 2", got)
	}
	var staged int64
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM duckdb_tables() WHERE temporary AND regexp_full_match(table_name, 'staged_[0-9]+')").Scan(&staged); err != nil || staged != 1 {
		t.Errorf("%d staged tables (%v), want 1: roster.csv's, read in place", staged, err)
	}
	DropStaging(conn)
	left, err := conn.QueryContext(ctx, `SELECT table_name FROM duckdb_tables() WHERE temporary AND NOT starts_with(table_name, 'cfg_')
		UNION ALL SELECT view_name FROM duckdb_views() WHERE temporary AND NOT internal`)
	if err != nil {
		t.Fatal(err)
	}
	defer left.Close()
	for left.Next() {
		var name string
		if err := left.Scan(&name); err != nil {
			t.Fatal(err)
		}
		t.Errorf("DropStaging left %s", name)
	}
}

// TestLinkageTokensOnlyForLinkedUPNs: a UPN read from the roster gets its
// linkage token (participation records are matched on it); one seen only in
// attendance gets its own token and status but no linkage token, which
// nothing reads.
func TestLinkageTokensOnlyForLinkedUPNs(t *testing.T) {
	conn, tok, dir := setup(t)
	ctx := context.Background()
	onRoster, attendanceOnly := schemas.MakeUPN(373, 1), schemas.MakeUPN(373, 2)
	roster := write(t, dir, "roster.csv", "school_urn,upn,year_group\n900001,"+onRoster+",3\n")
	attendance := write(t, dir, "attendance.csv", "school_urn,upn,session_date,session,mark\n900001,"+onRoster+",2024-09-02,AM,/\n900001,"+attendanceOnly+",2024-09-02,AM,/\n")
	if _, err := Load(ctx, conn, []File{{Source: schemas.SourceRoster, Path: roster}, {Source: schemas.SourceAttendance, Path: attendance}}, tok, filepath.Join(dir, "q")); err != nil {
		t.Fatal(err)
	}
	defer DropStaging(conn)
	for _, tc := range []struct {
		upn        string
		linkTokens int
	}{{onRoster, 1}, {attendanceOnly, 0}} {
		var tokens, links int
		if err := conn.QueryRowContext(ctx, "SELECT count(token), count(link_token) FROM upn_tokens WHERE raw = ?", tc.upn).Scan(&tokens, &links); err != nil {
			t.Fatal(err)
		}
		if tokens != 1 || links != tc.linkTokens {
			t.Errorf("UPN %s: %d tokens, %d linkage tokens; want 1 and %d", map[int]string{1: "on the roster", 0: "only in attendance"}[tc.linkTokens], tokens, links, tc.linkTokens)
		}
	}
}

// TestBeforeReadCountsWhatIsRead: BeforeRead hears of each file a load
// reads, with the bytes read so far including it, and never of an unchanged
// attendance file the warehouse already holds (a nightly run's size is its
// new file's).
func TestBeforeReadCountsWhatIsRead(t *testing.T) {
	conn, tok, dir := setup(t)
	ctx := context.Background()
	a := schemas.MakeUPN(373, 1)
	header := "school_urn,upn,session_date,session,mark\n"
	roster := write(t, dir, "roster.csv", fmt.Sprintf("school_urn,upn,year_group\n900001,%s,3\n", a))
	first := write(t, dir, "first.csv", header+fmt.Sprintf("900001,%s,2024-09-02,AM,/\n900001,%s,2024-09-02,PM,/\n", a, a))
	second := write(t, dir, "second.csv", header+fmt.Sprintf("900001,%s,2024-09-03,AM,/\n", a))
	size := func(p string) int64 {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return info.Size()
	}
	load := func(files []File) []int64 {
		t.Helper()
		var heard []int64
		opt := Options{BeforeRead: func(_ context.Context, n int64) error { heard = append(heard, n); return nil }}
		res, err := LoadWithOptions(ctx, conn, files, tok, filepath.Join(dir, "q"), opt)
		if err != nil {
			t.Fatal(err)
		}
		if err := Commit(ctx, conn, res, "run"); err != nil {
			t.Fatal(err)
		}
		DropStaging(conn)
		return heard
	}
	files := []File{{Source: schemas.SourceRoster, Path: roster}, {Source: schemas.SourceAttendance, Path: first}}
	if got, want := load(files), []int64{size(roster), size(roster) + size(first)}; !reflect.DeepEqual(got, want) {
		t.Errorf("first load: BeforeRead heard %v, want %v", got, want)
	}
	// The next night: first.csv is unchanged and not read; the roster is read
	// again (no RosterContext), and second.csv is new.
	files = append(files, File{Source: schemas.SourceAttendance, Path: second})
	if got, want := load(files), []int64{size(roster), size(roster) + size(second)}; !reflect.DeepEqual(got, want) {
		t.Errorf("second load: BeforeRead heard %v, want %v", got, want)
	}
}
