package main

import (
	"context"
	"database/sql"
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
	ldb, err := pipeline.OpenLedger(ctx, cfg)
	if err != nil {
		return err
	}
	defer ldb.Close()
	rows, err := budgetRows(ctx, ldb, cfg.Privacy.EpsilonCap)
	if err != nil {
		return err
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

// budgetRows is every scope's spending with the cap that applies to it.
func budgetRows(ctx context.Context, db *sql.DB, capEpsilon float64) ([]budgetRow, error) {
	scopes, err := ledger.Scopes(ctx, db)
	if err != nil {
		return nil, err
	}
	rows := make([]budgetRow, 0, len(scopes))
	for _, s := range scopes {
		rows = append(rows, budgetRow{Scope: s, EpsilonCap: capEpsilon})
	}
	return rows, nil
}
