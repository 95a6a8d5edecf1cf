// Package demo writes a pipeline configuration for a synthetic trust made by
// package fixtures: what `outcomes fixtures --config` and the tests use.
package demo

import (
	"bytes"
	"path/filepath"

	"github.com/outcomes/outcomes/fixtures"
	"github.com/outcomes/outcomes/pipeline/config"
)

// Config is a configuration for fixture data in dataDir, with state (state/),
// key (key) and releases (out/) beside the configuration file in cfgDir. It
// is validated the way a configuration file is.
func Config(truth *fixtures.Truth, dataDir, cfgDir string, epsilon float64) (*config.Config, error) {
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
		// The demo publishes provisional releases at the full epsilon so its
		// numbers show the planted effect; see the README on choosing epsilon.
		Privacy: config.Privacy{Epsilon: epsilon, ProvisionalEpsilon: epsilon, MaxProgrammesPerPupil: 1, EpsilonCap: 10 * epsilon,
			Weights: map[string]float64{
				config.MeasurePupils: 1, config.MeasurePossibleSessions: 1, config.MeasurePersistentAbsentees: 1,
				config.MeasureAuthorisedAbsence: 2, config.MeasureUnauthorisedAbsence: 2,
			}},
		Publish: config.Publish{RoundingBase: 5, SuppressBelow: 10, Levels: []string{config.LevelMAT, config.LevelSchool}},
		Impact:  config.DefaultImpact(),
		DuckDB:  config.DuckDB{MemoryLimit: "2.5GB", Threads: 2},
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
	var buf bytes.Buffer
	if err := c.Encode(&buf); err != nil {
		return nil, err
	}
	absCfg, err := filepath.Abs(cfgDir)
	if err != nil {
		return nil, err
	}
	return config.Load(&buf, absCfg)
}
