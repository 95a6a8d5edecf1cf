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
	"github.com/outcomes/outcomes/pipeline/config"
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
	cfg, err := DemoConfig(truth, *out, filepath.Dir(*cfgPath), *epsilon)
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

// DemoConfig is a configuration for fixture data in dataDir, with state, key
// and releases beside the configuration file in cfgDir.
func DemoConfig(truth *fixtures.Truth, dataDir, cfgDir string, epsilon float64) (*config.Config, error) {
	rel := func(p string) (string, error) {
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", err
		}
		absCfg, err := filepath.Abs(cfgDir)
		if err != nil {
			return "", err
		}
		return filepath.Rel(absCfg, abs)
	}
	data, err := rel(dataDir)
	if err != nil {
		return nil, err
	}
	c := &config.Config{
		Run: config.Run{StateDir: "state", OutputDir: "out", KeyFile: "key", Schedule: "30 2 * * *", MaxRejectShare: 0.05},
		Inputs: config.Inputs{
			Roster:        filepath.Join(data, fixtures.RosterFile),
			Attendance:    []string{filepath.Join(data, fixtures.AttendanceFile)},
			Participation: []string{filepath.Join(data, fixtures.ParticipationFile)},
		},
		Trust: config.Trust{ID: truth.Trust.ID, Name: truth.Trust.Name},
		Privacy: config.Privacy{Epsilon: epsilon, MaxProgrammesPerPupil: 1, EpsilonCap: 10 * epsilon,
			Weights: map[string]float64{
				config.MeasurePupils: 1, config.MeasurePossibleSessions: 1, config.MeasurePersistentAbsentees: 1,
				config.MeasureAuthorisedAbsence: 2, config.MeasureUnauthorisedAbsence: 2,
			}},
		Publish: config.Publish{RoundingBase: 5, SuppressBelow: 10},
		DuckDB:  config.DuckDB{MemoryLimit: "4GB", Threads: 2},
	}
	for _, s := range truth.Trust.Schools {
		c.Schools = append(c.Schools, config.School{URN: s.URN, Name: s.Name, LAESTAB: s.LAESTAB,
			OldLACode: s.OldLACode, NewLACode: s.NewLACode, LAName: s.LAName})
	}
	for _, t := range truth.Trust.Terms {
		c.Terms = append(c.Terms, config.Term{Name: t.Name, AcademicYear: t.AcademicYear, Start: t.Start, End: t.End, SchoolDays: t.SchoolDays})
	}
	for _, p := range truth.Trust.Programmes {
		c.Programmes = append(c.Programmes, config.Programme{ID: p.ID, Name: p.Name})
	}
	return c, nil
}
