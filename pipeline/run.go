// Package pipeline runs the nightly batch: ingest and validate the extracts,
// pseudonymise, load the warehouse, bound each pupil's contributions, draw
// differentially private aggregates, post-process and publish atomically,
// recording the privacy spending in the ledger.
package pipeline

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/differential-privacy/go/v3/noise"

	"github.com/outcomes/outcomes/pipeline/config"
	"github.com/outcomes/outcomes/pipeline/ingest"
	"github.com/outcomes/outcomes/pipeline/keys"
	"github.com/outcomes/outcomes/pipeline/ledger"
	"github.com/outcomes/outcomes/pipeline/publish"
	"github.com/outcomes/outcomes/pipeline/report"
	"github.com/outcomes/outcomes/pipeline/warehouse"
	"github.com/outcomes/outcomes/schemas"
	"github.com/outcomes/outcomes/transforms/postprocess"
	"github.com/outcomes/outcomes/transforms/privacy"
	"github.com/outcomes/outcomes/transforms/pseudonym"
)

// Log keys, constant so logs can be searched.
const (
	LogRunID   = "run_id"
	LogStage   = "stage"
	LogSource  = "source"
	LogRows    = "rows"
	LogEpsilon = "epsilon"
	LogRelease = "release_id"
	LogElapsed = "elapsed"
)

// ErrTooManyRejects means a source's quarantined share passed run.max_reject_share.
var ErrTooManyRejects = errors.New("too many rows rejected")

// ErrKeyChanged means the warehouse's tokens were made with another key.
var ErrKeyChanged = errors.New("the key differs from the one the warehouse was built with")

// Runner runs the pipeline once per call to Run.
type Runner struct {
	Config *config.Config
	Logger *slog.Logger
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
	// Noise is the DP mechanism. Defaults to the library's Laplace; only tests change it.
	Noise noise.Noise
	// CodeVersion is recorded in the manifest.
	CodeVersion string
	// Kind is config.KindProvisional (the default: published at once, for
	// the trust's data lead) or config.KindFinal (staged for approval).
	Kind string
	// Progress, when set, is told of each ingest step (a bar on a terminal);
	// otherwise long steps are logged periodically.
	Progress func(done, total int, step string)
}

// Result summarises a run.
type Result struct {
	RunID       string
	Kind        string
	ReleaseID   string
	ReleaseDir  string
	Republished bool
	// Pending is true for a final release waiting for `outcomes approve`.
	Pending bool
	Inputs  []ingest.Stats
	Linkage []ingest.Linkage
	Rows    []schemas.AttendanceRow
	// Impact is the impact table's rows, empty when impact.share is 0.
	Impact  []schemas.ImpactRow
	Epsilon float64
}

// Paths of the private state.
func (r *Runner) statePaths() (stateDir, warehousePath, tmpDir string) {
	stateDir = r.Config.Path(r.Config.Run.StateDir)
	return stateDir, filepath.Join(stateDir, "warehouse.duckdb"), filepath.Join(stateDir, "tmp")
}

// OpenLedger opens the state folder's privacy ledger.
func OpenLedger(ctx context.Context, c *config.Config) (*sql.DB, error) {
	stateDir := c.Path(c.Run.StateDir)
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create state folder: %w", err)
	}
	return ledger.Open(ctx, filepath.Join(stateDir, "ledger.duckdb"))
}

// OpenWarehouse opens the state folder's warehouse with the configured limits.
func OpenWarehouse(ctx context.Context, c *config.Config) (*warehouse.Warehouse, error) {
	return openWarehouse(ctx, c, c.DuckDB.Threads)
}

// parallelInputBytes is how much input a run reads before it gives DuckDB
// the configured threads; below it, the run keeps to one. On the benchmark
// machine (2 cores), a trust's nightly run (one day's file, 1.5 MB) took a
// median 955 ms on one thread against 1,125 ms on two, and a full load (289
// MB) 10.1 s against 7.6 s. A small run's queries each handle a few
// thousand rows, and a second thread costs more than it brings: another set
// of every operator's buffers, first touched (each page fault there costs
// about 11 us) and then shared. The draw's two halves still run at once, on
// two connections.
const parallelInputBytes = 64 << 20

