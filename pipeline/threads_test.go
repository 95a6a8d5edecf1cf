package pipeline

import (
	"context"
	"testing"

	"github.com/outcomes/outcomes/fixtures"
)

// TestThreadsFollowTheInput: a run starts on one DuckDB thread and takes the
// configured threads only once its input passes parallelInputBytes, for
// good; the draw reads the count the run has, not the configured one.
func TestThreadsFollowTheInput(t *testing.T) {
	for _, tc := range []struct {
		name       string
		configured int
		reads      []int64 // bytes read so far, as ingest reports them
		want       int
	}{
		{"nothing read", 4, nil, 1},
		{"one day's file", 4, []int64{1 << 20, 3 << 20}, 1},
		{"just under", 4, []int64{parallelInputBytes - 1}, 1},
		{"a year's file", 4, []int64{1 << 20, parallelInputBytes + 1<<20}, 4},
		{"stays raised", 4, []int64{parallelInputBytes, parallelInputBytes + 1}, 4},
		{"one configured", 1, []int64{parallelInputBytes * 4}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := impactTrust(t, fixtures.Options{Schools: 1, PupilsPerSchool: 5, Seed: 3})
			cfg.DuckDB.Threads = tc.configured
			w, err := openWarehouse(ctx, cfg, 1)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			conn, err := w.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			before := (&Runner{Config: cfg}).threadsFor(conn)
			for _, n := range tc.reads {
				if err := before(ctx, n); err != nil {
					t.Fatal(err)
				}
			}
			if got := currentThreads(ctx, conn); got != tc.want {
				t.Errorf("threads after reading %v bytes = %d, want %d", tc.reads, got, tc.want)
			}
			// The setting is the database's: another connection sees it.
			other, err := w.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			if got := currentThreads(ctx, other); got != tc.want {
				t.Errorf("another connection's threads = %d, want %d", got, tc.want)
			}
		})
	}
}
