package main

import (
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// ingestProgress draws a progress bar of the ingest's steps on stderr when
// it is a terminal, and returns nil otherwise: the pipeline then logs long
// steps periodically instead, which suits cron and log files. Progress moves
// per step (a file read, tokenising, each validation query), not per row:
// DuckDB does not report how far through a read it is back to Go.
func ingestProgress(w *os.File) func(done, total int, step string) {
	if !term.IsTerminal(int(w.Fd())) {
		return nil
	}
	var bar *progressbar.ProgressBar
	return func(done, total int, step string) {
		if bar == nil {
			bar = progressbar.NewOptions(total,
				progressbar.OptionSetWriter(w),
				progressbar.OptionSetDescription("ingest"),
				progressbar.OptionShowCount(),
				progressbar.OptionSetElapsedTime(true),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionClearOnFinish(),
				progressbar.OptionFullWidth())
		}
		if bar.GetMax() != total {
			bar.ChangeMax(total) // the load knows its steps once the files are read
		}
		bar.Describe("ingest: " + step)
		_ = bar.Set(done)
		if done >= total {
			_ = bar.Finish()
		}
	}
}