func openWarehouse(ctx context.Context, c *config.Config, threads int) (*warehouse.Warehouse, error) {
	stateDir := c.Path(c.Run.StateDir)
	if err := os.MkdirAll(filepath.Join(stateDir, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("create state folder: %w", err)
	}
	return warehouse.Open(ctx, filepath.Join(stateDir, "warehouse.duckdb"), warehouse.Options{
		MemoryLimit: c.DuckDB.MemoryLimit, Threads: threads, TempDir: filepath.Join(stateDir, "tmp"),
	})
}

// Run runs every stage once. A failure at any point publishes nothing and
// leaves the last good release, the warehouse and the ledger consistent.
func (r *Runner) Run(ctx context.Context) (_ *Result, err error) {
	now := r.Now
	if now == nil {
		now = time.Now
	}
	c := r.Config
	kind := r.Kind
	if kind == "" {
		kind = config.KindProvisional
	}
	if kind != config.KindProvisional && kind != config.KindFinal {
		return nil, fmt.Errorf("release kind %q: use %s or %s", kind, config.KindProvisional, config.KindFinal)
	}
	epsilon := c.ReleaseEpsilon(kind)
	started := now()
	// Milliseconds in the id keep releases in time order when sorted by name.
	runID := started.UTC().Format("20060102T150405.000Z") + "-" + randomHex(3)
	log := r.Logger.With(LogRunID, runID, "kind", kind)
	res := &Result{RunID: runID, Kind: kind}

	// Before anything is created or read: a file whose name holds an
	// identifier would carry it into logs, the warehouse and the release.
	if err := ingest.CheckFileNames(r.inputFiles()); err != nil {
		return nil, err
	}
	stateDir, _, _ := r.statePaths()
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, &FolderError{Role: "state folder (run.state_dir)", Path: stateDir, Err: err}
	}
	if err := checkWritable("output folder (run.output_dir)", c.Path(c.Run.OutputDir)); err != nil {
		return nil, err
	}
	unlock, err := Lock(stateDir, started)
	if err != nil {
		return nil, err
	}
	defer unlock()
	ingest.RemoveLeftovers(filepath.Join(stateDir, "tmp"), log)

	tok, err := keys.Load(c.Path(c.Run.KeyFile))
	if err != nil {
		return nil, err
	}
	log.Info("run started", "key_fingerprint", tok.Fingerprint())

	// The warehouse and the ledger open at once: each is a DuckDB instance of
	// its own, and opening them in turn made a nightly run about 35 ms longer.
	type opened struct {
		db  *sql.DB
		err error
	}
	ledgerOpened := make(chan opened, 1)
	go func() {
		db, err := OpenLedger(ctx, c)
		ledgerOpened <- opened{db, err}
	}()
	// The run starts on one DuckDB thread; it takes the configured threads
	// once it has much to read (parallelInputBytes).
	w, err := openWarehouse(ctx, c, 1)
	l := <-ledgerOpened
	// They close at once too: each checkpoints what the run wrote.
	defer func() {
		var closing sync.WaitGroup
		if l.db != nil {
			closing.Go(func() { l.db.Close() })
		}
		if w != nil {
			w.Close()
		}
		closing.Wait()
	}()
	if err != nil {
		return nil, err
	}
	if l.err != nil {
		return nil, l.err
	}
	ldb := l.db
	if err := checkKey(ctx, w.DB, tok.Fingerprint(), now()); err != nil {
		return nil, err
	}
	if _, err := w.DB.ExecContext(ctx, "INSERT INTO runs VALUES (?, ?, NULL, 'running', ?, NULL, 0, NULL, NULL)", runID, started.UTC(), kind); err != nil {
		return nil, fmt.Errorf("record run: %w", err)
	}
	outcome := "failed"
	defer func() {
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		inputs, _ := json.Marshal(res.Inputs)
		_, _ = w.DB.ExecContext(context.WithoutCancel(ctx), "UPDATE runs SET finished_at = ?, outcome = ?, release_id = ?, epsilon = ?, inputs = ?, message = ? WHERE run_id = ?",
			now().UTC(), outcome, nullable(res.ReleaseID), res.Epsilon, string(inputs), nullable(msg), runID)
	}()

	conn, err := w.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	// A run killed while writing a release leaves a hidden, incomplete folder
	// that no reader follows; clear it before doing anything else.
	if err := publish.RemoveIncomplete(c.Path(c.Run.OutputDir)); err != nil {
		return nil, err
	}

	// The draw's second connection is made ready while the load runs: its
	// set-up then costs the draw nothing.
	var second *drawConn
	if c.ImpactEnabled() {
		second = r.prepareDrawConn(ctx, w)
		defer second.release()
	}

	// Ingest, validate, pseudonymise.
	stage := time.Now()
	if err := ingest.DefinePartitions(ctx, conn, r.partitions()); err != nil {
		return nil, err
	}
	runDir := filepath.Join(stateDir, "runs", runID)
	// Staging is dropped once the load commits; should the run fail before
	// that, it is dropped on the way out.
	staged := true
	defer func() {
		if staged {
			ingest.DropStaging(conn)
		}
	}()
	loaded, err := ingest.LoadWithOptions(ctx, conn, r.inputFiles(), tok, filepath.Join(runDir, "quarantine"),
		ingest.Options{Logger: log, Progress: r.Progress, RosterContext: r.rosterContext(tok), AttendanceContext: r.attendanceContext(),
			BeforeRead: r.threadsFor(conn)})
	if err != nil {
		return nil, err
	}
	res.Inputs, res.Linkage = loaded.Stats, loaded.Linkage
	for _, st := range loaded.Steps {
		log.Debug("ingest step", LogStage, st.Name, LogElapsed, st.Elapsed.Round(time.Millisecond))
	}
	for _, s := range loaded.Stats {
		log.Info("ingested", LogStage, "ingest", LogSource, s.Source, "file", filepath.Base(s.Path),
			LogRows, s.RowsRead, "loaded", s.RowsLoaded, "quarantined", s.RowsQuarantined, "duplicate", s.RowsDuplicate)
	}
	for _, l := range loaded.Linkage {
		log.Info("linked", LogStage, "linkage", "programme", l.Programme, "records", l.Records, "linked", l.Linked,
			"pupils", l.Pupils, "ambiguous", l.Ambiguous, "conflicting", l.Conflicting, "unmatched", l.Unmatched)
	}
	if err := writeJSON(filepath.Join(runDir, "summary.json"), map[string]any{"run_id": runID, "inputs": loaded.Stats, "linkage": loaded.Linkage}); err != nil {
		return nil, err
	}
	// The linkage report on its own, for the data lead: exact counts, so it
	// stays in the private state folder and never goes into a release.
	if err := writeJSON(filepath.Join(runDir, "linkage.json"), map[string]any{"run_id": runID, "match_keys": schemas.MatchKeys,
		"programmes": loaded.Linkage}); err != nil {
		return nil, err
	}
	if err := checkRejects(loaded.Stats, c.Run.MaxRejectShare, filepath.Join(stateDir, "runs"), runID); err != nil {
		outcome = "refused"
		return res, err
	}
	committing := time.Now()
	if err := ingest.Commit(ctx, conn, loaded, runID); err != nil {
		return nil, err
	}
	log.Debug("ingest step", LogStage, "commit", LogElapsed, time.Since(committing).Round(time.Millisecond))
	ingest.DropStaging(conn)
	staged = false
	log.Info("warehouse loaded", LogStage, "load", LogElapsed, time.Since(stage).Round(time.Millisecond))

	// An unchanged release is republished, never redrawn: fresh noise on the
	// same data would let anyone average it away.
	fingerprint := r.fingerprint(tok, kind, loaded.Stats)
	if id, state, ok, err := ledger.FindRelease(ctx, ldb, fingerprint); err != nil {
		return nil, err
	} else if ok && state == "pending" {
		// Waiting in pending/, or moved into releases/ by an approval that
		// has not finished: either way its noise exists and is not redrawn.
		for _, dir := range []string{publish.PendingDir(c.Path(c.Run.OutputDir), id), filepath.Join(c.Path(c.Run.OutputDir), "releases", id)} {
			if _, verr := publish.Verify(dir); verr == nil {
				res.ReleaseID, res.ReleaseDir, res.Pending = id, dir, true
				outcome = "pending"
				log.Info("inputs and configuration unchanged: the final release drawn for them still awaits approval; no new noise", LogRelease, id)
				return res, nil
			}
		}
		log.Warn("the pending final release for these inputs is missing or damaged; a new one will spend budget", LogRelease, id)
	} else if ok {
		dir := filepath.Join(c.Path(c.Run.OutputDir), "releases", id)
		if _, verr := publish.Verify(dir); verr == nil {
			if err := publish.PointLatest(c.Path(c.Run.OutputDir), id); err != nil {
				return nil, err
			}
			res.ReleaseID, res.ReleaseDir, res.Republished = id, dir, true
			outcome = "republished"
			log.Info("inputs and configuration unchanged: republished the stored release, no new noise, no budget spent", LogRelease, id)
			return res, nil
		}
		log.Warn("stored release for these inputs is missing or damaged; a new release will spend budget", LogRelease, id)
	}

	// A commit that changed no sessions did not check their summary; this
	// release is drawn from it, so it is checked now, before budget is spent.
	if !loaded.SummaryChecked {
		if err := ingest.CheckSummary(ctx, conn); err != nil {
			return nil, fmt.Errorf("no release was drawn: %w", err)
		}
	}

	// Budget first, then noise.
	releaseID := runID
	scopes := c.Scopes()
	if err := ledger.ReserveAll(ctx, ldb, releaseID, scopes, epsilon, c.Privacy.Delta, c.Privacy.EpsilonCap, fingerprint, now()); err != nil {
		if errors.Is(err, ledger.ErrBudgetExhausted) {
			outcome = "refused"
		}
		return res, err
	}
	res.Epsilon, res.ReleaseID = epsilon, releaseID // spent from here on, published or not
	spent := map[string]float64{}
	for _, scope := range scopes {
		if spent[scope], _, _, err = ledger.Spent(ctx, ldb, scope); err != nil {
			return nil, err
		}
	}
	salt, err := randomInt64()
	if err != nil {
		return nil, err
	}
	// The same salt keeps the same programmes per pupil in the attendance
	// cells and the impact table.
	if res.Rows, res.Impact, err = r.draw(ctx, second, conn, epsilon, salt, scopes, log); err != nil {
		return nil, err
	}
	rows := res.Rows
	// The warehouse holds all it will of this run but the run's last line:
	// it is checkpointed while the release is written, which reads nothing
	// from it, rather than at Close (a nightly run about 25 ms shorter). The
	// run's line waits for the checkpoint.
	checkpointed := make(chan struct{})
	go func() {
		defer close(checkpointed)
		if _, err := w.DB.ExecContext(context.WithoutCancel(ctx), "CHECKPOINT"); err != nil {
			log.Warn("could not checkpoint the warehouse before publishing; closing it will", "error", err.Error())
		}
	}()
	defer func() { <-checkpointed }()

	m := &publish.Manifest{
		ReleaseID: releaseID, Kind: kind, CreatedAt: now().UTC(), CodeVersion: r.CodeVersion,
		KeyFingerprint: tok.Fingerprint(), Fingerprint: fingerprint,
		Privacy: r.privacyRecord(epsilon, spent), Inputs: publishedInputs(loaded.Stats),
	}
	files, err := r.releaseFiles(m, rows, res.Impact)
	if err != nil {
		return nil, err
	}
	if kind == config.KindFinal {
		dir, err := publish.Stage(c.Path(c.Run.OutputDir), m, files)
		if err != nil {
			return nil, fmt.Errorf("stage final release: %w", err)
		}
		if err := ledger.MarkPending(ctx, ldb, releaseID); err != nil {
			return nil, fmt.Errorf("record staging (the release %s is staged; its spending is already recorded): %w", releaseID, err)
		}
		res.ReleaseDir, res.Pending = dir, true
		outcome = "pending"
		log.Info("final release staged for approval", LogStage, "publish", LogRelease, releaseID, "dir", dir, LogRows, len(rows))
		return res, nil
	}
	dir, err := publish.Write(c.Path(c.Run.OutputDir), m, files)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	if err := ledger.MarkPublished(ctx, ldb, releaseID); err != nil {
		return nil, fmt.Errorf("record publication (the release %s is out; its spending is already recorded): %w", releaseID, err)
	}
	res.ReleaseDir = dir
	outcome = "published"
	log.Info("published", LogStage, "publish", LogRelease, releaseID, "dir", dir, LogRows, len(rows))
	if c.Run.KeepReleases > 0 {
		removed, err := publish.Prune(c.Path(c.Run.OutputDir), c.Run.KeepReleases)
		if err != nil {
			log.Warn("could not remove old releases", "error", err.Error())
		}
		for _, id := range removed {
			log.Info("removed an old release (run.keep_releases)", LogRelease, id)
		}
	}
	return res, nil
}

