package pipeline

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/outcomes/outcomes/fixtures"
	"github.com/outcomes/outcomes/pipeline/config"
	"github.com/outcomes/outcomes/pipeline/ingest"
	"github.com/outcomes/outcomes/pipeline/warehouse"
	"github.com/outcomes/outcomes/schemas"
	"github.com/outcomes/outcomes/transforms/privacy/privacytest"
)

// drawSetup runs the pipeline once without noise and opens its warehouse
// with a connection prepared as a run prepares it.
func drawSetup(t *testing.T) (*Runner, *warehouse.Warehouse, *sql.Conn) {
	t.Helper()
	r, w, conn := drawSetupOpen(t)
	t.Cleanup(func() { w.Close() })
	t.Cleanup(func() { conn.Close() })
	return r, w, conn
}

// drawSetupOpen is drawSetup leaving the connection and the warehouse for the
// caller to close.
func drawSetupOpen(t *testing.T) (*Runner, *warehouse.Warehouse, *sql.Conn) {
	t.Helper()
	ctx := context.Background()
	cfg := impactTrust(t, fixtures.Options{Schools: 2, PupilsPerSchool: 40, Seed: 21})
	r := &Runner{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Noise: privacytest.NoNoise()}
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	w, err := OpenWarehouse(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := w.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ingest.DefinePartitions(ctx, conn, r.partitions()); err != nil {
		t.Fatal(err)
	}
	return r, w, conn
}

// drawWithSecond draws as a run does, with a second connection made ready
// for it.
func drawWithSecond(ctx context.Context, r *Runner, w *warehouse.Warehouse, conn *sql.Conn, epsilon float64, salt int64, scopes []string, log *slog.Logger) ([]schemas.AttendanceRow, []schemas.ImpactRow, error) {
	second := r.prepareDrawConn(ctx, w)
	defer second.release()
	return r.draw(ctx, second, conn, epsilon, salt, scopes, log)
}

// closesWithin closes conn and the warehouse, failing the test if that takes
// longer than a generous deadline (a warehouse left unable to checkpoint
// never closes).
func closesWithin(t *testing.T, w *warehouse.Warehouse, conn *sql.Conn) {
	t.Helper()
	closed := make(chan struct{})
	go func() {
		conn.Close()
		w.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(60 * time.Second):
		t.Fatal("the warehouse did not close within 60 s of the draw")
	}
}

// TestDrawMatchesTheStagesInTurn: draw runs the attendance cells on a
// connection of its own while the impact table is drawn; without noise its
// tables must equal those of the two stages run one after the other.
func TestDrawMatchesTheStagesInTurn(t *testing.T) {
	r, w, conn := drawSetup(t)
	ctx := context.Background()
	eps := r.Config.ReleaseEpsilon(config.KindProvisional)
	const salt = 4242
	log := r.Logger
	rows, impact, err := drawWithSecond(ctx, r, w, conn, eps, salt, r.Config.Scopes(), log)
	if err != nil {
		t.Fatal(err)
	}
	wantRows, err := r.drawAttendance(ctx, conn, eps, salt, r.Config.Scopes(), log)
	if err != nil {
		t.Fatal(err)
	}
	wantImpact, err := r.runImpact(ctx, conn, eps, salt, r.Noise)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 || len(impact) == 0 {
		t.Fatalf("draw gave %d attendance rows and %d impact rows; want both tables", len(rows), len(impact))
	}
	if !reflect.DeepEqual(rows, wantRows) {
		t.Errorf("attendance rows drawn alongside the impact table differ from those drawn alone")
	}
	if !reflect.DeepEqual(impact, wantImpact) {
		t.Errorf("impact rows drawn alongside the attendance cells differ from those drawn alone")
	}
}

// TestDrawFailsWholeWhenTheImpactStageFails: an impact stage that refuses
// its input fails the draw with the impact stage's reason, after the
// attendance cells drawn alongside have stopped, and returns no table.
func TestDrawFailsWholeWhenTheImpactStageFails(t *testing.T) {
	r, w, conn := drawSetup(t)
	ctx := context.Background()
	// Counts that disagree with the bits, which only the impact stage reads.
	if _, err := conn.ExecContext(ctx, "UPDATE pupil_terms SET possible = possible + 1 WHERE rowid = (SELECT min(rowid) FROM pupil_terms)"); err != nil {
		t.Fatal(err)
	}
	rows, impact, err := drawWithSecond(ctx, r, w, conn, r.Config.ReleaseEpsilon(config.KindProvisional), 4242, r.Config.Scopes(), r.Logger)
	if err == nil || !strings.HasPrefix(err.Error(), "impact: ") || !strings.Contains(err.Error(), "their counts say") {
		t.Fatalf("draw over a summary the impact stage refuses: %v, want the impact stage's error", err)
	}
	if rows != nil || impact != nil {
		t.Errorf("a failed draw returned %d attendance and %d impact rows, want none", len(rows), len(impact))
	}
}

// TestDrawClosesAfterAnEarlyImpactFailure: when the impact stage fails while
// the attendance cells are still being drawn on the other connection, the
// draw returns the impact stage's error and the warehouse still closes.
// Interrupting the attendance cells there (as the first version did) left
// DuckDB unable to checkpoint, and the run hung as it closed: in about one
// try in thirty under load (and in none of over 400 since), so this test tries
// several times but catches that fault only sometimes.
func TestDrawClosesAfterAnEarlyImpactFailure(t *testing.T) {
	for try := range 6 {
		r, w, conn := drawSetupOpen(t)
		ctx := context.Background()
		// The impact stage reads the roster's pupils; the attendance cells do not.
		if _, err := conn.ExecContext(ctx, "ALTER TABLE pupils RENAME TO pupils_elsewhere"); err != nil {
			t.Fatal(err)
		}
		_, _, err := drawWithSecond(ctx, r, w, conn, r.Config.ReleaseEpsilon(config.KindProvisional), 4242, r.Config.Scopes(), r.Logger)
		if err == nil || !strings.HasPrefix(err.Error(), "impact: ") {
			t.Fatalf("try %d: draw without the pupils table: %v, want the impact stage's error", try, err)
		}
		closesWithin(t, w, conn)
	}
}

// TestDrawClosesWhenCancelled: a run stopped (SIGTERM) at any point of the
// draw returns, and its warehouse closes.
func TestDrawClosesWhenCancelled(t *testing.T) {
	for _, after := range []time.Duration{0, 5 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond} {
		r, w, conn := drawSetupOpen(t)
		ctx, cancel := context.WithCancel(context.Background())
		timer := time.AfterFunc(after, cancel)
		_, _, err := drawWithSecond(ctx, r, w, conn, r.Config.ReleaseEpsilon(config.KindProvisional), 4242, r.Config.Scopes(), r.Logger)
		timer.Stop()
		cancel()
		if err != nil && !strings.Contains(err.Error(), "context canceled") {
			t.Errorf("draw cancelled after %v: %v, want success or the cancellation", after, err)
		}
		closesWithin(t, w, conn)
	}
}

// TestDrawReportsBothFailures: when both halves fail (here both read the
// summary, renamed away), the error names both. From a review.
func TestDrawReportsBothFailures(t *testing.T) {
	r, w, conn := drawSetup(t)
	ctx := context.Background()
	if _, err := conn.ExecContext(ctx, "ALTER TABLE pupil_terms RENAME TO pupil_terms_elsewhere"); err != nil {
		t.Fatal(err)
	}
	_, _, err := drawWithSecond(ctx, r, w, conn, r.Config.ReleaseEpsilon(config.KindProvisional), 4242, r.Config.Scopes(), r.Logger)
	if err == nil || !strings.HasPrefix(err.Error(), "impact: ") || !strings.Contains(err.Error(), "aggregate: ") {
		t.Errorf("draw with both halves failing: %v; want both errors, the impact stage's first", err)
	}
}
