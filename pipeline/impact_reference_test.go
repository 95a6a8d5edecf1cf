package pipeline

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/outcomes/outcomes/pipeline/ingest"
	"github.com/outcomes/outcomes/queries"
)

// The impact windows are found in Go, on each pupil's possible sessions
// from pupil_terms (summarise_sessions.sql, impact_sessions.sql,
// transforms/windows), for speed and memory;
// ../queries/testdata/impact_windows_reference.sql is the plain definition
// in SQL (rank every session of the year by its distance from the index date,
// over the sessions table), kept as the reference. These tests build a small
// adversarial warehouse and require both to give the same rows.

// windowsWarehouse builds it: sparse pupils (long gaps), index dates at the
// very start and end of the year, sessions on the index date, not-possible
// codes, sessions on days that are not school days, pupils in two programmes.
func windowsWarehouse(ctx context.Context, t *testing.T, conn *sql.Conn, extra ...string) {
	t.Helper()
	stmts := []string{queries.Get("warehouse_schema"), queries.Get("macros"),
		"CREATE OR REPLACE TEMP TABLE cfg_programmes (programme_id VARCHAR PRIMARY KEY, idx INTEGER)",
		"INSERT INTO cfg_programmes VALUES ('a', 0), ('b', 1)",
		// Three terms; the half term and the weekends are inside them but
		// are not school days here, so sessions there are not possible.
		"CREATE OR REPLACE TEMP TABLE cfg_terms (term_id VARCHAR PRIMARY KEY, start_date DATE, end_date DATE, max_sessions BIGINT, idx INTEGER)",
		`INSERT INTO cfg_terms VALUES ('autumn', DATE '2024-09-02', DATE '2024-12-20', 300, 0), ('spring', DATE '2025-01-06', DATE '2025-04-04', 300, 1),
		 ('summer', DATE '2025-04-22', DATE '2025-07-18', 300, 2)`,
		`CREATE OR REPLACE TEMP TABLE cfg_dates AS SELECT *, ` + ingest.HalfDayColumns + ` FROM (
		   SELECT CAST(d AS DATE) AS session_date, t.term_id, t.idx AS term_idx, t.max_sessions,
		          CAST(CAST(d AS DATE) - t.start_date AS INTEGER) AS day_in_term
		   FROM cfg_terms t, range(t.start_date, t.end_date + 1, INTERVAL 1 DAY) r(d)
		   WHERE isodow(d) <= 5 AND NOT (d BETWEEN DATE '2024-10-28' AND DATE '2024-11-01'))`,
		// As ingest.DefinePartitions does: the autumn term's 110 days.
		"CREATE OR REPLACE TEMP MACRO term_slots() AS 220",
		"CREATE OR REPLACE TEMP TABLE cfg_impact_bands (band_idx INTEGER, lower DOUBLE, upper DOUBLE, no_baseline BOOLEAN)",
		"INSERT INTO cfg_impact_bands VALUES (0, 0, 0.1, false), (1, 0.1, 1.01, false), (2, NULL, NULL, true)",
		"CREATE OR REPLACE TEMP TABLE cfg_impact_periods (period_idx INTEGER, start_date DATE, end_date DATE)",
		"INSERT INTO cfg_impact_periods VALUES (0, DATE '2024-09-01', DATE '2025-08-31')",
		"CREATE OR REPLACE TEMP TABLE cfg_impact_months (programme_idx INTEGER, month_start DATE, month_days INTEGER, cum_lo DOUBLE, cum_hi DOUBLE)",
		`INSERT INTO cfg_impact_months SELECT p, CAST(m AS DATE), 28, i / 11.0, CASE WHEN i = 10 THEN 2 ELSE (i + 1) / 11.0 END
		 FROM range(0, 2) a(p), (SELECT row_number() OVER () - 1 AS i, m FROM range(DATE '2024-09-01', DATE '2025-08-01', INTERVAL 1 MONTH) r(m))`,
		"CREATE OR REPLACE TEMP TABLE cfg_impact_cells (programme_idx INTEGER, school_urn VARCHAR, year_group INTEGER)",
		"INSERT INTO cfg_impact_cells VALUES (0, NULL, NULL), (1, NULL, NULL)",
		`INSERT INTO pupils SELECT i, 'u' || i, NULL, CASE WHEN i % 2 = 0 THEN '900001' ELSE '900002' END, 5 + i % 3, i % 3 = 0, 'N', 'F'
		 FROM range(1, 401) r(i)`,
		// Sessions: density depends on the pupil (some very sparse); a few on weekends (not in cfg_dates).
		`INSERT INTO sessions SELECT 1, i, '900001', CAST(d AS DATE), h::session_half,
		   'P'::attendance_mark,
		   (['P', 'AEA', 'AUTH', 'UNAUTH', 'NPS'])[CAST(1 + hash(i, d, h, 'c') % 5 AS BIGINT)]::attendance_category
		 FROM range(1, 401) r(i), range(DATE '2024-09-02', DATE '2025-07-19', INTERVAL 1 DAY) s(d), (VALUES ('AM'), ('PM')) v(h)
		 WHERE hash(i, d, h) % 100 < CASE i % 7 WHEN 0 THEN 3 WHEN 1 THEN 15 WHEN 2 THEN 60 ELSE 97 END`,
		// Participation: index dates anywhere in the year, some on the first/last days.
		`INSERT INTO participation SELECT 'a', i, 'upn', CASE WHEN i % 11 = 0 THEN DATE '2024-09-02' WHEN i % 13 = 0 THEN DATE '2025-07-18'
		   ELSE DATE '2024-09-02' + CAST(hash(i, 'a') % 320 AS INTEGER) END, 'session', true FROM range(1, 401) r(i) WHERE i % 3 = 0`,
		`INSERT INTO participation SELECT 'b', i, 'upn', DATE '2024-09-02' + CAST(hash(i, 'b') % 320 AS INTEGER), 'session', true
		 FROM range(1, 401) r(i) WHERE i % 4 = 0`,
	}
	stmts = append(stmts, extra...)
	stmts = append(stmts, "SELECT CASE WHEN max(day_in_term) * 2 + 2 <> term_slots() THEN error('term_slots() is not the longest term') END FROM cfg_dates")
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			t.Fatalf("%.200s: %v", s, err)
		}
	}
}