// threadsFor gives DuckDB the configured threads once a load's input
// passes parallelInputBytes (ingest.Options.BeforeRead). The setting is
// the database's, so the draw's second connection has it too.
func (r *Runner) threadsFor(conn *sql.Conn) func(context.Context, int64) error {
	raised := false
	return func(ctx context.Context, bytes int64) error {
		if raised || bytes < parallelInputBytes || r.Config.DuckDB.Threads <= 1 {
			return nil
		}
		raised = true
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("SET threads = %d", r.Config.DuckDB.Threads)); err != nil {
			return fmt.Errorf("give DuckDB %d threads for %d MB of input: %w", r.Config.DuckDB.Threads, bytes>>20, err)
		}
		return nil
	}
}

// draw draws the release's noisy tables from the committed warehouse: the
// attendance cells and, when configured, the impact table. The two read the
// same data and share only the salt, so the attendance cells are drawn on a
// connection of their own, second (temp tables belong to one), while the
// impact table is drawn on conn: on two cores, a nightly run's two stages
// then take little more than the longer one. second is not used without
// the impact table.
func (r *Runner) draw(ctx context.Context, second *drawConn, conn *sql.Conn, epsilon float64, salt int64, scopes []string, log *slog.Logger) ([]schemas.AttendanceRow, []schemas.ImpactRow, error) {
	if !r.Config.ImpactEnabled() {
		rows, err := r.drawAttendance(ctx, conn, epsilon, salt, scopes, log)
		return rows, nil, err
	}
	own, err := second.take()
	if err != nil {
		return nil, nil, err
	}
	defer own.Close()
	var rows []schemas.AttendanceRow
	var attendanceErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		// DuckDB's threads count the thread that runs a query. While a query
		// runs on each connection the pool keeps one fewer, so that as many
		// threads work as the run has (configured, after a large load): on
		// two cores, three took the draw some 30-50 ms longer than two.
		// Resizing the pool takes about 9 ms each way, so this half does it,
		// alongside the impact table's queries, and gives the thread back
		// when it is done. A small run is on one thread already.
		if threads := currentThreads(ctx, own); threads > 1 {
			if _, attendanceErr = own.ExecContext(ctx, fmt.Sprintf("SET threads = %d", threads-1)); attendanceErr != nil {
				attendanceErr = fmt.Errorf("share DuckDB's threads between the two halves of the draw: %w", attendanceErr)
				return
			}
			defer own.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf("SET threads = %d", threads))
		}
		rows, attendanceErr = r.drawAttendance(ctx, own, epsilon, salt, scopes, log)
	}()
	stage := time.Now()
	impact, impactErr := r.runImpact(ctx, conn, epsilon, salt, r.Noise)
	// A failed impact stage does not interrupt the attendance cells: they
	// finish (they take less time), because DuckDB, interrupted in a query
	// on one connection while another ran, was seen to leave the warehouse
	// unable to checkpoint, and the run then hung as it closed.
	<-done
	if impactErr != nil {
		// Both halves' failures, should both fail: each may need its own fix.
		return nil, nil, errors.Join(fmt.Errorf("impact: %w", impactErr), attendanceErr)
	}
	if attendanceErr != nil {
		return nil, nil, attendanceErr
	}
	log.Info("impact drawn", LogStage, "impact", LogEpsilon, r.Config.ImpactEpsilon(epsilon), LogRows, len(impact), LogElapsed, time.Since(stage).Round(time.Millisecond))
	return rows, impact, nil
}

