package publish_test

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/outcomes/outcomes/pipeline/publish"
	"github.com/outcomes/outcomes/schemas"
)

func i64(v int64) *int64     { return &v }
func f64(v float64) *float64 { return &v }

// mat, school and the rest are the rows of the golden table.
func goldenRows() []schemas.AttendanceRow {
	common := schemas.AttendanceRow{
		TimePeriod: "202425", TimeIdentifier: "Autumn term",
		CountryCode: schemas.CountryCode, CountryName: schemas.CountryName,
		TrustID: "TR0001", TrustName: "Example Learning Trust",
		ProgrammeID: "breakfast", Programme: "Breakfast club",
	}
	school := func(urn, laestab, name string) schemas.AttendanceRow {
		r := common
		r.GeographicLevel = schemas.LevelSchool
		r.OldLACode, r.NewLACode, r.LAName = "330", "E08000025", "Birmingham"
		r.SchoolURN, r.SchoolLAESTAB, r.SchoolName = urn, laestab, name
		return r
	}

	// A normal MAT row: every indicator published.
	mat := common
	mat.GeographicLevel = schemas.LevelMAT
	mat.PupilGroup = schemas.GroupTotal
	mat.Pupils, mat.PupilsLower95, mat.PupilsUpper95 = i64(1240), i64(1235), i64(1245)
	mat.PossibleSessions, mat.PossibleSessionsLower95, mat.PossibleSessionsUpper95 = i64(173600), i64(173500), i64(173700)
	mat.SessionsMissed, mat.SessionsMissedLower95, mat.SessionsMissedUpper95 = i64(11110), i64(11000), i64(11220)
	mat.AuthorisedAbsence, mat.AuthorisedAbsenceLower95, mat.AuthorisedAbsenceUpper95 = i64(8330), i64(8250), i64(8410)
	mat.UnauthorisedAbsence, mat.UnauthorisedAbsenceLower95, mat.UnauthorisedAbsenceUpper95 = i64(2780), i64(2700), i64(2860)
	mat.AttendanceRate, mat.AttendanceRateLower95, mat.AttendanceRateUpper95 = f64(93.6), f64(93.54), f64(93.66)
	mat.OverallAbsenceRate = f64(6.4)
	mat.PersistentAbsentees, mat.PersistentAbsenteesLower95, mat.PersistentAbsenteesUpper95 = i64(210), i64(205), i64(215)
	mat.PersistentAbsenceRate, mat.PersistentAbsenceRateLow95, mat.PersistentAbsenceRateUp95 = f64(16.935), f64(16.5), f64(17.349)

	// A normal School row; the name needs CSV quoting.
	oak := school("100001", "3302001", `Oak Primary, "The Oaks"`)
	oak.PupilGroup = schemas.GroupParticipants
	oak.Pupils, oak.PupilsLower95, oak.PupilsUpper95 = i64(85), i64(80), i64(90)
	oak.PossibleSessions, oak.PossibleSessionsLower95, oak.PossibleSessionsUpper95 = i64(11900), i64(11800), i64(12000)
	oak.SessionsMissed, oak.SessionsMissedLower95, oak.SessionsMissedUpper95 = i64(600), i64(520), i64(680)
	oak.AuthorisedAbsence, oak.AuthorisedAbsenceLower95, oak.AuthorisedAbsenceUpper95 = i64(450), i64(400), i64(500)
	oak.UnauthorisedAbsence, oak.UnauthorisedAbsenceLower95, oak.UnauthorisedAbsenceUpper95 = i64(150), i64(100), i64(200)
	oak.AttendanceRate, oak.AttendanceRateLower95, oak.AttendanceRateUpper95 = f64(94.96), f64(94.3), f64(95.6)
	oak.OverallAbsenceRate = f64(5.04)
	oak.PersistentAbsentees, oak.PersistentAbsenteesLower95, oak.PersistentAbsenteesUpper95 = i64(0), i64(0), i64(5)
	oak.PersistentAbsenceRate, oak.PersistentAbsenceRateLow95, oak.PersistentAbsenceRateUp95 = f64(0), f64(0), f64(5.9)

	// Suppressed: every indicator nil, shown as "c".
	ash := school("100002", "3302002", "Ash Academy")
	ash.PupilGroup = schemas.GroupOthers
	ash.Suppressed = true

	// Not suppressed, but the rates have no denominator: "z".
	elm := school("100003", "3302003", "Elm Infants")
	elm.PupilGroup = schemas.GroupTotal
	elm.Pupils, elm.PupilsLower95, elm.PupilsUpper95 = i64(0), i64(0), i64(5)
	elm.PossibleSessions, elm.PossibleSessionsLower95, elm.PossibleSessionsUpper95 = i64(0), i64(0), i64(100)
	elm.SessionsMissed, elm.SessionsMissedLower95, elm.SessionsMissedUpper95 = i64(0), i64(0), i64(50)
	elm.AuthorisedAbsence, elm.AuthorisedAbsenceLower95, elm.AuthorisedAbsenceUpper95 = i64(0), i64(0), i64(40)
	elm.UnauthorisedAbsence, elm.UnauthorisedAbsenceLower95, elm.UnauthorisedAbsenceUpper95 = i64(0), i64(0), i64(30)
	elm.PersistentAbsentees, elm.PersistentAbsenteesLower95, elm.PersistentAbsenteesUpper95 = i64(0), i64(0), i64(5)

	// A name a spreadsheet would run as a formula.
	formula := school("100004", "3302004", `=HYPERLINK("http://x.example","Beech")`)
	formula.PupilGroup = schemas.GroupTotal
	formula.Pupils, formula.PupilsLower95, formula.PupilsUpper95 = i64(300), i64(295), i64(305)
	formula.PossibleSessions, formula.PossibleSessionsLower95, formula.PossibleSessionsUpper95 = i64(42000), i64(41900), i64(42100)
	formula.SessionsMissed, formula.SessionsMissedLower95, formula.SessionsMissedUpper95 = i64(2100), i64(2000), i64(2200)
	formula.AuthorisedAbsence, formula.AuthorisedAbsenceLower95, formula.AuthorisedAbsenceUpper95 = i64(1500), i64(1450), i64(1550)
	formula.UnauthorisedAbsence, formula.UnauthorisedAbsenceLower95, formula.UnauthorisedAbsenceUpper95 = i64(600), i64(550), i64(650)
	formula.AttendanceRate, formula.AttendanceRateLower95, formula.AttendanceRateUpper95 = f64(95), f64(94.76), f64(95.24)
	formula.OverallAbsenceRate = f64(5)
	formula.PersistentAbsentees, formula.PersistentAbsenteesLower95, formula.PersistentAbsenteesUpper95 = i64(30), i64(25), i64(35)
	formula.PersistentAbsenceRate, formula.PersistentAbsenceRateLow95, formula.PersistentAbsenceRateUp95 = f64(10), f64(8.3), f64(11.7)

	return []schemas.AttendanceRow{mat, oak, ash, elm, formula}
}