// queryer is a *sql.Conn or a *sql.Tx.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// textRows runs a query of one text column and returns its rows.
func textRows(ctx context.Context, t *testing.T, q queryer, query string) []string {
	t.Helper()
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func windowRows(ctx context.Context, t *testing.T, conn *sql.Conn) []string {
	t.Helper()
	return textRows(ctx, t, conn, `SELECT concat_ws(' ', pupil_key, programme_idx, period_idx, participant, change_bp, change_sq, pa_change, stratum)
		FROM impact_windows ORDER BY ALL`)
}

// compareWithReference builds the warehouse with extra statements and
// compares the windows for each max_programmes_per_pupil: 1 makes the
// participants in two programmes, and the comparison pupils (whom both
// programmes' cells match), keep one chosen by the salted hash.
func compareWithReference(t *testing.T, extra ...string) {
	for _, maxProgrammes := range []int64{1, 2} {
		t.Run(fmt.Sprintf("max_programmes_%d", maxProgrammes), func(t *testing.T) {
			compareWithReferenceAt(t, maxProgrammes, extra...)
		})
	}
}

func compareWithReferenceAt(t *testing.T, maxProgrammes int64, extra ...string) {
	ctx := context.Background()
	conn := memoryConn(t)
	windowsWarehouse(ctx, t, conn, extra...)
	old, err := os.ReadFile("../queries/testdata/impact_windows_reference.sql")
	if err != nil {
		t.Fatal(err)
	}
	p := windowParams{salt: 7, maxProgrammes: maxProgrammes, window: 10, minWindow: 4, maxChange: 3000, minBaseline: 10}
	if _, err := conn.ExecContext(ctx, string(old), p.salt, p.maxProgrammes, p.window, p.minWindow, p.maxChange, p.minBaseline); err != nil {
		t.Fatal(err)
	}
	want := windowRows(ctx, t, conn)
	if len(want) < 50 {
		t.Fatalf("only %d windows", len(want))
	}
	// The summary as a first Commit builds it, from every session.
	for _, q := range []string{"CREATE OR REPLACE TEMP VIEW summary_input AS SELECT * FROM sessions", queries.Get("summarise_sessions")} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := stageParticipants(ctx, conn, p); err != nil {
		t.Fatal(err)
	}
	if err := buildImpactWindows(ctx, conn, p); err != nil {
		t.Fatal(err)
	}
	got := windowRows(ctx, t, conn)
	if !slices.Equal(got, want) {
		var only []string
		for _, g := range got {
			if !slices.Contains(want, g) {
				only = append(only, "new:"+g)
			}
		}
		for _, w := range want {
			if !slices.Contains(got, w) {
				only = append(only, "reference:"+w)
			}
		}
		if len(only) > 10 {
			only = only[:10]
		}
		t.Errorf("%d rows (reference %d); e.g. %s", len(got), len(want), strings.Join(only, "; "))
	}
	t.Logf("%d windows compared", len(want))
}

// TestImpactWindowsMatchTheReference: sparse and dense pupils, index dates
// at the ends of the year, in holidays and on weekends.
func TestImpactWindowsMatchTheReference(t *testing.T) { compareWithReference(t) }

// TestImpactWindowsNegativeKeys: pupil keys are positive today
// (stage_pupils.sql); the windows must not rely on it.
func TestImpactWindowsNegativeKeys(t *testing.T) {
	compareWithReference(t,
		"INSERT INTO pupils SELECT -pupil_key, upn_token || 'n', nhs_token, school_urn, year_group, fsm, sen, gender FROM pupils WHERE pupil_key <= 40",
		"INSERT INTO sessions SELECT file_id, -pupil_key, school_urn, session_date, session, mark, category FROM sessions WHERE pupil_key <= 40",
		"INSERT INTO participation SELECT programme, -pupil_key, linked_by, event_date, event, attended FROM participation WHERE pupil_key <= 40",
	)
}

// TestImpactWindowsAcrossSchools: a pupil who moved school mid-year has
// sessions at two schools in one term; the windows run across both.
func TestImpactWindowsAcrossSchools(t *testing.T) {
	compareWithReference(t,
		"UPDATE sessions SET school_urn = '900002' WHERE pupil_key % 5 = 0 AND session_date >= DATE '2025-02-03'",
	)
}

// memoryConn opens an in-memory DuckDB and pins one connection, as the
// pipeline does: temp tables and macros live on it.
func memoryConn(t *testing.T) *sql.Conn {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestImpactWindowsRefuseBitsThatDisagreeWithCounts: countWindows checks
// each term's words against pupil_terms' counts, so a summary that
// reached it inconsistent (Commit's check bypassed, or the bits misread on
// the way) fails the impact stage instead of giving a wrong window.
func TestImpactWindowsRefuseBitsThatDisagreeWithCounts(t *testing.T) {
	for _, tc := range []struct{ name, corrupt string }{
		{"possible", "UPDATE pupil_terms SET possible = possible + 1 WHERE rowid = (SELECT min(rowid) FROM pupil_terms)"},
		{"attended", "UPDATE pupil_terms SET authorised = authorised + 1 WHERE rowid = (SELECT min(rowid) FROM pupil_terms)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			conn := memoryConn(t)
			windowsWarehouse(ctx, t, conn)
			p := windowParams{salt: 7, maxProgrammes: 2, window: 10, minWindow: 4, maxChange: 3000, minBaseline: 10}
			for _, q := range []string{"CREATE OR REPLACE TEMP VIEW summary_input AS SELECT * FROM sessions", queries.Get("summarise_sessions"), tc.corrupt} {
				if _, err := conn.ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			if err := stageParticipants(ctx, conn, p); err != nil {
				t.Fatal(err)
			}
			err := buildImpactWindows(ctx, conn, p)
			if err == nil || !strings.Contains(err.Error(), "their counts say") {
				t.Fatalf("windows over a summary whose %s count is off: %v, want refused", tc.name, err)
			}
		})
	}
}
