package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/outcomes/outcomes/fixtures"
	"github.com/outcomes/outcomes/pipeline/config"
	"github.com/outcomes/outcomes/queries"
	"github.com/outcomes/outcomes/transforms/privacy"
	"github.com/outcomes/outcomes/transforms/privacy/privacytest"
)

// TestImpactPupilsStayWithinTheirPartitionBounds measures, on a real
// warehouse where 60 pupils take part in every programme (on dates in
// different terms, with restricted and overlapping comparison pools), how
// many partitions one pupil reaches per measure, and compares that with the
// bounds the aggregators are given: the histogram's max_programmes_per_pupil
// keys, the impact sums' max_programmes_per_pupil x (1 + breakdowns), never
// twice in one partition, never both participant and comparison, one period
// per pupil and programme, every value within its clamp. Then the real
// aggregators, with Laplace noise, must accept the data. (Written for an
// independent review of the impact table's accounting.)
func TestImpactPupilsStayWithinTheirPartitionBounds(t *testing.T) {
	for _, tt := range []struct {
		period  string
		maxProg int
	}{{config.PeriodTerm, 1}, {config.PeriodTerm, 3}, {config.PeriodFinancialYear, 2}, {config.PeriodAcademicYear, 3}} {
		t.Run(fmt.Sprintf("%s/max_programmes_%d", tt.period, tt.maxProg), func(t *testing.T) {
			checkImpactBounds(t, tt.period, tt.maxProg)
		})
	}
}

