package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/outcomes/outcomes/pipeline"
	"github.com/outcomes/outcomes/pipeline/ledger"
	"github.com/outcomes/outcomes/pipeline/publish"
	"github.com/outcomes/outcomes/schemas"
)

// stdin is where approve reads a typed confirmation; tests replace it.
var stdin io.Reader = os.Stdin

func cmdApprove(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	fs := newFlags("approve")
	cfgPath := fs.String("config", "", "pipeline configuration file (TOML)")
	by := fs.String("by", "", "the name of the person approving the release")
	yes := fs.Bool("yes", false, "approve without typing the release id (for scripts, after reviewing the summary)")
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if id == "" {
		return usageError{errors.New("name the release to approve: outcomes approve RELEASE --by NAME --config FILE")}
	}
	if strings.TrimSpace(*by) == "" {
		return usageError{errors.New("--by NAME is required: a final release is approved by a named person")}
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	outputDir := cfg.Path(cfg.Run.OutputDir)
	dir := publish.PendingDir(outputDir, filepath.Base(id))
	m, err := publish.Verify(dir)
	if err != nil {
		// An earlier approval may have moved it into releases/ and then failed.
		moved := filepath.Join(outputDir, "releases", filepath.Base(id))
		if mm, merr := publish.Verify(moved); merr == nil && mm.Kind == "final" {
			m, dir, err = mm, moved, nil
		}
	}
	if err != nil {
		return fmt.Errorf("no complete pending release %s in %s: %w", id, filepath.Dir(dir), err)
	}
	if err := printReview(stdout, dir, m); err != nil {
		return err
	}
	if !*yes {
		if err := confirm(stdout, m.ReleaseID); err != nil {
			return err
		}
	}

	stateDir := cfg.Path(cfg.Run.StateDir)
	unlock, err := pipeline.Lock(stateDir, time.Now())
	if err != nil {
		return err
	}
	defer unlock()
	ldb, err := pipeline.OpenLedger(ctx, cfg)
	if err != nil {
		return err
	}
	defer ldb.Close()
	at := time.Now().UTC()
	// Ledger first: a release is never out without its approval on record.
	if err := ledger.RecordApproval(ctx, ldb, m.ReleaseID, *by, at); err != nil {
		return err
	}
	// A retry finishes the first approval, under its approver's name.
	approval, err := ledger.ApprovalOf(ctx, ldb, m.ReleaseID)
	if err != nil {
		return err
	}
	final, err := publish.Approve(outputDir, m.ReleaseID, publish.Approval{By: approval.By, At: approval.At})
	if err != nil {
		return fmt.Errorf("approval recorded but publication failed (run approve again): %w", err)
	}
	if err := ledger.MarkPublished(ctx, ldb, m.ReleaseID); err != nil {
		return err
	}
	log.Info("final release approved and published", pipeline.LogRelease, m.ReleaseID, "approved_by", approval.By)
	fmt.Fprintf(stdout, "\nApproved by %s. Final release %s is published:\n%s\n", approval.By, m.ReleaseID, final)
	return nil
}

// confirm asks the person to type the release id; it refuses when no one is
// at a terminal to type it.
func confirm(stdout io.Writer, id string) error {
	if f, ok := stdin.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
		return usageError{errors.New("not approved: no terminal to confirm on; review the summary above, then run again with --yes")}
	}
	fmt.Fprintf(stdout, "\nType the release id (%s) to approve it and publish it for wider use: ", id)
	line, _ := bufio.NewReader(stdin).ReadString('\n')
	if strings.TrimSpace(line) != id {
		return usageError{errors.New("not approved: the release id was not typed")}
	}
	return nil
}

