package pipeline

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/outcomes/outcomes/queries"
)

// contributions.sql makes two choices per pupil before noise: the one school
// a pupil counts at in a term (most possible sessions, ties broken by a
// salted hash), and the programmes a pupil keeps (at most
// max_programmes_per_pupil, by the same hash). It makes them with arg_min
// aggregates; ../queries/testdata/contributions_reference.sql makes them
// with row_number windows, as the query did before. This test requires both
// to give the same rows on a warehouse built to exercise each choice:
// pupils at two or three schools in a term, with exact ties in possible
// sessions, a school with no possible sessions, and pupils in one, two and
// three programmes.
func TestContributionsMatchTheReference(t *testing.T) {
	ctx := context.Background()
	conn := memoryConn(t)
	windowsWarehouse(ctx, t, conn,
		// Pupils who moved school in the spring: two schools, unequal counts.
		"UPDATE sessions SET school_urn = '900002' WHERE pupil_key % 5 = 0 AND session_date >= DATE '2025-02-03'",
		"INSERT INTO cfg_programmes VALUES ('c', 2)",
		`INSERT INTO participation SELECT 'c', i, 'upn', DATE '2024-09-02' + CAST(hash(i, 'c') % 320 AS INTEGER), 'session', true
		 FROM range(1, 401) r(i) WHERE i % 5 = 0`,
		// Records that make no one a participant.
		`INSERT INTO participation SELECT 'c', i, 'upn', DATE '2024-10-01', 'session', false FROM range(1, 401) r(i) WHERE i % 7 = 1`,
		`INSERT INTO participation SELECT 'b', i, 'upn', DATE '2024-10-01', 'enrolled', true FROM range(1, 401) r(i) WHERE i % 7 = 2`,
	)
	for _, q := range []string{
		"CREATE OR REPLACE TEMP VIEW summary_input AS SELECT * FROM sessions", queries.Get("summarise_sessions"),
		// An exact tie: a third school with the same counts as the first.
		`INSERT INTO pupil_terms SELECT pupil_key, '900003', term_id, possible, authorised, unauthorised,
		   possible_w0, possible_w1, possible_w2, possible_w3, possible_w4, possible_w5,
		   attended_w0, attended_w1, attended_w2, attended_w3, attended_w4, attended_w5
		 FROM pupil_terms WHERE pupil_key % 7 = 0 AND school_urn = '900001'`,
		// A school where the pupil had no possible session.
		`INSERT INTO pupil_terms SELECT pupil_key, '900002', term_id, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
		 FROM pupil_terms WHERE pupil_key % 11 = 0 AND school_urn = '900001' AND term_id = 'autumn'`,
		"CREATE OR REPLACE TEMP TABLE cfg_schools (urn VARCHAR NOT NULL, idx INTEGER)",
		"INSERT INTO cfg_schools VALUES ('900001', 0), ('900002', 1), ('900003', 2)",
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%.100s: %v", q, err)
		}
	}
	// The warehouse must exercise each choice, or the comparison proves little.
	var multiSchool, ties, threeProgrammes int
	if err := conn.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM (SELECT 1 FROM pupil_terms WHERE possible > 0 GROUP BY pupil_key, term_id HAVING count(*) > 1)),
		(SELECT count(*) FROM (SELECT 1 FROM pupil_terms WHERE possible > 0 GROUP BY pupil_key, term_id, possible HAVING count(*) > 1)),
		(SELECT count(*) FROM (SELECT 1 FROM participation WHERE attended AND event = 'session' GROUP BY pupil_key HAVING count(DISTINCT programme) = 3))`).
		Scan(&multiSchool, &ties, &threeProgrammes); err != nil {
		t.Fatal(err)
	}
	if multiSchool < 20 || ties < 20 || threeProgrammes < 3 {
		t.Fatalf("the warehouse exercises too little: %d pupil terms at several schools, %d with tied counts, %d pupils in three programmes",
			multiSchool, ties, threeProgrammes)
	}
	reference, err := os.ReadFile("../queries/testdata/contributions_reference.sql")
	if err != nil {
		t.Fatal(err)
	}
	rows := func(query string, salt, maxProgrammes int64) []string {
		t.Helper()
		r, err := conn.QueryContext(ctx, query, salt, maxProgrammes)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var out []string
		for r.Next() {
			var pupil, possible, authorised, unauthorised int64
			var school, term, programme int32
			var persistent bool
			if err := r.Scan(&pupil, &school, &term, &programme, &possible, &authorised, &unauthorised, &persistent); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprint(pupil, school, term, programme, possible, authorised, unauthorised, persistent))
		}
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct{ salt, maxProgrammes int64 }{{7, 1}, {7, 2}, {7, 3}, {-3, 1}, {123456789, 2}} {
		t.Run(fmt.Sprintf("salt_%d/max_programmes_%d", tc.salt, tc.maxProgrammes), func(t *testing.T) {
			want := rows(string(reference), tc.salt, tc.maxProgrammes)
			got := rows(queries.Get("contributions"), tc.salt, tc.maxProgrammes)
			if len(want) < 1000 {
				t.Fatalf("only %d reference rows", len(want))
			}
			if !slices.Equal(got, want) {
				var differ []string
				for _, g := range got {
					if _, found := slices.BinarySearch(want, g); !found && len(differ) < 5 {
						differ = append(differ, "new: "+g)
					}
				}
				for _, w := range want {
					if _, found := slices.BinarySearch(got, w); !found && len(differ) < 10 {
						differ = append(differ, "reference: "+w)
					}
				}
				t.Errorf("%d rows against the reference's %d; e.g. %v", len(got), len(want), differ)
			}
		})
	}
}
