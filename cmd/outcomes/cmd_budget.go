package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"github.com/outcomes/outcomes/pipeline"
	"github.com/outcomes/outcomes/pipeline/ledger"
)

// budgetRow is one scope in `outcomes budget --json`.
type budgetRow struct {
	ledger.Scope
	EpsilonCap float64 `json:"epsilon_cap"`
}

func cmdBudget(ctx context.Context, args []string, stdout io.Writer, _ *slog.Logger) error {
	fs := newFlags("budget")
	cfgPath := fs.String("config", "", "pipeline configuration file (TOML)")
	asJSON := fs.Bool("json", false, "print a JSON array")
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
	scopes, err := ledger.Scopes(ctx, w.DB)
	if err != nil {
		return err
	}
	rows := make([]budgetRow, 0, len(scopes))
	for _, s := range scopes {
		rows = append(rows, budgetRow{Scope: s, EpsilonCap: cfg.Privacy.EpsilonCap})
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(stdout, "No releases recorded yet.")
		return nil
	}
	fmt.Fprintf(stdout, "%-24s %10s %10s %10s %9s\n", "scope", "spent", "cap", "left", "releases")
	for _, r := range rows {
		fmt.Fprintf(stdout, "%-24s %10.4g %10.4g %10.4g %9d\n", r.Scope.Scope, r.EpsilonSpent, r.EpsilonCap, r.EpsilonCap-r.EpsilonSpent, r.Releases)
	}
	return nil
}