func checkImpactBounds(t *testing.T, period string, maxProg int) {
	cfg := impactTrust(t, fixtures.Options{Schools: 2, PupilsPerSchool: 150, Seed: 11})
	cfg.Publish.RoundingBase, cfg.Publish.SuppressBelow = 1, 0
	cfg.Impact.Period = period
	cfg.Impact.Breakdowns = []string{config.BreakdownFSM, config.BreakdownSEN, config.BreakdownYearGroup}
	cfg.Impact.YearGroups = []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}
	cfg.Privacy.MaxProgrammesPerPupil = maxProg
	// Restricted comparison pools, overlapping, to exercise the new join.
	cfg.Programmes[0].Schools = []string{cfg.Schools[0].URN}
	cfg.Programmes[1].YearGroups = []int{1, 2, 3, 4, 5, 6, 7}
	r := &Runner{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Noise: privacytest.NoNoise()}
	if _, err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn := warehouseConn(t, r)
	// Make 60 pupils take part in every programme, on dates in different
	// terms, so the worst case is reached.
	var dates []time.Time
	for _, term := range cfg.Terms {
		dates = append(dates, term.StartDate().AddDate(0, 0, 40))
	}
	for pi, prog := range cfg.Programmes {
		d := dates[pi%len(dates)]
		if _, err := conn.ExecContext(ctx, `INSERT INTO participation
			SELECT ?, pupil_key, 'upn', ?::DATE, 'session', true FROM pupils ORDER BY pupil_key LIMIT 60`, prog.ID, d.Format(time.DateOnly)); err != nil {
			t.Fatal(err)
		}
	}
	plan := r.impactPlan()
	if err := defineImpactTables(ctx, conn, plan, cfg.Programmes); err != nil {
		t.Fatal(err)
	}
	// Uniform pseudo-date distribution over every configured month: public.
	for pi := range cfg.Programmes {
		n := float64(len(plan.months))
		for i, m := range plan.months {
			hi := float64(i+1) / n
			if i == len(plan.months)-1 {
				hi = math.Nextafter(1, 2)
			}
			days := m.AddDate(0, 1, 0).Sub(m).Hours() / 24
			if _, err := conn.ExecContext(ctx, "INSERT INTO cfg_impact_months VALUES (?, ?::DATE, ?, ?, ?)", pi, m.Format(time.DateOnly), int(days), float64(i)/n, hi); err != nil {
				t.Fatal(err)
			}
		}
	}
	salt := int64(987654321)
	wp := r.windowParams(plan, salt)
	if err := stageParticipants(ctx, conn, wp); err != nil {
		t.Fatal(err)
	}
	if err := buildImpactWindows(ctx, conn, wp); err != nil {
		t.Fatal(err)
	}
	// Histogram: keys per pupil.
	hist := map[int64]map[int]bool{}
	rows, err := conn.QueryContext(ctx, queries.Get("impact_index_dates"), salt, int64(maxProg))
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p int64
		var prog int
		var d time.Time
		if err := rows.Scan(&p, &prog, &d); err != nil {
			t.Fatal(err)
		}
		if hist[p] == nil {
			hist[p] = map[int]bool{}
		}
		if hist[p][prog] {
			t.Errorf("pupil %d: two index dates for programme %d", p, prog)
		}
		hist[p][prog] = true
	}
	rows.Close()
	maxHist := 0
	for _, m := range hist {
		maxHist = max(maxHist, len(m))
	}
	if int64(maxHist) > int64(maxProg) {
		t.Errorf("histogram: a pupil reaches %d keys, Counter bound %d", maxHist, maxProg)
	}

	public := map[[2]string]bool{}
	for _, bc := range plan.layout.Cells {
		public[[2]string{bc.Key, bc.Value}] = true
	}
	type part struct {
		prog, period int
		bk, val      string
		comparison   bool
		stratum      int
	}
	records := map[int64]int{}
	perMeasure := map[string]map[int64]map[part]int{"pupils": {}, "weights": {}}
	group := map[int64]map[bool]bool{}
	periods := map[[2]int64]map[int]bool{}
	add := func(m string, p int64, k part) {
		if perMeasure[m][p] == nil {
			perMeasure[m][p] = map[part]int{}
		}
		perMeasure[m][p][k]++
	}
	rows, err = conn.QueryContext(ctx, queries.Get("impact_contributions"))
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p int64
		var prog, per, cell, stratum int
		var participant bool
		var c, sq, pa int64
		if err := rows.Scan(&p, &prog, &per, &cell, &participant, &stratum, &c, &sq, &pa); err != nil {
			t.Fatal(err)
		}
		if cell < 0 || cell >= len(plan.layout.Cells) {
			t.Fatalf("pupil %d: breakdown cell %d outside the configured %d", p, cell, len(plan.layout.Cells))
		}
		bk, val := plan.layout.Cells[cell].Key, plan.layout.Cells[cell].Value
		if c < -plan.layout.MaxChangeBP || c > plan.layout.MaxChangeBP || sq < 0 || sq > privacy.ImpactMaxSq(plan.layout.MaxChangeBP) || pa < -1 || pa > 1 {
			t.Errorf("pupil %d: value outside its bound: change %d, sq %d, pa %d", p, c, sq, pa)
		}
		if group[p] == nil {
			group[p] = map[bool]bool{}
		}
		group[p][participant] = true
		k := [2]int64{p, int64(prog)}
		if periods[k] == nil {
			periods[k] = map[int]bool{}
		}
		periods[k][per] = true
		if !public[[2]string{bk, val}] {
			continue
		}
		records[p]++
		if participant {
			add("pupils", p, part{prog, per, bk, val, false, privacy.AllStrata})
			add("weights", p, part{prog, per, bk, val, false, stratum})
		} else {
			add("pupils", p, part{prog, per, bk, val, true, stratum})
		}
	}
	rows.Close()
	maxRec := 0
	for p, n := range records {
		maxRec = max(maxRec, n)
		if int64(n) > plan.maxPartitions {
			t.Errorf("pupil %d: %d records, MaxPartitions %d", p, n, plan.maxPartitions)
		}
	}
	maxPer := map[string]int{}
	for m, byPupil := range perMeasure {
		for p, parts := range byPupil {
			maxPer[m] = max(maxPer[m], len(parts))
			for k, n := range parts {
				if n > 1 {
					t.Errorf("measure %s: pupil %d contributes %d times to %+v", m, p, n, k)
				}
			}
		}
	}
	both := 0
	for _, g := range group {
		if g[true] && g[false] {
			both++
		}
	}
	multi := 0
	for _, ps := range periods {
		if len(ps) > 1 {
			multi++
		}
	}
	if both > 0 || multi > 0 {
		t.Errorf("%d pupils both participant and comparison; %d pupil x programme in two periods", both, multi)
	}
	t.Logf("maxPartitions %d; observed max records %d, pupils-measure %d, weights-measure %d, histogram keys %d (bound %d)",
		plan.maxPartitions, maxRec, maxPer["pupils"], maxPer["weights"], maxHist, maxProg)
	// And the real path, with Laplace noise: the aggregators must accept it.
	if _, err := r.runImpact(ctx, conn, cfg.ReleaseEpsilon(config.KindProvisional), salt, nil); err != nil {
		t.Fatalf("runImpact refused the data: %v", err)
	}
}
