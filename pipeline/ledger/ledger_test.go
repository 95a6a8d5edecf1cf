package ledger_test

import (
	"database/sql"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/outcomes/outcomes/pipeline/ledger"
)

// newDB opens a real ledger file, with the production schema.
func newDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := ledger.Open(t.Context(), filepath.Join(t.TempDir(), "ledger.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var t0 = time.Date(2025, 1, 6, 2, 0, 0, 0, time.UTC)

func reserve(t *testing.T, db *sql.DB, id, scope string, eps, capEps float64, fp string, at time.Time) {
	t.Helper()
	if err := ledger.Reserve(t.Context(), db, id, scope, eps, 1e-6, capEps, fp, at); err != nil {
		t.Fatalf("reserve %s in %s: %v", id, scope, err)
	}
}

type entry struct {
	id, scope, state, fp string
	epsilon, delta       float64
	at                   time.Time
}

func entries(t *testing.T, db *sql.DB) []entry {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT release_id, scope, state, fingerprint, epsilon, delta, recorded_at
		FROM privacy_ledger ORDER BY recorded_at, release_id, scope`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []entry
	for rows.Next() {
		var e entry
		if err := rows.Scan(&e.id, &e.scope, &e.state, &e.fp, &e.epsilon, &e.delta, &e.at); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func TestReserveRecordsDrawn(t *testing.T) {
	db := newDB(t)
	// A local time is recorded as the same instant in UTC.
	at := time.Date(2025, 6, 1, 3, 4, 5, 0, time.FixedZone("BST", 3600))
	if err := ledger.Reserve(t.Context(), db, "R1", "TR0001/202425", 0.5, 1e-7, 2, "fp1", at); err != nil {
		t.Fatal(err)
	}
	got := entries(t, db)
	if len(got) != 1 {
		t.Fatalf("%d ledger entries, want 1: %+v", len(got), got)
	}
	e := got[0]
	if e.id != "R1" || e.scope != "TR0001/202425" || e.state != "drawn" || e.fp != "fp1" || e.epsilon != 0.5 || e.delta != 1e-7 {
		t.Errorf("entry = %+v", e)
	}
	if !e.at.Equal(at) {
		t.Errorf("recorded_at = %v, want %v", e.at, at.UTC())
	}
}

func TestSpentPerScope(t *testing.T) {
	db := newDB(t)
	const a, b = "TR0001/202425", "TR0001/202526"
	reserve(t, db, "R1", a, 0.5, 10, "fp1", t0)
	reserve(t, db, "R2", a, 0.25, 10, "fp2", t0.Add(time.Hour))
	reserve(t, db, "R3", b, 2, 10, "fp3", t0.Add(2*time.Hour))
	if err := ledger.MarkPublished(t.Context(), db, "R1"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		scope    string
		epsilon  float64
		delta    float64
		releases int
	}{
		{a, 0.75, 2e-6, 2}, // drawn and published both count
		{b, 2, 1e-6, 1},
		{"TR0001/202324", 0, 0, 0},
	}
	for _, tt := range tests {
		eps, delta, n, err := ledger.Spent(t.Context(), db, tt.scope)
		if err != nil {
			t.Fatal(err)
		}
		if !near(eps, tt.epsilon) || !near(delta, tt.delta) || n != tt.releases {
			t.Errorf("Spent(%s) = %v, %v, %d; want %v, %v, %d", tt.scope, eps, delta, n, tt.epsilon, tt.delta, tt.releases)
		}
	}
}

func TestReserveRefusesPastCap(t *testing.T) {
	db := newDB(t)
	const scope, other = "TR0001/202425", "TR0002/202425"
	reserve(t, db, "R1", scope, 0.7, 1, "fp1", t0)
	before := entries(t, db)

	err := ledger.Reserve(t.Context(), db, "R2", scope, 0.5, 1e-6, 1, "fp2", t0.Add(time.Hour))
	if !errors.Is(err, ledger.ErrBudgetExhausted) {
		t.Fatalf("Reserve = %v, want ErrBudgetExhausted", err)
	}
	var be *ledger.BudgetError
	if !errors.As(err, &be) {
		t.Fatalf("Reserve = %T, want *BudgetError", err)
	}
	if be.Scope != scope || !near(be.Spent, 0.7) || be.Requested != 0.5 || be.Cap != 1 {
		t.Errorf("BudgetError = %+v", be)
	}
	msg := err.Error()
	for _, want := range []string{scope, "0.7 of 1 spent", "asks 0.5 more"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not contain %q", msg, want)
		}
	}
	if after := entries(t, db); !reflect.DeepEqual(after, before) {
		t.Errorf("a refused release changed the ledger:\nbefore %+v\n after %+v", before, after)
	}
	// Another scope has its own budget.
	reserve(t, db, "R2", other, 0.5, 1, "fp2", t0.Add(time.Hour))
}

func TestReserveAllowsExactlyTheCap(t *testing.T) {
	tests := []struct {
		share  float64
		n      int
		capEps float64
	}{
		{0.1, 10, 1},
		{0.1, 3, 0.3}, // the float sum, 0.30000000000000004, is past the cap; the tolerance must allow it
		{1.0 / 3, 3, 1},
		{0.2, 5, 1},
		{0.7, 3, 2.1},
		{1, 1, 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%vx%d", tt.share, tt.n), func(t *testing.T) {
			db := newDB(t)
			const scope = "TR0001/202425"
			for i := range tt.n {
				if err := ledger.Reserve(t.Context(), db, fmt.Sprintf("R%d", i), scope, tt.share, 0, tt.capEps, "fp", t0); err != nil {
					t.Fatalf("share %d of %d: %v", i+1, tt.n, err)
				}
			}
			// The cap is reached: even a sliver more is refused.
			err := ledger.Reserve(t.Context(), db, "extra", scope, 1e-6, 0, tt.capEps, "fp", t0)
			if !errors.Is(err, ledger.ErrBudgetExhausted) {
				t.Errorf("Reserve past the cap = %v, want ErrBudgetExhausted", err)
			}
			if _, _, n, _ := ledger.Spent(t.Context(), db, scope); n != tt.n {
				t.Errorf("%d releases recorded, want %d", n, tt.n)
			}
		})
	}
}

func TestMarkPublished(t *testing.T) {
	db := newDB(t)
	reserve(t, db, "R1", "s", 0.1, 1, "fp1", t0)
	reserve(t, db, "R2", "s", 0.1, 1, "fp2", t0.Add(time.Hour))
	if err := ledger.MarkPublished(t.Context(), db, "R1"); err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, e := range entries(t, db) {
		states[e.id] = e.state
	}
	if want := map[string]string{"R1": "published", "R2": "drawn"}; !reflect.DeepEqual(states, want) {
		t.Errorf("states = %v, want %v", states, want)
	}
}

func TestFindRelease(t *testing.T) {
	db := newDB(t)
	for i, r := range []struct {
		id, fp    string
		published bool
	}{
		{"old", "fp1", true},
		{"newer", "fp1", true},
		{"other", "fp2", true},
		{"drawn-newest", "fp1", false}, // noise drawn but never published
		{"drawn-only", "fp3", false},
	} {
		reserve(t, db, r.id, "s", 0.1, 10, r.fp, t0.Add(time.Duration(i)*time.Hour))
		if r.published {
			if err := ledger.MarkPublished(t.Context(), db, r.id); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		fp     string
		wantID string
		wantOK bool
	}{
		{"fp1", "newer", true},
		{"fp2", "other", true},
		{"fp3", "", false},
		{"fp-unknown", "", false},
	}
	for _, tt := range tests {
		id, state, ok, err := ledger.FindRelease(t.Context(), db, tt.fp)
		if err != nil {
			t.Fatal(err)
		}
		if !ok || state != "published" { // drawn-only releases are never returned; pending ones are not published
			id, ok = "", false
		}
		if id != tt.wantID || ok != tt.wantOK {
			t.Errorf("FindRelease(%s) = %q, %v; want a published %q, %v", tt.fp, id, ok, tt.wantID, tt.wantOK)
		}
	}
}

func TestScopes(t *testing.T) {
	db := newDB(t)
	got, err := ledger.Scopes(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("Scopes on an empty ledger = %+v", got)
	}

	reserve(t, db, "R1", "b-scope", 0.5, 10, "fp1", t0)
	reserve(t, db, "R2", "b-scope", 0.25, 10, "fp2", t0.Add(time.Hour))
	reserve(t, db, "R3", "a-scope", 1, 10, "fp3", t0.Add(2*time.Hour))
	reserve(t, db, "R4", "b-scope", 0.125, 10, "fp4", t0.Add(3*time.Hour))
	for _, id := range []string{"R1", "R3"} {
		if err := ledger.MarkPublished(t.Context(), db, id); err != nil {
			t.Fatal(err)
		}
	}
	got, err = ledger.Scopes(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	want := []ledger.Scope{
		{Scope: "a-scope", EpsilonSpent: 1, DeltaSpent: 1e-6, Releases: 1, Unpublished: 0},
		{Scope: "b-scope", EpsilonSpent: 0.875, DeltaSpent: 3e-6, Releases: 3, Unpublished: 2},
	}
	if len(got) != len(want) {
		t.Fatalf("Scopes = %+v, want %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Scope != w.Scope || !near(g.EpsilonSpent, w.EpsilonSpent) || !near(g.DeltaSpent, w.DeltaSpent) ||
			g.Releases != w.Releases || g.Unpublished != w.Unpublished {
			t.Errorf("Scopes[%d] = %+v, want %+v", i, g, w)
		}
	}
}
