package pipeline

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/google/differential-privacy/go/v3/noise"

	"github.com/outcomes/outcomes/pipeline/config"
	"github.com/outcomes/outcomes/pipeline/warehouse"
	"github.com/outcomes/outcomes/queries"
	"github.com/outcomes/outcomes/schemas"
	"github.com/outcomes/outcomes/transforms/postprocess"
	"github.com/outcomes/outcomes/transforms/privacy"
)

// impactWeights split the impact table's epsilon across its measures. The
// change sums carry the estimate, so they get the most; the histogram of index
// months only steers the comparison group's pseudo index dates.
var impactWeights = map[string]float64{
	privacy.ImpactIndexMonths:  2,
	privacy.ImpactPupils:       2,
	privacy.ImpactMatchWeights: 1,
	privacy.ImpactChange:       4,
	privacy.ImpactChangeSq:     1,
	privacy.ImpactPAChange:     2,
	privacy.ImpactPASwitchers:  1,
}

// impactEpsilons is each impact measure's share of the release's epsilon.
func impactEpsilons(c *config.Config, epsilon float64) map[string]float64 {
	total := 0.0
	for _, m := range privacy.ImpactMeasures {
		total += impactWeights[m]
	}
	out := map[string]float64{}
	for _, m := range privacy.ImpactMeasures {
		out[m] = c.ImpactEpsilon(epsilon) * impactWeights[m] / total
	}
	return out
}

// impactPlan is the public shape of the impact table, all from configuration.
type impactPlan struct {
	layout        postprocess.ImpactLayout
	periods       []impactPeriod
	months        []time.Time // first day of every month the terms touch
	bands         []float64   // baseline band edges as absence fractions
	maxPartitions int64
	breakdowns    map[string]bool
}

type impactPeriod struct {
	postprocess.ImpactPeriod
	start, end time.Time
}

// impactStrata is the number of matching strata: the baseline bands (one more
// than the edges), the "no baseline" band, each split by FSM.
func impactStrata(c *config.Config) int { return (len(c.Impact.BaselineBands) + 2) * 2 }

func (r *Runner) impactPlan() impactPlan {
	c := r.Config
	p := impactPlan{breakdowns: map[string]bool{}}
	l := postprocess.ImpactLayout{TrustID: c.Trust.ID, TrustName: c.Trust.Name, Strata: impactStrata(c),
		MinStratumPupils: float64(c.Impact.MinStratumPupils), MaxChangeBP: int64(c.Impact.MaxChangePP) * privacy.ChangeScale / 100,
		RoundingBase: int64(c.Publish.RoundingBase), SuppressBelow: int64(c.Publish.SuppressBelow)}
	for _, pr := range c.Programmes {
		l.Programmes = append(l.Programmes, postprocess.Programme{ID: pr.ID, Name: pr.Name})
	}
	p.periods = impactPeriods(c)
	for _, per := range p.periods {
		l.Periods = append(l.Periods, per.ImpactPeriod)
	}
	l.Cells = []postprocess.BreakdownCell{{Key: "total", Value: "Total", Name: "Total", Label: "Total"}}
	for _, b := range c.Impact.Breakdowns {
		p.breakdowns[b] = true
		switch b {
		case config.BreakdownFSM:
			l.Cells = append(l.Cells,
				postprocess.BreakdownCell{Key: b, Value: "Y", Name: "FSM", Label: "Eligible for free school meals"},
				postprocess.BreakdownCell{Key: b, Value: "N", Name: "FSM", Label: "Not known to be eligible"})
		case config.BreakdownSEN:
			l.Cells = append(l.Cells,
				postprocess.BreakdownCell{Key: b, Value: "N", Name: "SEN", Label: "No special educational needs"},
				postprocess.BreakdownCell{Key: b, Value: "K", Name: "SEN", Label: "SEN support"},
				postprocess.BreakdownCell{Key: b, Value: "E", Name: "SEN", Label: "Education, health and care plan"})
		case config.BreakdownYearGroup:
			for _, y := range c.Impact.YearGroups {
				label := "Year " + strconv.Itoa(y)
				if y == 0 {
					label = "Reception"
				}
				l.Cells = append(l.Cells, postprocess.BreakdownCell{Key: b, Value: strconv.Itoa(y), Name: "Year group", Label: label})
			}
		}
	}
	p.layout = l
	for _, e := range c.Impact.BaselineBands {
		p.bands = append(p.bands, e/100)
	}
	var first, last time.Time
	for i, t := range c.Terms {
		if i == 0 || t.StartDate().Before(first) {
			first = t.StartDate()
		}
		if i == 0 || t.EndDate().After(last) {
			last = t.EndDate()
		}
	}
	for m := time.Date(first.Year(), first.Month(), 1, 0, 0, 0, 0, time.UTC); !m.After(last); m = m.AddDate(0, 1, 0) {
		p.months = append(p.months, m)
	}
	p.maxPartitions = int64(c.Privacy.MaxProgrammesPerPupil) * int64(1+len(c.Impact.Breakdowns))
	return p
}

