package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
	_ "time/tzdata" // Europe/London must resolve on a machine without zoneinfo

	"github.com/robfig/cron/v3"

	"github.com/outcomes/outcomes/pipeline"
	"github.com/outcomes/outcomes/pipeline/config"
)

// cronLogger sends robfig/cron's logs through slog.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Info("schedule: "+msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("schedule: "+msg, append(kv, "error", err)...)
}

func cmdSchedule(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	fs := newFlags("schedule")
	cfgPath := fs.String("config", "", "pipeline configuration file (TOML)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	return Schedule(ctx, cfg, log)
}

// Schedule runs the pipeline on the configured cron spec in Europe/London time
// until ctx is cancelled. Runs never overlap (a run still going when the next
// fires makes that one skip). On cancellation no new run starts and the run in
// flight is abandoned; publishing is atomic, so the last good release stands.
func Schedule(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		return fmt.Errorf("load Europe/London time zone: %w", err)
	}
	spec, err := config.ParseSchedule(cfg.Run.Schedule)
	if err != nil {
		return err
	}
	cl := cronLogger{log}
	c := cron.New(cron.WithLocation(london), cron.WithLogger(cl),
		cron.WithChain(cron.Recover(cl), cron.SkipIfStillRunning(cl)))
	var wg sync.WaitGroup
	c.Schedule(spec, cron.FuncJob(func() {
		wg.Add(1)
		defer wg.Done()
		if ctx.Err() != nil {
			return
		}
		r := &pipeline.Runner{Config: cfg, Logger: log, CodeVersion: version}
		res, err := r.Run(ctx)
		switch {
		case err != nil:
			log.Error("scheduled run failed", "error", err.Error())
		case res.Republished:
			log.Info("scheduled run republished an unchanged release", pipeline.LogRelease, res.ReleaseID)
		default:
			log.Info("scheduled run published", pipeline.LogRelease, res.ReleaseID)
		}
	}))
	c.Start()
	log.Info("schedule started", "spec", cfg.Run.Schedule, "time_zone", "Europe/London", "next", c.Entries()[0].Next.Format(time.RFC3339))
	<-ctx.Done()
	log.Info("stopping: no new runs; abandoning any run in flight")
	<-c.Stop().Done()
	wg.Wait()
	log.Info("schedule stopped")
	return nil
}
