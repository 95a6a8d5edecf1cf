package queries_test

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/outcomes/outcomes/pipeline/ingest"
	"github.com/outcomes/outcomes/queries"
	"github.com/outcomes/outcomes/schemas"
	"github.com/outcomes/outcomes/transforms/pseudonym"
)

// step is one query as the pipeline runs it: a statement executed for its
// effect, or a SELECT whose rows the pipeline reads.
type step struct {
	name    string
	selects bool
	args    []any
	// prefix goes before the file's text, as the pipeline runs it.
	prefix string
}

// pipelineSteps lists every query in the order the pipeline runs it
// (warehouse.Open, warehouse.Conn, ingest.Load, ingest.Commit, then the
// contributions read). A query file missing here fails TestEveryQueryBinds.
var pipelineSteps = []step{
	{name: "warehouse_schema"},
	{name: "ledger_schema"},
	{name: "macros"},
	// setupStaging: ingest.DefinePartitions, malformed, raw_*, *_tokens.
	{name: "validate_roster"},
	{name: "stage_pupils"},
	// Instead of stage_pupils when the roster is not read again.
	{name: "stage_known_pupils"},
	// Attendance staged as text is coded as regular CSV files are in Go.
	{name: "code_attendance"},
	{name: "validate_attendance"},
	{name: "resolve_attendance"},
	{name: "validate_participation"},
	{name: "count_attendance", selects: true},
	{name: "quarantine_roster", selects: true},
	{name: "quarantine_attendance", selects: true},
	{name: "quarantine_participation", selects: true},
	{name: "load_pupils"},
	{name: "load_pupil_keys"},
	{name: "load_sessions"},
	{name: "load_participation"},
	// ingest.Commit adds the loaded marks to pupil_terms through this view.
	{name: "summarise_sessions", prefix: "CREATE OR REPLACE TEMP VIEW summary_input AS SELECT pupil_key, school_urn, session_date, session, category FROM sessions; "},
	// $1 is the release's salt, $2 max_programmes_per_pupil.
	{name: "contributions", selects: true, args: []any{int64(7), int64(2)}},
	// The impact table (pipeline.runImpact), after setupImpact: $1 salt, $2
	// max_programmes_per_pupil; then (pipeline.buildImpactWindows) the slots,
	// their pupils' sessions, and the measures from the window counts: min
	// window, max change (in hundredths of a point), min baseline sessions.
	{name: "impact_index_dates", selects: true, args: []any{int64(7), int64(1)}},
	{name: "impact_slots", args: []any{int64(7), int64(1)}, prefix: "CREATE OR REPLACE TEMP TABLE impact_slots AS "},
	{name: "impact_sessions", selects: true},
	{name: "impact_windows", args: []any{int64(30), int64(3000), int64(10)}, prefix: "CREATE OR REPLACE TEMP TABLE impact_windows AS "},
	{name: "impact_contributions", selects: true},
}