// printReview shows what the release would publish: its privacy parameters,
// its size, its suppression pattern and its trust-level headline rows.
func printReview(w io.Writer, dir string, m *publish.Manifest) error {
	p := m.Privacy
	fmt.Fprintf(w, "Final release %s, drawn %s\n\n", m.ReleaseID, m.CreatedAt.Format(time.RFC3339))
	fmt.Fprintf(w, "Privacy: epsilon %.3g (delta %g, %s).\n", p.Epsilon, p.Delta, p.Unit)
	for _, scope := range sortedKeys(p.ScopeEpsilonSpent) {
		fmt.Fprintf(w, "Budget %s: %.3g of %.3g spent including this release.\n", scope, p.ScopeEpsilonSpent[scope], p.ScopeEpsilonCap)
	}
	fmt.Fprintf(w, "Each pupil reaches at most %d cells per measure; session sums clamped to", p.MaxPartitionsPerPupil)
	for _, b := range p.Bounds {
		fmt.Fprintf(w, " %s [%d, %d]", b.Term, b.Lower, b.Upper)
	}
	fmt.Fprintf(w, ".\nRounded to %d; rows with a noisy pupil count under %d suppressed.\n", p.RoundingBase, p.SuppressBelow)
	if im := p.Impact; im != nil {
		fmt.Fprintf(w, "Impact table: epsilon %.3g of the release's; each pupil in at most %d cells per measure; windows of %d possible sessions; each pupil's change clamped to ±%d points.\n",
			im.Epsilon, im.MaxPartitionsPerPupil, im.WindowSessions, im.MaxChangePP)
	}
	fmt.Fprintln(w)

	f, err := os.Open(filepath.Join(dir, schemas.AttendanceTable+".csv"))
	if err != nil {
		return err
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return fmt.Errorf("read %s: %w", f.Name(), err)
	}
	if len(records) == 0 {
		return fmt.Errorf("%s is empty", f.Name())
	}
	col := map[string]int{}
	for i, h := range records[0] {
		col[h] = i
	}
	get := func(r []string, name string) string { return r[col[name]] }
	var suppressed []string
	for _, r := range records[1:] {
		if get(r, "pupils") == schemas.SymbolSuppressed {
			place := get(r, "geographic_level")
			if urn := get(r, "school_urn"); urn != "" {
				place += " " + urn
			}
			suppressed = append(suppressed, fmt.Sprintf("%s, %s, %s, %s", place, get(r, "time_identifier"), get(r, "programme"), get(r, "pupil_group")))
		}
	}
	fmt.Fprintf(w, "It publishes %d rows (%s), %d of them suppressed:\n", len(records)-1, strings.Join(outputNames(m), ", "), len(suppressed))
	for i, s := range suppressed {
		if i == 20 {
			fmt.Fprintf(w, "  ... and %d more (see %s)\n", len(suppressed)-20, f.Name())
			break
		}
		fmt.Fprintf(w, "  %s\n", s)
	}
	fmt.Fprintf(w, "\nTrust-level attendance rate, %% (95%% interval for the noise):\n")
	for _, r := range records[1:] {
		if get(r, "geographic_level") != schemas.LevelMAT {
			continue
		}
		fmt.Fprintf(w, "  %-12s %-28s %-13s %s (%s to %s)\n", get(r, "time_identifier"), get(r, "programme"), get(r, "pupil_group"),
			get(r, "attendance_rate"), get(r, "attendance_rate_lower95"), get(r, "attendance_rate_upper95"))
	}
	for _, o := range m.Outputs {
		if o.Path != schemas.ImpactTable+".parquet" {
			continue
		}
		impact, err := publish.ReadParquet[schemas.ImpactRow](dir, o.Path)
		if err != nil {
			return err
		}
		suppressed := 0
		for i := range impact {
			if impact[i].Suppressed = impact[i].Participants == nil; impact[i].Suppressed {
				suppressed++
			}
		}
		fmt.Fprintf(w, "\nThe impact table has %d rows, %d of them suppressed.", len(impact), suppressed)
		printImpact(w, impact)
	}
	return nil
}

func outputNames(m *publish.Manifest) []string {
	var names []string
	for _, o := range m.Outputs {
		names = append(names, o.Path)
	}
	return names
}

func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
