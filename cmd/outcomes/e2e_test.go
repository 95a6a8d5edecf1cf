package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/outcomes/outcomes/pipeline/publish"
	"github.com/outcomes/outcomes/schemas"
)

// binary is the real outcomes command, built once for the end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "outcomes-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "outcomes")
	build := exec.Command("go", "build", "-tags", "duckdb_arrow", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build outcomes:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// outcomes runs the binary and returns its exit code, stdout and stderr.
func outcomes(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

func mustRun(t *testing.T, args ...string) (string, string) {
	t.Helper()
	code, out, errOut := outcomes(t, args...)
	if code != 0 {
		t.Fatalf("outcomes %s: exit %d\n%s\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out, errOut
}

// demoTrust makes a small synthetic trust with bad rows and unlinkable
// records, its configuration and key, as `make demo` does.
func demoTrust(t *testing.T, extra ...string) (dir, cfgPath string) {
	t.Helper()
	dir = t.TempDir()
	cfgPath = filepath.Join(dir, "pipeline.toml")
	mustRun(t, append([]string{"fixtures", "--out", filepath.Join(dir, "data"), "--config", cfgPath,
		"--schools", "2", "--pupils", "150", "--bad-rows", "30", "--unlinkable", "8", "--seed", "3"}, extra...)...)
	mustRun(t, "keygen", "--out", filepath.Join(dir, "key"))
	return dir, cfgPath
}

// plantMisplacedIdentifiers appends rows whose identifiers sit in the wrong
// columns, as a mis-mapped export would put them: a pupil's name as a mark,
// an NHS number as a session, a postcode and a date of birth as an event,
// a name as a gender. All must be quarantined without being copied.
func plantMisplacedIdentifiers(t *testing.T, dataDir string) {
	t.Helper()
	f, err := os.Open(filepath.Join(dataDir, "roster.csv"))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	p := recs[1]
	get := func(c string) string { return p[col[c]] }
	appendTo := func(name string, lines ...string) {
		f, err := os.OpenFile(filepath.Join(dataDir, name), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, l := range lines {
			fmt.Fprintln(f, l)
		}
	}
	urn, upn := get("school_urn"), get("upn")
	appendTo("attendance.csv",
		fmt.Sprintf("%s,%s,2024-09-02,AM,%s %s", urn, upn, get("forename"), get("surname")),
		fmt.Sprintf("%s,%s,2024-09-03,%s,/", urn, upn, get("nhs_number")),
		fmt.Sprintf("%s,%s,2024-09-04,%s,/", urn, upn, get("forename")),
		fmt.Sprintf("%s,%s,%s,AM,/", urn, upn, get("date_of_birth")))
	appendTo("participation.csv",
		fmt.Sprintf("mhst,%s,,,,,,,2024-10-01,%s,Y", get("nhs_number"), get("postcode")),
		fmt.Sprintf("%s,%s,,,,,,,2024-10-01,session,Y", get("surname"), get("nhs_number")),
		// names and date of birth misplaced into the event and date columns
		fmt.Sprintf("mhst,,,%s,%s,%s,%s,F,%s,%s %s,Y", get("forename"), get("surname"), get("date_of_birth"), get("postcode"),
			get("date_of_birth"), get("forename"), get("surname")))
	appendTo("roster.csv",
		fmt.Sprintf("%s,%s,3,N,N,%s,%s,%s,%s,%s,%s", urn, schemas.MakeUPN(373, 987_654_321), get("surname"),
			get("date_of_birth"), get("forename"), get("surname"), get("postcode"), schemas.MakeTestNHSNumber(987_654)))
}

// rawIdentifiers collects every identifier in the synthetic inputs: UPNs
// (including the deliberately malformed ones), NHS numbers, dates of birth
// in ISO and UK form, postcodes, and full names.
type rawIdentifiers struct {
	substrings []string // must appear nowhere, not even inside a longer value
	names      []string // forename or surname: must never be a whole value
}

func readIdentifiers(t *testing.T, dataDir string) rawIdentifiers {
	t.Helper()
	var ids rawIdentifiers
	seen := map[string]bool{}
	add := func(list *[]string, v string) {
		v = strings.TrimSpace(v)
		if v != "" && !seen[v] {
			seen[v] = true
			*list = append(*list, v)
		}
	}
	for _, file := range []string{"roster.csv", "attendance.csv", "participation.csv"} {
		f, err := os.Open(filepath.Join(dataDir, file))
		if err != nil {
			t.Fatal(err)
		}
		r := csv.NewReader(f)
		r.FieldsPerRecord = -1
		records, err := r.ReadAll()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		header := records[0]
		for _, rec := range records[1:] {
			row := map[string]string{}
			for i, h := range header {
				if i < len(rec) {
					row[h] = rec[i]
				}
			}
			add(&ids.substrings, row["upn"])
			add(&ids.substrings, row["nhs_number"])
			add(&ids.substrings, row["postcode"])
			if dob := row["date_of_birth"]; dob != "" {
				add(&ids.substrings, dob)
				if len(dob) == 10 {
					add(&ids.substrings, dob[8:10]+"/"+dob[5:7]+"/"+dob[0:4])
				}
			}
			if row["forename"] != "" {
				add(&ids.substrings, row["forename"]+" "+row["surname"])
				add(&ids.names, row["forename"])
				add(&ids.names, row["surname"])
			}
		}
	}
	if len(ids.substrings) < 500 {
		t.Fatalf("only %d identifiers read from the fixtures", len(ids.substrings))
	}
	return ids
}

func (ids rawIdentifiers) scanText(t *testing.T, what, text string) {
	t.Helper()
	for _, v := range ids.substrings {
		if strings.Contains(text, v) {
			t.Errorf("%s contains the raw identifier %q", what, v)
			return
		}
	}
}

// scanDuckDB reads every column of every table of a DuckDB database, or of a
// Parquet file with its key/value metadata, through DuckDB and looks for any
// identifier: as a substring, or a name as a whole value.
func (ids rawIdentifiers) scanDuckDB(t *testing.T, what string, db *sql.DB, tables []string) {
	t.Helper()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "CREATE OR REPLACE TEMP TABLE ids (v VARCHAR, whole BOOLEAN)"); err != nil {
		t.Fatal(err)
	}
	for _, v := range ids.substrings {
		conn.ExecContext(ctx, "INSERT INTO ids VALUES (?, false)", v)
	}
	for _, v := range ids.names {
		conn.ExecContext(ctx, "INSERT INTO ids VALUES (?, true)", v)
	}
	scanned := 0
	for _, table := range tables {
		rows, err := conn.QueryContext(ctx, "DESCRIBE SELECT * FROM "+table)
		if err != nil {
			t.Fatalf("%s: describe %s: %v", what, table, err)
		}
		var cols []string
		names, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(names))
			ptrs := make([]any, len(names))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			rows.Scan(ptrs...)
			cols = append(cols, fmt.Sprint(vals[0]))
		}
		rows.Close()
		for _, c := range cols {
			var hit sql.NullString
			q := fmt.Sprintf(`SELECT any_value(ids.v) FROM (SELECT DISTINCT CAST(%q AS VARCHAR) AS cell FROM %s) t
				JOIN ids ON (NOT ids.whole AND contains(t.cell, ids.v)) OR (ids.whole AND t.cell = ids.v)`, c, table)
			if err := conn.QueryRowContext(ctx, q).Scan(&hit); err != nil {
				t.Fatalf("%s: scan %s.%s: %v", what, table, c, err)
			}
			if hit.Valid {
				t.Errorf("%s: %s.%s contains the raw identifier %q", what, table, c, hit.String)
			}
			scanned++
		}
	}
	if scanned == 0 {
		t.Fatalf("%s: no columns scanned", what)
	}
}

// TestNoRawIdentifierLeaves runs the real binary on fixtures with bad rows and
// scans the warehouse (through DuckDB), every published file (Parquet through
// DuckDB, metadata included), the logs, the quarantine files and the run's
// private summary for every raw identifier in the inputs.
func TestNoRawIdentifierLeaves(t *testing.T) {
	dir, cfgPath := demoTrust(t)
	plantMisplacedIdentifiers(t, filepath.Join(dir, "data"))
	ids := readIdentifiers(t, filepath.Join(dir, "data"))
	// A partner tokenising its file: the tokens file is scanned with the rest below.
	if err := os.MkdirAll(filepath.Join(dir, "partner"), 0o700); err != nil {
		t.Fatal(err)
	}
	stdout, stderr := mustRun(t, "tokens", "--config", cfgPath, "--in", filepath.Join(dir, "data", "participation.csv"),
		"--out", filepath.Join(dir, "partner", "participation.tokens.csv"), "--log-format", "json")
	ids.scanText(t, "tokens stdout", stdout)
	ids.scanText(t, "tokens log (stderr)", stderr)
	stdout, stderr = mustRun(t, "run", "--config", cfgPath, "--log-format", "json")
	ids.scanText(t, "stdout", stdout)
	ids.scanText(t, "the log (stderr)", stderr)
	if !strings.Contains(stderr, `"msg":"published"`) {
		t.Fatalf("no JSON log line for publication:\n%s", stderr)
	}

	// Every file under state and out, as text.
	var files []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && !strings.HasPrefix(p, filepath.Join(dir, "data")) && filepath.Base(p) != "key" {
			files = append(files, p)
			b, _ := os.ReadFile(p)
			ids.scanText(t, p, string(b))
		}
		return nil
	})
	var quarantine []string
	for _, f := range files {
		if strings.Contains(f, string(filepath.Separator)+"quarantine"+string(filepath.Separator)) {
			quarantine = append(quarantine, f)
		}
	}
	if len(quarantine) == 0 {
		t.Fatal("no quarantine file was written although the fixtures have bad rows")
	}
	for _, want := range []string{"participation.tokens.csv", "linkage.json", "summary.json"} {
		found := false
		for _, f := range files {
			found = found || filepath.Base(f) == want
		}
		if !found {
			t.Errorf("no %s was written, so none was scanned", want)
		}
	}

	// The warehouse, every table, through DuckDB.
	wh, err := sql.Open("duckdb", filepath.Join(dir, "state", "warehouse.duckdb")+"?access_mode=read_only")
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	var tables []string
	rows, err := wh.Query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	if len(tables) < 5 {
		t.Fatalf("warehouse has only tables %v", tables)
	}
	ids.scanDuckDB(t, "warehouse", wh, tables)

	// The published Parquet, its rows and key/value metadata, through DuckDB.
	release := filepath.Join(dir, "out", "latest")
	if _, err := publish.Verify(release); err != nil {
		t.Fatalf("latest release does not verify: %v", err)
	}
	mem, _ := sql.Open("duckdb", "")
	defer mem.Close()
	for _, table := range []string{"attendance", "impact"} {
		pq := filepath.Join(release, table+".parquet")
		ids.scanDuckDB(t, "published parquet", mem, []string{
			fmt.Sprintf("read_parquet('%s')", pq),
			fmt.Sprintf("parquet_kv_metadata('%s')", pq),
			fmt.Sprintf("read_csv('%s', all_varchar = true)", filepath.Join(release, table+".csv")),
		})
	}
	for _, q := range quarantine {
		ids.scanDuckDB(t, "quarantine", mem, []string{fmt.Sprintf("read_csv('%s', all_varchar = true)", q)})
	}
}