// impactPeriods lists the periods of index dates the table is grouped by,
// covering every configured term: academic years (each the span of its
// configured terms: DfE's statistical year runs 1 August to 31 July, and
// the 1 September to 31 August convention covers the same school days), the
// configured terms, or NHS financial years (1 April to 31 March).
func impactPeriods(c *config.Config) []impactPeriod {
	var out []impactPeriod
	label := func(y int) string { return fmt.Sprintf("%04d%02d", y, (y+1)%100) }
	switch c.Impact.Period {
	case config.PeriodTerm:
		for _, t := range c.Terms {
			out = append(out, impactPeriod{postprocess.ImpactPeriod{ID: TermID(t), TimePeriod: t.AcademicYear, TimeIdentifier: t.Name}, t.StartDate(), t.EndDate()})
		}
	case config.PeriodAcademicYear:
		index := map[string]int{}
		for _, t := range c.Terms {
			i, ok := index[t.AcademicYear]
			if !ok {
				index[t.AcademicYear] = len(out)
				out = append(out, impactPeriod{postprocess.ImpactPeriod{ID: "ay-" + t.AcademicYear, TimePeriod: t.AcademicYear, TimeIdentifier: "Academic year"}, t.StartDate(), t.EndDate()})
				continue
			}
			if t.StartDate().Before(out[i].start) {
				out[i].start = t.StartDate()
			}
			if t.EndDate().After(out[i].end) {
				out[i].end = t.EndDate()
			}
		}
	case config.PeriodFinancialYear:
		seen := map[int]bool{}
		yearOf := func(d time.Time) int {
			if d.Month() < time.April {
				return d.Year() - 1
			}
			return d.Year()
		}
		for _, t := range c.Terms {
			for y := yearOf(t.StartDate()); y <= yearOf(t.EndDate()); y++ {
				if !seen[y] {
					seen[y] = true
					start := time.Date(y, time.April, 1, 0, 0, 0, 0, time.UTC)
					out = append(out, impactPeriod{postprocess.ImpactPeriod{ID: "fy-" + label(y), TimePeriod: label(y), TimeIdentifier: "Financial year"}, start, start.AddDate(1, 0, -1)})
				}
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].start.Before(out[j].start) })
	return out
}

// impactPartitions lists every public impact cell.
func (p impactPlan) partitions() []privacy.ImpactPartition {
	var out []privacy.ImpactPartition
	for _, prog := range p.layout.Programmes {
		for _, per := range p.layout.Periods {
			for _, bc := range p.layout.Cells {
				for _, comparison := range []bool{false, true} {
					first := 0
					if !comparison {
						first = privacy.AllStrata
					}
					for s := first; s < p.layout.Strata; s++ {
						out = append(out, privacy.ImpactPartition{Programme: prog.ID, Period: per.ID, Breakdown: bc.Key, Value: bc.Value, Comparison: comparison, Stratum: s})
					}
				}
			}
		}
	}
	return out
}

func monthKey(programme string, m time.Time) string { return programme + "|" + m.Format("2006-01") }