// drawConn is a second warehouse connection with the public lists defined,
// made ready in the background by prepareDrawConn.
type drawConn struct {
	ready chan struct{}
	conn  *sql.Conn
	err   error
	taken bool
}

// currentThreads is DuckDB's thread count now: the configured count after a
// large load, one after a small one (parallelInputBytes). 1 if it cannot
// be read: the draw then leaves the pool as it is.
func currentThreads(ctx context.Context, conn *sql.Conn) int {
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT current_setting('threads')::INTEGER").Scan(&n); err != nil {
		return 1
	}
	return n
}

// prepareDrawConn opens a second connection and defines the public lists on
// it in the background. Its set-up is never interrupted (a few statements,
// some 25 ms): DuckDB interrupted on one connection while another ran was
// seen to leave the warehouse unable to checkpoint (see draw).
func (r *Runner) prepareDrawConn(ctx context.Context, w *warehouse.Warehouse) *drawConn {
	d := &drawConn{ready: make(chan struct{})}
	go func() {
		defer close(d.ready)
		ctx := context.WithoutCancel(ctx)
		if d.conn, d.err = w.Conn(ctx); d.err != nil {
			return
		}
		if d.err = ingest.DefinePartitions(ctx, d.conn, r.partitions()); d.err != nil {
			d.conn.Close()
			d.conn = nil
		}
	}()
	return d
}

