package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/outcomes/outcomes/fixtures"
	"github.com/outcomes/outcomes/pipeline/demo"
)

func cmdFixtures(_ context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	fs := newFlags("fixtures")
	out := fs.String("out", "", "folder for the synthetic extracts and truth.json")
	cfgPath := fs.String("config", "", "also write a pipeline configuration for these extracts to this file")
	var opt fixtures.Options
	fs.Int64Var(&opt.Seed, "seed", 1, "random seed; the same seed gives the same files")
	fs.IntVar(&opt.Schools, "schools", 6, "number of schools")
	fs.IntVar(&opt.PupilsPerSchool, "pupils", 500, "pupils per school")
	fs.Float64Var(&opt.EffectPP, "effect", 4, "planted rise in participants' attendance rate after first participation, percentage points")
	fs.BoolVar(&opt.NoEffect, "no-effect", false, "plant no effect")
	fs.IntVar(&opt.BadRows, "bad-rows", 0, "append this many deliberately bad attendance rows")
	fs.IntVar(&opt.UnlinkableRecords, "unlinkable", 0, "add participation records for children not on the roster")
	epsilon := fs.Float64("epsilon", 2, "privacy.epsilon for the written configuration")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usageError{errors.New("--out DIR is required")}
	}
	truth, err := fixtures.Generate(*out, opt)
	if err != nil {
		return err
	}
	log.Info("fixtures written", "dir", *out, "pupils", truth.RosterRows, "attendance_rows", truth.AttendanceRows,
		"participation_rows", truth.ParticipationRows, "effect_pp", truth.EffectPP)
	fmt.Fprintf(stdout, "Wrote a synthetic trust to %s: %d pupils, %d attendance rows, %d participation records; planted effect %+.1f percentage points.\n",
		*out, truth.RosterRows, truth.AttendanceRows, truth.ParticipationRows, truth.EffectPP)
	if *cfgPath == "" {
		return nil
	}
	cfg, err := demo.Config(truth, *out, filepath.Dir(*cfgPath), *epsilon)
	if err != nil {
		return err
	}
	f, err := os.Create(*cfgPath)
	if err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	defer f.Close()
	fmt.Fprintf(f, "# Pipeline configuration for the synthetic trust in %s, written by `outcomes fixtures`.\n# Paths are relative to this file's folder.\n\n", *out)
	if err := cfg.Encode(f); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Wrote configuration %s\n", *cfgPath)
	return f.Close()
}