// TestRunPublishesVerifiableRelease checks the release layout, the manifest's
// accounting and that an unchanged rerun republishes without spending.
func TestRunPublishesVerifiableRelease(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("symlink layout checked on Linux")
	}
	dir, cfgPath := demoTrust(t)
	out, _ := mustRun(t, "run", "--config", cfgPath)
	if !strings.Contains(out, "Published provisional release") || !strings.Contains(out, "Trust-level attendance rate") || !strings.Contains(out, "Impact: change in attendance rate") {
		t.Fatalf("summary missing:\n%s", out)
	}
	m, err := publish.Verify(filepath.Join(dir, "out", "latest"))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, o := range m.Outputs {
		names[o.Path] = true
	}
	for _, want := range []string{"attendance.parquet", "attendance.csv", "attendance.meta.csv", "impact.parquet", "impact.csv", "impact.meta.csv"} {
		if !names[want] {
			t.Errorf("manifest lacks %s: %+v", want, m.Outputs)
		}
	}
	if m.KeyFingerprint == "" || m.Privacy.Epsilon <= 0 || len(m.Privacy.Bounds) != 3 || m.Privacy.MaxPartitionsPerPupil != 12 {
		t.Errorf("manifest privacy section incomplete: %+v", m.Privacy)
	}
	// The measures' epsilons are the release's, split: they add up to it.
	sum := 0.0
	for _, e := range m.Privacy.EpsilonByMeasure {
		sum += e
	}
	if math.Abs(sum-m.Privacy.Epsilon) > 1e-9*m.Privacy.Epsilon {
		t.Errorf("epsilon by measure adds to %v, the release spent %v: %v", sum, m.Privacy.Epsilon, m.Privacy.EpsilonByMeasure)
	}
	if im := m.Privacy.Impact; im == nil || im.MaxMonthsPerPupil != int64(m.Privacy.MaxProgrammesPerPupil) || len(im.ComparisonPools) != 3 {
		t.Errorf("manifest impact privacy section incomplete: %+v", im)
	} else {
		// The demo's programmes run everywhere: empty lists, never null.
		for id, pool := range im.ComparisonPools {
			if pool.Schools == nil || pool.YearGroups == nil || len(pool.Schools)+len(pool.YearGroups) != 0 {
				t.Errorf("comparison pool of %s = %+v, want [] and [] (the whole trust)", id, pool)
			}
		}
	}
	// The published manifest names inputs by hash only: exact row counts are
	// not differentially private. The accounting is in the private summary.
	published, _ := os.ReadFile(filepath.Join(dir, "out", "latest", "manifest.json"))
	if strings.Contains(string(published), "rows_read") || strings.Contains(string(published), "quarantined") {
		t.Errorf("the published manifest carries exact row counts:\n%s", published)
	}
	for _, in := range m.Inputs {
		if in.SHA256 == "" || in.File == "" || strings.Contains(in.File, "/") {
			t.Errorf("published input %+v: want a file name and its hash", in)
		}
	}
	summaryJSON, err := os.ReadFile(filepath.Join(dir, "state", "runs", m.ReleaseID, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var summary struct {
		Inputs []struct {
			Source              string           `json:"source"`
			SHA256              string           `json:"sha256"`
			RowsRead            int64            `json:"rows_read"`
			RowsLoaded          int64            `json:"rows_loaded"`
			RowsQuarantined     int64            `json:"rows_quarantined"`
			RowsDuplicate       int64            `json:"rows_duplicate"`
			QuarantinedByReason map[string]int64 `json:"quarantined_by_reason"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal(summaryJSON, &summary); err != nil || len(summary.Inputs) != 3 {
		t.Fatalf("private summary: %v, %d inputs", err, len(summary.Inputs))
	}
	badRows := int64(0)
	for _, in := range summary.Inputs {
		if in.RowsRead != in.RowsLoaded+in.RowsQuarantined+in.RowsDuplicate {
			t.Errorf("%s: read %d != loaded %d + quarantined %d + duplicate %d", in.Source, in.RowsRead, in.RowsLoaded, in.RowsQuarantined, in.RowsDuplicate)
		}
		if in.Source == "attendance" {
			badRows = in.RowsQuarantined
			for _, reason := range []string{"unknown_mark", "invalid_upn", "pupil_not_on_roster", "invalid_date", "invalid_session", "unknown_school"} {
				if in.QuarantinedByReason[reason] != 5 {
					t.Errorf("quarantined_by_reason[%s] = %d, want 5", reason, in.QuarantinedByReason[reason])
				}
			}
		}
		if in.SHA256 == "" {
			t.Errorf("%s: no input hash", in.Source)
		}
	}
	if badRows != 30 {
		t.Errorf("attendance rows quarantined %d, want the 30 bad rows", badRows)
	}

	// Unchanged inputs: the same release again, no new noise, no spending.
	out2, _ := mustRun(t, "run", "--config", cfgPath)
	if !strings.Contains(out2, "republished release "+m.ReleaseID) {
		t.Errorf("rerun did not republish %s:\n%s", m.ReleaseID, out2)
	}
	budget, _ := mustRun(t, "budget", "--config", cfgPath, "--json")
	var scopes []struct {
		Scope        string  `json:"scope"`
		EpsilonSpent float64 `json:"epsilon_spent"`
		EpsilonCap   float64 `json:"epsilon_cap"`
		Releases     int     `json:"releases"`
	}
	if err := json.Unmarshal([]byte(budget), &scopes); err != nil {
		t.Fatalf("budget --json: %v\n%s", err, budget)
	}
	if len(scopes) != 1 || scopes[0].Releases != 1 || scopes[0].EpsilonSpent != m.Privacy.Epsilon {
		t.Errorf("ledger after a republish: %+v, want one release of epsilon %v", scopes, m.Privacy.Epsilon)
	}
}

// TestCLIErrors checks that mistakes get a plain message and the documented exit code.
func TestCLIErrors(t *testing.T) {
	dir := t.TempDir()
	badCfg := filepath.Join(dir, "bad.toml")
	os.WriteFile(badCfg, []byte("[run]\nstate_dir = \"s\"\nsurprise = 1\n"), 0o600)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no command", nil, ExitUsage, "Usage"},
		{"unknown command", []string{"frobnicate"}, ExitUsage, "unknown command"},
		{"run without config", []string{"run"}, ExitUsage, "--config FILE is required"},
		{"unknown key", []string{"run", "--config", badCfg}, ExitUsage, "unknown key run.surprise"},
		{"missing config", []string{"run", "--config", filepath.Join(dir, "nope.toml")}, ExitUsage, "nope.toml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := outcomes(t, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tt.code, tt.want)
			}
		})
	}
}

// TestFileNamesHoldingIdentifiersAreRefused: an input file's name reaches
// logs, quarantine files, the warehouse and the manifest, so `run` and
// `tokens` refuse a name holding a valid UPN or NHS number before reading
// anything, and say so without quoting it.
func TestFileNamesHoldingIdentifiersAreRefused(t *testing.T) {
	dir, cfgPath := demoTrust(t)
	nhs, upn := schemas.MakeTestNHSNumber(77), schemas.MakeUPN(373, 200100077)
	raw := filepath.Join(dir, "data", "participation.csv")
	named := filepath.Join(dir, "data", "mhst_"+nhs+".csv")
	if err := os.Link(raw, named); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	renamed := filepath.Join(dir, "renamed.toml")
	os.WriteFile(renamed, []byte(strings.Replace(string(b), `"data/roster.csv"`, `"data/roster `+upn+`.csv"`, 1)), 0o600)
	for _, tc := range []struct {
		name, want string
		args       []string
	}{
		{"run", "roster file 1 of the configuration", []string{"run", "--config", renamed}},
		{"tokens", "the --in file", []string{"tokens", "--config", cfgPath, "--in", named, "--out", filepath.Join(dir, "out.csv")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := outcomes(t, tc.args...)
			if code != ExitBadInput || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "holds a pupil's UPN or NHS number") {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, ExitBadInput, tc.want)
			}
			for _, v := range []string{nhs, upn} {
				if strings.Contains(stdout+stderr, v) {
					t.Errorf("the refusal quotes %q: %s", v, stderr)
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); err == nil {
		t.Error("a refused run created the state folder")
	}
}

// TestScheduleFiresAndStopsOnSIGTERM runs `outcomes schedule` with a
// seconds-level spec: it must run the pipeline, then exit cleanly on SIGTERM.
func TestScheduleFiresAndStopsOnSIGTERM(t *testing.T) {
	dir, cfgPath := demoTrust(t)
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), `schedule = "30 2 * * *"`, `schedule = "*/2 * * * * *"`, 1)
	if cfg == string(b) {
		t.Fatal("could not set the schedule in the demo config")
	}
	os.WriteFile(cfgPath, []byte(cfg), 0o600)

	cmd := exec.Command(binary, "schedule", "--config", cfgPath, "--log-format", "json")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(stderr.String(), "scheduled run published") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no scheduled run within 60 s:\n%s", stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("schedule exited with %v after SIGTERM:\n%s", err, stderr.String())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("schedule did not stop within 60 s of SIGTERM:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "schedule stopped") {
		t.Errorf("no clean-stop log line:\n%s", stderr.String())
	}
	if _, err := publish.Verify(filepath.Join(dir, "out", "latest")); err != nil {
		t.Errorf("latest release after the schedule stopped: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestApproveFinalRelease: a final release is staged, shown for review,
// refused without a typed confirmation, and published with the approver's
// name in the manifest and the ledger once approved.
func TestApproveFinalRelease(t *testing.T) {
	dir, cfgPath := demoTrust(t)
	out, _ := mustRun(t, "run", "--config", cfgPath, "--final")
	if !strings.Contains(out, "waits for approval") {
		t.Fatalf("final run output:\n%s", out)
	}
	pending, _ := os.ReadDir(filepath.Join(dir, "out", "pending"))
	if len(pending) != 1 {
		t.Fatalf("pending releases: %v", pending)
	}
	id := pending[0].Name()
	if _, err := os.Lstat(filepath.Join(dir, "out", "latest")); err == nil {
		t.Fatal("latest exists before approval")
	}

	code, review, stderr := outcomes(t, "approve", id, "--by", "Dr A Example", "--config", cfgPath)
	if code != ExitUsage || !strings.Contains(stderr, "--yes") {
		t.Fatalf("approve without a terminal: exit %d, %s", code, stderr)
	}
	for _, want := range []string{"Privacy: epsilon", "suppressed", "Trust-level attendance rate", "clamped to", "Impact table: epsilon", "Impact: change in attendance rate"} {
		if !strings.Contains(review, want) {
			t.Errorf("review lacks %q:\n%s", want, review)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "out", "releases", id)); err == nil {
		t.Fatal("release published without approval")
	}

	out, _ = mustRun(t, "approve", id, "--by", "Dr A Example", "--config", cfgPath, "--yes")
	if !strings.Contains(out, "Approved by Dr A Example") {
		t.Fatalf("approve output:\n%s", out)
	}
	for _, link := range []string{"latest", "final"} {
		m, err := publish.Verify(filepath.Join(dir, "out", link))
		if err != nil {
			t.Fatalf("%s: %v", link, err)
		}
		if m.ReleaseID != id || m.Kind != "final" || m.Approval == nil || m.Approval.By != "Dr A Example" {
			t.Errorf("%s manifest: id %s kind %s approval %+v", link, m.ReleaseID, m.Kind, m.Approval)
		}
	}
	wh, err := sql.Open("duckdb", filepath.Join(dir, "state", "ledger.duckdb")+"?access_mode=read_only")
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	var by, state string
	if err := wh.QueryRow("SELECT a.approved_by, l.state FROM approvals a JOIN privacy_ledger l USING (release_id) WHERE release_id = ?", id).Scan(&by, &state); err != nil {
		t.Fatal(err)
	}
	if by != "Dr A Example" || state != "published" {
		t.Errorf("ledger: approved_by %q state %q", by, state)
	}
	if code, _, stderr := outcomes(t, "approve", id, "--by", "Someone Else", "--config", cfgPath, "--yes"); code == 0 {
		t.Errorf("a published release was approved twice: %s", stderr)
	}
}

// TestPublishedCSVFollowsEESConventions checks the published CSV the way the
// EES data screener does: mandatory columns first, time_period as a
// six-digit academic year of consecutive years, known time identifiers and
// geographic levels with their location columns filled, no blank indicator
// (a GSS symbol instead), and a metadata row for every other column.
func TestPublishedCSVFollowsEESConventions(t *testing.T) {
	dir, cfgPath := demoTrust(t)
	mustRun(t, "run", "--config", cfgPath)
	read := func(name string) [][]string {
		f, err := os.Open(filepath.Join(dir, "out", "latest", name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		recs, err := csv.NewReader(f).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	// The attendance table and the impact table follow the same conventions.
	for _, table := range []string{"attendance", "impact"} {
		t.Run(table, func(t *testing.T) {
			data, meta := read(table+".csv"), read(table+".meta.csv")
			header := data[0]
			mandatory := []string{"time_period", "time_identifier", "geographic_level", "country_code", "country_name"}
			for i, m := range mandatory {
				if header[i] != m {
					t.Fatalf("column %d is %q, want %q (header %v)", i, header[i], m, header)
				}
			}
			location := map[string]bool{"trust_id": true, "trust_name": true, "old_la_code": true, "new_la_code": true,
				"la_name": true, "school_urn": true, "school_laestab": true, "school_name": true}
			described := map[string]string{}
			for _, r := range meta[1:] {
				described[r[0]] = r[1]
			}
			for _, h := range header {
				if h != strings.ToLower(h) || strings.ContainsAny(h, " -") {
					t.Errorf("column %q is not snake_case", h)
				}
				isMandatory := false
				for _, m := range mandatory {
					isMandatory = isMandatory || h == m
				}
				if !isMandatory && !location[h] && described[h] == "" {
					t.Errorf("column %q has no row in %s.meta.csv", h, table)
				}
				if (isMandatory || location[h]) && described[h] != "" {
					t.Errorf("time or geography column %q is listed in %s.meta.csv", h, table)
				}
			}
			col := map[string]int{}
			for i, h := range header {
				col[h] = i
			}
			identifiers := map[string]bool{"Autumn term": true, "Spring term": true, "Summer term": true, "Academic year": true, "Financial year": true}
			for n, r := range data[1:] {
				line := n + 2
				tp := r[col["time_period"]]
				if len(tp) != 6 || (tp[2:4] == "99" && tp[4:] != "00") || (atoi(tp[2:4])+1)%100 != atoi(tp[4:]) {
					t.Errorf("line %d: time_period %q is not a six-digit academic year", line, tp)
				}
				if !identifiers[r[col["time_identifier"]]] {
					t.Errorf("line %d: time_identifier %q", line, r[col["time_identifier"]])
				}
				if r[col["country_code"]] != "E92000001" || r[col["country_name"]] != "England" {
					t.Errorf("line %d: country %q %q", line, r[col["country_code"]], r[col["country_name"]])
				}
				switch r[col["geographic_level"]] {
				case "MAT":
					if r[col["trust_id"]] == "" || r[col["trust_name"]] == "" {
						t.Errorf("line %d: MAT row without trust_id and trust_name", line)
					}
				case "School":
					for _, c := range []string{"school_urn", "school_name", "school_laestab", "new_la_code", "la_name", "old_la_code"} {
						if r[col[c]] == "" {
							t.Errorf("line %d: School row with no %s", line, c)
						}
					}
				default:
					t.Errorf("line %d: geographic_level %q", line, r[col["geographic_level"]])
				}
				for h, kind := range described {
					if kind == "Indicator" && r[col[h]] == "" {
						t.Errorf("line %d: indicator %s is blank; EES wants a value or a symbol", line, h)
					}
				}
			}

		})
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// TestApproveByTypingTheID drives approve on a pseudo-terminal (util-linux
// script): a wrong answer publishes nothing, the release id approves.
func TestApproveByTypingTheID(t *testing.T) {
	scriptPath, err := exec.LookPath("script")
	if err != nil {
		t.Skip("no script(1) to give approve a terminal")
	}
	dir, cfgPath := demoTrust(t)
	mustRun(t, "run", "--config", cfgPath, "--final")
	pending, _ := os.ReadDir(filepath.Join(dir, "out", "pending"))
	if len(pending) != 1 {
		t.Fatalf("pending: %v", pending)
	}
	id := pending[0].Name()
	approve := func(answer string) string {
		cmd := exec.Command(scriptPath, "-q", "-e", "-c", fmt.Sprintf("%s approve %s --by Tester --config %s", binary, id, cfgPath), "/dev/null")
		cmd.Stdin = strings.NewReader(answer + "\n")
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	if out := approve("not-the-id"); !strings.Contains(out, "not approved") {
		t.Fatalf("wrong answer:\n%s", out)
	}
	if _, err := os.Lstat(filepath.Join(dir, "out", "releases", id)); err == nil {
		t.Fatal("published after a wrong answer")
	}
	if out := approve(id); !strings.Contains(out, "Approved by Tester") {
		t.Fatalf("typed id:\n%s", out)
	}
	if _, err := publish.Verify(filepath.Join(dir, "out", "final")); err != nil {
		t.Fatal(err)
	}
}

// TestSecondRunMeetsTheLock starts two runs on one state folder at once: one
// runs, the other exits with the lock message and code.
func TestSecondRunMeetsTheLock(t *testing.T) {
	_, cfgPath := demoTrust(t)
	first := exec.Command(binary, "run", "--config", cfgPath)
	var firstErr syncBuffer
	first.Stderr = &firstErr
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the first run holds the lock (it logs after taking it).
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(firstErr.String(), "run started") {
		if time.Now().After(deadline) {
			first.Process.Kill()
			t.Fatalf("first run never started:\n%s", firstErr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	code, _, stderr := outcomes(t, "run", "--config", cfgPath)
	if err := first.Wait(); err != nil {
		t.Fatalf("first run: %v\n%s", err, firstErr.String())
	}
	if code == 0 {
		t.Skip("the first run finished before the second started; nothing to check on this machine")
	}
	if code != ExitLocked || !strings.Contains(stderr, "another outcomes process") || !strings.Contains(stderr, "since") {
		t.Errorf("second run: exit %d, %q; want exit %d naming the holder and since when", code, stderr, ExitLocked)
	}
}

// TestKilledRunsLeaveConsistentState kills `outcomes run` with SIGKILL just
// after each stage's log line (so inside the next stage), reruns it, and
// checks every time that the warehouse opens, the ledger is consistent with
// the releases, latest names a complete release whose manifest verifies, and
// no partial release is visible.
func TestKilledRunsLeaveConsistentState(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "pipeline.toml")
	mustRun(t, "fixtures", "--out", filepath.Join(dir, "data"), "--config", cfgPath, "--schools", "4", "--pupils", "300", "--seed", "9")
	mustRun(t, "keygen", "--out", filepath.Join(dir, "key"))
	mustRun(t, "run", "--config", cfgPath) // a good release to protect
	markers := []string{
		`"msg":"run started"`,
		`"stage":"read roster roster.csv"`,
		`"stage":"read attendance attendance.csv"`,
		`"stage":"tokenise"`,
		`"stage":"validate_roster"`,
		`"stage":"validate_attendance"`,
		`"stage":"count and quarantine"`,
		`"msg":"warehouse loaded"`,
		`"msg":"noise drawn"`,
	}
	participation := filepath.Join(dir, "data", "participation.csv")
	attendance := filepath.Join(dir, "data", "attendance.csv")
	att, _ := os.ReadFile(attendance)
	firstMark := strings.SplitN(string(att), "\n", 3)[1]
	killedInside := 0
	for i, marker := range markers {
		// New inputs each time, so every run must read, draw and publish
		// afresh: one more participation record, and a repeated mark (a
		// duplicate) so the attendance file changes too.
		f, _ := os.OpenFile(participation, os.O_APPEND|os.O_WRONLY, 0)
		fmt.Fprintf(f, "mhst,%s,,,,,,,2024-11-%02d,referral,N\n", "999"+fmt.Sprintf("%07d", 9_000_000+i), 1+i)
		f.Close()
		f, _ = os.OpenFile(attendance, os.O_APPEND|os.O_WRONLY, 0)
		fmt.Fprintln(f, firstMark)
		f.Close()

		spentBefore := ledgerRows(t, dir)
		cmd := exec.Command(binary, "run", "--config", cfgPath, "--log-format", "json")
		cmd.Env = append(os.Environ(), "OUTCOMES_DEBUG=1")
		var stderr syncBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		var err error
	wait:
		for {
			select {
			case err = <-exited: // finished before the marker: nothing to kill
				break wait
			case <-time.After(time.Millisecond):
				if strings.Contains(stderr.String(), marker) {
					cmd.Process.Kill()
					err = <-exited
					break wait
				}
			}
		}
		if err != nil {
			killedInside++
		} else {
			t.Logf("the run finished before %s", marker)
		}
		// Killed after the noise was drawn: its spending stays in the ledger.
		if strings.Contains(marker, "noise drawn") && ledgerRows(t, dir) != spentBefore+1 {
			t.Errorf("killed after drawing noise: ledger has %d releases, want %d", ledgerRows(t, dir), spentBefore+1)
		}
		checkConsistent(t, dir, cfgPath, marker)
	}
	if killedInside < len(markers) {
		t.Errorf("only %d of %d runs were killed before finishing", killedInside, len(markers))
	}
	// And the state still works: a clean run publishes.
	out, _ := mustRun(t, "run", "--config", cfgPath)
	if !strings.Contains(out, "Published") {
		t.Errorf("run after the kills:\n%s", out)
	}
	checkConsistent(t, dir, cfgPath, "the final clean run")
}

func ledgerRows(t *testing.T, dir string) int {
	t.Helper()
	wh, err := sql.Open("duckdb", filepath.Join(dir, "state", "ledger.duckdb")+"?access_mode=read_only")
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	var n int
	if err := wh.QueryRow("SELECT count(*) FROM privacy_ledger").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func checkConsistent(t *testing.T, dir, cfgPath, when string) {
	t.Helper()
	out := filepath.Join(dir, "out")
	m, err := publish.Verify(filepath.Join(out, "latest"))
	if err != nil {
		t.Fatalf("after a kill at %s: latest does not verify: %v", when, err)
	}
	// The warehouse opens (through the program, read and write) and its
	// ledger agrees with the release folders.
	code, stdout, stderr := outcomes(t, "status", "--config", cfgPath, "--json")
	if code != 0 {
		t.Fatalf("after a kill at %s: status: exit %d %s", when, code, stderr)
	}
	var status struct {
		Latest string `json:"latest_release"`
	}
	if err := json.Unmarshal([]byte(stdout), &status); err != nil || status.Latest != m.ReleaseID {
		t.Fatalf("after a kill at %s: status %v %q, latest %s", when, err, status.Latest, m.ReleaseID)
	}
	wh, err := sql.Open("duckdb", filepath.Join(dir, "state", "ledger.duckdb")+"?access_mode=read_only")
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	// The warehouse opens too.
	wdb, err := sql.Open("duckdb", filepath.Join(dir, "state", "warehouse.duckdb")+"?access_mode=read_only")
	if err != nil {
		t.Fatal(err)
	}
	var sessions int64
	if err := wdb.QueryRow("SELECT count(*) FROM sessions").Scan(&sessions); err != nil {
		t.Errorf("after a kill at %s: warehouse: %v", when, err)
	}
	wdb.Close()
	rows, err := wh.Query("SELECT release_id, state FROM privacy_ledger")
	if err != nil {
		t.Fatalf("after a kill at %s: ledger: %v", when, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, state string
		rows.Scan(&id, &state)
		_, statErr := os.Stat(filepath.Join(out, "releases", id))
		switch state {
		case "published":
			if _, err := publish.Verify(filepath.Join(out, "releases", id)); err != nil {
				t.Errorf("after a kill at %s: ledger says %s is published but: %v", when, id, err)
			}
		case "drawn":
			// Spent, and either never written or written but not yet marked:
			// if its folder exists it must be complete.
			if statErr == nil {
				if _, err := publish.Verify(filepath.Join(out, "releases", id)); err != nil {
					t.Errorf("after a kill at %s: drawn release %s is visible but incomplete: %v", when, id, err)
				}
			}
		default:
			t.Errorf("after a kill at %s: ledger state %q for %s", when, state, id)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(out, "releases"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue // hidden temp folder of the killed run; the next run clears it
		}
		if _, err := publish.Verify(filepath.Join(out, "releases", e.Name())); err != nil {
			t.Errorf("after a kill at %s: visible release %s is incomplete: %v", when, e.Name(), err)
		}
	}
}

// TestMachineProblemsGetPlainMessages: a missing key, a missing input file and
// an output folder that cannot be written each fail early with a message that
// names the path and the documented exit code.
func TestMachineProblemsGetPlainMessages(t *testing.T) {
	tests := []struct {
		name  string
		setup func(dir, cfgPath string)
		code  int
		want  []string
	}{
		{"missing key", func(dir, _ string) { os.Remove(filepath.Join(dir, "key")) }, ExitUsage,
			[]string{"key file", "does not exist", "outcomes keygen"}},
		{"missing input", func(dir, _ string) { os.Remove(filepath.Join(dir, "data", "attendance.csv")) }, ExitBadInput,
			[]string{"attendance.csv", "no such file"}},
		{"output folder is a file", func(dir, _ string) { os.WriteFile(filepath.Join(dir, "out"), []byte("x"), 0o644) }, ExitUsage,
			[]string{"output folder (run.output_dir)", "cannot be written", "nothing was run"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, cfgPath := demoTrust(t)
			tt.setup(dir, cfgPath)
			code, _, stderr := outcomes(t, "run", "--config", cfgPath)
			if code != tt.code {
				t.Errorf("exit %d, want %d: %s", code, tt.code, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("message %q lacks %q", stderr, w)
				}
			}
		})
	}
}

func TestHints(t *testing.T) {
	if h := hint(fmt.Errorf("write release: %w", syscall.ENOSPC)); !strings.Contains(h, "disk is full") {
		t.Errorf("ENOSPC hint %q", h)
	}
	if h := hint(errors.New("IO Error: Could not write file: No space left on device")); !strings.Contains(h, "disk is full") {
		t.Errorf("DuckDB disk-full hint %q", h)
	}
	if h := hint(errors.New("something else")); h != "" {
		t.Errorf("unexpected hint %q", h)
	}
}

// TestQueryReadsOnlyTheRelease: the README's example queries answer on a
// release, and a query can reach neither the warehouse nor any other file.
func TestQueryReadsOnlyTheRelease(t *testing.T) {
	dir, cfgPath := demoTrust(t)
	mustRun(t, "run", "--config", cfgPath)
	list, _ := mustRun(t, "query", "--list")
	for _, name := range []string{"attendance-by-programme", "persistent-absence", "schools", "impact"} {
		if !strings.Contains(list, name) {
			t.Errorf("--list lacks %s:\n%s", name, list)
		}
		out, _ := mustRun(t, "query", name, "--config", cfgPath, "--format", "csv")
		if lines := strings.Count(out, "\n"); lines < 4 {
			t.Errorf("%s gave %d lines:\n%s", name, lines, out)
		}
	}
	out, _ := mustRun(t, "query", "attendance-by-programme", "--config", cfgPath, "--programme", "mhst", "--format", "json")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 6 {
		t.Fatalf("mhst at trust level: %v, %d rows, want 3 terms x 2 groups", err, len(rows))
	}
	for _, r := range rows {
		if r["programme"] != "Mental health support team" || r["geographic_level"] != "MAT" {
			t.Errorf("row %v", r)
		}
	}
	// The README's free-SQL example.
	out, _ = mustRun(t, "query", "--config", cfgPath,
		"SELECT programme, pupil_group, avg(attendance_rate) FROM attendance WHERE geographic_level = 'MAT' GROUP BY ALL")
	if !strings.Contains(out, "(7 rows)") {
		t.Errorf("README example: want Total plus 3 programmes x 2 groups:\n%s", out)
	}
	out, _ = mustRun(t, "query", "--config", cfgPath, `SELECT count(*) AS n FROM attendance WHERE geographic_level = 'School'`)
	if !strings.Contains(out, "42") { // 2 schools x 3 terms x (Total + 3 programmes x 2 groups)
		t.Errorf("table output:\n%s", out)
	}

	warehouse := filepath.Join(dir, "state", "warehouse.duckdb")
	for _, q := range []string{
		fmt.Sprintf("ATTACH '%s' AS w", warehouse),
		fmt.Sprintf("SELECT * FROM read_parquet('%s')", warehouse),
		fmt.Sprintf("SELECT * FROM read_csv('%s')", filepath.Join(dir, "data", "roster.csv")),
		"SELECT * FROM read_text('/etc/hostname')",
		fmt.Sprintf("COPY attendance TO '%s'", filepath.Join(dir, "out", "latest", "extra.csv")),
		"SET enable_external_access = true",
		"INSTALL httpfs",
	} {
		code, _, stderr := outcomes(t, "query", "--config", cfgPath, q)
		if code != ExitUsage || !strings.Contains(stderr, "the query failed") {
			t.Errorf("%s: exit %d, %s; want refused", q, code, stderr)
		}
	}
	if _, err := publish.Verify(filepath.Join(dir, "out", "latest")); err != nil {
		t.Errorf("the release changed under queries: %v", err)
	}
	code, _, stderr := outcomes(t, "query", "--config", cfgPath, "SELEC 1")
	if code != ExitUsage || !strings.Contains(stderr, "syntax error") || !strings.Contains(stderr, "query: SELEC 1") {
		t.Errorf("bad SQL: exit %d, %s", code, stderr)
	}
}

// TestApproveCanBeRetried: an approval whose publication failed (here the
// releases path is a file) is recorded, and approving again after the
// problem is fixed publishes the release.
func TestApproveCanBeRetried(t *testing.T) {
	dir, cfgPath := demoTrust(t)
	mustRun(t, "run", "--config", cfgPath, "--final")
	pending, _ := os.ReadDir(filepath.Join(dir, "out", "pending"))
	id := pending[0].Name()
	blocker := filepath.Join(dir, "out", "releases")
	os.RemoveAll(blocker)
	os.WriteFile(blocker, []byte("x"), 0o644)
	if code, _, _ := outcomes(t, "approve", id, "--by", "Tester", "--config", cfgPath, "--yes"); code == 0 {
		t.Fatal("approve succeeded although releases/ is a file")
	}
	os.Remove(blocker)
	mustRun(t, "approve", id, "--by", "Tester", "--config", cfgPath, "--yes")
	m, err := publish.Verify(filepath.Join(dir, "out", "final"))
	if err != nil || m.ReleaseID != id || m.Approval == nil {
		t.Fatalf("after the retry: %v %+v", err, m)
	}
}

// chromium finds Debian's Chromium; CI installs it (.ci/run), so there a
// missing browser fails the test instead of skipping it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no Chromium: .ci/run should have installed Debian's chromium")
	}
	t.Skip("no Chromium on this machine (apt-get install chromium)")
	return ""
}

// TestReportRendersInABrowser opens the demo-shaped release's report in
// headless Chromium: the headline figures from the published table are in the
// rendered page, every chart is there as SVG with its text alternative, and
// a screenshot is saved (OUTCOMES_SCREENSHOT names where; a temp file otherwise).
func TestReportRendersInABrowser(t *testing.T) {
	browser := chromium(t)
	// Epsilon 8, as in make demo: at 2, half of which goes to the impact
	// table, this small trust's participant rows are mostly suppressed.
	dir, cfgPath := demoTrust(t, "--epsilon", "8")
	mustRun(t, "run", "--config", cfgPath)
	report := filepath.Join(dir, "out", "latest", "report.html")
	real, err := filepath.EvalSymlinks(report)
	if err != nil {
		t.Fatal(err)
	}
	flags := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + filepath.Join(t.TempDir(), "profile")}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dom, err := exec.CommandContext(ctx, browser, append(flags, "--dump-dom", "file://"+real)...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	page := string(dom)
	// The headline rows: each programme and its participants' autumn rate as
	// published in attendance.csv.
	out, _ := mustRun(t, "query", "attendance-by-programme", "--config", cfgPath, "--format", "json")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, r := range rows {
		if r["pupil_group"] != "Participants" || r["attendance_rate"] == nil {
			continue
		}
		want := fmt.Sprintf("%.1f%%", r["attendance_rate"].(float64))
		if !strings.Contains(page, want) || !strings.Contains(page, r["programme"].(string)) {
			t.Errorf("rendered report lacks %s for %s", want, r["programme"])
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no published participant rates to look for")
	}
	if n := strings.Count(page, "<svg"); n < 4 {
		t.Errorf("rendered report has %d charts, want one per programme and one overall", n)
	}
	for _, want := range []string{"<h1>Attendance and health programmes</h1>", "Headlines", "How to read these numbers", `role="img"`, "aria-label=", "epsilon",
		"Did attendance change for pupils who took part?"} {
		if !strings.Contains(page, want) {
			t.Errorf("rendered report lacks %q", want)
		}
	}
	shot := os.Getenv("OUTCOMES_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(t.TempDir(), "report.png")
	}
	if err := exec.CommandContext(ctx, browser, append(flags, "--window-size=1200,2400", "--screenshot="+shot, "file://"+real)...).Run(); err != nil {
		t.Fatalf("chromium --screenshot: %v", err)
	}
	if info, err := os.Stat(shot); err != nil || info.Size() < 10_000 {
		t.Fatalf("screenshot %s: %v", shot, err)
	}
	t.Logf("screenshot saved to %s", shot)
}

// TestApproveResumesAfterTheMove: an approval that moved the release into
// releases/ but could not point latest at it is finished by approving again
// (under the first approver's name), and meanwhile a final run on the same
// inputs draws no new noise.
func TestApproveResumesAfterTheMove(t *testing.T) {
	dir, cfgPath := demoTrust(t)
	mustRun(t, "run", "--config", cfgPath, "--final")
	pending, _ := os.ReadDir(filepath.Join(dir, "out", "pending"))
	id := pending[0].Name()
	blocker := filepath.Join(dir, "out", "latest.new", "x")
	os.MkdirAll(blocker, 0o755)
	if code, _, _ := outcomes(t, "approve", id, "--by", "First Approver", "--config", cfgPath, "--yes"); code == 0 {
		t.Fatal("approve succeeded although latest could not be moved")
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "releases", id)); err != nil {
		t.Fatalf("the release was not moved before the failure: %v", err)
	}
	out, _ := mustRun(t, "run", "--config", cfgPath, "--final")
	if !strings.Contains(out, id) || !strings.Contains(out, "waits for approval") {
		t.Errorf("a final run during the failed approval drew again:\n%s", out)
	}
	os.RemoveAll(filepath.Join(dir, "out", "latest.new"))
	mustRun(t, "approve", id, "--by", "Second Approver", "--config", cfgPath, "--yes")
	m, err := publish.Verify(filepath.Join(dir, "out", "final"))
	if err != nil || m.ReleaseID != id || m.Approval == nil || m.Approval.By != "First Approver" {
		t.Fatalf("after resuming: %v, %+v", err, m.Approval)
	}
	if n := ledgerRows(t, dir); n != 1 {
		t.Errorf("ledger has %d releases, want the one final release", n)
	}
}

// TestPartnerTokensFileLinksLikeTheRawFile: a partner runs `outcomes tokens`
// on its file; the trust lists the tokens file instead of the raw one; the
// run links exactly as many records to exactly as many pupils, key by key.
func TestPartnerTokensFileLinksLikeTheRawFile(t *testing.T) {
	dir, cfgPath := demoTrust(t)
	linkage := func() string {
		t.Helper()
		runs, _ := filepath.Glob(filepath.Join(dir, "state", "runs", "*", "linkage.json"))
		sort.Strings(runs)
		if len(runs) == 0 {
			t.Fatal("no linkage.json written")
		}
		var report struct {
			Programmes json.RawMessage `json:"programmes"`
		}
		b, err := os.ReadFile(runs[len(runs)-1])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &report); err != nil {
			t.Fatal(err)
		}
		return string(report.Programmes)
	}
	mustRun(t, "run", "--config", cfgPath)
	fromRaw := linkage()
	if !strings.Contains(fromRaw, `"names_dob_postcode"`) {
		t.Fatalf("the raw file linked nothing by demographics: %s", fromRaw)
	}

	// The partner holds only the linkage key, in a configuration of its own.
	partnerKey := filepath.Join(dir, "partner.key")
	mustRun(t, "keygen", "--partner", "--config", cfgPath, "--out", partnerKey)
	cfgText, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	partnerCfg := filepath.Join(dir, "partner.toml")
	keyLine := regexp.MustCompile(`(?m)^(\s*key_file\s*=\s*).*$`)
	if !keyLine.Match(cfgText) {
		t.Fatal("no key_file line in the configuration")
	}
	if err := os.WriteFile(partnerCfg, keyLine.ReplaceAll(cfgText, []byte(`${1}"partner.key"`)), 0o600); err != nil {
		t.Fatal(err)
	}
	// The pipeline refuses to run on the partner's key.
	if code, _, errOut := outcomes(t, "run", "--config", partnerCfg); code != ExitUsage || !strings.Contains(errOut, "linkage key") {
		t.Errorf("run with the partner's key: exit %d, %s", code, errOut)
	}
	tokens := filepath.Join(dir, "data", "participation.tokens.csv")
	out, _ := mustRun(t, "tokens", "--config", partnerCfg, "--in", filepath.Join(dir, "data", "participation.csv"), "--out", tokens)
	if !strings.Contains(out, "linkage key fingerprint") {
		t.Errorf("tokens summary: %s", out)
	}
	if info, err := os.Stat(tokens); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("tokens file: %v, mode %v; want 0600", err, info.Mode().Perm())
	}
	if code, _, errOut := outcomes(t, "tokens", "--config", cfgPath, "--in", filepath.Join(dir, "data", "participation.csv"), "--out", tokens); code != ExitUsage ||
		!strings.Contains(errOut, "already exists") {
		t.Errorf("tokenising over an existing file: exit %d, %s", code, errOut)
	}
	swapped := strings.Replace(string(cfgText), `"data/participation.csv"`, `"data/participation.tokens.csv"`, 1)
	if swapped == string(cfgText) {
		t.Fatal("the configuration does not list data/participation.csv")
	}
	if err := os.WriteFile(cfgPath, []byte(swapped), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "run", "--config", cfgPath)
	if fromTokens := linkage(); fromTokens != fromRaw {
		t.Errorf("linkage differs:\nraw file    %s\ntokens file %s", fromRaw, fromTokens)
	}
}