func isSuppressed(r schemas.AttendanceRow) bool { return r.Suppressed }

// golden compares got with testdata/name, or rewrites the file when
// UPDATE_GOLDEN=1.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create it)", err)
	}
	if bytes.Equal(got, want) {
		return
	}
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			t.Fatalf("%s differs at line %d:\n got: %q\nwant: %q\n(if the change is intended, run with UPDATE_GOLDEN=1 and review the diff)", path, i+1, gl, wl)
		}
	}
	t.Fatalf("%s differs (line endings or trailing bytes)", path)
}

func readCSV(t *testing.T, b []byte) [][]string {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("published CSV does not parse: %v", err)
	}
	return recs
}

// The published CSV is a contract with everyone who downloads it.
func TestWriteCSVGolden(t *testing.T) {
	var b bytes.Buffer
	if err := publish.WriteCSV(&b, goldenRows(), isSuppressed); err != nil {
		t.Fatal(err)
	}
	golden(t, "attendance.csv.golden", b.Bytes())
}

func TestWriteMetaCSVGolden(t *testing.T) {
	var b bytes.Buffer
	if err := publish.WriteMetaCSV[schemas.AttendanceRow](&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "attendance.meta.csv.golden", b.Bytes())
}

// TestWriteCSVFollowsEES checks the rules the golden file should embody, so a
// regenerated golden cannot quietly bake in a break.
func TestWriteCSVFollowsEES(t *testing.T) {
	rows := goldenRows()
	var b bytes.Buffer
	if err := publish.WriteCSV(&b, rows, isSuppressed); err != nil {
		t.Fatal(err)
	}
	recs := readCSV(t, b.Bytes())
	if len(recs) != len(rows)+1 {
		t.Fatalf("%d records, want a header and %d rows", len(recs), len(rows))
	}
	header := recs[0]
	mandatory := []string{"time_period", "time_identifier", "geographic_level", "country_code", "country_name"}
	if !reflect.DeepEqual(header[:len(mandatory)], mandatory) {
		t.Errorf("header starts %q, want the EES mandatory columns %q", header[:len(mandatory)], mandatory)
	}
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	col := map[string]int{}
	for i, h := range header {
		if !snake.MatchString(h) {
			t.Errorf("column %q is not snake_case", h)
		}
		if _, dup := col[h]; dup {
			t.Errorf("column %q appears twice", h)
		}
		col[h] = i
	}
	if _, ok := col["suppressed"]; ok {
		t.Error("the Suppressed field is published as a column")
	}
	indicators := indicatorColumns(t)

	cell := func(row int, name string) string {
		t.Helper()
		i, ok := col[name]
		if !ok {
			t.Fatalf("no column %q", name)
		}
		return recs[row+1][i]
	}
	tests := []struct {
		row        int
		column     string
		want       string
		whyThisOne string
	}{
		{0, "geographic_level", "MAT", "MAT row"},
		{0, "school_urn", "", "MAT row has no school"},
		{0, "pupils", "1240", "integer indicator"},
		{0, "attendance_rate", "93.6", "rate at 1 dp"},
		{0, "persistent_absence_rate", "16.9", "rate rounded to 1 dp"},
		{0, "persistent_absence_rate_upper95", "17.3", "rate rounded to 1 dp"},
		{1, "geographic_level", "School", "School row"},
		{1, "school_name", `Oak Primary, "The Oaks"`, "comma and quotes survive"},
		{1, "attendance_rate", "95.0", "rate rounded up to 1 dp"},
		{1, "persistent_absentees", "0", "a published zero is not a symbol"},
		{3, "pupils", "0", "a zero count is published"},
		{3, "attendance_rate", schemas.SymbolNotApplicable, "nil rate, not suppressed"},
		{3, "persistent_absence_rate_lower95", schemas.SymbolNotApplicable, "nil rate, not suppressed"},
		{4, "school_name", `'=HYPERLINK("http://x.example","Beech")`, "formula neutralised"},
		{4, "attendance_rate", "95.0", "whole rate keeps its decimal place"},
	}
	for _, tt := range tests {
		if got := cell(tt.row, tt.column); got != tt.want {
			t.Errorf("row %d %s = %q, want %q (%s)", tt.row, tt.column, got, tt.want, tt.whyThisOne)
		}
	}
	// The suppressed row shows "c" in every indicator and its filters as given.
	for _, name := range indicators {
		if got := cell(2, name); got != schemas.SymbolSuppressed {
			t.Errorf("suppressed row %s = %q, want %q", name, got, schemas.SymbolSuppressed)
		}
	}
	if got := cell(2, "school_urn"); got != "100002" {
		t.Errorf("suppressed row school_urn = %q, want 100002", got)
	}
}

