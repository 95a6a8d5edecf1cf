package ingest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/outcomes/outcomes/schemas"
)

// After DropStaging no temp type, table or view of the load is left, and
// the same connection loads again (after a committed load, a failed one,
// and one that died inside code_attendance.sql).
func TestDropStagingLeavesNothingAndReloads(t *testing.T) {
	conn, tok, dir := setup(t)
	ctx := context.Background()
	a := schemas.MakeUPN(373, 1)
	roster := write(t, dir, "roster.csv", "school_urn,upn,year_group\n900001,"+a+",3\n")
	regular := write(t, dir, "regular.csv", "school_urn,upn,session_date,session,mark\n900001,"+a+",2024-09-02,AM,/\n900001,"+a+",2024-09-02,AM,O\n,"+a+",2024-09-02,PM,/\n")
	files := []File{{Source: schemas.SourceRoster, Path: roster}, {Source: schemas.SourceAttendance, Path: regular}}

	// The load's enum of reasons is a temp object: nothing of a load may
	// reach the warehouse file.
	where := func() {
		t.Helper()
		var inTemp, elsewhere int
		if err := conn.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE database_name = 'temp'), count(*) FILTER (WHERE database_name <> 'temp')
			FROM duckdb_types() WHERE type_name = 'attendance_failure'`).Scan(&inTemp, &elsewhere); err != nil || inTemp != 1 || elsewhere != 0 {
			t.Errorf("attendance_failure: %d in temp, %d elsewhere (%v); want 1 and 0", inTemp, elsewhere, err)
		}
	}
	left := func(when string) {
		t.Helper()
		rows, err := conn.QueryContext(ctx, `SELECT 'table ' || table_name FROM duckdb_tables() WHERE temporary AND NOT starts_with(table_name, 'cfg_')
			UNION ALL SELECT 'view ' || view_name FROM duckdb_views() WHERE temporary AND NOT internal
			UNION ALL SELECT 'type ' || type_name FROM duckdb_types() WHERE type_name = 'attendance_failure'`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			rows.Scan(&name)
			t.Errorf("%s: DropStaging left %s", when, name)
		}
	}
	res, err := Load(ctx, conn, files, tok, filepath.Join(dir, "q1"))
	if err != nil {
		t.Fatal(err)
	}
	where()
	if err := Commit(ctx, conn, res, "run-1"); err != nil {
		t.Fatal(err)
	}
	DropStaging(conn)
	left("after a committed load")

	// A load that fails once it has validated: its quarantine folder is a file.
	write(t, dir, "regular.csv", "school_urn,upn,session_date,session,mark\n900001,"+a+",2024-09-03,AM,/\n900001,"+a+",2024-09-03,AM,O\n")
	bad := write(t, dir, "q2", "not a folder")
	if _, err := Load(ctx, conn, files, tok, bad); err == nil {
		t.Fatal("a load with a file for its quarantine folder succeeded")
	}
	// As a load cancelled inside code_attendance.sql leaves it.
	if _, err := conn.ExecContext(ctx, "CREATE TEMP TABLE coded_raw_attendance AS SELECT 1 AS file_id"); err != nil {
		t.Fatal(err)
	}
	DropStaging(conn)
	left("after a failed load")
	os.Remove(bad)

	res, err = Load(ctx, conn, files, tok, filepath.Join(dir, "q3"))
	if err != nil {
		t.Fatal(err)
	}
	if err := Commit(ctx, conn, res, "run-3"); err != nil {
		t.Fatal(err)
	}
	if s := res.Stats[1]; s.RowsLoaded != 1 || s.RowsQuarantined != 1 {
		t.Errorf("stats %+v", s)
	}
	DropStaging(conn)
	left("after a reload")

	// Two loads without DropStaging between them (not the contract, but the
	// old tables never stopped it).
	if _, err := Load(ctx, conn, files, tok, filepath.Join(dir, "q4")); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(ctx, conn, files, tok, filepath.Join(dir, "q5")); err != nil {
		t.Errorf("a second load without DropStaging: %v", err)
	}
	DropStaging(conn)
	left("after two loads")
}

// Attendance files with no records, coded in Go and staged as text, load
// nothing and commit.
func TestHeaderOnlyAttendanceFiles(t *testing.T) {
	conn, tok, dir := setup(t)
	ctx := context.Background()
	a := schemas.MakeUPN(373, 1)
	roster := write(t, dir, "roster.csv", "school_urn,upn,year_group\n900001,"+a+",3\n")
	empty := write(t, dir, "empty.csv", "school_urn,upn,session_date,session,mark\n")
	onlyBad := write(t, dir, "onlybad.csv", "school_urn,upn,session_date,session,mark\n900001,"+a+",2024-09-03\n")
	res, err := Load(ctx, conn, []File{{Source: schemas.SourceRoster, Path: roster}, {Source: schemas.SourceAttendance, Path: empty},
		{Source: schemas.SourceAttendance, Path: onlyBad}}, tok, filepath.Join(dir, "q"))
	if err != nil {
		t.Fatal(err)
	}
	defer DropStaging(conn)
	if err := Commit(ctx, conn, res, "run"); err != nil {
		t.Fatal(err)
	}
	if s := res.Stats[2]; s.RowsRead != 1 || s.RowsQuarantined != 1 {
		t.Errorf("stats %+v", s)
	}
}

// Loaded marks are counted as read less those set aside, so Commit checks
// that as many reach sessions: a mark lost between the count and the load
// (here, its session mark's checks gone) fails the run and loads nothing.
func TestCommitRefusesAMarkLostBeforeTheLoad(t *testing.T) {
	conn, tok, dir := setup(t)
	ctx := context.Background()
	a := schemas.MakeUPN(373, 1)
	roster := write(t, dir, "roster.csv", "school_urn,upn,year_group\n900001,"+a+",3\n")
	marks := write(t, dir, "marks.csv", "school_urn,upn,session_date,session,mark\n900001,"+a+",2024-09-02,AM,/\n900001,"+a+",2024-09-02,PM,/\n")
	res, err := Load(ctx, conn, []File{{Source: schemas.SourceRoster, Path: roster}, {Source: schemas.SourceAttendance, Path: marks}}, tok, filepath.Join(dir, "q"))
	if err != nil {
		t.Fatal(err)
	}
	defer DropStaging(conn)
	if got := res.Stats[1].RowsLoaded; got != 2 {
		t.Fatalf("%d marks counted as loaded, want 2", got)
	}
	if _, err := conn.ExecContext(ctx, "DELETE FROM checked_session_marks WHERE session = 'PM'::session_half"); err != nil {
		t.Fatal(err)
	}
	err = Commit(ctx, conn, res, "run")
	if err == nil || !strings.Contains(err.Error(), "2 attendance marks were counted as loaded but 1 were loaded") {
		t.Fatalf("Commit returned %v, want it to refuse the lost mark", err)
	}
	var sessions int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM sessions").Scan(&sessions); err != nil || sessions != 0 {
		t.Errorf("%d sessions in the warehouse after a refused commit (%v), want 0", sessions, err)
	}
}
