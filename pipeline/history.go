package pipeline

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/outcomes/outcomes/pipeline/ingest"
)

// RunRecord is one run from the warehouse's history, for `outcomes status`.
type RunRecord struct {
	RunID      string         `json:"run_id"`
	StartedAt  time.Time      `json:"started_at"`
	FinishedAt *time.Time     `json:"finished_at,omitempty"`
	Seconds    float64        `json:"duration_seconds"`
	Outcome    string         `json:"outcome"`
	Kind       string         `json:"kind"`
	ReleaseID  string         `json:"release_id,omitempty"`
	Epsilon    float64        `json:"epsilon_spent"`
	Inputs     []ingest.Stats `json:"inputs,omitempty"`
	Message    string         `json:"message,omitempty"`
}

// RecentRuns returns the newest runs first. A run whose process was killed
// stays "running" with no finish time: the next run's start shows it ended.
func RecentRuns(ctx context.Context, db *sql.DB, limit int) ([]RunRecord, error) {
	rows, err := db.QueryContext(ctx, `SELECT run_id, started_at, finished_at, outcome, kind, coalesce(release_id, ''),
		epsilon, coalesce(inputs, ''), coalesce(message, '') FROM runs ORDER BY started_at DESC, run_id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RunRecord
	for rows.Next() {
		var r RunRecord
		var finished sql.NullTime
		var inputs string
		if err := rows.Scan(&r.RunID, &r.StartedAt, &finished, &r.Outcome, &r.Kind, &r.ReleaseID, &r.Epsilon, &inputs, &r.Message); err != nil {
			return nil, err
		}
		if finished.Valid {
			t := finished.Time
			r.FinishedAt = &t
			r.Seconds = t.Sub(r.StartedAt).Seconds()
		}
		if inputs != "" && inputs != "null" {
			if err := json.Unmarshal([]byte(inputs), &r.Inputs); err != nil {
				return nil, err
			}
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
