package warehouse

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/outcomes/outcomes/schemas"
)

// TestEnumsMatchTheCodeSet: the warehouse's mark and category enums hold
// exactly schemas.AttendanceCodes and their categories, so every mark that
// passes validation can be stored.
func TestEnumsMatchTheCodeSet(t *testing.T) {
	ctx := context.Background()
	w, err := Open(ctx, filepath.Join(t.TempDir(), "w.duckdb"), Options{MemoryLimit: "1GB", Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	values := func(typ string) []string {
		t.Helper()
		var out []string
		rows, err := w.DB.QueryContext(ctx, "SELECT unnest(enum_range(NULL::"+typ+"))::VARCHAR")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		return out
	}
	var codes, categories []string
	seen := map[schemas.Category]bool{}
	for _, c := range schemas.AttendanceCodes {
		codes = append(codes, c.Code)
		if !seen[c.Category] {
			seen[c.Category] = true
			categories = append(categories, string(c.Category))
		}
	}
	if got := values("attendance_mark"); !reflect.DeepEqual(got, codes) {
		t.Errorf("attendance_mark = %q, want schemas.AttendanceCodes %q", got, codes)
	}
	if got := values("attendance_category"); !reflect.DeepEqual(got, categories) {
		t.Errorf("attendance_category = %q, want %q", got, categories)
	}
}

// TestMigratesVersion8: a warehouse of layout version 8 (strings for a
// session's half-day, mark, category and school) is migrated in place on
// open, through every later version, keeping its sessions, and opens again
// as it is.
func TestMigratesVersion8(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "w.duckdb")
	db, err := sql.Open("duckdb", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE sessions (file_id INTEGER NOT NULL, pupil_key BIGINT NOT NULL, school_urn VARCHAR NOT NULL,
			session_date DATE NOT NULL, session VARCHAR NOT NULL, mark VARCHAR NOT NULL, category VARCHAR NOT NULL)`,
		`INSERT INTO sessions VALUES (1, 7, '900001', DATE '2024-09-02', 'AM', '/', 'P'), (1, 7, '012345', DATE '2024-09-02', 'PM', 'C1', 'AUTH')`,
		"CREATE TABLE schema_version (version INTEGER NOT NULL)",
		"INSERT INTO schema_version VALUES (8)",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	for range 2 {
		w, err := Open(ctx, path, Options{MemoryLimit: "1GB", Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		var v int
		var types, enums, marks, schools string
		if err := w.DB.QueryRowContext(ctx, "SELECT max(version) FROM schema_version").Scan(&v); err != nil {
			t.Fatal(err)
		}
		if err := w.DB.QueryRowContext(ctx, `SELECT string_agg(data_type, ' ' ORDER BY column_index) FROM duckdb_columns()
			WHERE table_name = 'sessions' AND column_name IN ('session', 'mark', 'category')`).Scan(&types); err != nil {
			t.Fatal(err)
		}
		if err := w.DB.QueryRowContext(ctx, `SELECT typeof(NULL::session_half) || ' ' || typeof(NULL::attendance_mark) || ' ' ||
			typeof(NULL::attendance_category)`).Scan(&enums); err != nil {
			t.Fatal(err)
		}
		if err := w.DB.QueryRowContext(ctx, `SELECT string_agg(session || mark || category, ' ' ORDER BY session),
			string_agg(typeof(school_urn) || ' ' || lpad(school_urn::VARCHAR, 6, '0'), ', ' ORDER BY session)
			FROM sessions WHERE category IN ('P', 'AUTH')`).Scan(&marks, &schools); err != nil {
			t.Fatal(err)
		}
		w.Close()
		if v != SchemaVersion || types != enums || marks != "AM/P PMC1AUTH" || schools != "INTEGER 900001, INTEGER 012345" {
			t.Errorf("after open: version %d, types %q, sessions %q, schools %q; want %d, the enums, AM/P PMC1AUTH, INTEGER 900001, INTEGER 012345",
				v, types, marks, schools, SchemaVersion)
		}
	}
}

// TestMigratesVersion11: a warehouse of layout version 11 keeps its summary's
// half days as bitstrings; on open the summary is dropped, created again with
// 64-bit words and its calendar forgotten (the next load rebuilds it from the
// sessions, which stay), and the warehouse opens again as it is.
func TestMigratesVersion11(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "w.duckdb")
	w, err := Open(ctx, path, Options{MemoryLimit: "1GB", Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"DROP TABLE pupil_terms",
		`CREATE TABLE pupil_terms (pupil_key BIGINT NOT NULL, school_urn VARCHAR NOT NULL, term_id VARCHAR NOT NULL,
			possible BIGINT NOT NULL, authorised BIGINT NOT NULL, unauthorised BIGINT NOT NULL,
			possible_days BIT NOT NULL, attended_days BIT NOT NULL)`,
		"INSERT INTO pupil_terms VALUES (7, '900001', '202425-autumn', 2, 1, 0, '11'::BIT, '10'::BIT)",
		"INSERT INTO pupil_terms_calendar VALUES ('the old calendar')",
		"INSERT INTO sessions VALUES (1, 7, 900001, DATE '2024-09-02', 'AM', '/', 'P')",
		"DELETE FROM schema_version",
		"INSERT INTO schema_version VALUES (11)",
	} {
		if _, err := w.DB.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	w.Close()
	for range 2 {
		w, err := Open(ctx, path, Options{MemoryLimit: "1GB", Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		var v, summaries, calendars, sessions int
		var columns string
		if err := w.DB.QueryRowContext(ctx, `SELECT (SELECT max(version) FROM schema_version), (SELECT count(*) FROM pupil_terms),
			(SELECT count(*) FROM pupil_terms_calendar), (SELECT count(*) FROM sessions),
			(SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY column_index) FROM duckdb_columns()
				WHERE table_name = 'pupil_terms' AND column_index > 6)`).Scan(&v, &summaries, &calendars, &sessions, &columns); err != nil {
			t.Fatal(err)
		}
		w.Close()
		want := "possible_w0 UBIGINT, possible_w1 UBIGINT, possible_w2 UBIGINT, possible_w3 UBIGINT, possible_w4 UBIGINT, possible_w5 UBIGINT, " +
			"attended_w0 UBIGINT, attended_w1 UBIGINT, attended_w2 UBIGINT, attended_w3 UBIGINT, attended_w4 UBIGINT, attended_w5 UBIGINT"
		if v != SchemaVersion || summaries != 0 || calendars != 0 || sessions != 1 || columns != want {
			t.Errorf("after open: version %d, %d summary rows, %d calendars, %d sessions, summary words %q; want %d, 0, 0, 1, %q",
				v, summaries, calendars, sessions, columns, SchemaVersion, want)
		}
	}
}
