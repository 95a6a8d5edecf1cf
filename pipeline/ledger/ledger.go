// Package ledger records every release's privacy spending in the warehouse,
// per scope, and refuses a release that would pass the scope's cap.
//
// Spending is recorded before noise is drawn (state "drawn") in its own
// committed transaction, and marked "published" after publication: noise
// drawn and never published still counts, because it may have been seen.
package ledger

import (
	"os"

	"github.com/duckdb/duckdb-go/v2"

	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/outcomes/outcomes/queries"
	"math"
	"time"
)

// Open opens (or creates) the ledger file at path, owner-only. It is kept
// apart from the warehouse so that rebuilding the warehouse (after a key
// rotation, say) never forgets what was spent.
func Open(ctx context.Context, path string) (*sql.DB, error) {
	connector, err := duckdb.NewConnector(path, nil)
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	db := sql.OpenDB(connector)
	if _, err := db.ExecContext(ctx, queries.Get("ledger_schema")); err != nil {
		db.Close()
		return nil, fmt.Errorf("apply ledger schema to %s: %w", path, err)
	}
	for _, p := range []string{path, path + ".wal"} {
		if err := os.Chmod(p, 0o600); err != nil && !os.IsNotExist(err) {
			db.Close()
			return nil, err
		}
	}
	return db, nil
}

// ErrBudgetExhausted means a release would take a scope past its cap.
var ErrBudgetExhausted = errors.New("privacy budget exhausted")

// BudgetError says which scope refused, what was spent, asked and allowed.
type BudgetError struct {
	Scope                 string
	Spent, Requested, Cap float64
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("privacy budget for scope %s: %.4g of %.4g spent, this release asks %.4g more, which would pass the cap; publish less often, lower privacy.epsilon, or raise privacy.epsilon_cap only with your data protection officer's agreement",
		e.Scope, e.Spent, e.Cap, e.Requested)
}

func (e *BudgetError) Unwrap() error { return ErrBudgetExhausted }

// Spent returns the epsilon and delta recorded against scope, drawn or published.
func Spent(ctx context.Context, db *sql.DB, scope string) (epsilon, delta float64, releases int, err error) {
	err = db.QueryRowContext(ctx, `SELECT coalesce(sum(epsilon), 0), coalesce(sum(delta), 0), count(*)
		FROM privacy_ledger WHERE scope = ?`, scope).Scan(&epsilon, &delta, &releases)
	return
}

// Reserve records a release's spending against one scope; see ReserveAll.
func Reserve(ctx context.Context, db *sql.DB, releaseID, scope string, epsilon, delta, capEpsilon float64, fingerprint string, now time.Time) error {
	return ReserveAll(ctx, db, releaseID, []string{scope}, epsilon, delta, capEpsilon, fingerprint, now)
}