// take waits for the connection; the caller closes it.
func (d *drawConn) take() (*sql.Conn, error) {
	<-d.ready
	d.taken = true
	return d.conn, d.err
}

// release waits for the connection and closes it unless it was taken.
func (d *drawConn) release() {
	<-d.ready
	if !d.taken && d.conn != nil {
		d.conn.Close()
	}
}

// drawAttendance bounds each pupil's contributions (contributions.sql),
// draws the noisy attendance cells and post-processes them into the table.
func (r *Runner) drawAttendance(ctx context.Context, conn *sql.Conn, epsilon float64, salt int64, scopes []string, log *slog.Logger) ([]schemas.AttendanceRow, error) {
	c := r.Config
	stage := time.Now()
	agg, err := privacy.New(r.publicPartitions(), r.privacyOptions(epsilon))
	if err != nil {
		return nil, err
	}
	parts := r.partitions()
	partKeys := partitionKeys{schools: parts.Schools, programmes: parts.Programmes}
	for _, t := range parts.Terms {
		partKeys.terms = append(partKeys.terms, t.ID)
	}
	n, err := feedContributions(ctx, conn, agg, partKeys, salt, c.Privacy.MaxProgrammesPerPupil, c.HasLevel(config.LevelMAT), c.HasLevel(config.LevelSchool))
	if err != nil {
		return nil, fmt.Errorf("aggregate: %w", err)
	}
	cells, err := agg.Results()
	if err != nil {
		return nil, err
	}
	log.Info("noise drawn", LogStage, "aggregate", "contributions", n, LogEpsilon, epsilon, "scopes", strings.Join(scopes, ","), LogElapsed, time.Since(stage).Round(time.Millisecond))
	return postprocess.AttendanceTable(cells, r.layout())
}

