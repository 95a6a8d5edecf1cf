package pipeline

// What a run reads again when a file is unchanged but what it is checked
// against is not, and where it says the rows of a file it did not read are.
// Both tests came from a review of the kept roster and summary
// (b23ad37..5f04cf0); the second found an older defect.

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/outcomes/outcomes/fixtures"
	"github.com/outcomes/outcomes/schemas"
	"github.com/outcomes/outcomes/transforms/privacy/privacytest"
)

// TestKeptRosterRefusalShowsItsRows: a nightly run that keeps the roster
// (ingest.rosterUnchanged) still applies run.max_reject_share to the
// roster's stored counts, and when it refuses, its message must send the data
// lead to a quarantine folder that holds the roster's rows: that of the run
// that read it, since this one wrote only attendance.csv.
func TestKeptRosterRefusalShowsItsRows(t *testing.T) {
	cfg := impactTrust(t, fixtures.Options{Schools: 2, PupilsPerSchool: 40, Seed: 11})
	roster := cfg.Path(cfg.Inputs.Roster)
	b, err := os.ReadFile(roster)
	if err != nil {
		t.Fatal(err)
	}
	// One in ten roster rows with an invalid FSM value: quarantined.
	ls := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	for i := 1; i < len(ls); i += 10 {
		f := strings.Split(ls[i], ",")
		f[3] = "maybe"
		ls[i] = strings.Join(f, ",")
	}
	if err := os.WriteFile(roster, []byte(strings.Join(ls, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Run.MaxRejectShare = 0.5
	r := &Runner{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Noise: privacytest.NoNoise()}
	if _, err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The data lead tightens the limit; nothing else changes.
	cfg.Run.MaxRejectShare = 0.05
	_, err = r.Run(context.Background())
	if !errors.Is(err, ErrTooManyRejects) {
		t.Fatalf("run with a tighter limit: %v, want ErrTooManyRejects", err)
	}
	if !strings.Contains(err.Error(), "roster file") {
		t.Fatalf("refused for %v, want the roster", err)
	}
	dir := err.Error()[strings.LastIndex(err.Error(), " ")+1:]
	got, _ := filepath.Glob(filepath.Join(dir, "*.csv"))
	if _, serr := os.Stat(filepath.Join(dir, string(schemas.SourceRoster)+".csv")); serr != nil {
		t.Errorf("the refusal says the rows and reasons are in %s, but it holds %v and no roster.csv: %v", dir, got, serr)
	}
}

// TestConfigChangeReadsLoadedAttendanceAgain: a configuration change that
// changes how an unchanged attendance file's rows come out (marks at a newly
// configured school were unknown_school; marks in a term's new days were
// date_outside_terms) must make the file be read again
// (ingest.Options.AttendanceContext): the published table must equal a cold
// run's on the same inputs and configuration. Before, only a format change,
// or pupil_not_on_roster rows with a changed roster file, did.
func TestConfigChangeReadsLoadedAttendanceAgain(t *testing.T) {
	trustPossible := func(t *testing.T, r *Runner) map[string]int64 {
		t.Helper()
		res, err := r.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int64{}
		for _, row := range res.Rows {
			if row.GeographicLevel == "MAT" && row.ProgrammeID == "total" && row.PupilGroup == "Total" && row.PossibleSessions != nil {
				out[row.TimeIdentifier] = *row.PossibleSessions
			}
		}
		return out
	}
	for _, tc := range []struct {
		name           string
		before, change func(*Runner)
	}{
		{"a school added",
			func(r *Runner) { r.Config.Schools = r.Config.Schools[:1] },
			func(r *Runner) { r.Config.Schools = r.Config.Schools[:2] }},
		{"the summer term extended",
			func(r *Runner) { r.Config.Terms[len(r.Config.Terms)-1].End = "2025-06-30" },
			func(r *Runner) { r.Config.Terms[len(r.Config.Terms)-1].End = "2025-07-31" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := impactTrust(t, fixtures.Options{Schools: 2, PupilsPerSchool: 40, Seed: 11})
			cfg.Run.MaxRejectShare = 1
			cfg.Publish.RoundingBase, cfg.Publish.SuppressBelow = 1, 0
			r := &Runner{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Noise: privacytest.NoNoise()}
			tc.before(r)
			trustPossible(t, r)
			tc.change(r)
			nightly := trustPossible(t, r)
			cold := *cfg
			cold.Run.StateDir = filepath.Join(t.TempDir(), "state")
			cold.Run.OutputDir = filepath.Join(t.TempDir(), "out")
			want := trustPossible(t, &Runner{Config: &cold, Logger: r.Logger, Noise: privacytest.NoNoise()})
			for _, term := range []string{"Autumn term", "Spring term", "Summer term"} {
				if nightly[term] != want[term] {
					t.Errorf("%s: trust possible sessions %d after the change, %d from a cold run on the same inputs", term, nightly[term], want[term])
				}
			}
		})
	}
}