// indicatorColumns lists the published names of AttendanceRow's indicators.
func indicatorColumns(t *testing.T) []string {
	t.Helper()
	var out []string
	rt := reflect.TypeFor[schemas.AttendanceRow]()
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		if f.Tag.Get("ees") == "indicator" {
			name, _, _ := strings.Cut(f.Tag.Get("parquet"), ",")
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		t.Fatal("AttendanceRow has no indicators")
	}
	return out
}

func TestWriteCSVNeutralisesFormulae(t *testing.T) {
	tests := []struct{ name, want string }{
		{"=1+1", "'=1+1"},
		{"+44 121", "'+44 121"},
		{"-2", "'-2"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\tTab", "'\tTab"},
		{"\rReturn", "'\rReturn"},
		{"Oak = Ash", "Oak = Ash"},
		{"St Mary's", "St Mary's"},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := schemas.AttendanceRow{TimePeriod: "202425", SchoolName: tt.name, TrustName: tt.name}
			var b bytes.Buffer
			if err := publish.WriteCSV(&b, []schemas.AttendanceRow{row}, isSuppressed); err != nil {
				t.Fatal(err)
			}
			recs := readCSV(t, b.Bytes())
			for i, h := range recs[0] {
				if (h == "school_name" || h == "trust_name") && recs[1][i] != tt.want {
					t.Errorf("%s = %q, want %q", h, recs[1][i], tt.want)
				}
			}
		})
	}
}