// setupImpact creates, empty, the public lists pipeline.runImpact defines
// before the impact queries run.
func setupImpact(ctx context.Context, t *testing.T, conn *sql.Conn) {
	t.Helper()
	for _, s := range []string{
		"CREATE OR REPLACE TEMP TABLE cfg_impact_bands (band_idx INTEGER, lower DOUBLE, upper DOUBLE, no_baseline BOOLEAN)",
		"CREATE OR REPLACE TEMP TABLE cfg_impact_periods (period_idx INTEGER, start_date DATE, end_date DATE)",
		"CREATE OR REPLACE TEMP TABLE cfg_impact_months (programme_idx INTEGER, month_start DATE, month_days INTEGER, cum_lo DOUBLE, cum_hi DOUBLE)",
		"CREATE OR REPLACE TEMP TABLE cfg_impact_cells (programme_idx INTEGER, school_urn VARCHAR, year_group INTEGER)",
		"CREATE OR REPLACE TEMP TABLE cfg_impact_breakdowns (cell_idx INTEGER, breakdown VARCHAR, breakdown_value VARCHAR)",
		// pipeline.stageParticipants keeps impact_index_dates.sql's rows in it.
		"CREATE OR REPLACE TEMP TABLE impact_participants (pupil_key BIGINT, programme_idx INTEGER, index_date DATE)",
		// pipeline.countWindows appends to it from Go.
		`CREATE OR REPLACE TEMP TABLE impact_window_counts (pupil_key BIGINT, programme_idx INTEGER, participant BOOLEAN, period_idx INTEGER,
			pre_possible BIGINT, pre_attended BIGINT, post_possible BIGINT, post_attended BIGINT, base_possible BIGINT, base_absent BIGINT)`,
	} {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// openConn opens an in-memory DuckDB and pins one connection, as the
// pipeline does: temp tables and macros live on it.
func openConn(t *testing.T) *sql.Conn {
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

// setupStaging creates, empty, the temp tables ingest.Load has made by the
// time validate_roster runs, with the columns it gives them.
func setupStaging(ctx context.Context, t *testing.T, conn *sql.Conn) {
	t.Helper()
	err := ingest.DefinePartitions(ctx, conn, ingest.Partitions{
		Schools:    []string{"900001", "900002"},
		Terms:      []ingest.Term{{ID: "Autumn term 202425", Start: "2024-09-02", End: "2024-12-20", MaxSessions: 160}},
		Programmes: []string{"mhst", "healthy-eating"},
	})
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{
		"CREATE OR REPLACE TEMP TABLE malformed (source VARCHAR, file VARCHAR, file_id INTEGER, line BIGINT, column_name VARCHAR, error_type VARCHAR)",
		"CREATE OR REPLACE TEMP TABLE replaced_files (file_id INTEGER)",
		"CREATE OR REPLACE TEMP TABLE staged_files (source VARCHAR, file_id INTEGER, file VARCHAR)",
		"CREATE OR REPLACE TEMP TABLE upn_tokens (raw VARCHAR, status VARCHAR, token VARCHAR, link_token VARCHAR)",
		"CREATE OR REPLACE TEMP TABLE nhs_tokens (raw VARCHAR, status VARCHAR, token VARCHAR, link_token VARCHAR)",
		"CREATE OR REPLACE TEMP TABLE demo_tokens (raw VARCHAR, tok_names_dob_postcode VARCHAR, tok_initial_dob_district VARCHAR, " +
			"tok_names_dob VARCHAR, tok_phonetic_dob_sex VARCHAR, tok_forename_dob_postcode VARCHAR)",
		ingest.AttendanceCodeTables,
	}
	for _, src := range []schemas.Source{schemas.SourceRoster, schemas.SourceAttendance, schemas.SourceParticipation} {
		// As ingest.createRaw: file, line, then every column of the contract.
		cols := []string{"file VARCHAR", "file_id INTEGER", "line BIGINT"}
		for _, c := range src.Columns() {
			cols = append(cols, c.Name+" VARCHAR")
		}
		stmts = append(stmts, fmt.Sprintf("CREATE OR REPLACE TEMP TABLE raw_%s (%s)", src, strings.Join(cols, ", ")))
	}
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

type column struct{ name, typ string }

// runStep runs one query and, for a SELECT, returns its columns.
func runStep(ctx context.Context, conn *sql.Conn, s step) ([]column, error) {
	q := s.prefix + queries.Get(s.name)
	if !s.selects {
		_, err := conn.ExecContext(ctx, q, s.args...)
		return nil, err
	}
	return selectColumns(ctx, conn, q, s.args...)
}

// selectColumns runs a SELECT and returns its columns.
func selectColumns(ctx context.Context, conn *sql.Conn, q string, args ...any) ([]column, error) {
	rows, err := conn.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	cols := make([]column, len(types))
	for i, ct := range types {
		cols[i] = column{ct.Name(), ct.DatabaseTypeName()}
	}
	for rows.Next() { // the tables are empty; this only finishes the query
	}
	return cols, rows.Err()
}

// TestEveryQueryBinds runs every query file, in pipeline order, against a
// real DuckDB holding the warehouse schema and the staging tables, so a
// renamed column or table fails here rather than in the nightly run.
func TestEveryQueryBinds(t *testing.T) {
	var listed []string
	for _, s := range pipelineSteps {
		listed = append(listed, s.name)
	}
	sort.Strings(listed)
	if names := queries.Names(); !reflect.DeepEqual(names, listed) {
		t.Fatalf("queries.Names() = %q, but pipelineSteps covers %q: add each new query to pipelineSteps", names, listed)
	}

	ctx := context.Background()
	conn := openConn(t)
	selected := map[string][]column{}
	for _, s := range pipelineSteps {
		if s.name == "validate_roster" {
			setupStaging(ctx, t, conn)
		}
		if s.name == "impact_index_dates" {
			setupImpact(ctx, t, conn)
		}
		cols, err := runStep(ctx, conn, s)
		if err != nil {
			t.Fatalf("%s.sql: %v", s.name, err)
		}
		selected[s.name] = cols
	}

	// The schema runs on every open, so it must apply twice.
	if _, err := conn.ExecContext(ctx, queries.Get("warehouse_schema")); err != nil {
		t.Errorf("warehouse_schema.sql a second time: %v", err)
	}

	// feedContributions reads these columns by position with these Arrow types.
	wantContrib := []column{
		{"pupil_key", "BIGINT"}, {"school_idx", "INTEGER"}, {"term_idx", "INTEGER"}, {"programme_idx", "INTEGER"},
		{"possible", "BIGINT"}, {"authorised", "BIGINT"}, {"unauthorised", "BIGINT"}, {"persistent", "BOOLEAN"},
	}
	if got := selected["contributions"]; !reflect.DeepEqual(got, wantContrib) {
		t.Errorf("contributions columns = %v, want %v", got, wantContrib)
	}
	// pipeline.runImpact and feedImpact read these columns by position (feedImpact as Arrow types).
	wantIndex := []column{{"pupil_key", "BIGINT"}, {"programme_idx", "INTEGER"}, {"index_date", "DATE"}}
	if got := selected["impact_index_dates"]; !reflect.DeepEqual(got, wantIndex) {
		t.Errorf("impact_index_dates columns = %v, want %v", got, wantIndex)
	}
	// pipeline.countWindows reads these by position, the words as unsigned integers.
	wantSessions := []column{{"pupil_key", "BIGINT"}, {"start_date", "DATE"}}
	for _, kind := range []string{"possible", "attended"} {
		for k := range 6 {
			wantSessions = append(wantSessions, column{fmt.Sprintf("%s_w%d", kind, k), "UBIGINT"})
		}
	}
	wantSessions = append(wantSessions, column{"possible", "BIGINT"}, column{"attended", "BIGINT"})
	if got := selected["impact_sessions"]; !reflect.DeepEqual(got, wantSessions) {
		t.Errorf("impact_sessions columns = %v, want %v", got, wantSessions)
	}
	wantImpact := []column{
		{"pupil_key", "BIGINT"}, {"programme_idx", "INTEGER"}, {"period_idx", "INTEGER"}, {"cell_idx", "INTEGER"},
		{"participant", "BOOLEAN"}, {"stratum", "INTEGER"},
		{"change_bp", "BIGINT"}, {"change_sq", "BIGINT"}, {"pa_change", "BIGINT"},
	}
	if got := selected["impact_contributions"]; !reflect.DeepEqual(got, wantImpact) {
		t.Errorf("impact_contributions columns = %v, want %v", got, wantImpact)
	}

	// Quarantine files lead with where and why, and never hold an identifier.
	identifiers := map[string]bool{}
	for _, src := range []schemas.Source{schemas.SourceRoster, schemas.SourceAttendance, schemas.SourceParticipation} {
		for _, c := range src.Columns() {
			if c.Identifier {
				identifiers[c.Name] = true
			}
		}
	}
	for _, name := range []string{"quarantine_roster", "quarantine_attendance", "quarantine_participation"} {
		cols := selected[name]
		var names []string
		for _, c := range cols {
			names = append(names, c.name)
			if identifiers[c.name] {
				t.Errorf("%s.sql selects identifier column %s", name, c.name)
			}
		}
		if len(names) < 5 || !reflect.DeepEqual(names[:5], []string{"file", "line", "column", "reason", "message"}) {
			t.Errorf("%s.sql columns = %q, want file, line, column, reason, message first", name, names)
		}
	}
}

// TestKnownPupilsStageLikeTheRoster: validate_attendance and
// validate_participation read staged_pupils whichever query made it, so
// stage_known_pupils.sql must give it stage_pupils.sql's columns and types.
func TestKnownPupilsStageLikeTheRoster(t *testing.T) {
	ctx := context.Background()
	conn := openConn(t)
	for _, s := range pipelineSteps[:3] { // the schemas and macros
		if _, err := runStep(ctx, conn, s); err != nil {
			t.Fatal(err)
		}
	}
	setupStaging(ctx, t, conn)
	var shapes [2][]column
	for i, queries := range [][]string{{"validate_roster", "stage_pupils"}, {"stage_known_pupils"}} {
		for _, q := range queries {
			if _, err := runStep(ctx, conn, step{name: q}); err != nil {
				t.Fatal(err)
			}
		}
		cols, err := selectColumns(ctx, conn, "SELECT * FROM staged_pupils")
		if err != nil {
			t.Fatal(err)
		}
		shapes[i] = cols
	}
	if !reflect.DeepEqual(shapes[0], shapes[1]) {
		t.Errorf("stage_known_pupils gives %v, stage_pupils %v", shapes[1], shapes[0])
	}
}

// TestQueriesOpenWithADefinition checks that each file opens with a comment
// line, where its definition goes.
func TestQueriesOpenWithADefinition(t *testing.T) {
	names := queries.Names()
	if len(names) == 0 {
		t.Fatal("queries.Names() is empty")
	}
	for _, name := range names {
		first, _, _ := strings.Cut(queries.Get(name), "\n")
		if !strings.HasPrefix(first, "-- ") || strings.TrimSpace(strings.TrimPrefix(first, "--")) == "" {
			t.Errorf("%s.sql opens with %q, want a -- comment giving its definition", name, first)
		}
	}
}

func TestMaskIdentifiers(t *testing.T) {
	ctx := context.Background()
	conn := openConn(t)
	if _, err := conn.ExecContext(ctx, queries.Get("macros")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, in, want string
	}{
		{"permanent UPN", "H801200001001", "[masked]"},
		{"temporary UPN", "H80120000100A", "[masked]"},
		{"lower-case UPN", "h801200001001", "[masked]"},
		{"UPN inside text", "upn H801200001001 in mark column", "upn [masked] in mark column"},
		{"UPN with spaces", "H801 2000 01001", "[masked]"},
		{"NHS number", "9434765919", "[masked]"},
		{"NHS number with spaces", "943 476 5919", "[masked]"},
		{"NHS number with hyphens", "943-476-5919", "[masked]"},
		{"postcode", "S1 2HE", "[masked]"},
		{"long postcode", "SW1A 1AA", "[masked]"},
		{"postcode without a space", "M11AE", "[masked]"},
		{"lower-case postcode", "ls6 3qs", "[masked]"},
		{"postcode inside text", "lives at S10 2TN now", "lives at [masked] now"},
		{"two identifiers", "9434765919 S1 2HE", "[masked] [masked]"},

		{"present mark", "/", "/"},
		{"present mark pm", `\`, `\`},
		{"illness mark", "I", "I"},
		{"C2 mark", "C2", "C2"},
		{"school URN", "900001", "900001"},
		{"date", "2024-09-02", "2024-09-02"},
		{"session", "AM", "AM"},
		{"programme", "healthy-eating", "healthy-eating"},
		{"year group", "R", "R"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		var got sql.NullString
		if err := conn.QueryRowContext(ctx, "SELECT mask_identifiers(?)", tt.in).Scan(&got); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !got.Valid || got.String != tt.want {
			t.Errorf("%s: mask_identifiers(%q) = %q, want %q", tt.name, tt.in, got.String, tt.want)
		}
	}
	var null sql.NullString
	if err := conn.QueryRowContext(ctx, "SELECT mask_identifiers(NULL::VARCHAR)").Scan(&null); err != nil {
		t.Fatal(err)
	}
	if null.Valid {
		t.Errorf("mask_identifiers(NULL) = %q, want NULL", null.String)
	}
}

// TestQueriesRunThroughIngest runs the staging and load queries through
// ingest.Load and ingest.Commit themselves, with no input files, so the temp
// tables are the ones ingest really creates rather than setupStaging's copy.
func TestQueriesRunThroughIngest(t *testing.T) {
	ctx := context.Background()
	conn := openConn(t)
	for _, name := range []string{"warehouse_schema", "ledger_schema", "macros"} {
		if _, err := conn.ExecContext(ctx, queries.Get(name)); err != nil {
			t.Fatalf("%s.sql: %v", name, err)
		}
	}
	if err := ingest.DefinePartitions(ctx, conn, ingest.Partitions{
		Schools:    []string{"900001"},
		Terms:      []ingest.Term{{ID: "Autumn term 202425", Start: "2024-09-02", End: "2024-12-20", MaxSessions: 160}},
		Programmes: []string{"mhst"},
	}); err != nil {
		t.Fatal(err)
	}
	tok, err := pseudonym.New([]byte(strings.Repeat("k", pseudonym.MinKeyBytes)))
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := ingest.Load(ctx, conn, nil, tok, t.TempDir())
	if err != nil {
		t.Fatalf("ingest.Load: %v", err)
	}
	if err := ingest.Commit(ctx, conn, loaded, "test-run"); err != nil {
		t.Fatalf("ingest.Commit: %v", err)
	}
	if _, err := runStep(ctx, conn, step{name: "contributions", selects: true, args: []any{int64(7), int64(1)}}); err != nil {
		t.Fatalf("contributions.sql: %v", err)
	}
	ingest.DropStaging(conn)
}
