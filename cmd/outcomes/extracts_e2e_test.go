package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/outcomes/outcomes/fixtures"
)

// misSources is the README's worked example of two MIS export shapes in one
// trust (README, "Reading your MIS's exports"): the test checks the README
// carries it verbatim and runs it.
const misSources = `[sources.attendance]              # every attendance file: SIMS-like long export
  date_format = "dd/mm/yyyy"
  columns = { "Date" = "session_date" }    # "UPN", "School URN", "Session", "Mark" match as they are

[sources.attendance.files."arbor_wide.csv"]  # this school's Arbor/Bromcom-like wide export
  layout = "wide"
  encoding = "windows-1252"
  columns = { "Student UPN" = "upn", "Establishment URN" = "school_urn", "Date" = "session_date", "AM" = "am_mark", "PM" = "pm_mark" }

[sources.participation]
  date_format = "dd/mm/yyyy"
  columns = { "NHS No." = "nhs_number" }
`

// misTrust writes a configuration that reads the nasty corpus's roster, the
// SIMS-like and Arbor-like exports and a partner's file, with a key.
func misTrust(t *testing.T, maxReject float64) (dir, cfgPath string) {
	t.Helper()
	dir = t.TempDir()
	data := filepath.Join(dir, "data")
	if err := fixtures.WriteNasty(data); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`[run]
  state_dir = "state"
  output_dir = "out"
  key_file = "key"
  max_reject_share = %v

[inputs]
  roster = "data/roster.csv"
  attendance = ["data/sims_long.csv", "arbor_wide.csv"]
  participation = ["data/participation_ddmmyyyy.csv"]

[trust]
  id = "TR0009"
  name = "Nasty Extracts Trust"

[[schools]]
  urn = "900001"
  name = "Corpus Primary"

[[terms]]
  name = "Autumn term"
  academic_year = "202425"
  start = "2024-08-01"
  end = "2024-12-31"

[[programmes]]
  id = "mhst"
  name = "Mental health support team"

[privacy]
  epsilon = 4.0
  epsilon_cap = 20.0

%s`, maxReject, misSources)
	// The per-file table names the path as written in [inputs].
	if err := os.Rename(filepath.Join(data, "arbor_wide.csv"), filepath.Join(dir, "arbor_wide.csv")); err != nil {
		t.Fatal(err)
	}
	cfgPath = filepath.Join(dir, "pipeline.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "keygen", "--out", filepath.Join(dir, "key"))
	return dir, cfgPath
}

// TestMISExportsEndToEnd runs the real binary on the README's two MIS
// shapes: every row is accounted for in the private summary, and no raw
// identifier of the corpus reaches the output, the logs, the state folder
// (the warehouse read through DuckDB) or the release.
func TestMISExportsEndToEnd(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), misSources) {
		t.Errorf("README does not carry the tested MIS example verbatim:\n%s", misSources)
	}
	dir, cfgPath := misTrust(t, 0.5)
	stdout, stderr := mustRun(t, "run", "--config", cfgPath, "--log-format", "json")
	ids := rawIdentifiers{substrings: fixtures.NastyIdentifiers()}
	ids.scanText(t, "stdout", stdout)
	ids.scanText(t, "the log", stderr)
	if !strings.Contains(stderr, `"msg":"published"`) {
		t.Fatalf("not published:\n%s", stderr)
	}
	runs, _ := filepath.Glob(filepath.Join(dir, "state", "runs", "*", "summary.json"))
	if len(runs) != 1 {
		t.Fatalf("summaries %v", runs)
	}
	b, _ := os.ReadFile(runs[0])
	var summary struct {
		Inputs []struct {
			Path                string           `json:"path"`
			RowsRead            int64            `json:"rows_read"`
			RowsLoaded          int64            `json:"rows_loaded"`
			RowsQuarantined     int64            `json:"rows_quarantined"`
			RowsDuplicate       int64            `json:"rows_duplicate"`
			QuarantinedByReason map[string]int64 `json:"quarantined_by_reason"`
			Format              string           `json:"format"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal(b, &summary); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ // file -> "read loaded quarantined duplicate"
		"roster.csv":                 "4 4 0 0",
		"sims_long.csv":              "10 9 1 0",
		"arbor_wide.csv":             "12 9 3 0",
		"participation_ddmmyyyy.csv": "4 2 2 0",
	}
	for _, in := range summary.Inputs {
		got := fmt.Sprintf("%d %d %d %d", in.RowsRead, in.RowsLoaded, in.RowsQuarantined, in.RowsDuplicate)
		if w := want[filepath.Base(in.Path)]; got != w {
			t.Errorf("%s: read/loaded/quarantined/duplicate %s, want %s (%v)", in.Path, got, w, in.QuarantinedByReason)
		}
	}
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && !strings.HasPrefix(p, filepath.Join(dir, "data")) && filepath.Base(p) != "arbor_wide.csv" && filepath.Base(p) != "key" {
			b, _ := os.ReadFile(p)
			ids.scanText(t, p, string(b))
		}
		return nil
	})
	if tmp, _ := os.ReadDir(filepath.Join(dir, "state", "tmp")); len(tmp) > 0 {
		t.Errorf("the private temp folder keeps %d files after the run", len(tmp))
	}
	wh, err := sql.Open("duckdb", filepath.Join(dir, "state", "warehouse.duckdb")+"?access_mode=read_only")
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	ids.scanDuckDB(t, "warehouse", wh, []string{"pupils", "pupil_keys", "sessions", "participation", "input_files", "runs"})
}

// TestMISExportRefusedWithReasons: with the default max_reject_share the
// same files are refused, exit 3, naming the file, the share and the reasons.
func TestMISExportRefusedWithReasons(t *testing.T) {
	_, cfgPath := misTrust(t, 0.05)
	code, stdout, stderr := outcomes(t, "run", "--config", cfgPath)
	if code != ExitBadInput {
		t.Fatalf("exit %d, want %d\n%s", code, ExitBadInput, stderr)
	}
	for _, w := range []string{"too many rows rejected", "sims_long.csv had 1 of 10 rows quarantined (10.0%, limit 5.0%): unknown_mark 1; nothing was published"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	ids := rawIdentifiers{substrings: fixtures.NastyIdentifiers()}
	ids.scanText(t, "stdout", stdout)
	ids.scanText(t, "stderr", stderr)
}

// TestUnreadableExtractIsBadInput: a file that cannot be read as configured
// (declared UTF-8, saved as Windows-1252) refuses the run with exit 3 and a
// message naming the file, the line and the fix.
func TestUnreadableExtractIsBadInput(t *testing.T) {
	_, cfgPath := misTrust(t, 0.5)
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(cfgPath, []byte(strings.Replace(string(b), `encoding = "windows-1252"`, `encoding = "utf-8"`, 1)), 0o600)
	code, _, stderr := outcomes(t, "run", "--config", cfgPath)
	if code != ExitBadInput {
		t.Fatalf("exit %d, want %d\n%s", code, ExitBadInput, stderr)
	}
	if !strings.Contains(stderr, `arbor_wide.csv: line 2 is not valid UTF-8, but its configuration (sources.attendance) says encoding = "utf-8"; if it was saved from Excel as CSV, set encoding = "windows-1252"`) {
		t.Errorf("stderr:\n%s", stderr)
	}
	rawIdentifiers{substrings: fixtures.NastyIdentifiers()}.scanText(t, "stderr", stderr)
}
