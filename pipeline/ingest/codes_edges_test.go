//go:build duckdb_arrow

package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/outcomes/outcomes/schemas"
)

// Edge cases of the coded reader (codes.go, transforms/csvcodes) that a
// review found: each failed before its fix.

// TestFinalCarriageReturnMatchesDuckDB: a file with LF line endings whose
// last line has no LF but ends in a bare CR mixes its endings: DuckDB's
// read_csv (new_line detected as \n) refuses the whole file when the last
// field is plain, and rejects the last record (UNQUOTED VALUE) when it is
// quoted. The coded reader must leave it to the general reader (it once
// dropped the CR and called the file regular).
func TestFinalCarriageReturnMatchesDuckDB(t *testing.T) {
	for name, body := range map[string]string{
		"plain last field":  "900001,M37,2024-09-02,AM,/\n900001,M37,2024-09-03,AM,/\r",
		"quoted last field": "900001,M37,2024-09-02,AM,/\n900001,M37,2024-09-03,AM,\"/\"\r",
	} {
		t.Run(name, func(t *testing.T) {
			if compareWithDuckDB(t, body) {
				t.Errorf("called regular: %q", body)
			}
		})
	}
}

// TestFinalCarriageReturnLoad is the same case as Load sees it: as before
// the coded reader, the general reader refuses the plain file as unreadable,
// and quarantines the quoted file's last record as malformed_row at line 3.
func TestFinalCarriageReturnLoad(t *testing.T) {
	a := schemas.MakeUPN(373, 1)
	hdr := "school_urn,upn,session_date,session,mark\n"
	row2 := fmt.Sprintf("900001,%s,2024-09-02,AM,/\n", a)
	t.Run("plain last field: the general reader refuses the file", func(t *testing.T) {
		conn, tok, dir := setup(t)
		roster := write(t, dir, "roster.csv", fmt.Sprintf("school_urn,upn,year_group\n900001,%s,3\n", a))
		att := write(t, dir, "attendance.csv", hdr+row2+fmt.Sprintf("900001,%s,2024-09-03,AM,/\r", a))
		res, err := Load(context.Background(), conn, []File{
			{Source: schemas.SourceRoster, Path: roster},
			{Source: schemas.SourceAttendance, Path: att},
		}, tok, filepath.Join(dir, "q"))
		defer DropStaging(conn)
		if err == nil {
			st := res.Stats[1]
			t.Errorf("loaded %d of %d records (quarantined %d); want the general reader's ErrUnreadable (DuckDB refuses the file)",
				st.RowsLoaded, st.RowsRead, st.RowsQuarantined)
		} else if !errors.Is(err, ErrUnreadable) {
			t.Errorf("error %v, want ErrUnreadable", err)
		}
	})
	t.Run("quoted last field: the general reader quarantines line 3", func(t *testing.T) {
		conn, tok, dir := setup(t)
		roster := write(t, dir, "roster.csv", fmt.Sprintf("school_urn,upn,year_group\n900001,%s,3\n", a))
		att := write(t, dir, "attendance.csv", hdr+row2+fmt.Sprintf("900001,%s,2024-09-03,AM,\"/\"\r", a))
		qdir := filepath.Join(dir, "q")
		res, err := Load(context.Background(), conn, []File{
			{Source: schemas.SourceRoster, Path: roster},
			{Source: schemas.SourceAttendance, Path: att},
		}, tok, qdir)
		defer DropStaging(conn)
		if err != nil {
			t.Fatal(err)
		}
		st := res.Stats[1]
		if st.RowsLoaded != 1 || st.QuarantinedByReason["malformed_row"] != 1 {
			t.Errorf("loaded %d, quarantined %v; want 1 loaded and line 3 quarantined as malformed_row, as read_csv rejects it",
				st.RowsLoaded, st.QuarantinedByReason)
		}
		if st.RowsQuarantined > 0 {
			if got := readQuarantine(t, filepath.Join(qdir, "attendance.csv")); !strings.HasPrefix(got["3"], "malformed_row") {
				t.Errorf("quarantine %v, want line 3 malformed_row", got)
			}
		}
	})
}

// TestNoFallbackLogOnError: when codeRegularCSV fails outright (here a
// cancelled context), codeAttendance returns the error without logging that
// the general CSV reader reads the file: no reader does.
func TestNoFallbackLogOnError(t *testing.T) {
	conn, _, dir := setup(t)
	if _, err := conn.ExecContext(context.Background(), AttendanceCodeTables); err != nil {
		t.Fatal(err)
	}
	att := write(t, dir, "attendance.csv", "school_urn,upn,session_date,session,mark\n900001,X,2024-09-02,AM,/\n")
	var logBuf bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := codeAttendance(ctx, conn, File{Source: schemas.SourceAttendance, Path: att}, 1,
		Options{Logger: slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err == nil {
		t.Skip("the cancelled read succeeded; nothing to check")
	}
	if strings.Contains(logBuf.String(), "read by the general CSV reader") {
		t.Errorf("codeAttendance failed (%v) yet logged:\n%s", err, logBuf.String())
	}
}

// TestAttendanceFilePastTheLastLine: attendance_codes numbers lines as
// INTEGERs, so a file with more lines than that is refused with its path and
// the first line past the limit, whether it is coded as read or staged as
// text first (here, for a blank line, which the coded reader leaves to the
// general reader; the log says which read it). The limit is lowered to
// three lines for the test.
func TestAttendanceFilePastTheLastLine(t *testing.T) {
	saved := maxAttendanceLine
	maxAttendanceLine = 3
	t.Cleanup(func() { maxAttendanceLine = saved })
	a := schemas.MakeUPN(373, 1)
	for _, tc := range []struct {
		name, afterHeader string
		asText            bool
	}{
		{"coded as read", "", false},
		{"staged as text", "\n", true}, // line 2 blank: the marks are lines 3 to 6
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, tok, dir := setup(t)
			roster := write(t, dir, "roster.csv", fmt.Sprintf("school_urn,upn,year_group\n900001,%s,3\n", a))
			attendance := write(t, dir, "long.csv", "school_urn,upn,session_date,session,mark\n"+tc.afterHeader+strings.Join([]string{
				fmt.Sprintf("900001,%s,2024-09-02,AM,/", a),
				fmt.Sprintf("900001,%s,2024-09-02,PM,/", a),
				fmt.Sprintf("900001,%s,2024-09-03,AM,/", a),
				fmt.Sprintf("900001,%s,2024-09-03,PM,/", a),
			}, "\n")+"\n")
			var logBuf bytes.Buffer
			_, err := LoadWithOptions(context.Background(), conn, []File{{Source: schemas.SourceRoster, Path: roster},
				{Source: schemas.SourceAttendance, Path: attendance}}, tok, filepath.Join(dir, "q"),
				Options{Logger: slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			if err == nil {
				t.Fatal("a file past the last line was loaded")
			}
			if got := strings.Contains(logBuf.String(), "read by the general CSV reader"); got != tc.asText {
				t.Fatalf("read by the general CSV reader: %v, want %v; log:\n%s", got, tc.asText, logBuf.String())
			}
			msg := err.Error()
			for _, want := range []string{"read " + attendance + ": line 4:", "split it"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not say %q", msg, want)
				}
			}
			if strings.Contains(msg, a) {
				t.Errorf("error %q holds a UPN", msg)
			}
		})
	}
}