// FolderError means a configured folder cannot be created or written.
type FolderError struct {
	Role, Path string
	Err        error
}

func (e *FolderError) Error() string {
	return fmt.Sprintf("the %s %s cannot be written: %v; nothing was run", e.Role, e.Path, e.Err)
}

func (e *FolderError) Unwrap() error { return e.Err }

// checkWritable makes sure a folder exists and takes a file, before any work
// is done, so a wrong path fails in a second rather than after the load.
func checkWritable(role, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return &FolderError{Role: role, Path: dir, Err: err}
	}
	f, err := os.CreateTemp(dir, ".write-test-")
	if err != nil {
		return &FolderError{Role: role, Path: dir, Err: err}
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func checkKey(ctx context.Context, db *sql.DB, fingerprint string, now time.Time) error {
	var stored string
	err := db.QueryRowContext(ctx, "SELECT fingerprint FROM key_info LIMIT 1").Scan(&stored)
	if errors.Is(err, sql.ErrNoRows) {
		_, err = db.ExecContext(ctx, "INSERT INTO key_info VALUES (?, ?)", fingerprint, now.UTC())
		return err
	}
	if err != nil {
		return err
	}
	if stored != fingerprint {
		return fmt.Errorf("%w (warehouse key %s, this key %s): tokens made with different keys never match; after a key rotation move the state folder's warehouse.duckdb aside and run again to rebuild it (the privacy ledger, in ledger.duckdb, stays and keeps counting)", ErrKeyChanged, stored, fingerprint)
	}
	return nil
}

func (r *Runner) inputFiles() []ingest.File {
	c := r.Config
	files := []ingest.File{{Source: schemas.SourceRoster, Path: c.Path(c.Inputs.Roster), Format: c.FileFormat(schemas.SourceRoster, c.Inputs.Roster)}}
	for _, p := range c.Inputs.Attendance {
		files = append(files, ingest.File{Source: schemas.SourceAttendance, Path: c.Path(p), Format: c.FileFormat(schemas.SourceAttendance, p)})
	}
	for _, p := range c.Inputs.Participation {
		files = append(files, ingest.File{Source: schemas.SourceParticipation, Path: c.Path(p), Format: c.FileFormat(schemas.SourceParticipation, p)})
	}
	return files
}

// TermID is a term's partition key, e.g. "202425-autumn".
func TermID(t config.Term) string {
	return t.AcademicYear + "-" + strings.ToLower(strings.TrimSuffix(t.Name, " term"))
}

func (r *Runner) partitions() ingest.Partitions {
	c := r.Config
	var p ingest.Partitions
	for _, s := range c.Schools {
		p.Schools = append(p.Schools, s.URN)
	}
	for _, t := range c.Terms {
		p.Terms = append(p.Terms, ingest.Term{ID: TermID(t), Start: t.Start, End: t.End, MaxSessions: t.MaxSessions()})
	}
	for _, pr := range c.Programmes {
		p.Programmes = append(p.Programmes, pr.ID)
	}
	return p
}

// publicPartitions lists every cell from configuration: (the trust and/or
// each school) x term x (all pupils + each programme).
func (r *Runner) publicPartitions() []privacy.Partition {
	c := r.Config
	var schools []string
	if c.HasLevel(config.LevelMAT) {
		schools = append(schools, privacy.AllSchools)
	}
	if c.HasLevel(config.LevelSchool) {
		for _, s := range c.Schools {
			schools = append(schools, s.URN)
		}
	}
	var out []privacy.Partition
	for _, s := range schools {
		for _, t := range c.Terms {
			out = append(out, privacy.Partition{School: s, Term: TermID(t), Programme: privacy.TotalProgramme})
			for _, p := range c.Programmes {
				out = append(out, privacy.Partition{School: s, Term: TermID(t), Programme: p.ID})
			}
		}
	}
	return out
}

func (r *Runner) privacyOptions(epsilon float64) privacy.Options {
	c := r.Config
	opt := privacy.Options{
		Epsilon: map[string]float64{}, MaxPartitions: c.MaxPartitions(),
		MaxSessions: map[string]int64{}, Noise: r.Noise,
	}
	for _, m := range config.Measures {
		opt.Epsilon[m] = c.Share(epsilon, m)
	}
	for _, t := range c.Terms {
		opt.MaxSessions[TermID(t)] = t.MaxSessions()
	}
	return opt
}

func (r *Runner) layout() postprocess.Layout {
	c := r.Config
	l := postprocess.Layout{TrustID: c.Trust.ID, TrustName: c.Trust.Name,
		MAT: c.HasLevel(config.LevelMAT), School: c.HasLevel(config.LevelSchool),
		RoundingBase: int64(c.Publish.RoundingBase), SuppressBelow: int64(c.Publish.SuppressBelow)}
	for _, s := range c.Schools {
		l.Schools = append(l.Schools, postprocess.School{URN: s.URN, Name: s.Name, LAESTAB: s.LAESTAB,
			OldLACode: s.OldLACode, NewLACode: s.NewLACode, LAName: s.LAName})
	}
	for _, t := range c.Terms {
		l.Terms = append(l.Terms, postprocess.Term{ID: TermID(t), Name: t.Name, AcademicYear: t.AcademicYear})
	}
	for _, p := range c.Programmes {
		l.Programmes = append(l.Programmes, postprocess.Programme{ID: p.ID, Name: p.Name})
	}
	return l
}

// publishedInputs identifies the inputs by content hash only. Exact row
// counts (pupils on the roster, health records, rows quarantined) are not
// differentially private, so they stay in the run's private summary.
func publishedInputs(stats []ingest.Stats) []publish.Input {
	var out []publish.Input
	for _, s := range stats {
		out = append(out, publish.Input{Source: s.Source, File: filepath.Base(s.Path), SHA256: s.SHA256})
	}
	return out
}

func (r *Runner) privacyRecord(epsilon float64, spent map[string]float64) publish.Privacy {
	c := r.Config
	p := publish.Privacy{
		Unit:      "pupil (roster pupil; all of a pupil's records are protected together)",
		Mechanism: "Laplace, drawn by github.com/google/differential-privacy/go/v3 dpagg (Count and BoundedSumInt64)",
		Epsilon:   epsilon, Delta: c.Privacy.Delta, EpsilonByMeasure: map[string]float64{},
		ScopeEpsilonSpent: spent, ScopeEpsilonCap: c.Privacy.EpsilonCap,
		MaxPartitionsPerPupil: c.MaxPartitions(), MaxProgrammesPerPupil: c.Privacy.MaxProgrammesPerPupil,
		RoundingBase: c.Publish.RoundingBase, SuppressBelow: c.Publish.SuppressBelow,
		Intervals: "95% intervals cover the noise only, not bias from clamping; derived values (the Others group, sessions missed, rates) combine the Laplace noises of their parts: exact quantiles for two terms, a normal approximation beyond",
	}
	for _, m := range config.Measures {
		p.EpsilonByMeasure[m] = c.Share(epsilon, m)
	}
	for _, t := range c.Terms {
		p.Bounds = append(p.Bounds, publish.Bound{Term: TermID(t), Lower: 0, Upper: t.MaxSessions()})
	}
	if c.ImpactEnabled() {
		for m, e := range impactEpsilons(c, epsilon) {
			p.EpsilonByMeasure[m] = e
		}
		im := c.Impact
		if im.Breakdowns == nil {
			im.Breakdowns = []string{} // "breakdowns": [] rather than null for readers of the manifest
		}
		p.Impact = &publish.ImpactPrivacy{
			Epsilon: c.ImpactEpsilon(epsilon), MaxPartitionsPerPupil: r.impactPlan().maxPartitions,
			MaxMonthsPerPupil: int64(c.Privacy.MaxProgrammesPerPupil),
			WindowSessions:    im.WindowSessions, MinWindowSessions: im.MinWindowSessions,
			MaxChangePP: im.MaxChangePP, BaselineBands: im.BaselineBands, MinBaselineSessions: im.MinBaselineSessions,
			MinStratumPupils: im.MinStratumPupils, Breakdowns: im.Breakdowns, YearGroups: im.YearGroups, Period: im.Period,
			ComparisonPools: map[string]publish.ComparisonPool{},
			Intervals:       "95% normal intervals whose variance adds the sampling variance (from noisy sums of squared per-pupil changes) to the DP noise variance (delta method); they do not cover bias from clamping or from confounding the matching does not remove",
		}
		for _, prog := range c.Programmes {
			// [] rather than null: "all of the trust's".
			p.Impact.ComparisonPools[prog.ID] = publish.ComparisonPool{Schools: append([]string{}, prog.Schools...), YearGroups: append([]int{}, prog.YearGroups...)}
		}
	}
	return p
}

func (r *Runner) releaseFiles(m *publish.Manifest, rows []schemas.AttendanceRow, impact []schemas.ImpactRow) ([]publish.File, error) {
	metadata := map[string]string{
		"outcomes.release_id":      m.ReleaseID,
		"outcomes.kind":            m.Kind,
		"outcomes.key_fingerprint": m.KeyFingerprint,
		"outcomes.code_version":    m.CodeVersion,
	}
	privacyJSON, err := json.Marshal(m.Privacy)
	if err != nil {
		return nil, err
	}
	metadata["outcomes.privacy"] = string(privacyJSON)
	inputsJSON, _ := json.Marshal(m.Inputs)
	metadata["outcomes.inputs"] = string(inputsJSON)

	var pq, csvBuf, meta bytes.Buffer
	if r.Config.Publish.CSVBOM {
		csvBuf.WriteString("\ufeff")
	}
	if err := publish.WriteParquet(&pq, rows, metadata); err != nil {
		return nil, err
	}
	if err := publish.WriteCSV(&csvBuf, rows, func(r schemas.AttendanceRow) bool { return r.Suppressed }); err != nil {
		return nil, err
	}
	if err := publish.WriteMetaCSV[schemas.AttendanceRow](&meta); err != nil {
		return nil, err
	}
	html, err := report.Render(m, rows, impact)
	if err != nil {
		return nil, fmt.Errorf("render the report: %w", err)
	}
	name := schemas.AttendanceTable
	files := []publish.File{
		{Name: name + ".parquet", Rows: len(rows), Content: pq.Bytes()},
		{Name: name + ".csv", Rows: len(rows), Content: csvBuf.Bytes()},
		{Name: name + ".meta.csv", Content: meta.Bytes()},
		{Name: "report.html", Content: html},
	}
	if !r.Config.ImpactEnabled() {
		return files, nil
	}
	// The impact table follows the attendance table's conventions: the same
	// metadata, GSS symbols ("c" suppressed, "z" not estimable), EES meta file.
	var ipq, icsv, imeta bytes.Buffer
	if r.Config.Publish.CSVBOM {
		icsv.WriteString("\ufeff")
	}
	if err := publish.WriteParquet(&ipq, impact, metadata); err != nil {
		return nil, err
	}
	if err := publish.WriteCSV(&icsv, impact, func(r schemas.ImpactRow) bool { return r.Suppressed }); err != nil {
		return nil, err
	}
	if err := publish.WriteMetaCSV[schemas.ImpactRow](&imeta); err != nil {
		return nil, err
	}
	return append(files,
		publish.File{Name: schemas.ImpactTable + ".parquet", Rows: len(impact), Content: ipq.Bytes()},
		publish.File{Name: schemas.ImpactTable + ".csv", Rows: len(impact), Content: icsv.Bytes()},
		publish.File{Name: schemas.ImpactTable + ".meta.csv", Content: imeta.Bytes()},
	), nil
}

// fingerprint identifies what a release depends on: the inputs' content, the
// configuration that shapes the release, the key and the code.
func (r *Runner) fingerprint(tok *pseudonym.Tokeniser, kind string, stats []ingest.Stats) string {
	c := r.Config
	h := sha256.New()
	shape, _ := json.Marshal(struct {
		Trust      config.Trust
		Schools    []config.School
		Terms      []config.Term
		Programmes []config.Programme
		Privacy    config.Privacy
		Publish    config.Publish
		Impact     config.Impact
	}{c.Trust, c.Schools, c.Terms, c.Programmes, c.Privacy, c.Publish, c.Impact})
	fmt.Fprintf(h, "code %s\nkind %s\nkey %s\nconfig %s\n", r.CodeVersion, kind, tok.Fingerprint(), shape)
	var ins []string
	for _, s := range stats {
		// The same file read through another mapping or date format can
		// load other rows, so the format counts as part of the input.
		in := s.Source + " " + s.SHA256
		if s.Format != "" {
			in += " " + s.Format
		}
		ins = append(ins, in)
	}
	sort.Strings(ins)
	fmt.Fprintf(h, "inputs %s\n", strings.Join(ins, ","))
	return hex.EncodeToString(h.Sum(nil))
}

func checkRejects(stats []ingest.Stats, maxShare float64, runsDir, runID string) error {
	for _, s := range stats {
		if s.RowsRead == 0 {
			continue
		}
		share := float64(s.RowsQuarantined) / float64(s.RowsRead)
		if share > maxShare {
			var reasons []string
			for k, v := range s.QuarantinedByReason {
				reasons = append(reasons, fmt.Sprintf("%s %d", k, v))
			}
			sort.Strings(reasons)
			// A file this run did not read again was counted, and its rows
			// quarantined, by the run that read it.
			readBy, when := runID, ""
			if !s.Ingested && s.ReadBy != "" {
				readBy, when = s.ReadBy, " (unchanged since run "+s.ReadBy+" read it)"
			}
			return fmt.Errorf("%w: %s file %s%s had %d of %d rows quarantined (%.1f%%, limit %.1f%%): %s; nothing was published. The rows and reasons are in %s",
				ErrTooManyRejects, s.Source, s.Path, when, s.RowsQuarantined, s.RowsRead, 100*share, 100*maxShare, strings.Join(reasons, ", "),
				filepath.Join(runsDir, readBy, "quarantine"))
		}
	}
	return nil
}

func writeJSON(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o600)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randomInt64() (int64, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, err
	}
	return int64(binary.LittleEndian.Uint64(b[:]) >> 1), nil
}
