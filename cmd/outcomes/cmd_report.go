package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/outcomes/outcomes/pipeline/publish"
	"github.com/outcomes/outcomes/pipeline/report"
	"github.com/outcomes/outcomes/schemas"
)

func cmdReport(_ context.Context, args []string, stdout io.Writer, _ *slog.Logger) error {
	fs := newFlags("report")
	cfgPath := fs.String("config", "", "pipeline configuration file: reports on its latest release")
	release := fs.String("release", "", "a release id (under the configuration's releases) or a release folder")
	out := fs.String("out", "", "write the HTML here instead of standard output")
	if err := parse(fs, args); err != nil {
		return err
	}
	dir, err := releaseDir(*cfgPath, *release)
	if err != nil {
		return err
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	m, err := publish.Verify(real)
	if err != nil {
		return err
	}
	rows, err := publish.ReadParquet[schemas.AttendanceRow](real, schemas.AttendanceTable+".parquet")
	if err != nil {
		return err
	}
	for i := range rows {
		rows[i].Suppressed = rows[i].Pupils == nil
	}
	var impact []schemas.ImpactRow
	if _, err := os.Stat(filepath.Join(real, schemas.ImpactTable+".parquet")); err == nil {
		if impact, err = publish.ReadParquet[schemas.ImpactRow](real, schemas.ImpactTable+".parquet"); err != nil {
			return err
		}
		for i := range impact {
			impact[i].Suppressed = impact[i].Participants == nil
		}
	}
	html, err := report.Render(m, rows, impact)
	if err != nil {
		return err
	}
	if *out == "" {
		_, err = stdout.Write(html)
		return err
	}
	if err := os.WriteFile(*out, html, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Wrote the report for release %s to %s\n", m.ReleaseID, *out)
	return nil
}
