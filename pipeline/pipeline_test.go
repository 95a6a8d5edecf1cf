package pipeline_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/outcomes/outcomes/fixtures"
	"github.com/outcomes/outcomes/pipeline"
	"github.com/outcomes/outcomes/pipeline/config"
	"github.com/outcomes/outcomes/pipeline/demo"
	"github.com/outcomes/outcomes/pipeline/keys"
	"github.com/outcomes/outcomes/schemas"
	"github.com/outcomes/outcomes/transforms/privacy/privacytest"
)

// newTrust writes a small synthetic trust, its key and configuration into a
// temp folder.
func newTrust(t *testing.T, opt fixtures.Options) (*config.Config, *fixtures.Truth) {
	t.Helper()
	dir := t.TempDir()
	if opt.Schools == 0 {
		opt.Schools = 2
	}
	if opt.PupilsPerSchool == 0 {
		opt.PupilsPerSchool = 120
	}
	truth, err := fixtures.Generate(filepath.Join(dir, "data"), opt)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := demo.Config(truth, filepath.Join(dir, "data"), dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Generate(filepath.Join(dir, "key")); err != nil {
		t.Fatal(err)
	}
	return cfg, truth
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// exact makes post-processing the identity, so rows can be compared to the truth.
func exact(cfg *config.Config) {
	cfg.Publish.RoundingBase = 1
	cfg.Publish.SuppressBelow = 0
}

func run(t *testing.T, r *pipeline.Runner) *pipeline.Result {
	t.Helper()
	res, err := r.Run(context.Background())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res
}

type rowKey struct{ level, school, term, programme, group string }

func index(rows []schemas.AttendanceRow) map[rowKey]schemas.AttendanceRow {
	m := map[rowKey]schemas.AttendanceRow{}
	for _, r := range rows {
		m[rowKey{r.GeographicLevel, r.SchoolURN, r.TimeIdentifier, r.ProgrammeID, r.PupilGroup}] = r
	}
	return m
}

// TestRunMatchesTruthWithoutNoise runs the whole pipeline with a mechanism
// that adds no noise: every published number must equal the fixtures' truth,
// computed independently by the generator. This checks the SQL definitions,
// linkage, bounding bookkeeping and post-processing end to end.
func TestRunMatchesTruthWithoutNoise(t *testing.T) {
	cfg, truth := newTrust(t, fixtures.Options{Seed: 7})
	exact(cfg)
	res := run(t, &pipeline.Runner{Config: cfg, Logger: quietLogger(), Noise: privacytest.NoNoise()})
	rows := index(res.Rows)
	wantRows := len(cfg.Terms) * (1 + len(cfg.Schools)) * (1 + 2*len(cfg.Programmes))
	if len(res.Rows) != wantRows {
		t.Fatalf("%d rows, want %d", len(res.Rows), wantRows)
	}
	check := func(k rowKey, want fixtures.Cell) {
		t.Helper()
		r, ok := rows[k]
		if !ok {
			t.Errorf("no row %+v", k)
			return
		}
		got := []int64{*r.Pupils, *r.PossibleSessions, *r.AuthorisedAbsence, *r.UnauthorisedAbsence, *r.PersistentAbsentees}
		w := []int64{want.Pupils, want.PossibleSessions, want.AuthorisedAbsence, want.UnauthorisedAbsence, want.PersistentAbsentees}
		for i := range got {
			if got[i] != w[i] {
				t.Errorf("%+v: pupils/possible/auth/unauth/PA = %v, want %v", k, got, w)
				return
			}
		}
	}
	for _, term := range cfg.Terms {
		check(rowKey{"MAT", "", term.Name, "total", "Total"}, truth.TrustCell(term.Name, fixtures.ProgrammeTotal, fixtures.GroupAll))
		for _, p := range cfg.Programmes {
			check(rowKey{"MAT", "", term.Name, p.ID, "Participants"}, truth.TrustCell(term.Name, p.ID, fixtures.GroupParticipants))
		}
		for _, s := range cfg.Schools {
			c, _ := truth.TruthFor(s.URN, term.Name, fixtures.ProgrammeTotal, fixtures.GroupAll)
			check(rowKey{"School", s.URN, term.Name, "total", "Total"}, c)
			for _, p := range cfg.Programmes {
				c, _ := truth.TruthFor(s.URN, term.Name, p.ID, fixtures.GroupParticipants)
				check(rowKey{"School", s.URN, term.Name, p.ID, "Participants"}, c)
			}
		}
	}
	for _, in := range res.Inputs {
		if in.RowsRead != in.RowsLoaded+in.RowsQuarantined+in.RowsDuplicate {
			t.Errorf("%s: read %d != loaded %d + quarantined %d + duplicate %d", in.Source, in.RowsRead, in.RowsLoaded, in.RowsQuarantined, in.RowsDuplicate)
		}
	}
}