// runImpact draws the impact table on the run's connection: first the noisy
// histogram of participants' index months, from which the comparison group's
// pseudo index dates are drawn; then the windows, the bounded per-pupil
// contributions and their noisy sums, post-processed into rows. The caller
// has already recorded the release's whole epsilon in the ledger.
func (r *Runner) runImpact(ctx context.Context, conn *sql.Conn, epsilon float64, salt int64, nz noise.Noise) ([]schemas.ImpactRow, error) {
	c := r.Config
	plan := r.impactPlan()
	eps := impactEpsilons(c, epsilon)
	if err := defineImpactTables(ctx, conn, plan, c.Programmes); err != nil {
		return nil, err
	}
	defer func() {
		for _, t := range []string{"cfg_impact_bands", "cfg_impact_periods", "cfg_impact_months", "cfg_impact_cells", "cfg_impact_breakdowns", "impact_participants", "impact_slots", "impact_window_counts", "impact_windows"} {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+t)
		}
	}()
	maxProgrammes := int64(c.Privacy.MaxProgrammesPerPupil)

	// Step 1: the histogram of index months.
	var keys []string
	monthKeys := map[string]bool{}
	for _, prog := range c.Programmes {
		for _, m := range plan.months {
			keys = append(keys, monthKey(prog.ID, m))
			monthKeys[monthKey(prog.ID, m)] = true
		}
	}
	hist, err := privacy.NewCounter(keys, eps[privacy.ImpactIndexMonths], maxProgrammes, nz)
	if err != nil {
		return nil, err
	}
	wp := r.windowParams(plan, salt)
	if err := stageParticipants(ctx, conn, wp); err != nil {
		return nil, err
	}
	rows, err := conn.QueryContext(ctx, "SELECT pupil_key, programme_idx, index_date FROM impact_participants")
	if err != nil {
		return nil, fmt.Errorf("impact index dates: %w", err)
	}
	for rows.Next() {
		var pupil int64
		var prog int
		var d time.Time
		if err := rows.Scan(&pupil, &prog, &d); err != nil {
			rows.Close()
			return nil, fmt.Errorf("impact index dates: %w", err)
		}
		if prog < 0 || prog >= len(c.Programmes) {
			rows.Close()
			return nil, fmt.Errorf("impact index dates: programme key %d outside the configured list", prog)
		}
		// An index date outside the terms' months has no public cell; it
		// only steers the comparison dates, so leaving it out is safe.
		key := monthKey(c.Programmes[prog].ID, time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC))
		if !monthKeys[key] {
			continue
		}
		if err := hist.Add(pupil, key); err != nil {
			rows.Close()
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, fmt.Errorf("impact index dates: %w", err)
	}
	rows.Close()
	counts, err := hist.Results()
	if err != nil {
		return nil, err
	}
	var months [][]any
	for pi, prog := range c.Programmes {
		est := make([]privacy.Estimate, len(plan.months))
		for i, m := range plan.months {
			est[i] = counts[monthKey(prog.ID, m)]
		}
		w := postprocess.IndexMonthWeights(est)
		total := 0.0
		for _, x := range w {
			total += x
		}
		if total <= 0 {
			continue // no comparison dates for this programme: its rows are not estimable
		}
		cum := 0.0
		for i, m := range plan.months {
			if w[i] <= 0 {
				continue
			}
			lo := cum / total
			cum += w[i]
			hi := cum / total
			if i == len(plan.months)-1 || cum >= total {
				hi = math.Nextafter(1, 2)
			}
			days := m.AddDate(0, 1, 0).Sub(m).Hours() / 24
			months = append(months, []any{pi, m.Format(time.DateOnly), int(days), lo, hi})
		}
	}
	if err := warehouse.InsertRows(ctx, conn, warehouse.Rows{Table: "cfg_impact_months", Tuple: "(?, ?::DATE, ?, ?, ?)", Values: months}); err != nil {
		return nil, err
	}

	// Step 2: the windows, bounded per pupil.
	if err := buildImpactWindows(ctx, conn, wp); err != nil {
		return nil, err
	}

	// Step 3: the noisy sums.
	agg, err := privacy.NewImpact(plan.partitions(), privacy.ImpactOptions{Epsilon: eps, MaxPartitions: plan.maxPartitions,
		MaxChangeBP: plan.layout.MaxChangeBP, Noise: nz})
	if err != nil {
		return nil, err
	}
	if err := feedImpact(ctx, conn, agg, plan, c); err != nil {
		return nil, err
	}
	cells, err := agg.Results()
	if err != nil {
		return nil, err
	}
	return postprocess.ImpactTable(cells, plan.layout)
}

// windowParams are buildImpactWindows' settings, from configuration.
type windowParams struct {
	salt, maxProgrammes                       int64
	window, minWindow, minBaseline, maxChange int64 // sessions; maxChange in hundredths of a point
}

func (r *Runner) windowParams(plan impactPlan, salt int64) windowParams {
	im := r.Config.Impact
	return windowParams{salt: salt, maxProgrammes: int64(r.Config.Privacy.MaxProgrammesPerPupil), window: int64(im.WindowSessions),
		minWindow: int64(im.MinWindowSessions), minBaseline: int64(im.MinBaselineSessions), maxChange: plan.layout.MaxChangeBP}
}

// stageParticipants keeps each participant's index dates per kept programme
// (impact_index_dates.sql) in the temp table impact_participants, which the
// histogram of index months and then the slots (impact_slots.sql) read.
func stageParticipants(ctx context.Context, conn *sql.Conn, p windowParams) error {
	if _, err := conn.ExecContext(ctx, "CREATE OR REPLACE TEMP TABLE impact_participants AS "+queries.Get("impact_index_dates"), p.salt, p.maxProgrammes); err != nil {
		return fmt.Errorf("impact index dates: %w", err)
	}
	return nil
}

