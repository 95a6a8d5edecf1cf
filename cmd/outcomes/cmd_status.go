package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/outcomes/outcomes/pipeline"
	"github.com/outcomes/outcomes/pipeline/publish"
)

// statusReport is `outcomes status --json`.
type statusReport struct {
	Latest string               `json:"latest_release,omitempty"`
	Final  string               `json:"final_release,omitempty"`
	Budget []budgetRow          `json:"budget"`
	Runs   []pipeline.RunRecord `json:"runs"`
}

func cmdStatus(ctx context.Context, args []string, stdout io.Writer, _ *slog.Logger) error {
	fs := newFlags("status")
	cfgPath := fs.String("config", "", "pipeline configuration file (TOML)")
	asJSON := fs.Bool("json", false, "print JSON for monitoring")
	limit := fs.Int("limit", 10, "how many recent runs to show")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	w, err := pipeline.OpenWarehouse(ctx, cfg)
	if err != nil {
		return err
	}
	defer w.Close()
	var report statusReport
	if report.Runs, err = pipeline.RecentRuns(ctx, w.DB, *limit); err != nil {
		return err
	}
	ldb, err := pipeline.OpenLedger(ctx, cfg)
	if err != nil {
		return err
	}
	defer ldb.Close()
	if report.Budget, err = budgetRows(ctx, ldb, cfg.Privacy.EpsilonCap); err != nil {
		return err
	}
	out := cfg.Path(cfg.Run.OutputDir)
	report.Latest, _ = publish.Latest(out)
	if target, err := filepath.EvalSymlinks(filepath.Join(out, "final")); err == nil {
		report.Final = filepath.Base(target)
	}
	if *asJSON {
		if report.Runs == nil {
			report.Runs = []pipeline.RunRecord{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	fmt.Fprintf(stdout, "Latest release: %s\nLatest final release: %s\n\n", orNone(report.Latest), orNone(report.Final))
	for _, b := range report.Budget {
		fmt.Fprintf(stdout, "Budget %s: %.4g of %.4g spent over %d releases\n", b.Scope.Scope, b.EpsilonSpent, b.EpsilonCap, b.Releases)
	}
	fmt.Fprintf(stdout, "\n%-25s %-11s %-12s %8s %8s  %-25s %s\n", "run", "kind", "outcome", "seconds", "epsilon", "release", "rows read (this run)")
	for _, r := range report.Runs {
		var read, ingested int64
		for _, in := range r.Inputs {
			if in.Ingested {
				read += in.RowsRead
				ingested++
			}
		}
		fmt.Fprintf(stdout, "%-25s %-11s %-12s %8.1f %8.3g  %-25s %d from %d files\n", r.RunID, r.Kind, r.Outcome, r.Seconds, r.Epsilon, orNone(r.ReleaseID), read, ingested)
		if r.Message != "" {
			fmt.Fprintf(stdout, "    %s\n", r.Message)
		}
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
