package ingest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/outcomes/outcomes/fixtures"
	"github.com/outcomes/outcomes/schemas"
)

// BenchmarkLoad is one ingest of a small generated trust (2 schools x 300
// pupils, an academic year: about 230,000 marks and 700 partner records)
// through real DuckDB: reading, tokenising, validating, resolving repeats,
// linking and counting, without the warehouse commit. It reports marks per
// second, for benchstat; `make bench` times the whole pipeline at trust
// scale against bare DuckDB.
func BenchmarkLoad(b *testing.B) {
	conn, tok, dir := setup(b)
	data := filepath.Join(dir, "data")
	truth, err := fixtures.Generate(data, fixtures.Options{Schools: 2, PupilsPerSchool: 300, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := DefinePartitions(ctx, conn, partitionsOf(truth)); err != nil {
		b.Fatal(err)
	}
	files := []File{
		{Source: schemas.SourceRoster, Path: filepath.Join(data, fixtures.RosterFile)},
		{Source: schemas.SourceAttendance, Path: filepath.Join(data, fixtures.AttendanceFile)},
		{Source: schemas.SourceParticipation, Path: filepath.Join(data, fixtures.ParticipationFile)},
	}
	var marks int64
	for b.Loop() {
		res, err := Load(ctx, conn, files, tok, filepath.Join(dir, "quarantine"))
		if err != nil {
			b.Fatal(err)
		}
		marks = 0
		for _, s := range res.Stats {
			if s.Source == string(schemas.SourceAttendance) {
				marks += s.RowsRead
			}
		}
		if marks == 0 {
			b.Fatal("no marks read")
		}
		DropStaging(conn)
	}
	b.ReportMetric(float64(marks)*float64(b.N)/b.Elapsed().Seconds(), "marks/s")
}
