package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/outcomes/outcomes/pipeline/config"
	"github.com/outcomes/outcomes/pipeline/ingest"
	"github.com/outcomes/outcomes/pipeline/keys"
	"github.com/outcomes/outcomes/schemas"
)

// cmdTokens lets an NHS partner tokenise its own participation file with the
// shared key, on its own machine, so raw health records never leave it. It
// touches no warehouse or ledger, so it takes no lock.
func cmdTokens(_ context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	fs := newFlags("tokens")
	cfgPath := fs.String("config", "", "the pipeline configuration: its run.key_file is the partner's linkage key (or the trust's key), its programmes and terms say which values may pass")
	in := fs.String("in", "", "the partner's raw participation CSV")
	out := fs.String("out", "", "where to write the tokenised CSV (mode 0600; must not exist)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *in == "" || *out == "" || *cfgPath == "" {
		return usageError{errors.New("--config FILE, --in RAW.csv and --out TOKENS.csv are required")}
	}
	cfg, err := config.LoadFile(*cfgPath)
	if err != nil {
		return err
	}
	rules := ingest.TokenRules{Format: cfg.SourceFormat(schemas.SourceParticipation)}
	for _, p := range cfg.Programmes {
		rules.Programmes = append(rules.Programmes, p.ID)
	}
	for i, t := range cfg.Terms {
		if from := t.StartDate().AddDate(-1, 0, 0); i == 0 || from.Before(rules.EventsFrom) {
			rules.EventsFrom = from
		}
		if to := t.EndDate().AddDate(1, 0, 0); to.After(rules.EventsTo) {
			rules.EventsTo = to
		}
	}
	if abs(*in) == abs(*out) {
		return usageError{errors.New("--out must be a new file, not the raw input")}
	}
	// The names reach the log and the tokenised file's rows; neither may
	// carry a pupil's identifier (runs refuse such input names too).
	for _, f := range []struct{ flag, path string }{{"--in", *in}, {"--out", *out}} {
		if schemas.NameHoldsIdentifier(filepath.Base(f.path)) {
			return fmt.Errorf("the %s file: %w: its name holds a pupil's UPN or NHS number (not shown here); file names are written to logs and to the tokenised file, so rename it", f.flag, ingest.ErrUnreadable)
		}
	}
	if _, err := os.Stat(*out); err == nil {
		return usageError{fmt.Errorf("%s already exists; remove it or choose another --out", *out)}
	}
	// The partner's configuration names the linkage key from `outcomes keygen
	// --partner`; the trust's own names its key, from which the same linkage
	// key is derived.
	tok, err := keys.LoadLinkage(cfg.Path(cfg.Run.KeyFile))
	if err != nil {
		return err
	}
	src, err := os.Open(*in)
	if err != nil {
		return fmt.Errorf("open partner file: %w", err)
	}
	defer src.Close()
	// Written beside the output and renamed into place, so a failure leaves
	// no half-written file for someone to send.
	tmp, err := os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".*")
	if err != nil {
		return fmt.Errorf("create tokenised file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	sum, err := ingest.TokeniseFile(src, tmp, filepath.Base(*in), tok, rules)
	if err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// A hard link, unlike a rename, fails if --out appeared meanwhile: an
	// existing file is never replaced.
	if err := os.Link(tmp.Name(), *out); errors.Is(err, os.ErrExist) {
		return usageError{fmt.Errorf("%s already exists; remove it or choose another --out", *out)}
	} else if err != nil {
		return fmt.Errorf("write tokenised file: %w", err)
	}
	if dir, err := os.Open(filepath.Dir(*out)); err == nil {
		dir.Sync() // the new name survives a crash
		dir.Close()
	}
	log.Info("tokenised", "file", filepath.Base(*in), "rows", sum.Rows, "key_fingerprint", tok.Fingerprint())
	var keysLine []string
	for _, k := range schemas.MatchKeys {
		keysLine = append(keysLine, fmt.Sprintf("%s %d", k, sum.WithKey[k]))
	}
	fmt.Fprintf(stdout, "Wrote %d records to %s with linkage key fingerprint %s.\n", sum.Rows, *out, tok.Fingerprint())
	fmt.Fprintf(stdout, "Records with each match key: %s.\n", strings.Join(keysLine, ", "))
	if sum.NoKey+sum.InvalidNHSNumber+sum.InvalidUPN+sum.NotShown > 0 {
		fmt.Fprintf(stdout, "The pipeline will quarantine %d records with no usable identifier, %d with an NHS number that fails its check digit, %d with an invalid UPN "+
			"and those with the %d fields that held an unexpected value (an unknown programme or event, a date far from the configured terms): correct them at source if you can.\n",
			sum.NoKey, sum.InvalidNHSNumber, sum.InvalidUPN, sum.NotShown)
	}
	fmt.Fprintln(stdout, "The file holds keyed tokens, not names or numbers, but it is still personal data: send it by the agreed secure route.")
	return nil
}

func abs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}