// EES: meta.csv describes filters and indicators only; the mandatory time and
// geography columns and the location codes and names are not listed.
func TestWriteMetaCSVListsOnlyFiltersAndIndicators(t *testing.T) {
	var b bytes.Buffer
	if err := publish.WriteMetaCSV[schemas.AttendanceRow](&b); err != nil {
		t.Fatal(err)
	}
	recs := readCSV(t, b.Bytes())
	wantHeader := []string{"col_name", "col_type", "label", "indicator_grouping", "indicator_unit", "indicator_dp", "filter_hint", "filter_grouping_column"}
	if !reflect.DeepEqual(recs[0], wantHeader) {
		t.Fatalf("header %q, want %q", recs[0], wantHeader)
	}
	listed := map[string][]string{}
	for _, r := range recs[1:] {
		listed[r[0]] = r
	}
	for _, name := range []string{"time_period", "time_identifier", "geographic_level", "country_code", "country_name",
		"trust_id", "trust_name", "old_la_code", "new_la_code", "la_name", "school_urn", "school_laestab", "school_name"} {
		if _, ok := listed[name]; ok {
			t.Errorf("meta.csv lists %s, a time or geography column", name)
		}
	}
	for _, name := range []string{"programme_id", "programme", "pupil_group"} {
		if r, ok := listed[name]; !ok || r[1] != "Filter" || r[2] == "" {
			t.Errorf("meta.csv row for filter %s = %q, want a labelled Filter", name, r)
		}
	}
	indicators := indicatorColumns(t)
	for _, name := range indicators {
		r, ok := listed[name]
		if !ok || r[1] != "Indicator" || r[2] == "" {
			t.Errorf("meta.csv row for indicator %s = %q, want a labelled Indicator", name, r)
			continue
		}
		wantUnit, wantDP := "", "0"
		if strings.Contains(name, "rate") {
			wantUnit, wantDP = "%", "1"
		}
		if r[4] != wantUnit || r[5] != wantDP {
			t.Errorf("%s: unit %q dp %q, want %q %q", name, r[4], r[5], wantUnit, wantDP)
		}
	}
	if n := len(recs) - 1; n != 3+len(indicators) {
		t.Errorf("meta.csv has %d rows, want 3 filters and %d indicators", n, len(indicators))
	}
}

func openDuckDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestWriteParquetReadByDuckDB(t *testing.T) {
	rows := goldenRows()
	metadata := map[string]string{
		"outcomes.release_id":      "R1",
		"outcomes.key_fingerprint": "kf-123",
		"outcomes.privacy":         `{"epsilon":1}`,
	}
	var b bytes.Buffer
	if err := publish.WriteParquet(&b, rows, metadata); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "attendance.parquet")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	db := openDuckDB(t)
	ctx := t.Context()

	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM read_parquet(?)", path).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(rows) {
		t.Errorf("%d rows, want %d", n, len(rows))
	}

	var cols []string
	rs, err := db.QueryContext(ctx, "SELECT column_name FROM (DESCRIBE SELECT * FROM read_parquet(?))", path)
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var c string
		if err := rs.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	if err := rs.Close(); err != nil {
		t.Fatal(err)
	}
	var csvBuf bytes.Buffer
	if err := publish.WriteCSV(&csvBuf, rows, isSuppressed); err != nil {
		t.Fatal(err)
	}
	if header := readCSV(t, csvBuf.Bytes())[0]; !reflect.DeepEqual(cols, header) {
		t.Errorf("Parquet columns %q differ from CSV header %q", cols, header)
	}

	type got struct {
		level, urn, name string
		pupils           sql.NullInt64
		rate             sql.NullFloat64
	}
	want := []got{
		{"MAT", "", "", sql.NullInt64{Int64: 1240, Valid: true}, sql.NullFloat64{Float64: 93.6, Valid: true}},
		{"School", "100001", `Oak Primary, "The Oaks"`, sql.NullInt64{Int64: 85, Valid: true}, sql.NullFloat64{Float64: 94.96, Valid: true}},
		{"School", "100002", "Ash Academy", sql.NullInt64{}, sql.NullFloat64{}},
		{"School", "100003", "Elm Infants", sql.NullInt64{Int64: 0, Valid: true}, sql.NullFloat64{}},
		// Parquet is for machines: the name is stored as given.
		{"School", "100004", `=HYPERLINK("http://x.example","Beech")`, sql.NullInt64{Int64: 300, Valid: true}, sql.NullFloat64{Float64: 95, Valid: true}},
	}
	rs, err = db.QueryContext(ctx, `SELECT geographic_level, school_urn, school_name, pupils, attendance_rate
		FROM read_parquet(?) ORDER BY school_urn`, path)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var all []got
	for rs.Next() {
		var g got
		if err := rs.Scan(&g.level, &g.urn, &g.name, &g.pupils, &g.rate); err != nil {
			t.Fatal(err)
		}
		all = append(all, g)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(all, want) {
		t.Errorf("rows read back:\n got %+v\nwant %+v", all, want)
	}

	// A suppressed row is null in every indicator.
	var nonNull int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM (UNPIVOT (SELECT * EXCLUDE (time_period, time_identifier,
		geographic_level, country_code, country_name, trust_id, trust_name, old_la_code, new_la_code, la_name,
		school_urn, school_laestab, school_name, programme_id, programme, pupil_group)
		FROM read_parquet(?) WHERE school_urn = '100002') ON COLUMNS(*) INTO NAME k VALUE v)`, path).Scan(&nonNull); err != nil {
		t.Fatal(err)
	}
	if nonNull != 0 {
		t.Errorf("suppressed row has %d non-null indicators, want 0", nonNull)
	}

	// key and value are BLOBs; decode rather than CAST, which escapes '"' as \x22.
	kv := map[string]string{}
	rs2, err := db.QueryContext(ctx, "SELECT decode(key), decode(value) FROM parquet_kv_metadata(?)", path)
	if err != nil {
		t.Fatal(err)
	}
	defer rs2.Close()
	for rs2.Next() {
		var k, v string
		if err := rs2.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		kv[k] = v
	}
	if err := rs2.Err(); err != nil {
		t.Fatal(err)
	}
	for k, v := range metadata {
		if kv[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, kv[k], v)
		}
	}
}

// The doc promises a reproducible file: metadata is written in key order.
func TestWriteParquetIsReproducible(t *testing.T) {
	metadata := map[string]string{}
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		metadata["outcomes."+k] = k
	}
	var first []byte
	for i := range 5 {
		var b bytes.Buffer
		if err := publish.WriteParquet(&b, goldenRows(), metadata); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = b.Bytes()
		} else if !bytes.Equal(first, b.Bytes()) {
			t.Fatalf("write %d differs from the first", i)
		}
	}
}

var testFiles = []publish.File{
	{Name: "attendance.csv", Rows: 2, Content: []byte("a,b\n1,2\n3,4\n")},
	{Name: "attendance.meta.csv", Content: []byte("col_name\nb\n")},
	{Name: "attendance.parquet", Rows: 2, Content: []byte("PAR1 not really")},
}

func manifest(id string) *publish.Manifest {
	return &publish.Manifest{
		ReleaseID: id, CreatedAt: time.Date(2025, 1, 6, 2, 0, 0, 0, time.UTC),
		CodeVersion: "test", KeyFingerprint: "kf", Fingerprint: "fp-" + id,
		Privacy: publish.Privacy{Epsilon: 1, ScopeEpsilonSpent: map[string]float64{"TR0001/202425": 1}},
	}
}

func mustWrite(t *testing.T, out, id string) string {
	t.Helper()
	dir, err := publish.Write(out, manifest(id), testFiles)
	if err != nil {
		t.Fatalf("write %s: %v", id, err)
	}
	return dir
}

func latest(t *testing.T, out string) string {
	t.Helper()
	id, err := publish.Latest(out)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// noLeftovers fails if a temp folder or link from a write remains.
func noLeftovers(t *testing.T, out string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(out, "releases"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".incomplete-") {
			t.Errorf("temp folder %s left behind", e.Name())
		}
	}
	if _, err := os.Lstat(filepath.Join(out, "latest.new")); err == nil {
		t.Error("latest.new left behind")
	}
}

func TestWritePublishesRelease(t *testing.T) {
	out := t.TempDir()
	if got := latest(t, out); got != "" {
		t.Fatalf("Latest before any release = %q, want empty", got)
	}
	dir := mustWrite(t, out, "R1")
	if want := filepath.Join(out, "releases", "R1"); dir != want {
		t.Errorf("Write returned %s, want %s", dir, want)
	}
	for _, f := range testFiles {
		b, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, f.Content) {
			t.Errorf("%s content %q, want %q", f.Name, b, f.Content)
		}
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o755 {
		t.Errorf("release folder mode %v, want 0755 so readers can open it", perm)
	}

	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m publish.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.ReleaseID != "R1" || m.Fingerprint != "fp-R1" || m.Privacy.ScopeEpsilonSpent["TR0001/202425"] != 1 {
		t.Errorf("manifest = %+v", m)
	}
	var want []publish.Output
	for _, f := range testFiles {
		sum := sha256.Sum256(f.Content)
		want = append(want, publish.Output{Path: f.Name, SHA256: hex.EncodeToString(sum[:]), Rows: f.Rows})
	}
	if !reflect.DeepEqual(m.Outputs, want) {
		t.Errorf("manifest outputs\n got %+v\nwant %+v", m.Outputs, want)
	}

	target, err := os.Readlink(filepath.Join(out, "latest"))
	if err != nil {
		t.Fatalf("latest is not a symlink: %v", err)
	}
	if target != filepath.Join("releases", "R1") {
		t.Errorf("latest -> %s, want releases/R1 (relative, so the folder can move)", target)
	}
	if _, err := os.Stat(filepath.Join(out, "latest", "manifest.json")); err != nil {
		t.Errorf("latest does not resolve: %v", err)
	}
	if got := latest(t, out); got != "R1" {
		t.Errorf("Latest = %q, want R1", got)
	}
	vm, err := publish.Verify(dir)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if vm.ReleaseID != "R1" || len(vm.Outputs) != len(testFiles) {
		t.Errorf("Verify returned %+v", vm)
	}
	noLeftovers(t, out)
}

func TestWriteSortsOutputs(t *testing.T) {
	out := t.TempDir()
	files := []publish.File{testFiles[2], testFiles[0], testFiles[1]}
	dir, err := publish.Write(out, manifest("R1"), files)
	if err != nil {
		t.Fatal(err)
	}
	m, err := publish.Verify(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range m.Outputs {
		if o.Path != testFiles[i].Name {
			t.Errorf("output %d is %s, want %s", i, o.Path, testFiles[i].Name)
		}
	}
}

func TestVerifyDetectsDamage(t *testing.T) {
	tests := []struct {
		name   string
		damage func(dir string) error
	}{
		{"byte changed", func(dir string) error {
			p := filepath.Join(dir, "attendance.csv")
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b[len(b)-2] ^= 1
			return os.WriteFile(p, b, 0o644)
		}},
		{"byte appended", func(dir string) error {
			f, err := os.OpenFile(filepath.Join(dir, "attendance.parquet"), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.Write([]byte{0})
			return err
		}},
		{"file deleted", func(dir string) error { return os.Remove(filepath.Join(dir, "attendance.meta.csv")) }},
		{"manifest deleted", func(dir string) error { return os.Remove(filepath.Join(dir, "manifest.json")) }},
		{"manifest truncated", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(`{"release_id": "R1", "outp`), 0o644)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := mustWrite(t, t.TempDir(), "R1")
			if err := tt.damage(dir); err != nil {
				t.Fatal(err)
			}
			_, err := publish.Verify(dir)
			if !errors.Is(err, publish.ErrIncomplete) {
				t.Errorf("Verify = %v, want ErrIncomplete", err)
			}
		})
	}
}