// ReserveAll records a release's spending before its noise is drawn, against
// every scope its data touches (each academic year: a pupil's data in one
// year is protected by that year's cap however releases group the years),
// refusing with a *BudgetError if any scope's total would pass capEpsilon.
func ReserveAll(ctx context.Context, db *sql.DB, releaseID string, scopes []string, epsilon, delta, capEpsilon float64, fingerprint string, now time.Time) error {
	if len(scopes) == 0 {
		return errors.New("ledger: a release must be recorded against at least one scope")
	}
	// A NaN would pass every later cap check and a negative value would give
	// budget back: refuse both here, whatever the caller checked.
	if !(epsilon > 0) || math.IsInf(epsilon, 0) || !(delta >= 0) || !(delta < 1) || !(capEpsilon > 0) {
		return fmt.Errorf("ledger: refusing epsilon %v, delta %v, cap %v: epsilon and the cap must be positive and finite, delta in [0, 1)", epsilon, delta, capEpsilon)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, scope := range scopes {
		var spent float64
		if err := tx.QueryRowContext(ctx, "SELECT coalesce(sum(epsilon), 0) FROM privacy_ledger WHERE scope = ?", scope).Scan(&spent); err != nil {
			return fmt.Errorf("read ledger: %w", err)
		}
		// A tolerance keeps float sums of a split budget from refusing the last share.
		if spent+epsilon > capEpsilon*(1+1e-9) {
			return &BudgetError{Scope: scope, Spent: spent, Requested: epsilon, Cap: capEpsilon}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO privacy_ledger VALUES (?, ?, ?, ?, 'drawn', ?, ?)`,
			releaseID, scope, epsilon, delta, fingerprint, now.UTC()); err != nil {
			return fmt.Errorf("record spending: %w", err)
		}
	}
	return tx.Commit()
}

// MarkPublished records that a release's noisy values were published.
func MarkPublished(ctx context.Context, db *sql.DB, releaseID string) error {
	return setState(ctx, db, releaseID, "published")
}

func setState(ctx context.Context, db *sql.DB, releaseID, state string) error {
	res, err := db.ExecContext(ctx, "UPDATE privacy_ledger SET state = ? WHERE release_id = ?", state, releaseID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("ledger: no release %s recorded", releaseID)
	}
	return nil
}

// FindRelease returns the newest release with this fingerprint (the same
// inputs, configuration, key and code) that is published or waiting for
// approval (state "pending"). Republishing it spends nothing.
func FindRelease(ctx context.Context, db *sql.DB, fingerprint string) (id, state string, ok bool, err error) {
	err = db.QueryRowContext(ctx, `SELECT release_id, state FROM privacy_ledger WHERE fingerprint = ? AND state IN ('published', 'pending')
		ORDER BY recorded_at DESC LIMIT 1`, fingerprint).Scan(&id, &state)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false, nil
	}
	return id, state, err == nil, err
}

// MarkPending records that a final release's noise is drawn and staged,
// waiting for approval. Its spending already counts.
func MarkPending(ctx context.Context, db *sql.DB, releaseID string) error {
	return setState(ctx, db, releaseID, "pending")
}

// ReleaseState returns a release's ledger state: drawn, pending or published.
func ReleaseState(ctx context.Context, db *sql.DB, releaseID string) (string, error) {
	var state string
	err := db.QueryRowContext(ctx, "SELECT any_value(state) FROM privacy_ledger WHERE release_id = ? HAVING count(*) > 0", releaseID).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("ledger: no release %s recorded", releaseID)
	}
	return state, err
}

// RecordApproval records who approved a pending final release.
func RecordApproval(ctx context.Context, db *sql.DB, releaseID, by string, at time.Time) error {
	state, err := ReleaseState(ctx, db, releaseID)
	if err != nil {
		return err
	}
	if state != "pending" {
		return fmt.Errorf("release %s is %s, not waiting for approval", releaseID, state)
	}
	// An approval recorded by an earlier attempt whose publication failed
	// stands: approving again resumes the publication.
	_, err = db.ExecContext(ctx, "INSERT INTO approvals VALUES (?, ?, ?) ON CONFLICT (release_id) DO NOTHING", releaseID, by, at.UTC())
	return err
}

// Scope is one scope's spending, for `outcomes budget`.
type Scope struct {
	Scope        string  `json:"scope"`
	EpsilonSpent float64 `json:"epsilon_spent"`
	DeltaSpent   float64 `json:"delta_spent"`
	Releases     int     `json:"releases"`
	Unpublished  int     `json:"unpublished"`
}

// Scopes lists every scope's spending.
func Scopes(ctx context.Context, db *sql.DB) ([]Scope, error) {
	rows, err := db.QueryContext(ctx, `SELECT scope, sum(epsilon), sum(delta), count(*), count(*) FILTER (WHERE state <> 'published')
		FROM privacy_ledger GROUP BY scope ORDER BY scope`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Scope
	for rows.Next() {
		var s Scope
		if err := rows.Scan(&s.Scope, &s.EpsilonSpent, &s.DeltaSpent, &s.Releases, &s.Unpublished); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Approval is who approved a release, and when.
type Approval struct {
	By string
	At time.Time
}

// ApprovalOf returns the recorded approval of a release.
func ApprovalOf(ctx context.Context, db *sql.DB, releaseID string) (Approval, error) {
	var a Approval
	err := db.QueryRowContext(ctx, "SELECT approved_by, approved_at FROM approvals WHERE release_id = ?", releaseID).Scan(&a.By, &a.At)
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("ledger: release %s has no approval recorded", releaseID)
	}
	return a, err
}
