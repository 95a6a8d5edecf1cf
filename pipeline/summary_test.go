package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/outcomes/outcomes/fixtures"
	"github.com/outcomes/outcomes/pipeline/config"
	"github.com/outcomes/outcomes/queries"
	"github.com/outcomes/outcomes/transforms/privacy/privacytest"
)

// TestSummaryStaysEqualToSessions: ingest.Commit keeps pupil_terms by adding
// each run's new marks, and rebuilds it when sessions are deleted or the
// terms change. After every kind of run, the summary it kept must equal one
// built afresh from the sessions.
func TestSummaryStaysEqualToSessions(t *testing.T) {
	cfg := impactTrust(t, fixtures.Options{Schools: 2, PupilsPerSchool: 40, Seed: 11})
	src := cfg.Path(cfg.Inputs.Attendance[0])
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	// Four files: the year to Easter at the first school, and at the
	// other; the summer term but its last week; and that last week. Two
	// runs only add marks; re-sending one school's file summarises that
	// school's pupils again, and no one else.
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	firstSchool := cfg.Schools[0].URN
	which := func(l string) int {
		f := strings.Split(l, ",")
		switch date := f[2]; {
		case date < "2025-04-01" && f[0] == firstSchool:
			return 0
		case date < "2025-04-01":
			return 1
		case date < "2025-07-14":
			return 2
		default:
			return 3
		}
	}
	files := make([]strings.Builder, 4)
	for i := range files {
		files[i].WriteString(lines[0] + "\n")
	}
	for _, l := range lines[1:] {
		files[which(l)].WriteString(l + "\n")
	}
	var paths []string
	for i := range files {
		p := fmt.Sprintf("%s.%d.csv", src, i)
		if err := os.WriteFile(p, []byte(files[i].String()), 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	resend := func(path string) {
		b, _ := os.ReadFile(path)
		edited := strings.Replace(string(b), ",AM,/\n", ",AM,N\n", 1)
		if edited == string(b) {
			t.Fatalf("no mark to edit in %s", path)
		}
		os.WriteFile(path, []byte(edited), 0o600)
	}
	// Shortening the summer term quarantines the last week's marks when its
	// file is read again.
	cfg.Run.MaxRejectShare = 1
	r := &Runner{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Noise: privacytest.NoNoise()}
	steps := []struct {
		name string
		do   func()
	}{
		{"a first load", func() { cfg.Inputs.Attendance = paths[:2] }},
		{"a new file added", func() { cfg.Inputs.Attendance = paths[:3] }},
		{"another added", func() { cfg.Inputs.Attendance = paths }},
		{"one school's file re-sent with a mark changed", func() { resend(paths[0]) }},
		{"a whole-trust file re-sent with a mark changed", func() { resend(paths[2]) }},
		{"the summer term a week shorter", func() {
			last := len(cfg.Terms) - 1
			cfg.Terms[last].End = "2025-07-11"
		}},
		{"a file dropped", func() { cfg.Inputs.Attendance = []string{paths[0], paths[1], paths[3]} }},
	}
	for _, s := range steps {
		s.do()
		if _, err := r.Run(context.Background()); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		kept, rebuilt := summaryAndRebuild(t, r)
		if len(kept) == 0 {
			t.Fatalf("%s: the summary is empty", s.name)
		}
		if !slices.Equal(kept, rebuilt) {
			diff := 0
			for _, k := range kept {
				if !slices.Contains(rebuilt, k) {
					diff++
				}
			}
			t.Errorf("%s: the summary kept has %d rows, %d of them not in the %d rebuilt from sessions", s.name, len(kept), diff, len(rebuilt))
		}
	}
}

// summaryAndRebuild reads pupil_terms, then rebuilds it from every session
// in a transaction it rolls back, and reads that.
func summaryAndRebuild(t *testing.T, r *Runner) (kept, rebuilt []string) {
	t.Helper()
	ctx := context.Background()
	conn := warehouseConn(t, r)
	read := func(q queryer) []string {
		return textRows(ctx, t, q, `SELECT concat_ws(' ', pupil_key, school_urn, term_id, possible, authorised, unauthorised,
			possible_w0, possible_w1, possible_w2, possible_w3, possible_w4, possible_w5,
			attended_w0, attended_w1, attended_w2, attended_w3, attended_w4, attended_w5) FROM pupil_terms ORDER BY ALL`)
	}
	kept = read(conn)
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for _, q := range []string{"DELETE FROM pupil_terms",
		"CREATE OR REPLACE TEMP VIEW summary_input AS SELECT pupil_key, school_urn, session_date, session, category FROM sessions",
		queries.Get("summarise_sessions")} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	return kept, read(tx)
}

// TestCommitRefusesAnInconsistentSummary: a pupil_terms that contradicts
// itself (a key twice; half-day words that disagree with their counts) fails
// the run before any budget is spent: in Commit when the run loads marks, and
// before the draw when it loads none but draws a new release.
func TestCommitRefusesAnInconsistentSummary(t *testing.T) {
	corruptions := []struct{ name, corrupt string }{
		{"a row twice", "INSERT INTO pupil_terms SELECT * FROM pupil_terms LIMIT 1"},
		{"a count off by one", "UPDATE pupil_terms SET possible = possible + 1 WHERE rowid = (SELECT min(rowid) FROM pupil_terms)"},
		{"an attended bit lost", "UPDATE pupil_terms SET attended_w0 = 0, attended_w1 = 0, attended_w2 = 0, attended_w3 = 0, attended_w4 = 0, attended_w5 = 0, authorised = 0, unauthorised = 0 WHERE rowid = (SELECT min(rowid) FROM pupil_terms)"},
		{"a possible bit lost", "UPDATE pupil_terms SET possible_w0 = possible_w0 & (possible_w0 - 1) WHERE rowid = (SELECT min(rowid) FROM pupil_terms WHERE possible_w0 <> 0)"},
	}
	nextRuns := []struct {
		name string
		// next changes the configuration for the run after the corruption;
		// lastWeek is the marks the first run was not given.
		next  func(cfg *config.Config, lastWeek string)
		where string
	}{
		{"a new day's marks", func(cfg *config.Config, lastWeek string) {
			cfg.Inputs.Attendance = append(cfg.Inputs.Attendance, lastWeek)
		}, "nothing was loaded"},
		{"a new release from the same marks", func(cfg *config.Config, _ string) {
			cfg.Privacy.ProvisionalEpsilon /= 2 // a new release, not a republication
		}, "no release was drawn"},
	}
	for _, next := range nextRuns {
		for _, tc := range corruptions {
			t.Run(next.name+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				cfg := impactTrust(t, fixtures.Options{Schools: 1, PupilsPerSchool: 20, Seed: 12})
				older, lastWeek, newRows := SplitAttendance(t, cfg, "2025-07-14")
				if newRows == 0 {
					t.Fatal("the fixture has no marks from 14 July 2025 on")
				}
				cfg.Inputs.Attendance = []string{older}
				r := &Runner{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Noise: privacytest.NoNoise()}
				if _, err := r.Run(ctx); err != nil {
					t.Fatal(err)
				}
				conn := warehouseConn(t, r)
				if _, err := conn.ExecContext(ctx, tc.corrupt); err != nil {
					t.Fatal(err)
				}
				conn.Close()
				releases := ledgerRows(t, cfg)
				next.next(cfg, lastWeek)
				_, err := r.Run(ctx)
				if err == nil || !strings.Contains(err.Error(), "summary (pupil_terms) is inconsistent") || !strings.Contains(err.Error(), next.where) {
					t.Fatalf("run on a corrupted summary: %v, want it refused with %q", err, next.where)
				}
				if n := ledgerRows(t, cfg); n != releases {
					t.Errorf("the refused run left %d releases in the ledger, want %d: no budget may be spent", n, releases)
				}
			})
		}
	}
}

// SplitAttendance moves the rows dated on or after cutoff into a second file,
// as if the last day came in a nightly extract of its own. It is exported
// for package pipeline_test too.
func SplitAttendance(t *testing.T, cfg *config.Config, cutoff string) (older, newer string, newRows int) {
	t.Helper()
	src := cfg.Path(cfg.Inputs.Attendance[0])
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	var a, z strings.Builder
	a.WriteString(lines[0] + "\n")
	z.WriteString(lines[0] + "\n")
	for _, l := range lines[1:] {
		if strings.Split(l, ",")[2] >= cutoff {
			z.WriteString(l + "\n")
			newRows++
		} else {
			a.WriteString(l + "\n")
		}
	}
	older, newer = src+".to-july.csv", src+".last-day.csv"
	os.WriteFile(older, []byte(a.String()), 0o600)
	os.WriteFile(newer, []byte(z.String()), 0o600)
	return older, newer, newRows
}

// ledgerRows counts the releases the privacy ledger records.
func ledgerRows(t *testing.T, cfg *config.Config) int {
	t.Helper()
	db, err := OpenLedger(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM privacy_ledger").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
