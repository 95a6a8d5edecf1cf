package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/outcomes/outcomes/pipeline"
	"github.com/outcomes/outcomes/pipeline/config"
	"github.com/outcomes/outcomes/schemas"
)

func cmdRun(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	fs := newFlags("run")
	cfgPath := fs.String("config", "", "pipeline configuration file (TOML)")
	final := fs.Bool("final", false, "draw a final release for wider publication; it waits for `outcomes approve`")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	kind := config.KindProvisional
	if *final {
		kind = config.KindFinal
	}
	r := &pipeline.Runner{Config: cfg, Logger: log, CodeVersion: version, Kind: kind, Progress: ingestProgress(os.Stderr)}
	res, err := r.Run(ctx)
	if err != nil {
		return err
	}
	printSummary(stdout, res)
	return nil
}

// printSummary tells the data lead where the release is and shows the
// trust-level headline rows.
func printSummary(w io.Writer, res *pipeline.Result) {
	if res.Pending {
		fmt.Fprintf(w, "Final release %s is drawn (epsilon %.3g spent) and waits for approval in\n%s\n\nReview and approve it with:\n  outcomes approve %s --by \"Your Name\" --config <this configuration>\n",
			res.ReleaseID, res.Epsilon, res.ReleaseDir, res.ReleaseID)
		return
	}
	if res.Republished {
		fmt.Fprintf(w, "Inputs and configuration unchanged: republished release %s (no new noise, no budget spent).\n%s\n", res.ReleaseID, res.ReleaseDir)
		return
	}
	fmt.Fprintf(w, "Published %s release %s (epsilon %.3g)\n%s\n\n", res.Kind, res.ReleaseID, res.Epsilon, res.ReleaseDir)
	for _, in := range res.Inputs {
		fmt.Fprintf(w, "  %-13s %-20s read %8d  loaded %8d  quarantined %6d  duplicate %5d\n",
			in.Source, baseName(in.Path), in.RowsRead, in.RowsLoaded, in.RowsQuarantined, in.RowsDuplicate)
	}
	for _, l := range res.Linkage {
		fmt.Fprintf(w, "  linkage       %-20s %d of %d records linked to %d pupils; %d ambiguous, %d conflicting, %d unmatched\n",
			l.Programme, l.Linked, l.Records, l.Pupils, l.Ambiguous, l.Conflicting, l.Unmatched)
	}
	fmt.Fprintf(w, "\nTrust-level attendance rate, %% (95%% interval for the noise):\n")
	fmt.Fprintf(w, "  %-12s %-28s %-13s %s\n", "term", "programme", "group", "attendance rate")
	for _, r := range res.Rows {
		if r.GeographicLevel != schemas.LevelMAT {
			continue
		}
		rate := "c (suppressed)"
		if r.AttendanceRate != nil {
			rate = fmt.Sprintf("%5.1f  (%.1f to %.1f)", *r.AttendanceRate, *r.AttendanceRateLower95, *r.AttendanceRateUpper95)
		}
		fmt.Fprintf(w, "  %-12s %-28s %-13s %s\n", r.TimeIdentifier, r.Programme, r.PupilGroup, rate)
	}
	printImpact(w, res.Impact)
}

// printImpact shows each programme's trust-level estimates: the change in
// attendance rate from the window before the first session to the window
// after, for participants and the matched comparison, and the difference.
func printImpact(w io.Writer, rows []schemas.ImpactRow) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "\nImpact: change in attendance rate after the first programme session, percentage points\n")
	fmt.Fprintf(w, "(95%% interval for sampling and noise; comparison from the programme's schools and year groups,\n matched on baseline absence band and FSM):\n")
	fmt.Fprintf(w, "  %-28s %-22s %-24s %-24s %s\n", "programme", "period", "participants", "comparison", "difference")
	show := func(v, lo, hi *float64) string {
		if v == nil {
			return "z (not estimable)"
		}
		return fmt.Sprintf("%+5.1f (%+.1f to %+.1f)", *v, *lo, *hi)
	}
	for _, r := range rows {
		if r.Breakdown != "Total" {
			continue
		}
		period := r.TimeIdentifier + " " + r.TimePeriod
		if r.Suppressed {
			fmt.Fprintf(w, "  %-28s %-22s c (too few pupils)\n", r.Programme, period)
			continue
		}
		fmt.Fprintf(w, "  %-28s %-22s %-24s %-24s %s\n", r.Programme, period,
			show(r.ParticipantsChange, r.ParticipantsChangeLower95, r.ParticipantsChangeUpper95),
			show(r.ComparisonChange, r.ComparisonChangeLower95, r.ComparisonChangeUpper95),
			show(r.Difference, r.DifferenceLower95, r.DifferenceUpper95))
	}
}

func baseName(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}
