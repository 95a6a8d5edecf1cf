package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/outcomes/outcomes/fixtures"
	"github.com/outcomes/outcomes/pipeline"
	"github.com/outcomes/outcomes/pipeline/config"
	"github.com/outcomes/outcomes/pipeline/demo"
	"github.com/outcomes/outcomes/pipeline/keys"
	"github.com/outcomes/outcomes/pipeline/ledger"
	"github.com/outcomes/outcomes/pipeline/publish"
	"github.com/outcomes/outcomes/schemas"
	"github.com/outcomes/outcomes/transforms/privacy"
	"github.com/outcomes/outcomes/transforms/privacy/privacytest"
)

// newTrust writes a small synthetic trust, its key and configuration into a
// temp folder.
func newTrust(t *testing.T, opt fixtures.Options) (*config.Config, *fixtures.Truth) {
	t.Helper()
	dir := t.TempDir()
	if opt.Schools == 0 {
		opt.Schools = 2
	}
	if opt.PupilsPerSchool == 0 {
		opt.PupilsPerSchool = 120
	}
	truth, err := fixtures.Generate(filepath.Join(dir, "data"), opt)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := demo.Config(truth, filepath.Join(dir, "data"), dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Generate(filepath.Join(dir, "key")); err != nil {
		t.Fatal(err)
	}
	return cfg, truth
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// exact makes post-processing the identity, so rows can be compared to the truth.
func exact(cfg *config.Config) {
	cfg.Publish.RoundingBase = 1
	cfg.Publish.SuppressBelow = 0
}

func run(t *testing.T, r *pipeline.Runner) *pipeline.Result {
	t.Helper()
	res, err := r.Run(context.Background())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res
}

type rowKey struct{ level, school, term, programme, group string }

func index(rows []schemas.AttendanceRow) map[rowKey]schemas.AttendanceRow {
	m := map[rowKey]schemas.AttendanceRow{}
	for _, r := range rows {
		m[rowKey{r.GeographicLevel, r.SchoolURN, r.TimeIdentifier, r.ProgrammeID, r.PupilGroup}] = r
	}
	return m
}

// TestRunMatchesTruthWithoutNoise runs the whole pipeline with a mechanism
// that adds no noise: every published number must equal the fixtures' truth,
// computed independently by the generator. This checks the SQL definitions,
// linkage (of clean partner records: TestLinkageQuality scores noisy ones),
// bounding bookkeeping and post-processing end to end.
func TestRunMatchesTruthWithoutNoise(t *testing.T) {
	cfg, truth := newTrust(t, fixtures.Options{Seed: 7, CleanPartnerRecords: true})
	exact(cfg)
	res := run(t, &pipeline.Runner{Config: cfg, Logger: quietLogger(), Noise: privacytest.NoNoise()})
	rows := index(res.Rows)
	wantRows := len(cfg.Terms) * (1 + len(cfg.Schools)) * (1 + 2*len(cfg.Programmes))
	if len(res.Rows) != wantRows {
		t.Fatalf("%d rows, want %d", len(res.Rows), wantRows)
	}
	check := func(k rowKey, want fixtures.Cell) {
		t.Helper()
		r, ok := rows[k]
		if !ok {
			t.Errorf("no row %+v", k)
			return
		}
		got := []int64{*r.Pupils, *r.PossibleSessions, *r.AuthorisedAbsence, *r.UnauthorisedAbsence, *r.PersistentAbsentees}
		w := []int64{want.Pupils, want.PossibleSessions, want.AuthorisedAbsence, want.UnauthorisedAbsence, want.PersistentAbsentees}
		for i := range got {
			if got[i] != w[i] {
				t.Errorf("%+v: pupils/possible/auth/unauth/PA = %v, want %v", k, got, w)
				return
			}
		}
	}
	for _, term := range cfg.Terms {
		check(rowKey{"MAT", "", term.Name, "total", "Total"}, truth.TrustCell(term.Name, fixtures.ProgrammeTotal, fixtures.GroupAll))
		for _, p := range cfg.Programmes {
			check(rowKey{"MAT", "", term.Name, p.ID, "Participants"}, truth.TrustCell(term.Name, p.ID, fixtures.GroupParticipants))
		}
		for _, s := range cfg.Schools {
			c, _ := truth.TruthFor(s.URN, term.Name, fixtures.ProgrammeTotal, fixtures.GroupAll)
			check(rowKey{"School", s.URN, term.Name, "total", "Total"}, c)
			for _, p := range cfg.Programmes {
				c, _ := truth.TruthFor(s.URN, term.Name, p.ID, fixtures.GroupParticipants)
				check(rowKey{"School", s.URN, term.Name, p.ID, "Participants"}, c)
			}
		}
	}
	for _, in := range res.Inputs {
		if in.RowsRead != in.RowsLoaded+in.RowsQuarantined+in.RowsDuplicate {
			t.Errorf("%s: read %d != loaded %d + quarantined %d + duplicate %d", in.Source, in.RowsRead, in.RowsLoaded, in.RowsQuarantined, in.RowsDuplicate)
		}
	}
}

// appendLines adds raw lines to a CSV file.
func appendLines(t *testing.T, path string, lines []string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		if _, err := f.WriteString(l + "\n"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAbsurdPupilMovesNoCellPastItsBounds adds one pupil with absurd data —
// thousands of marks, repeated and conflicting sessions, every day absent, and
// dozens of participation records in every programme — and checks, with
// noise off, that no published DP cell moves by more than the declared
// bounds (1 for counts, the term's session bound for sums), and that the pupil
// reaches no more cells than MaxPartitions.
func TestAbsurdPupilMovesNoCellPastItsBounds(t *testing.T) {
	cfg, _ := newTrust(t, fixtures.Options{Seed: 11})
	exact(cfg)
	before := index(run(t, &pipeline.Runner{Config: cfg, Logger: quietLogger(), Noise: privacytest.NoNoise()}).Rows)

	absurdUPN := schemas.MakeUPN(373, 999_999_001)
	absurdNHS := schemas.MakeTestNHSNumber(999_001)
	school := cfg.Schools[0].URN
	appendLines(t, cfg.Path(cfg.Inputs.Roster), []string{
		fmt.Sprintf("%s,%s,5,Y,E,M,2015-01-01,Absurd,Pupil,S1 1AA,%s", school, absurdUPN, absurdNHS),
	})
	var marks []string
	for _, term := range cfg.Terms {
		for d := term.StartDate(); !d.After(term.EndDate()); d = d.AddDate(0, 0, 1) {
			day := d.Format("2006-01-02")
			// Every calendar day (weekends too), both sessions, three times over with conflicting marks.
			for _, session := range []string{"AM", "PM"} {
				marks = append(marks,
					fmt.Sprintf("%s,%s,%s,%s,O", school, absurdUPN, day, session),
					fmt.Sprintf("%s,%s,%s,%s,G", school, absurdUPN, day, session),
					fmt.Sprintf("%s,%s,%s,%s,O", school, absurdUPN, day, session))
			}
		}
	}
	appendLines(t, cfg.Path(cfg.Inputs.Attendance[0]), marks)
	var events []string
	for _, p := range cfg.Programmes {
		for i := 0; i < 30; i++ {
			events = append(events, fmt.Sprintf("%s,%s,%s,Absurd,Pupil,2015-01-01,S1 1AA,M,2024-10-%02d,session,Y", p.ID, absurdNHS, absurdUPN, 1+i))
		}
	}
	appendLines(t, cfg.Path(cfg.Inputs.Participation[0]), events)

	res := run(t, &pipeline.Runner{Config: cfg, Logger: quietLogger(), Noise: privacytest.NoNoise()})
	after := index(res.Rows)
	bound := map[string]int64{}
	for _, term := range cfg.Terms {
		bound[term.Name] = term.MaxSessions()
	}
	changed := 0
	for k, a := range after {
		if k.group == "Others" { // derived: Total minus Participants, no DP cell of its own
			continue
		}
		b := before[k]
		d := func(x, y *int64) int64 {
			v := *x - *y
			if v < 0 {
				v = -v
			}
			return v
		}
		moved := false
		for _, c := range []struct {
			name  string
			delta int64
			limit int64
		}{
			{"pupils", d(a.Pupils, b.Pupils), 1},
			{"persistent_absentees", d(a.PersistentAbsentees, b.PersistentAbsentees), 1},
			{"possible_sessions", d(a.PossibleSessions, b.PossibleSessions), bound[k.term]},
			{"authorised_absence", d(a.AuthorisedAbsence, b.AuthorisedAbsence), bound[k.term]},
			{"unauthorised_absence", d(a.UnauthorisedAbsence, b.UnauthorisedAbsence), bound[k.term]},
		} {
			if c.delta > c.limit {
				t.Errorf("%+v %s moved by %d, bound %d", k, c.name, c.delta, c.limit)
			}
			if c.delta > 0 {
				moved = true
			}
		}
		if moved {
			changed++
		}
	}
	if changed == 0 {
		t.Fatal("the absurd pupil changed no cell: was it loaded at all?")
	}
	if int64(changed) > cfg.MaxPartitions() {
		t.Errorf("the absurd pupil moved %d cells, more than MaxPartitions %d", changed, cfg.MaxPartitions())
	}
	t.Logf("absurd pupil moved %d cells (MaxPartitions %d) from %d attendance rows", changed, cfg.MaxPartitions(), len(marks))
	for _, in := range res.Inputs {
		if in.RowsRead != in.RowsLoaded+in.RowsQuarantined+in.RowsDuplicate {
			t.Errorf("%s: rows not accounted for: %+v", in.Source, in)
		}
	}
}

// TestNoiseIsAdded checks that a real run's numbers differ from the truth,
// and by amounts consistent with the configured Laplace scale.
func TestNoiseIsAdded(t *testing.T) {
	cfg, truth := newTrust(t, fixtures.Options{Seed: 5})
	exact(cfg)
	res := run(t, &pipeline.Runner{Config: cfg, Logger: quietLogger()})
	rows := index(res.Rows)
	differs := 0
	b := privacy.LaplaceScale(cfg.MaxPartitions(), 1, cfg.EpsilonFor(config.MeasurePupils))
	for _, term := range cfg.Terms {
		for _, s := range cfg.Schools {
			want, _ := truth.TruthFor(s.URN, term.Name, fixtures.ProgrammeTotal, fixtures.GroupAll)
			got := *rows[rowKey{"School", s.URN, term.Name, "total", "Total"}].Pupils
			if got != want.Pupils {
				differs++
			}
			// P(|Laplace| > 25b) = e^-25: a failure here means the scale is wrong.
			if diff := math.Abs(float64(got - want.Pupils)); diff > 25*b {
				t.Errorf("school %s %s: pupils %d, truth %d: off by %.0f, more than 25 x b = %.0f", s.URN, term.Name, got, want.Pupils, diff, 25*b)
			}
		}
	}
	// With b around 6 each cell equals the truth with probability below 0.1.
	if differs < 2 {
		t.Errorf("only %d of %d noisy pupil counts differ from the truth; is noise being added?", differs, len(cfg.Terms)*len(cfg.Schools))
	}
}

func spent(t *testing.T, cfg *config.Config) (epsilon float64, releases int) {
	t.Helper()
	db, err := pipeline.OpenLedger(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	epsilon, _, releases, err = ledger.Spent(context.Background(), db, cfg.Scopes()[0])
	if err != nil {
		t.Fatal(err)
	}
	return epsilon, releases
}

func releaseFolders(t *testing.T, cfg *config.Config) []string {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(cfg.Path(cfg.Run.OutputDir), "releases"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// changeInputs appends one more participation record, so the next run's
// inputs differ and it may not republish.
func changeInputs(t *testing.T, cfg *config.Config, n int) {
	t.Helper()
	appendLines(t, cfg.Path(cfg.Inputs.Participation[0]), []string{
		fmt.Sprintf("mhst,%s,,2024-11-%02d,referral,N", schemas.MakeTestNHSNumber(int64(900_000+n)), 1+n)})
}

func TestRunOverTheCapPublishesNothing(t *testing.T) {
	cfg, _ := newTrust(t, fixtures.Options{Seed: 21})
	cfg.Privacy.EpsilonCap = 1.5 * cfg.ReleaseEpsilon(config.KindProvisional)
	first := run(t, &pipeline.Runner{Config: cfg, Logger: quietLogger()})
	changeInputs(t, cfg, 1)
	_, err := (&pipeline.Runner{Config: cfg, Logger: quietLogger()}).Run(context.Background())
	var be *ledger.BudgetError
	if !errors.As(err, &be) || !errors.Is(err, ledger.ErrBudgetExhausted) {
		t.Fatalf("second release: got %v, want a budget refusal", err)
	}
	for _, want := range []string{cfg.Scopes()[0], "spent", "asks", "cap"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not mention %q", err, want)
		}
	}
	if got := releaseFolders(t, cfg); len(got) != 1 || got[0] != first.ReleaseID {
		t.Errorf("releases after the refusal: %v, want only %s", got, first.ReleaseID)
	}
	if latest, _ := publish.Latest(cfg.Path(cfg.Run.OutputDir)); latest != first.ReleaseID {
		t.Errorf("latest = %s, want %s", latest, first.ReleaseID)
	}
	if eps, n := spent(t, cfg); n != 1 || eps != cfg.ReleaseEpsilon(config.KindProvisional) {
		t.Errorf("ledger after the refusal: %v over %d releases, want one release", eps, n)
	}
}

func TestUnchangedRerunRepublishesWithoutNewNoise(t *testing.T) {
	cfg, _ := newTrust(t, fixtures.Options{Seed: 22})
	first := run(t, &pipeline.Runner{Config: cfg, Logger: quietLogger()})
	csvPath := filepath.Join(first.ReleaseDir, "attendance.csv")
	before, _ := os.ReadFile(csvPath)
	second := run(t, &pipeline.Runner{Config: cfg, Logger: quietLogger()})
	if !second.Republished || second.ReleaseID != first.ReleaseID {
		t.Fatalf("rerun: republished %v, release %s; want the stored release %s", second.Republished, second.ReleaseID, first.ReleaseID)
	}
	after, _ := os.ReadFile(filepath.Join(second.ReleaseDir, "attendance.csv"))
	if !bytes.Equal(before, after) {
		t.Error("the republished numbers differ from the stored release")
	}
	if eps, n := spent(t, cfg); n != 1 || eps != cfg.ReleaseEpsilon(config.KindProvisional) {
		t.Errorf("ledger after a republish: %v over %d releases, want one release", eps, n)
	}
	changeInputs(t, cfg, 2)
	third := run(t, &pipeline.Runner{Config: cfg, Logger: quietLogger()})
	if third.Republished || third.ReleaseID == first.ReleaseID {
		t.Errorf("changed inputs were republished as %s", third.ReleaseID)
	}
}

// TestNoiseDrawnButNotPublishedIsSpent: a run that fails after drawing the
// noise (here: the releases folder cannot be created) publishes nothing but
// its spending stays in the ledger, and the next run spends again.
func TestNoiseDrawnButNotPublishedIsSpent(t *testing.T) {
	cfg, _ := newTrust(t, fixtures.Options{Seed: 23})
	out := cfg.Path(cfg.Run.OutputDir)
	os.MkdirAll(out, 0o755)
	blocker := filepath.Join(out, "releases")
	if err := os.WriteFile(blocker, []byte("not a folder"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := (&pipeline.Runner{Config: cfg, Logger: quietLogger()}).Run(context.Background()); err == nil {
		t.Fatal("run succeeded although releases/ is a file")
	}
	eps := cfg.ReleaseEpsilon(config.KindProvisional)
	if got, n := spent(t, cfg); n != 1 || got != eps {
		t.Fatalf("ledger after a failure past the noise: %v over %d releases, want %v over 1", got, n, eps)
	}
	if latest, _ := publish.Latest(out); latest != "" {
		t.Fatalf("latest = %q after a failed run", latest)
	}
	os.Remove(blocker)
	run(t, &pipeline.Runner{Config: cfg, Logger: quietLogger()})
	if got, n := spent(t, cfg); n != 2 || got != 2*eps {
		t.Errorf("ledger after the retry: %v over %d releases, want %v over 2", got, n, 2*eps)
	}
}

func TestFinalReleaseWaitsForApproval(t *testing.T) {
	cfg, _ := newTrust(t, fixtures.Options{Seed: 24})
	res := run(t, &pipeline.Runner{Config: cfg, Logger: quietLogger(), Kind: config.KindFinal})
	if !res.Pending {
		t.Fatal("a final release was not left pending")
	}
	if got := releaseFolders(t, cfg); len(got) != 0 {
		t.Fatalf("releases before approval: %v", got)
	}
	m, err := publish.Verify(res.ReleaseDir)
	if err != nil || m.Kind != config.KindFinal || m.Approval != nil {
		t.Fatalf("pending release: %v, kind %q, approval %v", err, m.Kind, m.Approval)
	}
	again := run(t, &pipeline.Runner{Config: cfg, Logger: quietLogger(), Kind: config.KindFinal})
	if !again.Pending || again.ReleaseID != res.ReleaseID {
		t.Errorf("unchanged final rerun drew %s, want the pending %s", again.ReleaseID, res.ReleaseID)
	}
	if eps, n := spent(t, cfg); n != 1 || eps != cfg.Privacy.Epsilon {
		t.Errorf("ledger: %v over %d releases, want the final epsilon %v once", eps, n, cfg.Privacy.Epsilon)
	}
}

func TestCSVByteOrderMarkOnRequest(t *testing.T) {
	for _, bom := range []bool{false, true} {
		cfg, _ := newTrust(t, fixtures.Options{Seed: 25})
		cfg.Publish.CSVBOM = bom
		res := run(t, &pipeline.Runner{Config: cfg, Logger: quietLogger()})
		b, err := os.ReadFile(filepath.Join(res.ReleaseDir, "attendance.csv"))
		if err != nil {
			t.Fatal(err)
		}
		if got := bytes.HasPrefix(b, []byte("\xef\xbb\xbftime_period,")); got != bom {
			t.Errorf("csv_bom %v: file starts %q", bom, b[:16])
		}
		if !bom && !bytes.HasPrefix(b, []byte("time_period,")) {
			t.Errorf("csv_bom false: file starts %q", b[:16])
		}
	}
}

func sessionsInWarehouse(t *testing.T, cfg *config.Config) int64 {
	t.Helper()
	w, err := pipeline.OpenWarehouse(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var n int64
	if err := w.DB.QueryRow("SELECT count(*) FROM sessions").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestNightlyRunReadsOnlyTheNewFile: after a full load, a run with one more
// day's file reads that file alone and publishes the same numbers as one
// that read everything; a changed file replaces its rows; a file dropped
// from the configuration takes its rows with it.
func TestNightlyRunReadsOnlyTheNewFile(t *testing.T) {
	cfg, truth := newTrust(t, fixtures.Options{Seed: 26})
	exact(cfg)
	older, newer, newRows := pipeline.SplitAttendance(t, cfg, "2025-07-22")
	if newRows == 0 {
		t.Fatal("no rows on the last day")
	}
	runner := &pipeline.Runner{Config: cfg, Logger: quietLogger(), Noise: privacytest.NoNoise()}

	cfg.Inputs.Attendance = []string{older}
	first := run(t, runner)
	olderRows := first.Inputs[1].RowsRead

	cfg.Inputs.Attendance = []string{older, newer}
	second := run(t, runner)
	byPath := map[string]ingestStats{}
	for _, in := range second.Inputs {
		byPath[in.Path] = ingestStats{in.Ingested, in.RowsRead}
	}
	if got := byPath[older]; got.ingested || got.rows != olderRows {
		t.Errorf("the already-loaded file: %+v, want not read again (%d rows from before)", got, olderRows)
	}
	if got := byPath[newer]; !got.ingested || got.rows != int64(newRows) {
		t.Errorf("the new day's file: %+v, want read, %d rows", got, newRows)
	}
	if n := sessionsInWarehouse(t, cfg); n != int64(truth.AttendanceRows) {
		t.Errorf("warehouse holds %d sessions, want all %d", n, truth.AttendanceRows)
	}
	// The same numbers as the truth of the whole year.
	rows := index(second.Rows)
	for _, term := range cfg.Terms {
		want := truth.TrustCell(term.Name, fixtures.ProgrammeTotal, fixtures.GroupAll)
		got := rows[rowKey{"MAT", "", term.Name, "total", "Total"}]
		if *got.PossibleSessions != want.PossibleSessions || *got.AuthorisedAbsence != want.AuthorisedAbsence {
			t.Errorf("%s after an incremental load: possible %d authorised %d, want %d %d", term.Name,
				*got.PossibleSessions, *got.AuthorisedAbsence, want.PossibleSessions, want.AuthorisedAbsence)
		}
	}

	// The last day's file is re-sent with one row fewer: its rows are replaced.
	b, _ := os.ReadFile(newer)
	trimmed := strings.SplitAfterN(string(b), "\n", 3)
	os.WriteFile(newer, []byte(trimmed[0]+trimmed[2]), 0o600)
	third := run(t, runner)
	for _, in := range third.Inputs {
		if in.Path == older && in.Ingested {
			t.Error("the unchanged older file was read again")
		}
	}
	if n := sessionsInWarehouse(t, cfg); n != int64(truth.AttendanceRows-1) {
		t.Errorf("after a re-sent file: %d sessions, want %d", n, truth.AttendanceRows-1)
	}

	// The same size, another mark: the modification time has moved, so the
	// file is hashed and read again (the stat cache only spares unchanged files).
	b, _ = os.ReadFile(newer)
	edited := strings.Replace(string(b), ",AM,/\n", ",AM,L\n", 1)
	if edited == string(b) {
		t.Fatal("no mark to edit")
	}
	time.Sleep(10 * time.Millisecond)
	os.WriteFile(newer, []byte(edited), 0o600)
	fourth := run(t, runner)
	for _, in := range fourth.Inputs {
		if in.Path == newer && !in.Ingested {
			t.Error("a same-size edit was not read")
		}
		if in.Path == older && in.Ingested {
			t.Error("the unchanged older file was read again")
		}
	}

	// The same size and the modification time set back (touch -r): the
	// change time still moves, so the edit is read.
	info, _ := os.Stat(newer)
	b, _ = os.ReadFile(newer)
	edited = strings.Replace(string(b), ",AM,L\n", ",AM,/\n", 1)
	time.Sleep(10 * time.Millisecond)
	os.WriteFile(newer, []byte(edited), 0o600)
	os.Chtimes(newer, info.ModTime(), info.ModTime())
	fifth := run(t, runner)
	for _, in := range fifth.Inputs {
		if in.Path == newer && !in.Ingested {
			t.Error("a same-size edit with its modification time set back was not read")
		}
	}

	// Dropped from the configuration: its rows go.
	cfg.Inputs.Attendance = []string{older}
	run(t, runner)
	if n := sessionsInWarehouse(t, cfg); n != olderRows {
		t.Errorf("after dropping the new file: %d sessions, want %d", n, olderRows)
	}
}

// TestNightlyRunKeepsAnUnchangedRoster: when the roster and participation
// files and what they are checked against are unchanged, a nightly run does
// not read them again; it keeps the pupils, participation and linkage report
// of the run that did, and publishes what reading them would have. A changed
// participation file or programme list makes the next run read both.
func TestNightlyRunKeepsAnUnchangedRoster(t *testing.T) {
	cfg, _ := newTrust(t, fixtures.Options{Seed: 31})
	exact(cfg)
	older, newer, _ := pipeline.SplitAttendance(t, cfg, "2025-07-22")
	runner := &pipeline.Runner{Config: cfg, Logger: quietLogger(), Noise: privacytest.NoNoise()}
	read := func(res *pipeline.Result) map[string]bool {
		out := map[string]bool{}
		for _, in := range res.Inputs {
			out[in.Source] = out[in.Source] || in.Ingested
		}
		return out
	}

	cfg.Inputs.Attendance = []string{older}
	first := run(t, runner)
	cfg.Inputs.Attendance = []string{older, newer}
	second := run(t, runner)
	if got := read(second); got["roster"] || got["participation"] || !got["attendance"] {
		t.Errorf("nightly run read %v, want only attendance", got)
	}
	if !reflect.DeepEqual(second.Linkage, first.Linkage) || len(second.Linkage) == 0 {
		t.Errorf("nightly linkage report %+v, want the first run's %+v", second.Linkage, first.Linkage)
	}

	// The same inputs from an empty state folder, reading everything.
	fresh := *cfg
	fresh.Run.StateDir = filepath.Join(t.TempDir(), "state")
	fresh.Run.OutputDir = filepath.Join(t.TempDir(), "out")
	cold := run(t, &pipeline.Runner{Config: &fresh, Logger: quietLogger(), Noise: privacytest.NoNoise()})
	if got := read(cold); !got["roster"] || !got["participation"] {
		t.Fatalf("a cold run read %v", got)
	}
	if !reflect.DeepEqual(index(second.Rows), index(cold.Rows)) {
		t.Error("the nightly run's attendance table differs from a cold run's on the same inputs")
	}
	if !reflect.DeepEqual(second.Linkage, cold.Linkage) {
		t.Errorf("nightly linkage %+v, cold %+v", second.Linkage, cold.Linkage)
	}

	// A participation file with one record fewer is read, with the roster.
	part := cfg.Path(cfg.Inputs.Participation[0])
	b, _ := os.ReadFile(part)
	lines := strings.SplitAfterN(string(b), "\n", 3)
	os.WriteFile(part, []byte(lines[0]+lines[2]), 0o600)
	third := run(t, runner)
	if got := read(third); !got["roster"] || !got["participation"] {
		t.Errorf("after a participation file changed, the run read %v, want the roster and participation too", got)
	}
	if reflect.DeepEqual(third.Linkage, second.Linkage) {
		t.Error("the linkage report did not change with the participation file")
	}
	// Unchanged again: kept.
	if got := read(run(t, runner)); got["roster"] || got["participation"] {
		t.Errorf("an unchanged run read %v", got)
	}
	// The programmes configured otherwise: read again.
	cfg.Programmes[0].Name += " (renamed)"
	if got := read(run(t, runner)); !got["roster"] || !got["participation"] {
		t.Errorf("after the programmes changed, the run read %v, want the roster and participation too", got)
	}
}

type ingestStats struct {
	ingested bool
	rows     int64
}

func TestRetentionKeepsTheNewestAndWhatLatestNames(t *testing.T) {
	cfg, _ := newTrust(t, fixtures.Options{Seed: 27})
	cfg.Run.KeepReleases = 2
	var ids []string
	for i := 0; i < 4; i++ {
		changeInputs(t, cfg, 10+i)
		ids = append(ids, run(t, &pipeline.Runner{Config: cfg, Logger: quietLogger()}).ReleaseID)
	}
	got := releaseFolders(t, cfg)
	if len(got) != 2 || got[0] != ids[2] || got[1] != ids[3] {
		t.Errorf("releases kept %v, want the newest two %v", got, ids[2:])
	}
	// A release that latest names is never removed, even when older ones go.
	out := cfg.Path(cfg.Run.OutputDir)
	if err := publish.PointLatest(out, ids[2]); err != nil {
		t.Fatal(err)
	}
	removed, err := publish.Prune(out, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != ids[3] {
		t.Errorf("prune to 0 removed %v, want only %s (latest names %s)", removed, ids[3], ids[2])
	}
}

// TestAddingAYearDoesNotOpenAFreshBudget: spending is recorded per academic
// year, so adding another year's term to the configuration does not give the
// same year's pupils a second cap.
func TestAddingAYearDoesNotOpenAFreshBudget(t *testing.T) {
	cfg, _ := newTrust(t, fixtures.Options{Seed: 28})
	eps := cfg.ReleaseEpsilon(config.KindProvisional)
	cfg.Privacy.EpsilonCap = 1.5 * eps
	run(t, &pipeline.Runner{Config: cfg, Logger: quietLogger()})
	extra := `
[[terms]]
name = "Summer term"
academic_year = "202324"
start = "2024-04-01"
end = "2024-07-31"
`
	var buf bytes.Buffer
	if err := cfg.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	wider, err := config.Load(strings.NewReader(buf.String()+extra), cfg.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := wider.Scopes(); len(got) != 2 {
		t.Fatalf("scopes %v, want one per academic year", got)
	}
	_, err = (&pipeline.Runner{Config: wider, Logger: quietLogger()}).Run(context.Background())
	var be *ledger.BudgetError
	if !errors.As(err, &be) || be.Scope != cfg.Scopes()[0] {
		t.Fatalf("release over 202324 and 202425: got %v, want a refusal for %s", err, cfg.Scopes()[0])
	}
}

// TestSessionsCountAtTheSchoolThatRecordedThem: a pupil who has moved school
// (the roster names the new one) still counts at the old school for the
// marks it recorded, as DfE counts enrolments.
func TestSessionsCountAtTheSchoolThatRecordedThem(t *testing.T) {
	cfg, truth := newTrust(t, fixtures.Options{Seed: 29})
	exact(cfg)
	old, moved := cfg.Schools[0].URN, cfg.Schools[1].URN
	roster := cfg.Path(cfg.Inputs.Roster)
	b, _ := os.ReadFile(roster)
	lines := strings.Split(string(b), "\n")
	for i, l := range lines[1:] {
		if strings.HasPrefix(l, old+",") {
			lines[i+1] = moved + l[len(old):] // this pupil's roster now says the other school
			break
		}
	}
	os.WriteFile(roster, []byte(strings.Join(lines, "\n")), 0o600)
	res := run(t, &pipeline.Runner{Config: cfg, Logger: quietLogger(), Noise: privacytest.NoNoise()})
	rows := index(res.Rows)
	for _, s := range cfg.Schools {
		for _, term := range cfg.Terms {
			want, _ := truth.TruthFor(s.URN, term.Name, fixtures.ProgrammeTotal, fixtures.GroupAll)
			got := rows[rowKey{"School", s.URN, term.Name, "total", "Total"}]
			if *got.Pupils != want.Pupils || *got.PossibleSessions != want.PossibleSessions {
				t.Errorf("school %s %s: pupils %d possible %d, want %d %d (marks count where they were recorded)",
					s.URN, term.Name, *got.Pupils, *got.PossibleSessions, want.Pupils, want.PossibleSessions)
			}
		}
	}
}

// TestPupilBackOnTheRosterGetsTheirMarks: marks quarantined because a pupil
// was missing from the roster are loaded once the roster has them again,
// although the attendance file itself has not changed.
func TestPupilBackOnTheRosterGetsTheirMarks(t *testing.T) {
	cfg, truth := newTrust(t, fixtures.Options{Seed: 30})
	roster := cfg.Path(cfg.Inputs.Roster)
	full, _ := os.ReadFile(roster)
	lines := strings.SplitAfterN(string(full), "\n", 3)
	os.WriteFile(roster, []byte(lines[0]+lines[2]), 0o600) // the first pupil left out
	first := run(t, &pipeline.Runner{Config: cfg, Logger: quietLogger()})
	if q := first.Inputs[1].QuarantinedByReason["pupil_not_on_roster"]; q == 0 {
		t.Fatal("no marks quarantined for the missing pupil")
	}
	os.WriteFile(roster, full, 0o600)
	second := run(t, &pipeline.Runner{Config: cfg, Logger: quietLogger()})
	if !second.Inputs[1].Ingested {
		t.Error("the attendance file was not checked again against the restored roster")
	}
	if n := sessionsInWarehouse(t, cfg); n != int64(truth.AttendanceRows) {
		t.Errorf("%d sessions after the pupil is back, want %d", n, truth.AttendanceRows)
	}
	third := run(t, &pipeline.Runner{Config: cfg, Logger: quietLogger()})
	if third.Inputs[1].Ingested {
		t.Error("the attendance file was read again with nothing changed")
	}
}

// TestKeyRotationKeepsTheLedger: a new key is refused by the old warehouse;
// following the advice (move the warehouse aside) rebuilds it, and the
// privacy ledger, in its own file, still counts what was spent before.
func TestKeyRotationKeepsTheLedger(t *testing.T) {
	cfg, _ := newTrust(t, fixtures.Options{Seed: 31})
	run(t, &pipeline.Runner{Config: cfg, Logger: quietLogger()})
	keyPath := cfg.Path(cfg.Run.KeyFile)
	os.Remove(keyPath)
	if _, err := keys.Generate(keyPath); err != nil {
		t.Fatal(err)
	}
	_, err := (&pipeline.Runner{Config: cfg, Logger: quietLogger()}).Run(context.Background())
	if !errors.Is(err, pipeline.ErrKeyChanged) || !strings.Contains(err.Error(), "ledger.duckdb") {
		t.Fatalf("new key on the old warehouse: %v", err)
	}
	state := cfg.Path(cfg.Run.StateDir)
	if err := os.Rename(filepath.Join(state, "warehouse.duckdb"), filepath.Join(state, "warehouse.old.duckdb")); err != nil {
		t.Fatal(err)
	}
	run(t, &pipeline.Runner{Config: cfg, Logger: quietLogger()})
	if eps, n := spent(t, cfg); n != 2 || eps != 2*cfg.ReleaseEpsilon(config.KindProvisional) {
		t.Errorf("after the rotation the ledger shows %v over %d releases, want both releases", eps, n)
	}
}

// TestLeaversKeepTheirMarksWhenAFileIsReread: a pupil who has left the
// roster keeps the marks already loaded even when their attendance file is
// read again, so published numbers do not depend on what was re-read.
func TestLeaversKeepTheirMarksWhenAFileIsReread(t *testing.T) {
	cfg, truth := newTrust(t, fixtures.Options{Seed: 32})
	run(t, &pipeline.Runner{Config: cfg, Logger: quietLogger()})
	roster := cfg.Path(cfg.Inputs.Roster)
	full, _ := os.ReadFile(roster)
	lines := strings.SplitAfterN(string(full), "\n", 3)
	os.WriteFile(roster, []byte(lines[0]+lines[2]), 0o600) // the first pupil leaves
	att := cfg.Path(cfg.Inputs.Attendance[0])
	b, _ := os.ReadFile(att)
	os.WriteFile(att, append(b, []byte(strings.SplitN(string(b), "\n", 3)[1]+"\n")...), 0o600) // the file is re-sent
	res := run(t, &pipeline.Runner{Config: cfg, Logger: quietLogger()})
	if !res.Inputs[1].Ingested || res.Inputs[1].QuarantinedByReason["pupil_not_on_roster"] != 0 {
		t.Errorf("re-read file: %+v, want read with no marks refused for the pupil who left", res.Inputs[1])
	}
	if n := sessionsInWarehouse(t, cfg); n != int64(truth.AttendanceRows) {
		t.Errorf("%d sessions, want all %d: the leaver's marks must stay", n, truth.AttendanceRows)
	}
}

// TestRunStopsWhenTheLedgerWillNotOpen: the warehouse and the ledger open
// at once; a ledger that cannot be opened fails the run before anything is
// read or spent and leaves the last release where it was, and once the
// ledger is back the next run draws a new release.
func TestRunStopsWhenTheLedgerWillNotOpen(t *testing.T) {
	cfg, _ := newTrust(t, fixtures.Options{Seed: 33})
	first := run(t, &pipeline.Runner{Config: cfg, Logger: quietLogger()})
	ledgerPath := filepath.Join(cfg.Path(cfg.Run.StateDir), "ledger.duckdb")
	good, err := os.ReadFile(ledgerPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ledgerPath, []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Privacy.ProvisionalEpsilon /= 2 // a new release, not a republication
	_, err = (&pipeline.Runner{Config: cfg, Logger: quietLogger()}).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "ledger") {
		t.Fatalf("run with an unreadable ledger: %v, want a ledger error", err)
	}
	if got := releaseFolders(t, cfg); len(got) != 1 || got[0] != first.ReleaseID {
		t.Errorf("releases after the failed run: %v, want only %s", got, first.ReleaseID)
	}
	if err := os.WriteFile(ledgerPath, good, 0o600); err != nil {
		t.Fatal(err)
	}
	if res := run(t, &pipeline.Runner{Config: cfg, Logger: quietLogger()}); res.ReleaseID == first.ReleaseID {
		t.Errorf("the run after the ledger was restored republished %s, want a new release", res.ReleaseID)
	}
}