func TestWriteSecondReleaseMovesLatest(t *testing.T) {
	out := t.TempDir()
	first := mustWrite(t, out, "R1")
	mustWrite(t, out, "R2")
	if got := latest(t, out); got != "R2" {
		t.Errorf("Latest = %q, want R2", got)
	}
	if _, err := publish.Verify(filepath.Join(out, "latest")); err != nil {
		t.Errorf("Verify(latest): %v", err)
	}
	if _, err := publish.Verify(first); err != nil {
		t.Errorf("the earlier release was disturbed: %v", err)
	}
	noLeftovers(t, out)
}

func TestWriteExistingReleaseFails(t *testing.T) {
	out := t.TempDir()
	mustWrite(t, out, "R1")
	mustWrite(t, out, "R2")
	other := []publish.File{{Name: "attendance.csv", Content: []byte("different\n")}}
	if _, err := publish.Write(out, manifest("R1"), other); err == nil {
		t.Fatal("writing R1 again succeeded")
	}
	if got := latest(t, out); got != "R2" {
		t.Errorf("Latest = %q after a refused write, want R2", got)
	}
	m, err := publish.Verify(filepath.Join(out, "releases", "R1"))
	if err != nil {
		t.Fatalf("R1 damaged by a refused write: %v", err)
	}
	if len(m.Outputs) != len(testFiles) {
		t.Errorf("R1 manifest lists %d files, want the original %d", len(m.Outputs), len(testFiles))
	}
	noLeftovers(t, out)
}

