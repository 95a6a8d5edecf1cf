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
}

func baseName(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}