// buildImpactWindows fills the temp table impact_windows: the slots
// (impact_slots.sql), then each slot pupil's possible sessions from
// pupil_terms (impact_sessions.sql), in which Go finds the windows
// (transforms/windows) and appends their counts to impact_window_counts,
// then the measures (impact_windows.sql). It holds one pupil's sessions at a
// time as it finds windows, so memory follows the slots, not the sessions.
// stageParticipants must have run.
func buildImpactWindows(ctx context.Context, conn *sql.Conn, p windowParams) error {
	if _, err := conn.ExecContext(ctx, "CREATE OR REPLACE TEMP TABLE impact_slots AS "+queries.Get("impact_slots"), p.salt, p.maxProgrammes); err != nil {
		return fmt.Errorf("impact slots: %w", err)
	}
	if _, err := conn.ExecContext(ctx, `CREATE OR REPLACE TEMP TABLE impact_window_counts (pupil_key BIGINT, programme_idx INTEGER,
		participant BOOLEAN, period_idx INTEGER, pre_possible BIGINT, pre_attended BIGINT, post_possible BIGINT, post_attended BIGINT,
		base_possible BIGINT, base_absent BIGINT)`); err != nil {
		return fmt.Errorf("impact windows: %w", err)
	}
	if err := countWindows(ctx, conn, int(p.window)); err != nil {
		return fmt.Errorf("impact windows: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "CREATE OR REPLACE TEMP TABLE impact_windows AS "+queries.Get("impact_windows"),
		p.minWindow, p.maxChange, p.minBaseline); err != nil {
		return fmt.Errorf("impact windows: %w", err)
	}
	return nil
}

// orAny is vs as query arguments, or a single NULL ("any") when vs is empty.
func orAny[T any](vs []T) []any {
	if len(vs) == 0 {
		return []any{nil}
	}
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

// defineImpactTables creates the public lists the impact queries join:
// baseline bands, periods, where each programme runs (from configuration),
// the published breakdown cells,
// and (filled after the histogram) the comparison group's sampling
// distribution of index months.
func defineImpactTables(ctx context.Context, conn *sql.Conn, plan impactPlan, programmes []config.Programme) error {
	stmts := []string{
		"CREATE OR REPLACE TEMP TABLE cfg_impact_bands (band_idx INTEGER, lower DOUBLE, upper DOUBLE, no_baseline BOOLEAN)",
		"CREATE OR REPLACE TEMP TABLE cfg_impact_periods (period_idx INTEGER, start_date DATE, end_date DATE)",
		"CREATE OR REPLACE TEMP TABLE cfg_impact_months (programme_idx INTEGER, month_start DATE, month_days INTEGER, cum_lo DOUBLE, cum_hi DOUBLE)",
		"CREATE OR REPLACE TEMP TABLE cfg_impact_cells (programme_idx INTEGER, school_urn VARCHAR, year_group INTEGER)",
		"CREATE OR REPLACE TEMP TABLE cfg_impact_breakdowns (cell_idx INTEGER, breakdown VARCHAR, breakdown_value VARCHAR)",
	}
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("define impact tables: %w", err)
		}
	}
	edges := append(append([]float64{0}, plan.bands...), 2) // an absence share is at most 1
	var bands, cells, periods, breakdowns [][]any
	for i, bc := range plan.layout.Cells {
		breakdowns = append(breakdowns, []any{i, bc.Key, bc.Value})
	}
	for i := 0; i+1 < len(edges); i++ {
		bands = append(bands, []any{i, edges[i], edges[i+1], false})
	}
	bands = append(bands, []any{len(edges) - 1, nil, nil, true})
	// Where each programme runs, its comparison pool: the configured
	// schools x year groups, NULL for "any".
	for pi, prog := range programmes {
		for _, s := range orAny(prog.Schools) {
			for _, y := range orAny(prog.YearGroups) {
				cells = append(cells, []any{pi, s, y})
			}
		}
	}
	for i, p := range plan.periods {
		periods = append(periods, []any{i, p.start.Format(time.DateOnly), p.end.Format(time.DateOnly)})
	}
	if err := warehouse.InsertRows(ctx, conn,
		warehouse.Rows{Table: "cfg_impact_bands", Tuple: "(?, ?, ?, ?)", Values: bands},
		warehouse.Rows{Table: "cfg_impact_cells", Tuple: "(?, ?, ?)", Values: cells},
		warehouse.Rows{Table: "cfg_impact_periods", Tuple: "(?, ?::DATE, ?::DATE)", Values: periods},
		warehouse.Rows{Table: "cfg_impact_breakdowns", Tuple: "(?, ?, ?)", Values: breakdowns},
	); err != nil {
		return fmt.Errorf("define impact tables: %w", err)
	}
	return nil
}