func TestWriteFailureLeavesNothingVisible(t *testing.T) {
	tests := []struct {
		name  string
		files []publish.File
	}{
		{"name with a separator", []publish.File{testFiles[0], {Name: "sub/x.csv", Content: []byte("x")}}},
		{"duplicate name", []publish.File{testFiles[0], testFiles[1], testFiles[0]}},
		{"file named manifest.json", []publish.File{testFiles[0], {Name: "manifest.json", Content: []byte("{}")}}},
		{"empty name", []publish.File{testFiles[0], {Name: "", Content: []byte("x")}}},
	}
	for _, tt := range tests {
		for _, prior := range []string{"", "R0"} {
			t.Run(tt.name+"/prior="+prior, func(t *testing.T) {
				out := t.TempDir()
				if prior != "" {
					mustWrite(t, out, prior)
				}
				if _, err := publish.Write(out, manifest("R1"), tt.files); err == nil {
					t.Fatal("Write succeeded")
				}
				if _, err := os.Lstat(filepath.Join(out, "releases", "R1")); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("releases/R1 is visible after a failed write (%v)", err)
				}
				if got := latest(t, out); got != prior {
					t.Errorf("Latest = %q after a failed write, want %q", got, prior)
				}
				noLeftovers(t, out)
				// The id is still free.
				mustWrite(t, out, "R1")
			})
		}
	}
}

// Write should keep every file inside the release folder. A name such as
// "../x.csv" is written beside the releases, survives a failed write, and is
// listed in the manifest as part of the release.
func TestWriteRejectsNamesOutsideRelease(t *testing.T) {
	for _, name := range []string{"../x.csv", "../../x.csv", "sub/../../x.csv"} {
		t.Run(name, func(t *testing.T) {
			out := t.TempDir()
			_, err := publish.Write(out, manifest("R1"), []publish.File{testFiles[0], {Name: name, Content: []byte("x")}})
			if err == nil {
				t.Errorf("Write accepted file name %q", name)
			}
			if _, err := os.Lstat(filepath.Join(out, "releases", "x.csv")); err == nil {
				t.Errorf("file written outside the release folder")
			}
			if _, err := os.Lstat(filepath.Join(out, "x.csv")); err == nil {
				t.Errorf("file written outside the releases folder")
			}
		})
	}
}

func TestLatestWithoutRelease(t *testing.T) {
	for name, out := range map[string]string{
		"empty folder":   t.TempDir(),
		"missing folder": filepath.Join(t.TempDir(), "nope"),
	} {
		id, err := publish.Latest(out)
		if id != "" || err != nil {
			t.Errorf("%s: Latest = %q, %v; want \"\", nil", name, id, err)
		}
	}
}
